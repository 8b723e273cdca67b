"""Dash pages: one module per screen, its layout and its callbacks together."""

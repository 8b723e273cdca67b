"""Colours and breakpoints in one place (the CSS in assets/ uses the same names as variables)."""

DARK = {"bg": "#06122b", "panel": "#0b1f45", "text": "#e6f0ff", "muted": "#8aa4d6", "accent": "#29d3ff",
        "good": "#2ee59d", "warn": "#ffb020", "bad": "#ff4d5e", "grid": "#1c3566"}
LIGHT = {"bg": "#f4f6fa", "panel": "#ffffff", "text": "#1b2430", "muted": "#5b6b80", "accent": "#1565c0",
         "good": "#2e7d32", "warn": "#ef6c00", "bad": "#c62828", "grid": "#dde3ec"}
# Sequential scales: "more is worse" reds, "more is better" greens/blues.
SCALE_WORSE = [[0, "#1b3a6b"], [0.5, "#f7b733"], [1, "#ff4d5e"]]
SCALE_BETTER = [[0, "#ff4d5e"], [0.5, "#f7b733"], [1, "#2ee59d"]]
# On the light tablet the low end is light too, so dark labels stay readable on every region.
LIGHT_SCALE_WORSE = [[0, "#e3eefc"], [0.5, "#f9c46b"], [1, "#e53935"]]
LIGHT_SCALE_BETTER = [[0, "#e53935"], [0.5, "#f9c46b"], [1, "#b9e4bc"]]
FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
# Device sizes the screens are laid out for (px).

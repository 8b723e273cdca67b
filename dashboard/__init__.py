"""The Dash web tier: reads only Redis snapshots (never the source database)."""

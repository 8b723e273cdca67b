"""The outputs of the tablet's render callback, in order: the page (layouts/medium.py) and the tests
that forge callback requests share this list (importing the page itself registers it with Dash)."""

# What one render fills, in order (tests build forged callback requests from this list too).
RENDER_OUTPUTS = [("kpis", "children"), ("freshness-box", "children"), ("breadcrumb", "children"),
                  ("window-text", "children"), ("map-title", "children"), ("map", "figure"), ("funnel", "figure"),
                  ("stages", "children"), ("rank-periods", "children"), ("exports", "children"),
                  ("ranking", "children"), ("by-category", "figure"), ("by-channel", "figure"),
                  ("by-level", "figure"), ("overdue", "children"), ("panels", "children")]

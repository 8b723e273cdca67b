"""The outputs of the tablet's three render callbacks, in order: the page (layouts/medium.py) and the
tests that forge callback requests share these lists (importing the page itself registers it with Dash).
The browser asks for the three side by side; RENDER_OUTPUTS is what a drill-down step shows first."""

RENDER_OUTPUTS = [("kpis", "children"), ("freshness-box", "children"), ("breadcrumb", "children"),
                  ("window-text", "children"), ("map-title", "children"), ("map", "figure"), ("funnel", "figure"),
                  ("stages", "children")]
RANKING_OUTPUTS = [("rank-periods", "children"), ("exports", "children"), ("ranking", "children"),
                   ("by-category", "figure"), ("by-channel", "figure"), ("by-level", "figure")]
LIST_OUTPUTS = [("overdue", "children"), ("at-risk", "children"), ("supervision", "children"), ("panels", "children")]
DEPT_OUTPUTS = [("dept-ranking", "children"), ("dept-view", "children")]  # 部门榜 and a department's view

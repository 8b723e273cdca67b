"""小屏: staff phones. One region (?region=), its KPIs, its overdue events and a map of its area."""

import dash
from dash import Input, Output, State, callback, dcc, html

from config.labels import label
from dashboard import views
from dashboard.access import require_region, user_scope
from dashboard.context import cockpit
from dashboard.live import live_components, register_poll
from dashboard.widgets import GRAPH_CONFIG, children_map, freshness, kpi_row

PAGE = "small"
dash.register_page(__name__, path="/small", title=f"{label('small')} · {label('app_title')}")
SMALL_KPIS = ("reported", "open", "overdue", "on_time_rate", "same_day_rate", "satisfaction_rate")


def layout(region: str | None = None, **_query):
    city = cockpit().city
    region = require_region(region) if region and region in city._index else user_scope()
    name = city.regions.at[city._index[region], "name"]
    return html.Div(className="small-root", children=[
        *live_components(PAGE),
        dcc.Store(id="small-region", data=region),
        html.Header(className="small-header", children=[
            html.H1(name, className="title"), html.Div(id="small-freshness-box")]),
        html.Div(id="small-kpis", className="kpi-grid"),
        html.Section(className="panel", children=[html.H3(label("overdue"), className="panel-title"),
                                                   html.Ul(id="small-overdue", className="event-list")]),
        html.Section(className="panel", children=[html.H3(label("district_map") if region == city.code else name,
                                                          className="panel-title"),
                                                  dcc.Graph(id="small-map", config=GRAPH_CONFIG)]),
    ])


register_poll(PAGE)


@callback(Output("small-kpis", "children"), Output("small-freshness-box", "children"),
          Output("small-overdue", "children"), Output("small-map", "figure"),
          Input("small-version", "data"), State("small-region", "data"))
def render(_key, region):
    region = require_region(region)
    c = cockpit()
    snap = c.snapshot()
    city = c.city
    kpis = views.region_kpis(snap, region, "today")
    od = snap.frame("overdue")
    items = []
    if od is not None and not od.empty:
        mine = od[od["grid_code"].str.startswith(region)].head(20)
        names = city.regions.set_index("code")["name"]
        items = [html.Li(className="event-item", children=[
            html.Div(f"{r['category']} · {r['channel']}", className="ev-title"),
            html.Div(f"{names.get(r['grid_code'], r['grid_code'])}", className="ev-where"),
            html.Div(f"期限 {r['due_at']:%m-%d %H:%M} · {label('stage_' + r['status'])}", className="ev-due")])
            for r in mine.to_dict("records")]
    if city.children(region).empty:
        values = city.regions[city.regions["code"] == region].assign(value=float("nan"))
    else:
        values = views.child_values(snap, city, region, "today", "overdue")
    fig = children_map(city, region, values, "overdue", dark=False, labels=len(values) <= 15)
    fig["data"][0]["showscale"] = False  # phones: no room for a colour bar
    return (kpi_row(PAGE, kpis, SMALL_KPIS), freshness(PAGE, snap, c.now(), c.settings.stale_after_s),
            items or [html.Li("暂无超期事件", className="event-empty")], fig)

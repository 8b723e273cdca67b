"""中屏: leaders' tablets. Drill down city → district → street → community → grid by tapping the map;
the URL holds the state (?region=&window=&measure=), so a link opens the same view."""

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from config.labels import label
from dashboard import views
from dashboard.access import require_region, user_scope
from dashboard.context import cockpit
from dashboard.live import header, live_components, register_poll
from dashboard.widgets import GRAPH_CONFIG, children_map, freshness, funnel_figure, kpi_row

PAGE = "medium"
dash.register_page(__name__, path="/medium", title=f"{label('medium')} · {label('app_title')}")
WINDOWS = ("today", "7d", "30d")


def view_state(region: str | None, window: str | None, measure: str | None) -> tuple[str, str, str]:
    """The (region, window, measure) a query asks for, with unknown values replaced by defaults;
    a region outside the user's jurisdiction raises OutOfScope (403)."""
    city = cockpit().city
    region = require_region(region) if region and region in city._index else user_scope()
    window = window if window in WINDOWS else "today"
    measure = measure if measure in views.MAP_MEASURES else "density"
    return region, window, measure


def href(region: str, window: str, measure: str) -> str:
    return "/medium?" + urlencode({"region": region, "window": window, "measure": measure})


def layout(region: str | None = None, window: str | None = None, measure: str | None = None, **_query):
    region, window, measure = view_state(region, window, measure)
    return html.Div(className="medium-root", children=[
        *live_components(PAGE),
        dcc.Location(id="medium-url", refresh="callback-nav"),
        header(PAGE, f"{cockpit().city.name} · {label('medium')}"),
        html.Div(className="medium-controls", children=[
            html.Nav(id="medium-breadcrumb", className="breadcrumb"),
            dcc.RadioItems(id="medium-window", value=window, inline=True, className="segmented",
                           options=[{"label": label(f"window_{w}"), "value": w} for w in WINDOWS]),
            dcc.Dropdown(id="medium-measure", value=measure, clearable=False, searchable=False,
                         className="measure-dropdown",
                         options=[{"label": v, "value": k} for k, v in views.MEASURE_LABELS.items()]),
        ]),
        dcc.Store(id="medium-state", data={"region": region, "window": window, "measure": measure}),
        html.Div(id="medium-kpis", className="kpi-row"),
        html.Div(className="medium-body", children=[
            html.Section(className="panel", children=[
                html.H3(id="medium-map-title", className="panel-title"),
                dcc.Graph(id="medium-map", config=GRAPH_CONFIG, className="medium-map")]),
            html.Div(className="medium-side", children=[
                html.Section(className="panel", children=[html.H3(label("loop"), className="panel-title"),
                                                           dcc.Graph(id="medium-funnel", config=GRAPH_CONFIG)]),
                html.Section(className="panel", children=[html.H3(label("ranking"), className="panel-title"),
                                                           html.Div(id="medium-ranking")]),
            ]),
        ]),
    ])


register_poll(PAGE)


@callback(Output("medium-kpis", "children"), Output("medium-freshness-box", "children"),
          Output("medium-breadcrumb", "children"), Output("medium-map-title", "children"),
          Output("medium-map", "figure"), Output("medium-funnel", "figure"), Output("medium-ranking", "children"),
          Input("medium-version", "data"), Input("medium-state", "data"))
def render(_key, state):
    c = cockpit()
    snap = c.snapshot()
    region, window, measure = view_state(state["region"], state["window"], state["measure"])
    city = c.city
    kpis = views.region_kpis(snap, region, window)
    crumbs = []
    scope = user_scope()
    for code in [*(a for a in city.ancestors(region) if a.startswith(scope)), region]:  # from the user's root
        name = city.regions.at[city._index[code], "name"]
        crumbs.append(dcc.Link(name, href=href(code, window, measure), id={"type": "medium-crumb", "code": code},
                               className="crumb" + (" current" if code == region else "")))
    children = city.children(region)
    if children.empty:
        values = city.regions[city.regions["code"] == region].assign(value=float("nan"))
        title = f"{city.regions.at[city._index[region], 'name']} · {label('level_grid')}"
    else:
        values = views.child_values(snap, city, region, window, measure)
        child_level = children["level"].iloc[0]
        title = f"{label('children')}({label('level_' + child_level)} {len(values)}) · {views.MEASURE_LABELS[measure]}"
    fig = children_map(city, region, values, measure, dark=False)
    ranking = views.child_ranking(snap, city, region, window)
    return (kpi_row(PAGE, kpis), freshness(PAGE, snap, c.now(), c.settings.stale_after_s), crumbs, title, fig,
            funnel_figure(kpis, dark=False), ranking_table(ranking, window, measure))


@callback(Output("medium-url", "href"), Input("medium-map", "clickData"), Input("medium-window", "value"),
          Input("medium-measure", "value"), State("medium-state", "data"), prevent_initial_call=True)
def navigate(click, window, measure, state):
    """Tap a region to go down a level; window/measure changes keep the region. The URL is the state."""
    region = require_region(state["region"])
    if dash.ctx.triggered_id == "medium-map" and click:
        code = click["points"][0].get("location")
        if code and code.startswith(region) and code != region:
            region = code
    new = href(region, window, measure)
    if new == href(state["region"], state["window"], state["measure"]):
        return no_update
    return new


def ranking_table(df, window: str, measure: str) -> html.Table:
    head = html.Tr([html.Th(x) for x in ("名称", label("reported"), label("open"), label("overdue"),
                                         label("on_time_rate"), label("same_day_rate"))])
    rows = [html.Tr([html.Td(dcc.Link(r["name"], href=href(r["code"], window, measure))),
                     html.Td(views.fmt_count(r.get("reported"))), html.Td(views.fmt_count(r.get("open"))),
                     html.Td(views.fmt_count(r.get("overdue")), className="bad" if (r.get("overdue") or 0) > 0 else ""),
                     html.Td(views.fmt_rate(r.get("on_time_rate"))), html.Td(views.fmt_rate(r.get("same_day_rate")))])
            for r in df.head(60).to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="medium-ranking-table")

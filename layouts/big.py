"""大屏: the control-room wall. A fixed 1920×1080 (or 32:9) canvas scaled to the display; panels are
refreshed when a new snapshot is published, and the map only has its values patched."""

import dash
from dash import Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, html

from config.labels import label
from dashboard import views
from dashboard.access import user_scope
from dashboard.context import cockpit
from dashboard.live import header, live_components, register_poll
from dashboard.widgets import GRAPH_CONFIG, bar_figure, children_map, freshness, funnel_figure, hourly_figure, kpi_row

PAGE = "big"
dash.register_page(__name__, path="/big", title=f"{label('big')} · {label('app_title')}")


def panel(title: str, body, cls: str = "") -> html.Section:
    return html.Section(className=f"panel {cls}", children=[html.H3(title, className="panel-title"), body])


def layout(canvas: str = "16:9", measure: str = "density", **_query):
    c = cockpit()
    measure = measure if measure in views.MAP_MEASURES else "density"
    wide = canvas == "32:9"
    return html.Div(className="big-root", children=html.Div(
        className="big-canvas" + (" wide" if wide else ""), id="big-canvas", children=[
            *live_components(PAGE),
            dcc.Interval(id="big-tick", interval=1000),
            header(PAGE, f"{c.city.name} · {label('app_title')}"),
            html.Div(id="big-kpis", className="kpi-row"),
            html.Div(className="big-body", children=[
                html.Div(className="big-col", children=[
                    panel(label("by_category"), dcc.Graph(id="big-category", config=GRAPH_CONFIG)),
                    panel(label("by_channel"), dcc.Graph(id="big-channel", config=GRAPH_CONFIG)),
                    panel(label("loop"), dcc.Graph(id="big-funnel", config=GRAPH_CONFIG)),
                ]),
                html.Div(className="big-center", children=[
                    panel(label("district_map"), html.Div([
                        dcc.RadioItems(id="big-measure", className="measure-switch", value=measure,
                                       options=[{"label": v, "value": k} for k, v in views.MEASURE_LABELS.items()],
                                       inline=True),
                        dcc.Graph(id="big-map", config=GRAPH_CONFIG, className="big-map"),
                    ]), "map-panel"),
                    panel(label("by_hour"), dcc.Graph(id="big-hourly", config=GRAPH_CONFIG)),
                ]),
                html.Div(className="big-col", children=[
                    panel(label("ranking"), html.Div(id="big-ranking")),
                    panel(label("ticker"), html.Div(id="big-ticker", className="ticker")),
                ]),
            ]),
        ]))


register_poll(PAGE)

clientside_callback(
    "function(n){const d=new Date();return d.toLocaleString('zh-CN',{hour12:false,timeZone:'Asia/Shanghai'});}",
    Output("big-clock", "children"), Input("big-tick", "n_intervals"))


@callback(Output("big-kpis", "children"), Output("big-freshness-box", "children"),
          Output("big-category", "figure"), Output("big-channel", "figure"), Output("big-funnel", "figure"),
          Output("big-hourly", "figure"), Output("big-ranking", "children"), Output("big-ticker", "children"),
          Input("big-version", "data"))
def refresh_panels(_key):
    c = cockpit()
    snap = c.snapshot()
    code = user_scope()  # the wall shows its display token's (or its user's) jurisdiction
    kpis = views.region_kpis(snap, code, "today")
    ranking = views.child_ranking(snap, c.city, code, "today")
    return (
        kpi_row(PAGE, kpis),
        freshness(PAGE, snap, c.now(), c.settings.stale_after_s),
        bar_figure(views.breakdown(snap, "by_category", "category", code, "today"), "category", "count"),
        bar_figure(views.breakdown(snap, "by_channel", "channel", code, "today"), "channel", "count"),
        funnel_figure(kpis),
        hourly_figure(views.hourly(snap, code)),
        ranking_table(ranking),
        ticker_list(views.ticker(snap, code, 12)),
    )


@callback(Output("big-map", "figure"), Input("big-version", "data"), Input("big-measure", "value"),
          State("big-map", "figure"))
def refresh_map(_key, measure, current):
    """New measure: build the figure. New snapshot: patch only the values (geometry stays put)."""
    c = cockpit()
    code = user_scope()
    values = views.child_values(c.snapshot(), c.city, code, "today", measure)
    fig = children_map(c.city, code, values, measure, labels=True)
    if current is None or ctx.triggered_id != "big-version":
        return fig
    patch = Patch()
    patch["data"][0]["z"] = fig["data"][0]["z"]
    patch["data"][0]["text"] = fig["data"][0]["text"]
    patch["data"][1]["text"] = fig["data"][1]["text"]
    return patch


def ranking_table(df) -> html.Table:
    head = html.Tr([html.Th(x) for x in ("区", label("reported"), label("overdue"), label("on_time_rate"))])
    rows = [html.Tr([html.Td(r["name"]), html.Td(views.fmt_count(r.get("reported"))),
                     html.Td(views.fmt_count(r.get("overdue")), className="bad" if (r.get("overdue") or 0) > 0 else ""),
                     html.Td(views.fmt_rate(r.get("on_time_rate")))]) for r in df.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="big-ranking-table")


def ticker_list(df) -> html.Ul:
    return html.Ul(className="ticker-list", children=[
        html.Li([html.Span(f"{r['reported_at']:%H:%M}", className="t-time"), html.Span(r["channel"], className="t-chan"),
                 html.Span(r["category"], className="t-cat"), html.Span(r.get("street") or "", className="t-where"),
                 html.Span(label(f"stage_{r['status']}"), className=f"t-stage stage-{r['status']}")])
        for r in df.to_dict("records")])

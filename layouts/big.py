"""大屏: the control-room wall. The server renders every panel once; the browser lays them out for the
screen it is shown on (assets/big_canvas.js: a CSS grid computed from the screen's shape, `?canvas=auto`,
the default, or a fixed aspect `?canvas=W:H`; a splicing wall's screens `?tiles=CxR&bezel=px`, so no text
sits on a seam; type sized for the wall's height in screens). Panels that do not fit share the carousel.
Each new snapshot sends only values (plotly Patch, tile texts), so nothing flickers, the map keeps its view
and a refresh costs the same bytes on any wall.
Carousel and pinning by URL: /big?pages=overview,events,safety,cameras&interval=30, /big?page=safety.
The page reloads itself once a day (?reload_hour=, default COCKPIT_WALL_RELOAD_HOUR) and shows a
waiting state when the server or the data is gone, recovering by itself (assets/big_canvas.js)."""

import hashlib
import json
import time
from typing import Any

import dash
from dash import Input, Output, Patch, State, callback, clientside_callback, ctx, dcc, html, no_update
from plotly.utils import PlotlyJSONEncoder

from components import department_panels, vital_map, vital_signs
from components import wall_widgets as ww
from components.format import alert_text, fmt_count, fmt_number, fmt_percent, fmt_rate, is_missing, measure_label
from components.nearby_cameras import wall_gaps
from components.widgets import GRAPH_CONFIG, KPI_TILES, freshness, region_map
from config.labels import label
from config.region_codes import LEVELS
from contract import frames as F
from dashboard.access import user_scope
from dashboard.context import cockpit
from dashboard.live import live_components, register_poll
from queries import department_views, views, vital_trends
from queries.vital_signs import has_vital_signs

PAGE = "big"
VITALS = "vitals"  # the map measure of one vital sign by region (components/vital_map.py), beside views.MAP_MEASURES
PAGES = ("overview", "events", "safety", "cameras", "vitals", "departments")  # vitals: components/vital_signs.py
PAGE_MEASURE = {"overview": "density", "events": "overdue", "safety": "safety_index", "cameras": "camera_online_rate",
                "departments": "overdue", "vitals": VITALS}
dash.register_page(__name__, path="/big", title=f"{label('big')} · {label('app_title')}")

# panel id -> (title label, carousel pages it belongs to); a wall where every panel fits shows them all
PANELS = {
    "hourly": ("by_hour", ("overview", "events")),
    "category": ("by_category", ("overview",)),
    "channel": ("by_channel", ("events",)),
    "funnel": ("loop", ("overview", "events")),
    "safety": ("safety_trend", ("safety",)),
    "safety-rank": ("safety_ranking", ("safety",)),
    "camera": ("camera_status", ("cameras",)),
    "alerts": ("alerts", PAGES),
    "ranking": ("ranking", ("overview", "events", "cameras", "departments")),
    "ticker": ("ticker", ("overview", "events", "safety", "departments")),
    "gaps": ("gaps_wall", ("cameras",)),  # 补盲 (components/nearby_cameras.py)
    "vitals": ("page_vitals", ("vitals",)),  # 城市体征: components/vital_signs.py
    "departments": ("dept_ranking_wall", ("departments",)),  # 条: 部门榜 (components/department_panels.py wall_table)
}
# which panels a small wall keeps when not all fit (first first), and each one's share of a column's height
PRIORITY = ("alerts", "ranking", "ticker", "hourly", "funnel", "category", "channel", "safety", "safety-rank", "camera", "gaps",
            "vitals", "departments")
WEIGHT = {"ranking": 1.8, "safety-rank": 1.6, "alerts": 1.25, "camera": 1.2, "vitals": 3.0, "departments": 1.6}
ALERT_PAGE_S = 8  # seconds each page of the alert panel stays before the next (assets/big_canvas.js)


def panel(key: str, body) -> html.Section:
    title, pages = PANELS[key]
    prio = PRIORITY.index(key) if key in PRIORITY else len(PRIORITY)
    head = html.H3(label(title), className="panel-title") if key != "alerts" else html.H3(
        [label(title), html.Span(id="big-alerts-page", className="alert-page")], className="panel-title")
    return html.Section(id=f"big-panel-{key}", className=f"panel pn-{key} " + " ".join(f"on-{p}" for p in pages),
                        children=[head, body], **data_attrs(pages=" ".join(pages), prio=prio, weight=WEIGHT.get(key, 1.0)))


def data_attrs(**values) -> dict[str, Any]:
    """HTML data-* attributes (read by assets/big_canvas.js)."""
    return {f"data-{k.replace('_', '-')}": str(v) for k, v in values.items()}


def graph(key: str, figure: dict) -> dcc.Graph:
    return dcc.Graph(id=f"big-{key}", figure=figure, config=GRAPH_CONFIG, className="big-graph")


def carousel_config(page, pages, interval, reload_hour) -> dict:
    """The carousel of this display from its URL: pinned page, pages in turn and seconds each (`explicit`:
    the URL chose them, so they turn even on a wall where every panel fits)."""
    s = cockpit().settings
    chosen = [p for p in (pages or "").split(",") if p in PAGES]
    explicit = bool(chosen) or page in PAGES
    chosen = chosen or list(PAGES)
    if page in PAGES:
        chosen = [page]
    try:
        secs = max(5.0, float(interval)) if interval else s.wall_page_s
    except ValueError:
        secs = s.wall_page_s
    try:
        hour = int(reload_hour) if reload_hour not in (None, "") else s.wall_reload_hour
    except ValueError:
        hour = s.wall_reload_hour
    return {"pages": chosen, "interval_s": secs, "reload_hour": hour, "tz": cockpit().city.timezone,
            "names": {p: label(f"page_{p}") for p in PAGES}, "poll_ms": s.poll_ms, "explicit": explicit}


def layout(measure: str | None = None, page: str | None = None, pages: str | None = None,
           interval: str | None = None, reload_hour: str | None = None, level: str = "district", **_query):
    """?canvas=, ?tiles= and ?bezel= are read by the browser (assets/big_canvas.js), which lays the wall out."""
    c = cockpit()
    code = user_scope()
    snap = c.snapshot()
    conf = carousel_config(page, pages, interval, reload_hour)
    vitals_map = has_vital_signs(snap) and bool(vital_trends.regional_indicators(snap, code))
    measures = [*views.MAP_MEASURES, *([VITALS] if vitals_map else [])]
    conf["measure_pinned"] = measure in measures
    if not has_vital_signs(snap) and conf["pages"] != ["vitals"]:  # no COCKPIT_INDICATORS: no 城市体征 page
        conf["pages"] = [p for p in conf["pages"] if p != "vitals"]
    # the page the wall clock selects (as assets/big_canvas.js does), so the first paint is already right
    first = conf["pages"][int(time.time() / conf["interval_s"]) % len(conf["pages"])] if conf["pages"] else "all"
    measure = measure if measure in measures else PAGE_MEASURE.get(first, "density")
    measure = measure if measure in measures else "density"
    level = level if level in ("district", "street") else "district"
    kpis = views.region_kpis(snap, code)
    bodies = {
        "hourly": graph("hourly", ww.hourly_figure(views.hourly(snap, code))),
        "category": graph("category", ww.hbar_figure(views.breakdown(snap, F.BY_CATEGORY, "category", code, "today"),
                                                     "category", "count")),
        "channel": graph("channel", ww.hbar_figure(views.breakdown(snap, F.BY_CHANNEL, "channel", code, "today"),
                                                   "channel", "count")),
        "funnel": graph("funnel", ww.funnel_figure(kpis)),
        "safety": graph("safety", ww.safety_figure(views.safety_months(snap, code), views.connected(snap, "safety"))),
        "safety-rank": html.Div(id="big-safety-ranking"),
        "camera": html.Div(className="camera-box", children=[
            html.Div(id="big-camera-summary", className="camera-summary"),
            graph("camera", ww.camera_figure(views.camera_status(snap, c.city, code)))]),
        "alerts": html.Div(id="big-alerts", className="alert-list", **data_attrs(page_s=ALERT_PAGE_S)),
        "ranking": html.Div(id="big-ranking"),
        "ticker": html.Div(id="big-ticker", className="ticker"),
        "gaps": html.Div(id="big-gaps"),
        "departments": html.Div(id="big-departments"),
        **({"vitals": vital_signs.wall_tiles(snap, code, c.now())} if has_vital_signs(snap) else {}),
    }
    map_panel = html.Section(id="big-panel-map", className="panel map-panel", children=[
        html.Div(className="map-head", children=[
            html.H3(label("district_map"), className="panel-title"),
            dcc.RadioItems(id="big-level", className="measure-switch level-switch", value=level, inline=True,
                           options=[{"label": label(f"map_level_{v}"), "value": v} for v in ("district", "street")]),
        ]),
        dcc.RadioItems(id="big-measure", className="measure-switch", value=measure, inline=True,
                       options=[{"label": label("measure_vitals") if k == VITALS else measure_label(k), "value": k}
                                for k in measures]),
        dcc.Store(id="big-vs-map", data=None),  # the indicator a tapped tile put on the map (components/vital_map.py)
        dcc.Graph(id="big-map", config=GRAPH_CONFIG, className="big-map"),
    ])
    return html.Div(className="big-root", children=html.Div(
        className=f"big-canvas page-{first}", id="big-canvas", children=[
            *live_components(PAGE),
            dcc.Interval(id="big-tick", interval=1000),
            dcc.Store(id="big-carousel", data=conf),
            dcc.Store(id="big-alerted", data={}),
            dcc.Store(id="big-page", data=first),
            dcc.Store(id="big-sent", data={}),
            html.Header(id="big-header", className="header header-big", children=[
                html.H1(f"{c.city.names.get(code, c.city.name)} · {label('app_title')}",
                        className="title"),
                html.Div(className="header-right", children=[
                    html.Div(id="big-pages", className="page-dots"),
                    html.Div(id="big-alert-count", className="alert-count"),
                    html.Div(id="big-clock", className="clock"),
                    html.Div(id="big-freshness-box"),
                ]),
            ]),
            html.Div(id="big-kpis", className="kpi-row", children=[ww.kpi_tile(k) for k in KPI_TILES]),
            html.Div(id="big-body", className="big-body", children=[panel(k, bodies[k]) for k in PANELS if k in bodies]
                     + [map_panel]),
            dcc.Store(id="big-vs-sent", data={}),
            html.Div(label("waiting_data"), id="big-waiting", className="wall-overlay hidden"),
            html.Div(label("offline_wait"), id="big-offline", className="wall-overlay hidden"),
        ]))


register_poll(PAGE)
vital_signs.register_wall_callbacks()  # 城市体征 tiles (components/vital_signs.py)


@callback(Output("big-vs-map", "data"), Output("big-measure", "value", allow_duplicate=True),
          Input({"type": vital_signs.TILE, "id": dash.ALL}, "n_clicks"), prevent_initial_call=True)
def pick_map_indicator(clicks):
    """A vital-sign tile tapped: the map shows that indicator by region (when it has values by region)."""
    picked = ctx.triggered_id
    if not isinstance(picked, dict) or not any(clicks or []):
        return no_update, no_update
    if picked["id"] not in vital_trends.regional_indicators(cockpit().snapshot(), user_scope()):
        return no_update, no_update
    return picked["id"], VITALS

# Clock, carousel and the daily reload, all in the browser (they keep going while the server is down).
clientside_callback(
    dash.ClientsideFunction(namespace="bigWall", function_name="tick"),
    Output("big-clock", "children"), Output("big-page", "data"), Output("big-pages", "children"),
    Output("big-offline", "className"),
    Input("big-tick", "n_intervals"), State("big-carousel", "data"), State("big-page", "data"))

clientside_callback(
    dash.ClientsideFunction(namespace="bigWall", function_name="showPage"),
    Output("big-canvas", "className"), Output("big-measure", "value"),
    Input("big-page", "data"), State("big-canvas", "className"), State("big-measure", "value"),
    State("big-carousel", "data"))

clientside_callback(
    dash.ClientsideFunction(namespace="bigWall", function_name="markAlerted"),
    Output("big-alerted", "modified_timestamp"), Input("big-alerted", "data"))

KPI_OUTPUTS = [o for k in KPI_TILES for o in (Output(f"big-kpi-{k}-value", "children"),
                                               Output(f"big-kpi-{k}-delta", "children"),
                                               Output(f"big-kpi-{k}-delta", "className"),
                                               Output(f"big-kpi-{k}", "className"))]


@callback(*KPI_OUTPUTS, Output("big-freshness-box", "children"), Output("big-alert-count", "children"),
          Output("big-alert-count", "className"), Output("big-waiting", "className"), Output("big-alerted", "data"),
          Output("big-hourly", "figure"), Output("big-category", "figure"), Output("big-channel", "figure"),
          Output("big-funnel", "figure"), Output("big-safety", "figure"), Output("big-camera", "figure"),
          Output("big-camera-summary", "children"), Output("big-alerts", "children"),
          Output("big-ranking", "children"), Output("big-safety-ranking", "children"),
          Output("big-ticker", "children"), Output("big-gaps", "children"), Output("big-departments", "children"),
          Output("big-sent", "data"),
          Input("big-version", "data"),
          State("big-sent", "data"))
def refresh_panels(_key, sent):
    """A new snapshot: values only (patches and texts); figure layouts stay as the page built them,
    and a panel whose values did not change is not sent again (big-sent holds a digest per panel)."""
    c = cockpit()
    snap = c.snapshot()
    code = user_scope()
    kpis = views.region_kpis(snap, code)
    alerts = views.region_alerts(snap, code)
    kinds = {}
    for r in alerts.to_dict("records"):
        kinds[r["kind"]] = "red" if r["level"] == "red" or kinds.get(r["kind"]) == "red" else "amber"
    values, deltas, delta_cls, tile_cls = ww.kpi_values(kpis, views.region_kpis_yesterday(snap, code), kinds)
    kpi_out = [x for row in zip(values, deltas, delta_cls, tile_cls) for x in row]
    cams = views.camera_status(snap, c.city, code)
    n_red = int((alerts["level"] == "red").sum())
    out = (
        *kpi_out,
        freshness(PAGE, snap, c.now(), c.settings.stale_after_s),
        f"{label('alert_count')} {len(alerts)}",
        "alert-count" + (" red" if n_red else " amber" if len(alerts) else " none"),
        "wall-overlay" + ("" if snap.as_of is None else " hidden"),
        views.alerted_children(snap, c.city, code),
        ww.hourly_patch(views.hourly(snap, code)),
        ww.hbar_patch(views.breakdown(snap, F.BY_CATEGORY, "category", code, "today"), "category", "count"),
        ww.hbar_patch(views.breakdown(snap, F.BY_CHANNEL, "channel", code, "today"), "channel", "count"),
        ww.funnel_patch(kpis),
        ww.safety_patch(views.safety_months(snap, code), views.connected(snap, "safety")),
        ww.camera_patch(cams, c.settings.alert_camera_online_min),
        camera_summary(kpis),
        alert_list(alerts),
        ranking_table(views.child_ranking(snap, c.city, code, "today")),
        safety_table(views.safety_ranking(snap, c.city, code)),
        ticker_list(views.ticker(snap, code, 14)),
        wall_gaps(snap, c.city, code),
        department_panels.wall_table(snap, code, c.now(), department_views.score_weights(c.settings)),
    )
    return unchanged_skipped(out, len(kpi_out) + 5, sent or {})


def unchanged_skipped(out: tuple, first: int, sent: dict) -> tuple:
    """`out` with every output from index `first` on replaced by no_update when its digest equals the
    one sent last time; plus the new digests."""
    digests, result = {}, list(out)
    for i in range(first, len(out)):
        d = hashlib.blake2b(json.dumps(out[i], cls=PlotlyJSONEncoder, sort_keys=True).encode(), digest_size=8)
        digests[str(i)] = d.hexdigest()
        if sent.get(str(i)) == digests[str(i)]:
            result[i] = no_update
    return (*result, digests)


@callback(Output("big-map", "figure"), Input("big-version", "data"), Input("big-measure", "value"),
          Input("big-level", "value"), Input("big-vs-map", "data"), State("big-map", "figure"))
def refresh_map(_key, measure, level, chosen, current):
    """Level changed (or first draw): the figure. Otherwise (new snapshot, new measure): a Patch of
    values, colours and outlines only; the geometry URL and the view stay put."""
    c = cockpit()
    code = user_scope()
    snap = c.snapshot()
    if measure == VITALS:
        return vitals_map(c, snap, code, level, chosen, current)
    measure = measure if measure in views.MAP_MEASURES else "density"
    street = level == "street" and LEVELS.index(c.city.level_of(code)) < LEVELS.index("street")
    values = views.level_values(snap, c.city, code, "today", measure, "street" if street else None)
    alerted = views.alerted_children(snap, c.city, code) if not street else views.alerted_at(snap, code, "street")
    fig = wall_map(c.city, code, values, measure, street)
    outline_alerts(fig["data"][0], values, alerted)
    if current is None or ctx.triggered_id == "big-level" or current.get("data", [{}])[0].get("geojson") != \
            fig["data"][0]["geojson"] or (current.get("layout") or {}).get("meta") == VITALS:  # from the vitals map
        return fig
    patch = Patch()
    for key in ("z", "text", "colorscale", "showscale"):
        patch["data"][0][key] = fig["data"][0][key]
    patch["data"][0]["colorbar"]["title"]["text"] = fig["data"][0]["colorbar"]["title"]["text"]
    patch["data"][0]["marker"]["line"] = fig["data"][0]["marker"]["line"]
    if len(fig["data"]) > 1:
        patch["data"][1]["text"] = fig["data"][1]["text"]
    return patch


def vitals_map(c, snap, code: str, level: str, chosen: str | None, current: dict | None):
    """The map coloured by one vital sign (the tapped tile's, else COCKPIT_WALL_VITALS_MAP, else the first with
    values by region): the figure when the map showed something else, else its data and notes as a Patch."""
    from dashboard.routes import geo_bounds

    street = level == "street" and LEVELS.index(c.city.level_of(code)) < LEVELS.index("street")
    regions = c.city.regions[(c.city.regions["level"] == "street") & c.city.regions["code"].str.startswith(code)] \
        if street else c.city.children(code)
    lvl = "street" if street else regions["level"].iloc[0]
    geo_url, rev = f"/geo/{lvl}.json?parent={code}", f"{code}-{lvl}"
    ind = vital_trends.map_indicator(snap, code, chosen, c.settings.wall_vitals_map)
    if ind is None:
        return vital_map.no_indicator_map(geo_url, rev, geo_bounds(str(c.city.geojson_path(lvl)), code))
    values, head = vital_trends.map_values(snap, regions, ind, code)
    fig = vital_map.vital_map(values, head or {"name": ind, "status": "none"}, geo_url, c.now(), labels=not street,
                              uirevision=rev, bounds=geo_bounds(str(c.city.geojson_path(lvl)), code))
    if current is None or (current.get("layout") or {}).get("meta") != VITALS or ctx.triggered_id == "big-level" \
            or current.get("data", [{}])[0].get("geojson") != geo_url:
        return fig
    patch = Patch()
    patch["data"] = fig["data"]
    patch["layout"]["annotations"] = fig["layout"]["annotations"]
    return patch


def wall_map(city, code: str, values, measure: str, street: bool) -> dict:
    from dashboard.routes import geo_bounds

    level = "street" if street else city.children(code)["level"].iloc[0]
    bounds = geo_bounds(str(city.geojson_path(level)), code)
    fig = region_map(values, f"/geo/{level}.json?parent={code}", measure, labels=not street,
                     uirevision=f"{code}-{level}", bounds=bounds, label_px=15, map_height_px=640)
    fig["data"][0]["colorbar"].update(thickness=16, len=0.5, x=0.98, tickfont={"size": 15, "color": "#8aa4d6"})
    if measure == "density":  # per km² is what colours; the count (density × area) is what reads
        counts = (values["value"] * values["area_km2"]).round()
        text = [f"{n}<br>{label('n_events', n=fmt_count(v))}" for n, v in zip(values["name"], counts)]
        fig["data"][0]["text"] = text
        if len(fig["data"]) > 1:
            fig["data"][1]["text"] = text
    return fig


def outline_alerts(trace: dict, values, alerted: dict[str, str]) -> None:
    """Alerted regions get a thick red/amber outline (and flash, assets/big_canvas.js)."""
    colour = {"red": "#ff4d5e", "amber": "#ffb020"}
    trace["marker"]["line"] = {"color": [colour.get(alerted.get(c, ""), "#06122b") for c in values["code"]],
                               "width": [4 if c in alerted else 0.6 for c in values["code"]]}


def camera_summary(k: dict) -> list:
    items = [("cameras", k.get("cameras")), ("cameras_online", k.get("cameras_online")),
             ("offline", k.get("cameras") if is_missing(k.get("cameras")) else k["cameras"] - k.get("cameras_online", 0)),
             ("blind_grids", k.get("blind_grids"))]
    return [html.Div([html.B(fmt_count(v)), html.Span(label(n))], className="cam-item") for n, v in items]


def alert_list(alerts) -> list:
    """Every alert as a card (the panel pages through them by itself, assets/big_canvas.js), so the header's
    count is what the panel holds; a card's time is when its condition began (始于)."""
    if alerts.empty:
        return [html.Div(label("no_alerts"), className="alert-none")]
    return [html.Div(className=f"alert-item {r['level']}", children=[
        html.Span(label(f"alert_{r['kind']}"), className="a-kind"), html.Span(r["name"] or r["code"], className="a-where"),
        html.Span("" if r["since"] is None or r["since"] != r["since"] else f"{label('since')} {r['since']:%m-%d %H:%M}",
                  className="a-since"),
        html.Span(alert_text(r), className="a-text"),
    ]) for r in alerts.to_dict("records")]


def ranking_table(df) -> html.Table:
    head = html.Tr([html.Th(x) for x in (label("map_level_district"), label("reported"), label("overdue"),
                                         label("on_time_rate"))])
    rows = [html.Tr([html.Td(r["name"]), html.Td(fmt_count(r.get("reported"))),
                     html.Td(fmt_count(r.get("overdue")), className="bad" if (r.get("overdue") or 0) > 0 else ""),
                     html.Td(fmt_rate(r.get("on_time_rate")))]) for r in df.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="big-ranking-table")


def safety_table(df) -> html.Table:
    head = html.Tr([html.Th(x) for x in (label("map_level_district"), label("safety_index"), label("vs_last_month"),
                                         label("public_security"))])
    rows = [html.Tr([html.Td(r["name"]), html.Td(fmt_number(r.get("safety_index"))),
                     html.Td(ww.kpi_delta("safety_index", r, {})[0].replace(label("vs_last_month"), "").strip()),
                     html.Td(fmt_percent(r.get("public_security")))]) for r in df.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="big-safety-table")


def ticker_list(df) -> html.Ul:
    return html.Ul(className="ticker-list", children=[
        html.Li([html.Span(f"{r['reported_at']:%H:%M}", className="t-time"), html.Span(r["channel"], className="t-chan"),
                 html.Span(r["category"], className="t-cat"), html.Span(r.get("street") or "", className="t-where"),
                 html.Span(label(f"stage_{r['status']}"), className=f"t-stage stage-{r['status']}")])
        for r in df.to_dict("records")])

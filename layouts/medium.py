"""中屏: leaders' tablets. Drill down city → district → street → community → grid by tapping the map;
the URL holds the whole state (?region=&window=&start=&end=&measure=&rank=&sort=&event=&dept=), so a link
opens the same view. Window figures come from queries/window_views.py (event_pieces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from components import department_panels, forecast_panel, region_panels, vital_signs
from components.format import (
    fmt_count,
    fmt_minutes,
    fmt_number,
    fmt_rate,
    fmt_span,
    is_not_connected,
    measure_label,
    place_path,
    window_text,
)
from components.nearby_cameras import event_cameras, gaps_panel, spot_cameras
from components.supervision_form import register_supervision, supervision_block
from components.widgets import GRAPH_CONFIG, children_map, freshness, kpi_row, loop_figure, rate_bars
from config.labels import label
from contract.metrics import FUNNEL, RANK_PERIODS
from dashboard.access import require_fields, require_region, user_scope
from dashboard.context import cockpit
from dashboard.live import header, live_components, register_poll, shared_view
from layouts.medium_outputs import DEPT_OUTPUTS, LIST_OUTPUTS, RANKING_OUTPUTS, RENDER_OUTPUTS
from queries import department_views, views, window_views

PAGE = "medium"
dash.register_page(__name__, path="/medium", title=f"{label('medium')} · {label('app_title')}")
WINDOWS = window_views.TABLET_WINDOWS
TILES = ("reported", "open", "overdue", "at_risk", "on_time_rate", "same_day_rate", "grid_settled_rate",
         "escalated_rate", "satisfaction_rate", "supervision_on_time_rate", "camera_online_rate", "safety_index")
# Ranking columns: key -> formatter; the header of each sorts the table by it (?sort=)
RANK_COLUMNS: dict[str, Callable[[Any], str]] = {"rank": str, "name": str, "score": fmt_number, "reported": fmt_count,
                "open": fmt_count, "overdue": fmt_count, "on_time_rate": fmt_rate,
                "same_day_rate": fmt_rate, "grid_settled_rate": fmt_rate,
                "satisfaction_rate": fmt_rate}
ASCENDING = {"rank", "name", "overdue", "open"}  # sorted smallest first; the rest largest first
STATE_KEYS = ("region", "window", "start", "end", "measure", "rank", "sort", "event", "spot", "dept")
OVERDUE_SHOWN = 15
QUIET_DEFAULTS = {"rank": "month", "sort": "rank"}  # left out of URLs when they hold these


def view_state(q: dict) -> dict:
    """The view a query asks for, unknown values replaced by defaults; a region outside the user's
    jurisdiction raises OutOfScope (403), a value that is not text (a forged state) BadInput (400)."""
    q = require_fields(q, STATE_KEYS)
    city = cockpit().city
    region = q.get("region")
    region = require_region(region) if region and region in city else user_scope()
    return {
        "region": region,
        "window": q.get("window") if q.get("window") in WINDOWS else "today",
        "start": q.get("start") or None, "end": q.get("end") or None,
        "measure": q.get("measure") if q.get("measure") in views.MAP_MEASURES else "density",
        "rank": q.get("rank") if q.get("rank") in RANK_PERIODS else "month",
        "sort": q.get("sort") if q.get("sort") in RANK_COLUMNS else "rank",
        "event": q.get("event") or None,
        # the cameras around a street's or grid's spot (components/nearby_cameras.py): in scope, or 403
        "spot": require_region(q["spot"]) if q.get("spot") and q["spot"] in city else None,
        # 条: a department of the published catalogue (or 未归属), in the user's department scope, or 403
        "dept": department_views.known_department(cockpit().snapshot(), q.get("dept")),
    }


def href(state: dict, **changes) -> str:
    s = {**state, **changes}
    if s.get("window") != "custom":
        s["start"] = s["end"] = None
    return "/medium?" + urlencode({k: s[k] for k in STATE_KEYS if s.get(k) and QUIET_DEFAULTS.get(k) != s[k]})


def window_of(state: dict) -> window_views.Window:
    c = cockpit()
    as_of = c.snapshot().as_of or c.now()
    return window_views.resolve_window(state["window"], as_of, state["start"], state["end"], c.settings.history_days)


def layout(**query):
    state = view_state(query)
    w = window_of(state)
    return html.Div(className="medium-root", children=[
        *live_components(PAGE),
        dcc.Location(id="medium-url", refresh="callback-nav"),
        header(PAGE, f"{cockpit().city.name} · {label('medium')}"),
        html.Div(className="medium-controls", children=[
            html.Nav(id="medium-breadcrumb", className="breadcrumb"),
            dcc.RadioItems(id="medium-window", value=state["window"], inline=True, className="segmented",
                           options=[{"label": label(f"window_{x}"), "value": x} for x in WINDOWS]),
            dcc.DatePickerRange(id="medium-range", start_date=w.first.isoformat(), end_date=w.last.isoformat(),
                                display_format="YYYY-MM-DD", minimum_nights=0, className="date-range",
                                style={} if state["window"] == "custom" else {"display": "none"}),
            dcc.Dropdown(id="medium-measure", value=state["measure"], clearable=False, searchable=False,
                         className="measure-dropdown",
                         options=[{"label": measure_label(k), "value": k} for k in views.MAP_MEASURES]),
        ]),
        dcc.Store(id="medium-state", data=state),
        html.Div(id="medium-window-text", className="window-text"),
        event_overlay(state) if state["event"] else spot_overlay(state) if state["spot"] else None,
        html.Div(id="medium-kpis", className="kpi-row"),
        html.Div(className="medium-body", children=[
            html.Section(className="panel", children=[
                html.H3(id="medium-map-title", className="panel-title"),
                dcc.Graph(id="medium-map", config=GRAPH_CONFIG, className="medium-map")]),
            html.Section(className="panel medium-loop", children=[
                html.H3(label("loop"), className="panel-title"),
                dcc.Graph(id="medium-funnel", config=GRAPH_CONFIG, className="medium-funnel"),
                html.Div(id="medium-stages"),
                html.P(label("quantile_note"), className="note")]),
        ]),
        html.Section(className="panel", children=[
            html.Div(className="panel-head", children=[
                html.H3(label("rank_title"), className="panel-title"),
                html.Nav(id="medium-rank-periods", className="segmented-links"),
                html.Div(id="medium-exports", className="exports")]),
            html.Div(id="medium-ranking", className="table-scroll")]),
        html.Section(className="panel", id="medium-dept", children=[  # 部门榜 (components/department_panels.py)
            html.H3(label("dept_ranking"), className="panel-title"), html.Div(id="medium-dept-ranking")]),
        html.Div(id="medium-dept-view"),
        html.Div(className="medium-grid3", children=[
            html.Section(className="panel", children=[html.H3(label("on_time_by_category"), className="panel-title"),
                                                       dcc.Graph(id="medium-by-category", config=GRAPH_CONFIG)]),
            html.Section(className="panel", children=[html.H3(label("on_time_by_channel"), className="panel-title"),
                                                       dcc.Graph(id="medium-by-channel", config=GRAPH_CONFIG)]),
            html.Section(className="panel", children=[html.H3(label("handling_levels"), className="panel-title"),
                                                       dcc.Graph(id="medium-by-level", config=GRAPH_CONFIG)]),
        ]),
        html.Div(className="medium-grid2", children=[
            html.Section(className="panel", children=[html.H3(label("overdue_list"), className="panel-title"),
                                                       html.Div(id="medium-overdue")]),
            html.Section(className="panel", children=[html.H3(label("at_risk_events"), className="panel-title"),
                                                       html.Div(id="medium-at-risk")])]),
        html.Section(className="panel", children=[html.H3(label("supervision"), className="panel-title"),
                                                   html.Div(id="medium-supervision")]),
        html.Div(id="medium-panels"),  # recurring problems, safety, cameras (components/region_panels.py)
    ])


def event_overlay(state: dict) -> html.Section:
    """The tapped event's whole life (?event=): its timeline over the page, closed by a link."""
    from components.timeline_view import load_timeline, missing_text, timeline_component

    close = dcc.Link(label("close"), href=href(state, event=None), className="overlay-close", id="medium-event-close")
    tl = load_timeline(state["event"])
    body = [timeline_component(tl, cockpit().now(), "medium"), event_cameras(tl, "medium"),
            supervision_block(PAGE, state["event"], tl["grid_code"])] if tl else [html.P(missing_text())]
    return html.Section(className="panel medium-event", id="medium-event", children=[close, *body])


def spot_overlay(state: dict) -> html.Section:
    """The cameras around a street's or grid's spot (?spot=, from the 补盲 panel or an alert), closed by a link."""
    close = dcc.Link(label("close"), href=href(state, spot=None), className="overlay-close", id="medium-spot-close")
    return html.Section(className="panel medium-event", id="medium-event",
                        children=[close, spot_cameras(state["spot"], "medium")])


register_poll(PAGE)
register_supervision(PAGE)


def _render(snap, state: dict):
    """What a drill-down step shows first: tiles, breadcrumb, the map of the children, the loop."""
    c, w = cockpit(), window_of(state)
    region = state["region"]
    city = c.city
    kpis = {**window_views.tablet_window_figures(snap, region, w), "at_risk": len(views.at_risk(snap, region)),
            **views.supervision_totals(snap, region)}
    crumbs = []
    for code in [*(a for a in city.ancestors(region) if a.startswith(user_scope())), region]:  # from the user's root
        crumbs.append(dcc.Link(city.names[code], href=href(state, region=code, event=None),
                               id={"type": "medium-crumb", "code": code},
                               className="crumb" + (" current" if code == region else "")))
    children = city.children(region)
    measure = state["measure"]
    if children.empty:  # a grid: the grid itself, with its own value
        values = window_views.child_window_values(snap, city, city.ancestors(region)[-1], w, measure)
        values = values[values["code"] == region]
        title = f"{city.names[region]} · {label('level_grid')} · {measure_label(measure)}"
    else:
        values = window_views.child_window_values(snap, city, region, w, measure)
        values = values.assign(name=[city.short_name(code) for code in values["code"]])  # 第3网格, not 梅园…第3网格
        title = f"{label('children_count', level=label('level_' + children['level'].iloc[0]), n=len(values))} · " \
                f"{measure_label(measure)}"
    rank_w = window_views.resolve_window(state["rank"], snap.as_of or c.now())
    return (kpi_row(PAGE, kpis, TILES), freshness(PAGE, snap, c.now(), c.settings.stale_after_s), crumbs,
            f"{window_text(w)} · {label('rank_title')} {window_text(rank_w)}", title,
            children_map(city, region, values, measure, dark=False), loop_figure(kpis), stage_table(kpis))


def _render_ranking(snap, state: dict):
    """The 五个一 ranking of the children with its exports, and on-time closure by category,
    channel and handling level (a callback of its own: the browser asks for it beside render)."""
    c, w = cockpit(), window_of(state)
    region = state["region"]
    rank_w = window_views.resolve_window(state["rank"], snap.as_of or c.now())
    # a grid has no children: rank it among its siblings instead (if the user may see them), its row marked
    parent = region
    if c.city.children(region).empty and c.city.ancestors(region)[-1].startswith(user_scope()):
        parent = c.city.ancestors(region)[-1]
    ranking = window_views.ranking(snap, c.city, parent, rank_w, window_views.score_weights(c.settings))
    periods = [dcc.Link(label(f"rank_{p}"), href=href(state, rank=p), id={"type": "medium-rank-period", "period": p},
                        className="seg" + (" current" if p == state["rank"] else "")) for p in RANK_PERIODS]
    q = urlencode({"region": region, "rank": state["rank"]})
    exports = [html.A(label("export_csv"), href=f"/medium/export.csv?{q}", className="btn", id="medium-export-csv"),
               html.A(label("export_xlsx"), href=f"/medium/export.xlsx?{q}", className="btn", id="medium-export-xlsx")]
    # the daily briefing (briefing/web.py) of this region, or below a street of its street, when in scope
    briefed = [r for r in [*c.city.ancestors(region), region] if c.city.level_of(r) in ("city", "district", "street")]
    if briefed[-1].startswith(user_scope()):
        exports.append(html.A(label("brief_pdf"), href=f"/medium/briefing.pdf?{urlencode({'region': briefed[-1]})}",
                              className="btn", id="medium-briefing-pdf"))
    return (periods, exports, ranking_table(ranking, state),
            rate_bars(window_views.on_time_by(snap, region, w, "category"), "category"),
            rate_bars(window_views.on_time_by(snap, region, w, "channel"), "channel"),
            level_bars(window_views.on_time_by(snap, region, w, "handling_level")))


def _render_lists(snap, state: dict):
    """The overdue list and the region panels (recurring problems, safety, cameras)."""
    c = cockpit()
    region, city, now = state["region"], c.city, c.now()
    supervised = views.open_supervisions(snap, region)
    return (overdue_table(window_views.overdue_list(snap, region), state, now, supervised),
            at_risk_table(views.at_risk(snap, region), state, supervised),
            supervision_table(views.supervisions(snap, region), views.supervision_totals(snap, region), state),
            [region_panels.recurring_panel(snap, city, region, now, lambda e: href(state, event=e)),
             html.Div(className="medium-grid2", children=[region_panels.safety_panel(snap, city, region, now),
                                                          region_panels.camera_panel(snap, city, region, now)]),
             gaps_panel(snap, city, region, lambda code: href(state, spot=code, event=None)),
             forecast_panel.forecast_panel(snap, city, region),  # 预警预测 (components/forecast_panel.py)
             vital_signs.region_panel(snap, region, now, window_of(state))])  # 城市体征 (components/vital_signs.py)


def register_render(outputs: list[tuple[str, str]], build) -> None:
    """One of the tablet's render callbacks: the browser asks for all three side by side, each fills
    its outputs from build(snap, state); the state is scope-checked (OutOfScope: 403) before a view
    shared with others of the same role and jurisdiction is handed out (dashboard/live.shared_view)."""
    @callback(*[Output(f"medium-{o}", p) for o, p in outputs],
              Input("medium-version", "data"), Input("medium-state", "data"))
    def _render_callback(key, state):
        snap = cockpit().snapshot()
        state = view_state(state)
        return shared_view(snap, f"{PAGE}.{build.__name__}", key, state, lambda: build(snap, state))


register_render(RENDER_OUTPUTS, _render)
register_render(RANKING_OUTPUTS, _render_ranking)
register_render(LIST_OUTPUTS, _render_lists)


def _render_departments(snap, state: dict):
    """部门榜 of the region for the ranking's period, and the chosen department's view (?dept=)."""
    c = cockpit()
    rank_w = window_views.resolve_window(state["rank"], snap.as_of or c.now())
    link = lambda **changes: href(state, **changes)  # noqa: E731
    return (department_panels.ranking_panel(snap, state, rank_w, department_views.score_weights(c.settings), link),
            department_panels.department_view(snap, c.city, state, rank_w, c.now(), link))


register_render(DEPT_OUTPUTS, _render_departments)


@callback(Output("medium-url", "href"), Input("medium-map", "clickData"), Input("medium-window", "value"),
          Input("medium-measure", "value"), Input("medium-range", "start_date"), Input("medium-range", "end_date"),
          State("medium-state", "data"), prevent_initial_call=True)
def navigate(click, window, measure, start, end, state):
    """Tap a region to go down a level; window/measure/range changes keep the region. The URL is the state."""
    state = view_state(state)
    region = state["region"]
    new = dict(state, window=window, measure=measure)
    if dash.ctx.triggered_id == "medium-map" and click:
        code = click["points"][0].get("location")
        if code and code.startswith(region) and code != region:
            new.update(region=code, event=None)
    if window == "custom":
        new.update(start=(start or "")[:10] or None, end=(end or "")[:10] or None)
    target = href(new)
    return no_update if target == href(state) else target


def stage_table(kpis: dict) -> html.Table:
    """Each stage of the loop the source records: events that reached it, median and 90th percentile time (≈)."""
    rows = [(span, count) for _, count, span in FUNNEL if span is not None] + [("total", "closed")]
    head = html.Tr([html.Th(label(x)) for x in ("stage", "reached", "median", "p90")])
    body = [html.Tr([html.Td(label(f"stage_{s}")), html.Td(fmt_count(kpis.get(n))),
                     html.Td(fmt_minutes(kpis.get(f"median_{s}_min"), approx=True)),
                     html.Td(fmt_minutes(kpis.get(f"p90_{s}_min"), approx=True))], id=f"medium-stage-{s}")
            for s, n in rows if not is_not_connected(kpis.get(n))]  # the stages the source records
    return html.Table([html.Thead(head), html.Tbody(body)], className="stages", id="medium-stage-table")


def ranking_table(df: pd.DataFrame, state: dict) -> html.Table:
    """The children ranked by score (五个一); tap a header to sort by it, a name to drill into it."""
    key = state["sort"]
    if key in df and key != "rank":
        df = df.sort_values(key, ascending=key in ASCENDING, na_position="last", kind="stable")
    head = html.Tr([html.Th(dcc.Link(label(k if k != "rank" else "rank_no"), href=href(state, sort=k),
                                     className="sort" + (" current" if k == key else "")))
                    for k in RANK_COLUMNS])
    rows = []
    for r in df.to_dict("records"):
        cells = []
        for k, fmt in RANK_COLUMNS.items():
            v = r.get(k)
            if k == "name":
                cells.append(html.Td(dcc.Link(v, href=href(state, region=r["code"], event=None))))
            else:
                bad = k == "overdue" and (v or 0) > 0
                cells.append(html.Td(fmt(v) if v is not None else "—", className="bad" if bad else ""))
        rows.append(html.Tr(cells, className="current" if r["code"] == state["region"] else ""))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="medium-ranking-table")


def level_bars(df: pd.DataFrame) -> dict:
    """Closed events by the level that settled them (小事不出网格 vs escalated)."""
    df = df[df["handling_level"].astype(str) != ""].copy()
    df["handling_level"] = df["handling_level"].astype(str).map(lambda v: label(f"level_{v}"))
    return rate_bars(df.assign(reported=df["closed"]), "handling_level", show_rate=False)


def sup_badge(sup: dict | None) -> list:
    return [html.Span(label(f"supervision_level_{sup['level']}"), className="sup-level")] if sup else []


def overdue_table(df: pd.DataFrame, state: dict, now, supervised: dict | None = None) -> html.Div | html.P:
    """Open events past deadline, oldest deadline first (督办 marked); tap one for its timeline."""
    if df.empty:
        return html.P(label("no_overdue"), className="empty")
    city = cockpit().city
    supervised = supervised or {}
    items = []
    for r in df.head(OVERDUE_SHOWN).to_dict("records"):
        late_min = (pd.Timestamp(now) - pd.Timestamp(r["due_at"])).total_seconds() / 60
        where = place_path(city, r["grid_code"])
        items.append(html.Li(dcc.Link(href=href(state, event=r["event_id"]), className="event-row", children=[
            *sup_badge(supervised.get(r["event_id"])),
            html.Span(f"{label('overdue_by')} {fmt_span(late_min)}", className="late"),
            html.Span(f"{r['category']} · {r['channel']}", className="what"),
            html.Span(where, className="where"),
            html.Span(label(f"stage_{r['status']}"), className="status")])))
    note = label("event_list_more").format(n=len(df), k=OVERDUE_SHOWN) if len(df) > OVERDUE_SHOWN else ""
    return html.Div([html.Ul(items, className="event-list", id="medium-overdue-list"), html.P(note, className="note")])


def at_risk_table(df: pd.DataFrame, state: dict, supervised: dict) -> html.Div | html.P:
    """将超期: open events due within the horizon, soonest first, with the time left; tap for the timeline."""
    if df.empty:
        return html.P(label("no_at_risk"), className="empty")
    city = cockpit().city
    items = [html.Li(dcc.Link(href=href(state, event=r["event_id"]), className="event-row", children=[
        *sup_badge(supervised.get(r["event_id"])),
        html.Span(f"{label('time_left')} {fmt_span(r['minutes_left'])}", className="soon"),
        html.Span(f"{r['category']} · {r['channel']}", className="what"),
        html.Span(place_path(city, r["grid_code"]), className="where"),
        html.Span(label(f"stage_{r['status']}"), className="status")])) for r in df.head(OVERDUE_SHOWN).to_dict("records")]
    note = label("event_list_more").format(n=len(df), k=OVERDUE_SHOWN) if len(df) > OVERDUE_SHOWN else ""
    return html.Div([html.Ul(items, className="event-list", id="medium-at-risk-list"), html.P(note, className="note")])


def supervision_table(df: pd.DataFrame, totals: dict, state: dict) -> html.Div:
    """督办 of the region: how many, still open, closed by the new deadline (and the rate), the newest first."""
    head = label("supervision_summary", n=totals["supervised"], open=totals["supervised_open"],
                 in_time=totals["supervised_in_time"], closed=totals["supervised_closed"],
                 rate=fmt_rate(totals["supervision_on_time_rate"]))
    rows = [html.Li(dcc.Link(href=href(state, event=r["event_id"]), className="event-row", children=[
        *sup_badge(r),
        html.Span(f"{label('supervision_new_due')} {pd.Timestamp(r['new_due_at']):%m-%d %H:%M}", className="what"),
        html.Span(" · ".join(x for x in (department_views.department_name(cockpit().snapshot(), r.get("department")), r["note"]) if x),
                  className="where"),
        html.Span(label("supervised_open") if r["is_open"] else
                  label("supervised_in_time") if r["closed_in_time"] else label("supervised_late"), className="status")]))
        for r in df.head(OVERDUE_SHOWN).to_dict("records")]
    return html.Div([html.P(head, className="note", id="medium-supervision-summary"),
                     html.Ul(rows, className="event-list") if rows else html.P(label("no_supervision"), className="empty")])

"""The tablet's department panels (条): the department ranking (部门榜) of a region for the ranking's period, and
a chosen department's view (its figures, by region, by category, its trend, its overdue and at-risk cases).
Numbers from queries/department_views.py (definitions: contract/metrics.py, docs/metrics.md), text from
components/format.py; a figure the source does not give says 未接入 (label not_connected), never 0. Links go
through `link(**changes)` (the page's href), so the URL holds the view (`&dept=`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from dash import dcc, html

from components.format import fmt_count, fmt_number, fmt_rate, fmt_span, place_path
from components.theme import LIGHT
from components.widgets import GRAPH_CONFIG
from config.departments import UNASSIGNED_CODE
from config.labels import label
from contract.metrics import DEPARTMENT_RATES
from queries import department_views as dv
from queries.window_views import Window
from snapshots.reader import Snapshot

Link = Callable[..., str]
RATE_KEYS = tuple(DEPARTMENT_RATES)
RANK_COLUMNS: dict[str, Callable[[Any], str]] = {
    "rank": lambda v: "" if pd.isna(v) else str(int(v)), "name": str, "score": fmt_number, "reported": fmt_count,
    "due_to_close": fmt_count, "closure_rate": fmt_rate, "on_time_closure_rate": fmt_rate, "rework_rate": fmt_rate,
    "extension_rate": fmt_rate, "hung": fmt_count, "overdue_now": fmt_count}
TILES = ("reported", "due_to_close", "closure_rate", "on_time_closure_rate", "rework_rate",
         "extension_rate", "deferred", "hung", "overdue_now", "at_risk_now")
SHOWN = 15
WALL_ROWS = 7  # the wall's 部门榜: the most overdue departments


def dept_name(code: str, name: str | None) -> str:
    return label("unassigned") if code == UNASSIGNED_CODE else (name or code)


def _cell(key: str, value, missing: set[str], fmt: Callable[[Any], str]) -> str:
    if key in missing:
        return label("not_connected")
    return "—" if value is None or (isinstance(value, float) and pd.isna(value)) else fmt(value)


def formulas() -> html.Div:
    """The formula of each rate and of the score, as the page shows them under the ranking."""
    return html.Div(className="dept-formulas note", id="medium-dept-formulas", children=[
        html.Div(label(f"formula_{k}")) for k in (*RATE_KEYS, "dept_score")])


def ranking_table(df: pd.DataFrame, missing: set[str], state: dict, link: Link) -> html.Table:
    """Departments ranked by score; tap a name for its view (?dept=). 未归属 last, unranked."""
    head = html.Tr([html.Th(label(k if k != "rank" else "rank_no")) for k in RANK_COLUMNS])
    rows = []
    for r in df.to_dict("records"):
        cells = []
        for k, fmt in RANK_COLUMNS.items():
            if k == "name":
                cells.append(html.Td(dcc.Link(dept_name(r["code"], r["name"]), href=link(dept=r["code"], event=None),
                                              id={"type": "medium-dept-link", "code": r["code"]})))
            else:
                bad = k == "overdue_now" and (r.get(k) or 0) > 0
                cells.append(html.Td(_cell(k, r.get(k), missing, fmt), className="bad" if bad else ""))
        rows.append(html.Tr(cells, className="current" if r["code"] == state.get("dept") else ""))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="medium-dept-table")


def ranking_panel(snap: Snapshot, state: dict, w: Window, weights: dict[str, float], link: Link) -> list:
    """部门榜 of the region for the period: the top-level departments, or the chosen one's sub-units."""
    dept: str = state.get("dept") or ""
    cat = dv.catalogue(snap)
    parent = dept if dept and dept != UNASSIGNED_CODE and cat is not None and not cat.children(dept).empty else None
    table = dv.ranking(snap, state["region"], w, weights, parent=parent)
    head: list = [html.Span(label("dept_sub_units") + " · " + dept_name(dept, cat.name(dept)) if parent and cat else "",
                            className="note")]
    if dept:
        head.append(dcc.Link(label("dept_clear"), href=link(dept=None, event=None), id="medium-dept-clear",
                             className="btn"))
    return [html.Div(head, className="dept-head"), html.Div(ranking_table(table, dv.missing(snap), state, link),
                                                            className="table-scroll"), formulas()]


def _tile(key: str, value, missing: set[str]) -> html.Div:
    fmt = fmt_rate if key in RATE_KEYS else fmt_count
    bad = key in ("overdue_now", "hung") and (value or 0) > 0
    return html.Div(className="kpi kpi-small" + (" bad" if bad else ""), id=f"medium-dept-kpi-{key}", children=[
        html.Div(label(key), className="kpi-label"), html.Div(_cell(key, value, missing, fmt), className="kpi-value")])


def trend_figure(df: pd.DataFrame) -> dict:
    """Cases per day of report (bars) and their closure rate now (line)."""
    x = [f"{d:%m-%d}" for d in df["date"]]
    return {"data": [{"type": "bar", "x": x, "y": df["reported"].tolist(), "name": label("reported"),
                      "marker": {"color": LIGHT["accent"]}},
                     {"type": "scatter", "mode": "lines+markers", "x": x, "yaxis": "y2", "name": label("closure_rate"),
                      "y": [None if pd.isna(v) else round(100 * v, 1) for v in df["closure_rate"]],
                      "line": {"color": LIGHT["bad"]}}],
            "layout": {"height": 220, "margin": {"l": 36, "r": 36, "t": 8, "b": 28}, "showlegend": False,
                       "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                       "yaxis2": {"overlaying": "y", "side": "right", "range": [0, 100], "ticksuffix": "%"},
                       "font": {"color": LIGHT["text"]}}}


def region_table(df: pd.DataFrame, missing: set[str], link: Link) -> html.Table:
    """The department's figures per child region, most overdue first; tap one: its cases there."""
    keys = ("reported", "closure_rate", "on_time_closure_rate", "overdue_now")
    head = html.Tr([html.Th(label("name")), *(html.Th(label(k)) for k in keys)])
    rows = [html.Tr([html.Td(dcc.Link(r["name"], href=link(region=r["code"], event=None))),
                     *(html.Td(_cell(k, r.get(k), missing, fmt_rate if k in RATE_KEYS else fmt_count),
                               className="bad" if k == "overdue_now" and r.get(k) else "") for k in keys)])
            for r in df[(df["reported"] > 0) | (df["overdue_now"] > 0)].to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="medium-dept-regions")


def category_table(df: pd.DataFrame) -> html.Table:
    keys = ("reported", "closed", "closure_rate", "cohort_overdue")
    head = html.Tr([html.Th(label("category")), *(html.Th(label(k if k != "cohort_overdue" else "overdue"))
                                                  for k in keys)])
    rows = [html.Tr([html.Td(r["category"]), *(html.Td(fmt_rate(r[k]) if k == "closure_rate" else fmt_count(r[k]))
                                                for k in keys)]) for r in df.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="medium-dept-categories")


def case_list(overdue: pd.DataFrame, at_risk: pd.DataFrame, city, now, link: Link) -> html.Div | html.P:
    """The department's overdue cases (oldest deadline first), then its at-risk ones; tap one for its timeline."""
    if overdue.empty and at_risk.empty:
        return html.P(label("no_dept_cases"), className="empty")
    items = []
    for r in overdue.sort_values("due_at").head(SHOWN).to_dict("records"):
        late = (pd.Timestamp(now) - pd.Timestamp(r["due_at"])).total_seconds() / 60
        items.append(html.Li(dcc.Link(href=link(event=r["event_id"]), className="event-row", children=[
            html.Span(f"{label('overdue_by')} {fmt_span(late)}", className="late"),
            html.Span(r["category"], className="what"), html.Span(place_path(city, r["grid_code"]), className="where"),
            html.Span(label(f"stage_{r['status']}"), className="status")])))
    for r in at_risk.head(SHOWN).to_dict("records"):
        items.append(html.Li(dcc.Link(href=link(event=r["event_id"]), className="event-row", children=[
            html.Span(f"{label('time_left')} {fmt_span(r['minutes_left'])}", className="soon"),
            html.Span(r["category"], className="what"), html.Span(place_path(city, r["grid_code"]), className="where"),
            html.Span(label(f"stage_{r['status']}"), className="status")])))
    total = len(overdue) + len(at_risk)
    note = label("event_list_more").format(n=total, k=len(items)) if total > len(items) else ""
    return html.Div([html.Ul(items, className="event-list", id="medium-dept-cases"), html.P(note, className="note")])


def department_view(snap: Snapshot, city, state: dict, w: Window, now, link: Link) -> list:
    """A chosen department in the current region and period: tiles, by region, by category, trend, cases."""
    dept, region = state.get("dept"), state["region"]
    if not dept:
        return []
    cat = dv.catalogue(snap)
    k = dv.department_kpis(snap, dept, region, w)
    gone = set(k.get("missing", []))
    title = label("dept_overview", name=dept_name(dept, cat.name(dept) if cat else None), region=city.names[region])
    children = city.children(region)
    return [
        html.Section(className="panel", children=[
            html.H3(title, className="panel-title", id="medium-dept-title"),
            html.Div([_tile(t, k.get(t), gone) for t in TILES], className="kpi-row dept-kpis")]),
        html.Div(className="medium-grid2", children=[
            html.Section(className="panel", children=[
                html.H3(label("dept_cases"), className="panel-title"),
                case_list(dv.overdue_of(snap, dept, region), dv.at_risk_of(snap, dept, region), city, now, link)]),
            html.Section(className="panel", children=[
                html.H3(label("dept_by_region"), className="panel-title"),
                html.Div(region_table(dv.by_region(snap, city, dept, region, w), gone, link), className="table-scroll")
                if not children.empty else html.P(city.names[region], className="note")]),
        ]),
        html.Div(className="medium-grid2", children=[
            html.Section(className="panel", children=[
                html.H3(label("dept_by_category"), className="panel-title"),
                category_table(dv.by_category(snap, dept, region, w))]),
            html.Section(className="panel", children=[
                html.H3(label("dept_trend"), className="panel-title"),
                dcc.Graph(id="medium-dept-trend", figure=trend_figure(dv.trend(snap, dept, w)), config=GRAPH_CONFIG)]),
        ]),
    ]


def wall_table(snap: Snapshot, region: str, now, weights: dict[str, float]) -> html.Table:
    """The wall's 部门榜 of this month (its area's cases): the departments with the most overdue cases now first
    (at most WALL_ROWS), each with its rank by score, 按期结案率, 结案率, overdue now and score."""
    from queries.window_views import resolve_window

    w = resolve_window("month", snap.as_of or now)
    df = dv.ranking(snap, region, w, weights)
    df = df[df["code"] != UNASSIGNED_CODE].sort_values(["overdue_now", "rank"], ascending=[False, True]).head(WALL_ROWS)
    gone = dv.missing(snap)
    keys = ("on_time_closure_rate", "closure_rate", "overdue_now", "score")
    head = html.Tr([html.Th(label("rank_no")), html.Th(label("department")),
                    *(html.Th(label(k)) for k in keys)])
    rows = [html.Tr([html.Td(RANK_COLUMNS["rank"](r["rank"])), html.Td(dept_name(r["code"], r["name"])),
                     *(html.Td(_cell(k, r.get(k), gone, RANK_COLUMNS[k]),
                               className="bad" if k == "overdue_now" and (r.get(k) or 0) > 0 else "") for k in keys)])
            for r in df.to_dict("records") if r["reported"] or r["overdue_now"]]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking dept-wall", id="big-dept-table")

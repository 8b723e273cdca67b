"""The tablet's (中屏) region panels, each `(snap, city, code, now) -> html component` for one region at
any level: recurring problems (重复/高发问题), safety (平安指数) and cameras (视频感知). Every number
comes from queries/views.py (text: components/format.py); light theme like the rest of the medium screen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from dash import dcc, html
from dash.development.base_component import Component

from components.format import fmt_count, fmt_number, fmt_percent, fmt_rate, is_not_connected, place_path
from components.theme import FONT, LIGHT
from components.widgets import GRAPH_CONFIG
from config.labels import label
from contract.domain import SAFETY_COMPONENTS
from queries import views
from snapshots.reader import Snapshot


def event_query_href(event_id: str) -> str:
    """Default link target of an example event: `?event=<id>` on the current page."""
    return "?" + urlencode({"event": event_id})


def _stat(key: str, value: str, bad: bool = False) -> html.Div:
    return html.Div(className="rp-stat" + (" bad" if bad else ""), children=[
        html.Span(label(key), className="rp-stat-label"), html.Span(value, className="rp-stat-value")])


def _panel(panel_id: str, title: str, *children) -> html.Section:
    return html.Section(id=panel_id, className="panel region-panel", children=[
        html.H3(title, className="panel-title"), *children])


# --- 1. recurring problems ----------------------------------------------------------------------

def recurring_panel(snap: Snapshot, city, code: str, now: datetime,
                    event_href: Callable[[str], str] = event_query_href, limit: int = 12) -> html.Section:
    """The region's clusters of similar events (same category, close together, last 30 days),
    biggest first: category, where, n events in d days, open, example event links."""
    totals = views.recurring_totals(snap, code)
    clusters = views.recurring_problems(snap, code, n=limit)
    summary = html.Div(className="rp-stats", children=[
        _stat("recurring_clusters", fmt_count(totals["clusters"])),
        _stat("recurring_events", fmt_count(totals["events"])),
        _stat("open", fmt_count(totals["open"]), bad=totals["open"] > 0)])
    if clusters.empty:
        return _panel("region-recurring", label("recurring"), summary,
                      html.Div(label("recurring_none"), className="rp-empty"))
    head = html.Tr([html.Th(label(k)) for k in ("category", "where", "recurring_span", "open", "examples")])
    rows = []
    for r in clusters.to_dict("records"):
        links: list[Component | str] = []
        for eid in str(r["example_ids"]).split(","):
            links += [dcc.Link(eid, href=event_href(eid), className="rp-event"), " "]
        rows.append(html.Tr(className="rp-cluster", children=[
            html.Td(r["category"]), html.Td(place_path(city, r["grid_code"])),
            html.Td(f"{r['events']} {label('events_unit')} / {r['days']} {label('days_unit')}",
                    title=f"{r['first_reported']:%m-%d %H:%M} – {r['last_reported']:%m-%d %H:%M}"),
            html.Td(fmt_count(r["open"]), className="bad" if r["open"] > 0 else ""),
            html.Td(links[:-1])]))
    table = html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table")
    return _panel("region-recurring", label("recurring"), summary, table)


# --- 2. safety ----------------------------------------------------------------------------------

def safety_trend_figure(months) -> dict:
    """12 months of index (left axis) and 安全感 (right axis, %), light theme, as a plain dict."""
    x = [f"{m:%y-%m}" for m in months["month"]]
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "x": x, "y": months["index_value"].round(1).tolist(),
         "name": label("safety_index"), "line": {"color": LIGHT["accent"], "width": 3}},
        {"type": "scatter", "mode": "lines", "x": x, "y": months["public_security"].round(1).tolist(),
         "name": label("public_security"), "yaxis": "y2", "line": {"color": LIGHT["warn"], "width": 2, "dash": "dot"}}],
        "layout": {"margin": {"l": 36, "r": 40, "t": 24, "b": 28}, "height": 220, "showlegend": True,
                   "legend": {"orientation": "h", "y": 1.18, "x": 0}, "paper_bgcolor": "rgba(0,0,0,0)",
                   "plot_bgcolor": "rgba(0,0,0,0)", "font": {"family": FONT, "color": LIGHT["text"], "size": 12},
                   "xaxis": {"gridcolor": LIGHT["grid"]}, "yaxis": {"gridcolor": LIGHT["grid"]},
                   "yaxis2": {"overlaying": "y", "side": "right", "showgrid": False, "ticksuffix": "%",
                              "tickformat": ".1f"}}}


def safety_panel(snap: Snapshot, city, code: str, now: datetime) -> html.Section:
    """The region's safety index: 12-month trend (index, 安全感), the latest month's components and
    its rank among its siblings. Below a street: the street's, with a note saying so."""
    s = views.safety_rank(snap, city, code)
    months = views.safety_months(snap, code)
    parts: list[Component] = []
    if not s.get("own"):
        parts.append(html.Div(label("label_value", label=label("safety_of_street"), value=city.region_name(s["code"])),
                              className="rp-note"))
    if "safety_index" not in s or is_not_connected(s["safety_index"]):  # 未接入: the source has no safety feed
        why = "not_connected" if is_not_connected(s.get("safety_index")) else "waiting"
        return _panel("region-safety", label("safety_index"), *parts, html.Div(label(why), className="rp-empty"))
    rank = "—" if s["rank"] is None else label("rank_of", rank=s["rank"], of=s["of"])
    parts.append(html.Div(className="rp-stats", children=[
        _stat("safety_index", fmt_number(s["safety_index"])),
        _stat("public_security", fmt_percent(s["public_security"])),
        _stat(f"safety_rank_{s['level']}", rank),
        _stat("safety_month", f"{s['month']:%Y-%m}")]))
    bars = [html.Div(className="rp-bar", children=[
        html.Span(label(f"safety_{p}"), className="rp-bar-label"),
        html.Span(className="rp-bar-track", children=html.Span(
            className="rp-bar-fill", style={"width": f"{max(0.0, min(100.0, s[p])):.0f}%"})),
        html.Span(fmt_number(s[p]), className="rp-bar-value")]) for p in SAFETY_COMPONENTS if p in s]
    parts.append(html.Div([html.H4(label("safety_components"), className="rp-sub"), *bars], className="rp-bars"))
    if not months.empty:
        parts.append(dcc.Graph(id="region-safety-trend", figure=safety_trend_figure(months), config=GRAPH_CONFIG))
    return _panel("region-safety", label("safety_index"), *parts)


# --- 3. cameras ---------------------------------------------------------------------------------

def camera_panel(snap: Snapshot, city, code: str, now: datetime) -> html.Section:
    """The region's cameras: online rate, online/offline, blind-spot grids (count and up to 20 names),
    untagged, coordinates not verified; per child region a table, worst online rate first."""
    k = views.camera_summary(snap, code)
    if "cameras" not in k or is_not_connected(k["cameras"]):  # 未接入: the source has no devices feed
        why = "not_connected" if is_not_connected(k.get("cameras")) else "waiting"
        return _panel("region-cameras", label("page_cameras"), html.Div(label(why), className="rp-empty"))
    stats = html.Div(className="rp-stats", children=[
        _stat("camera_online_rate", fmt_rate(k.get("camera_online_rate"))),
        _stat("cameras_online", fmt_count(k["cameras_online"])),
        _stat("offline", fmt_count(k["cameras_offline"]), bad=k["cameras_offline"] > 0),
        _stat("blind_grids", fmt_count(k["blind_grids"]), bad=k["blind_grids"] > 0),
        _stat("cameras_untagged", fmt_count(k["cameras_untagged"])),
        _stat("cameras_unplaced", label("cameras_unplaced_detail", n=fmt_count(k["cameras_unplaced"]),
                                        approx=fmt_count(k.get("cameras_coord_approx")),
                                        missing=fmt_count(k.get("cameras_coord_missing"))))])
    parts: list[Component] = [stats]
    blind = views.blind_grid_names(snap, code, n=20)
    if blind:
        more = label("blind_more", n=fmt_count(k["blind_grids"])) if k["blind_grids"] > len(blind) else ""
        parts.append(html.Div(className="rp-blind", children=[
            html.H4(label("blind_grids"), className="rp-sub"), html.Div(label("list_sep").join(blind) + more)]))
    children = views.camera_status(snap, city, code)
    if not children.empty:
        head = html.Tr([html.Th(x) for x in (label("children"), label("camera_online_rate"), label("cameras"),
                                             label("offline"), label("blind_grids"), label("cameras_untagged"),
                                             label("cameras_unplaced"))])
        rows = [html.Tr([html.Td(r["name"]), html.Td(fmt_rate(r["camera_online_rate"])),
                         html.Td(fmt_count(r["cameras"])), html.Td(fmt_count(r["offline"])),
                         html.Td(fmt_count(r["blind_grids"])), html.Td(fmt_count(r.get("cameras_untagged"))),
                         html.Td(fmt_count(r["cameras_unplaced"]))]) for r in children.to_dict("records")]
        parts.append(html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table"))
    return _panel("region-cameras", label("page_cameras"), *parts)

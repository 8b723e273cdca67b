"""小屏: staff phones (360-430 px). My area (the signed-in user's jurisdiction, or a region below it
via ?region=): its KPIs, alerts, my pending and overdue events by deadline, a map of my grids and a
quick switch between them; ?event= opens an event with its timeline. The map is a small server-drawn
SVG, so a phone never downloads plotly.js. A department user (条, role department) sees the same page for its
department only (components/department_phone.py): its figures, its open, overdue and at-risk cases in its area
with the supervisions (督办) on them, and its overdue cases on the map; an event that is not its case is 403."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from components import department_phone, vital_signs
from components.format import alert_text, due_text, fmt_span
from components.nearby_cameras import event_cameras, spot_cameras
from components.supervision_form import register_supervision, supervision_block
from components.timeline_view import load_timeline, missing_text, timeline_component
from components.widgets import freshness, kpi_row
from config.labels import label
from config.region_codes import CODE_LENGTH
from dashboard.access import department_scope, require_region, require_text, user_scope
from dashboard.context import cockpit
from dashboard.live import live_components, register_poll, shared_view
from queries import department_views, views

PAGE = "small"
dash.register_page(__name__, path="/small", title=f"{label('small')} · {label('app_title')}")
SMALL_KPIS = ("reported", "open", "overdue", "on_time_rate", "same_day_rate", "satisfaction_rate")
QUEUE_SHOWN = 30


def href(region: str, event: str | None = None) -> str:
    return "/small?" + urlencode({"region": region, **({"event": event} if event else {})})


def area_switch(city, scope: str, region: str) -> html.Nav:
    """Chips: my whole area, then its parts (my grids); a second row for the parts of a part."""
    rows = [[scope, *city.children(scope)["code"]]]
    if region != scope and not city.children(region).empty:
        rows.append([region, *city.children(region)["code"]])
    elif region != scope and city.parent(region) != scope:  # two levels below my area: its parent's parts
        parent = city.parent(region)
        rows.append([parent, *city.children(parent)["code"]])
    return html.Nav(className="small-switch", id="small-switch", children=[
        html.Div(className="chips", children=[
            dcc.Link(label("all_area") if i == 0 else city.short_name(c), href=href(c), id={"type": "small-chip", "code": c},
                     className="chip" + (" current" if c == region else "")) for i, c in enumerate(codes)])
        for codes in rows])


def event_detail(event: str, region: str) -> html.Section:
    """The event's timeline (components/timeline_view.py), open or closed. Outside the user's area: 403."""
    back = dcc.Link(label("back_to_list"), href=href(region), className="back", id="small-back")
    tl = load_timeline(event)
    if tl is None:
        return html.Section(className="panel small-detail", id="small-detail",
                            children=[back, html.P(missing_text(), className="event-empty")])
    return html.Section(className="panel small-detail", id="small-detail",
                        children=[back, timeline_component(tl, cockpit().now(), "small"), event_cameras(tl, "small"),
                                  supervision_block(PAGE, event, tl["grid_code"])])


def spot_detail(spot: str, region: str) -> html.Section:
    """The cameras around an alert's street or grid (components/nearby_cameras.py); scope-checked by layout."""
    back = dcc.Link(label("back_to_list"), href=href(region), className="back", id="small-back")
    return html.Section(className="panel small-detail", id="small-detail", children=[spot_cameras(spot, "small", back)])


def layout(region: str | None = None, event: str | None = None, spot: str | None = None, **_query):
    city = cockpit().city
    scope = user_scope()
    region = require_region(region) if region and region in city else scope
    spot = require_region(spot) if spot and not event and require_text(spot, "a region code") in city else None
    dept = department_scope()
    if dept:  # a department's staff: its cases only; the cameras around a region's alerts are not theirs
        spot = None
        name = department_phone.title(cockpit().snapshot(), city, dept, region, scope)
    else:
        name = city.region_name(region)
    return html.Div(className="small-root", children=[
        *live_components(PAGE),
        dcc.Store(id="small-region", data=region),
        html.Header(className="small-header" + (" small-header-dept" if dept else ""), children=[
            html.H1(name, className="title"), html.Div(id="small-freshness-box")]),
        event_detail(event, region) if event else spot_detail(spot, region) if spot else None,
        area_switch(city, scope, region) if not city.children(scope).empty else None,
        html.Div(id="small-kpis", className="kpi-grid"),
        html.Section(className="panel", children=[html.H3(label("alerts"), className="panel-title"),
                                                   html.Ul(id="small-alerts", className="alert-list")]),
        html.Section(className="panel", children=[html.H3(label("at_risk_events"), className="panel-title"),
                                                   html.Ul(id="small-at-risk", className="event-list")]),
        html.Section(className="panel", children=[html.H3(id="small-queue-title", className="panel-title"),
                                                   html.Ul(id="small-queue", className="event-list")]),
        html.Section(className="panel", children=[
            html.H3(label("my_map"), className="panel-title"),
            html.Img(id="small-map", className="small-map", alt=f"{name} {label('my_map')}")]),
    ])


register_poll(PAGE)
register_supervision(PAGE)


@callback(Output("small-kpis", "children"), Output("small-freshness-box", "children"),
          Output("small-alerts", "children"), Output("small-queue-title", "children"),
          Output("small-queue", "children"), Output("small-map", "src"), Output("small-at-risk", "children"),
          Input("small-version", "data"), State("small-region", "data"))
def render(key, region):
    region = require_region(region)
    snap = cockpit().snapshot()
    dept = department_scope()
    if dept:
        return shared_view(snap, PAGE, key, region, lambda: _render_department(snap, region, key, dept))
    return shared_view(snap, PAGE, key, region, lambda: _render(snap, region, key))


def _render(snap, region: str, key):
    c = cockpit()
    city = c.city
    now = c.now()
    names = city.names
    supervised = views.open_supervisions(snap, region)
    queue = views.queue_supervised_first(views.work_queue(snap, region), supervised)
    n_over = int(queue["is_overdue"].sum()) if not queue.empty else 0
    items = [queue_item(r, region, names, now, supervised.get(r["event_id"]))
             for r in queue.head(QUEUE_SHOWN).to_dict("records")]
    at_risk = [queue_item(r, region, names, now) for r in views.at_risk(snap, region).head(QUEUE_SHOWN).to_dict("records")]
    title = f"{label('my_queue')} · {label('overdue')} {n_over} / {label('pending')} {len(queue)}"
    alerts = [html.Li([label("label_value", label=names.get(a["code"], a["code"]), value=alert_text(a)),
                       alert_spot_link(region, a["code"])], className=f"alert alert-{a['level']}")
              for a in views.area_alerts(snap, region) if a["kind"] != "indicator"]
    alerts += vital_signs.phone_alarm_items(snap, region, names)  # 城市体征 of my area (components/vital_signs.py)
    if n_over:
        alerts.insert(0, html.Li(label("small_overdue_alert", n=n_over, span=fmt_span(
            (pd.Timestamp(now) - pd.Timestamp(queue["due_at"].iloc[0])).total_seconds() / 60)),
                                 className="alert alert-bad"))
    version = (key or [None])[0]
    return (kpi_row(PAGE, views.region_kpis(snap, region), SMALL_KPIS),
            freshness(PAGE, snap, now, c.settings.stale_after_s),
            alerts or [html.Li(label("no_alerts"), className="event-empty")], title,
            items or [html.Li(label("no_queue"), className="event-empty")],
            f"/small/map.svg?{urlencode({'region': region, 'v': version or 0})}",
            at_risk or [html.Li(label("no_at_risk"), className="event-empty")])


def _render_department(snap, region: str, key, dept: str):
    """A department user's phone: its department's figures this period and its open cases now under `region`
    (overdue first), the supervisions on them first; at-risk cases; its overdue cases per part on the map."""
    c = cockpit()
    now = c.now()
    names = c.city.names
    w = department_phone.period_window(snap, now)
    k = department_views.department_kpis(snap, dept, region, w)
    queue = department_views.cases_of(snap, dept, region)
    mine = set(queue["event_id"]) if len(queue) else set()
    supervised = {e: s for e, s in views.open_supervisions(snap, region).items() if e in mine}
    queue = views.queue_supervised_first(queue, supervised)
    n_over = int(queue["is_overdue"].sum()) if len(queue) else 0
    items = [queue_item(r, region, names, now, supervised.get(r["event_id"]))
             for r in queue.head(QUEUE_SHOWN).to_dict("records")]
    risky = department_views.at_risk_of(snap, dept, region).head(QUEUE_SHOWN).to_dict("records")
    at_risk = [queue_item(r, region, names, now) for r in risky]
    title = f"{label('dept_queue')} · {label('overdue')} {n_over} / {label('pending')} {len(queue)}"
    alerts = []
    if n_over:
        oldest = queue.loc[queue["is_overdue"] == 1, "due_at"].min()
        alerts.append(html.Li(label("small_overdue_alert", n=n_over, span=fmt_span(
            (pd.Timestamp(now) - pd.Timestamp(oldest)).total_seconds() / 60)), className="alert alert-bad"))
    if supervised:
        alerts.append(html.Li(label("dept_supervised_open", n=len(supervised)), className="alert alert-amber"))
    version = (key or [None])[0]
    return ([*department_phone.tiles(k), department_phone.period_note(w)],
            freshness(PAGE, snap, now, c.settings.stale_after_s),
            alerts or [html.Li(label("no_alerts"), className="event-empty")], title,
            items or [html.Li(label("no_queue"), className="event-empty")],
            # dept in the URL: a browser's cached map of another user of the same region is never this one
            f"/small/map.svg?{urlencode({'region': region, 'dept': dept, 'v': version or 0})}",
            at_risk or [html.Li(label("no_at_risk"), className="event-empty")])


def alert_spot_link(region: str, code: str) -> dcc.Link | None:
    """An alert of a street or grid links to the cameras around it (?spot=); a district's has none."""
    if len(code) < CODE_LENGTH["street"]:
        return None
    return dcc.Link(label("spot_cameras"), className="alert-spot", href=f"/small?{urlencode({'region': region, 'spot': code})}")


def queue_item(r: dict, region: str, names: dict, now, sup: dict | None = None) -> html.Li:
    """One case of a list: what, where, its stage and its time left; a supervised case says so (督办: the
    leader's level, note and new deadline)."""
    text, late = due_text(sup["new_due_at"] if sup else r["due_at"], now)
    badge = [html.Div(className="ev-sup", children=[
        html.Span(label(f"supervision_level_{sup['level']}"), className="sup-level"),
        html.Span(f"{label('supervision_new_due')} {pd.Timestamp(sup['new_due_at']):%m-%d %H:%M}", className="sup-due"),
        html.Div(sup["note"], className="sup-note")])] if sup else []
    return html.Li(className="event-item" + (" late" if late else "") + (" supervised" if sup else ""), children=dcc.Link(
        href=href(region, r["event_id"]), className="ev-link", children=[
            html.Div([html.Span(f"{r['category']} · {r['channel']}", className="ev-title"),
                      html.Span(label(f"stage_{r['status']}"), className=f"ev-stage stage-{r['status']}")],
                     className="ev-row"),
            *badge,
            html.Div(names.get(r["grid_code"], r["grid_code"]), className="ev-where"),
            html.Div(text, className="ev-due" + (" late" if late else ""))]))

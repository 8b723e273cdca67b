"""The cameras around an event or an alert's spot, and the 补盲 panel (issue 28). Every list comes from
queries/nearby.py (a lookup in the snapshot's camera index, never a scan), cut to the user's jurisdiction
(dashboard/access.py scope); links open the city's own video platform from COCKPIT_VIDEO_URL_TEMPLATE (the
cockpit never streams video; no template: no links). Used under the event timeline on the tablet and the
phone (layouts/medium.py, layouts/small.py) and for an alert of a street or grid (?spot=). With a staff feed in
the source mapping, the grid's staff on duty follow the cameras (staff_section; phones masked by the user's role,
as reporter data is: dashboard/access.py mask_phone); without one, no staff section at all."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component

from components.format import fmt_count, place_path
from config.labels import label
from contract import frames as F
from contract.ground import city_ground
from dashboard.access import mask_phone, may_see_city_totals, may_see_personal, user_scope
from dashboard.context import cockpit
from queries import nearby
from snapshots.reader import Snapshot

SHOWN = 20  # cameras listed under an event; the rest counted


def video_href(device_id: str) -> str | None:
    """The camera's page in the city's video platform (COCKPIT_VIDEO_URL_TEMPLATE), None without a template."""
    template = cockpit().settings.video_url_template
    return template.format(device_id=quote(str(device_id), safe="")) if template else None


def _camera_item(r: dict, id_prefix: str) -> html.Li:
    online = bool(r["online"])
    tags = [t for t in str(r["tags"] or "").split(",") if t.strip()]
    link = video_href(r["device_id"])
    seen = pd.Timestamp(r["last_seen_at"])
    return html.Li(className="nc-item" + ("" if online else " offline"), children=[
        html.Div(className="nc-row", children=[
            html.Span(label("nearby_distance", m=r["distance_m"]), className="nc-dist"),
            html.Span(label(f"compass_{r['direction']}") if r["direction"] else label("compass_here"), className="nc-dir"),
            html.Span(label("camera_online") if online else label("camera_offline"),
                      className="nc-status " + ("on" if online else "off")),
            html.Span(f"{r['device_type']} · {r['device_id']}", className="nc-id"),
            html.A(label("open_video"), href=link, target="_blank", rel="noopener noreferrer", className="nc-link",
                   id={"type": f"{id_prefix}-video", "device": str(r["device_id"])}) if link else None]),
        html.Div(className="nc-meta", children=[
            html.Span(label("label_value", label=label("last_seen"),
                            value="" if pd.isna(seen) else f"{seen:%m-%d %H:%M}"), className="nc-seen"),
            html.Span(label(f"coord_{r['coord_quality']}") if r["coord_quality"] else "",
                      className=f"nc-coord coord-{r['coord_quality']}"),
            html.Span(label("list_sep").join(tags) if tags else label("cameras_untagged"),
                      className="nc-tags" + ("" if tags else " untagged"))])])


def camera_list(cams: list[dict] | None, radius_m: float, id_prefix: str) -> list[Component]:
    """The cameras of a lookup, nearest first (at most SHOWN, the rest counted); 未接入 without a devices feed."""
    if cams is None:
        return [html.P(label("not_connected"), className="nc-empty")]
    if not cams:
        return [html.P(label("nearby_none", r=f"{radius_m:.0f}"), className="nc-empty", id=f"{id_prefix}-nearby-none")]
    online = sum(1 for r in cams if r["online"])
    out: list[Component] = [
        html.P(label("nearby_summary", n=fmt_count(len(cams)), online=fmt_count(online)), className="nc-summary"),
        html.Ul([_camera_item(r, id_prefix) for r in cams[:SHOWN]], className="nc-list", id=f"{id_prefix}-nearby-list")]
    if len(cams) > SHOWN:
        out.append(html.P(label("nearby_more", k=SHOWN, n=fmt_count(len(cams))), className="nc-note"))
    return out


def _lookup(snap: Snapshot, lon: float, lat: float) -> list[dict] | None:
    c = cockpit()
    return nearby.nearby_cameras(snap, city_ground(c.city), lon, lat, c.settings.nearby_camera_m, user_scope(),
                                 may_see_city_totals())


def event_cameras(tl: dict, id_prefix: str) -> html.Section:
    """Under an event's timeline (already scope-checked by load_timeline): the cameras within the radius of
    its point (its grid's centre when the timeline has none), and whether its grid is a blind spot."""
    c = cockpit()
    snap, radius = c.snapshot(), c.settings.nearby_camera_m
    lon, lat = tl.get("lon"), tl.get("lat")
    notes: list[Component] = []
    if lon is None or lat is None or lon != lon or lat != lat:
        r = c.city.regions.set_index("code").loc[tl["grid_code"]] if tl["grid_code"] in c.city else None
        lon, lat = (float(r["lon"]), float(r["lat"])) if r is not None else (float("nan"), float("nan"))
        notes.append(html.P(label("nearby_no_point"), className="nc-note"))
    if nearby.blind_grid(snap, tl["grid_code"]):
        notes.insert(0, html.P(label("nearby_blind_grid"), className="nc-blind", id=f"{id_prefix}-blind-grid"))
    return html.Section(className="nc", id=f"{id_prefix}-nearby", children=[
        html.H3(label("nearby_title", r=f"{radius:.0f}"), className="panel-title"), *notes,
        *camera_list(_lookup(snap, float(lon), float(lat)), radius, id_prefix),
        staff_section(snap, tl["grid_code"], id_prefix)])


def staff_section(snap: Snapshot, grid_code: str, id_prefix: str) -> html.Div | None:
    """The grid's staff on duty (queries/nearby.grid_staff: 网格长, 网格员, then the N), name, role and phone; the
    phone masked unless the user may see personal data (street and grid staff), then a tel: link. None (nothing
    shown, not 未接入) when the source has no staff feed. `grid_code` is scope-checked by the caller."""
    staff = nearby.grid_staff(snap, grid_code)
    if staff is None:
        return None
    city = cockpit().city
    title = html.H3(label("staff_title", grid=place_path(city, grid_code) if grid_code in city else grid_code),
                    className="panel-title")
    if not staff:
        return html.Div([title, html.P(label("staff_none"), className="nc-empty")], className="gs",
                        id=f"{id_prefix}-staff")
    open_ = may_see_personal()
    items = [html.Li(className=f"gs-item gs-{r['role']}", children=[
        html.Span(label(f"staff_role_{r['role']}"), className="gs-role"),
        html.Span(r["name"], className="gs-name"),
        (html.A(r["phone"], href=f"tel:{r['phone']}", className="gs-phone") if open_ and r["phone"] else
         html.Span(mask_phone(r["phone"]) or "—", className="gs-phone"))]) for r in staff]
    return html.Div([title, html.Ul(items, className="gs-list", id=f"{id_prefix}-staff-list")], className="gs",
                    id=f"{id_prefix}-staff")


def spot_cameras(code: str, id_prefix: str, close: Component | None = None) -> html.Section:
    """Behind an alert of a street or grid (`code`, scope-checked by the caller): the cameras within the
    radius of its spot (queries/nearby.spot_point: a grid's centre, or a street's busiest grid today)."""
    c = cockpit()
    snap, radius, city = c.snapshot(), c.settings.nearby_camera_m, c.city
    grid, lon, lat = nearby.spot_point(snap, city, code, snap.as_of or c.now())
    where = label("spot_where_grid", grid=place_path(city, grid)) if grid != code else \
        label("spot_where_centre", name=city.region_name(code))
    notes = [html.P(where, className="nc-note", id=f"{id_prefix}-spot-where")]
    if grid in city and city.level_of(grid) == "grid" and nearby.blind_grid(snap, grid):
        notes.append(html.P(label("nearby_blind_grid"), className="nc-blind", id=f"{id_prefix}-blind-grid"))
    return html.Section(className="panel nc nc-spot", id=f"{id_prefix}-spot", children=[
        *([close] if close is not None else []),
        html.H3(label("spot_title", name=city.region_name(code), r=f"{radius:.0f}"), className="panel-title"),
        *notes, *camera_list(_lookup(snap, lon, lat), radius, id_prefix), staff_section(snap, grid, id_prefix)])


def gaps_panel(snap: Snapshot, city, code: str, spot_href: Callable[[str], str], limit: int = 10) -> html.Section:
    """补盲: the region's streets and grids with the most events of the last 30 days no online camera was
    near (camera_gaps), and its cameras with approximate or missing coordinates in the busiest grids
    (camera_fixes); each region links to the cameras around it (?spot=)."""
    radius = snap.meta.get("nearby_camera_m", cockpit().settings.nearby_camera_m)
    title = html.H3(label("gaps_title"), className="panel-title")
    note = html.P(label("gaps_note", r=f"{float(radius):.0f}"), className="note")
    parts: list[Component] = [title, note]
    levels = ("grid",) if city.level_of(code) in ("street", "community", "grid") else ("street", "grid")
    for level in levels:
        df = nearby.camera_gaps(snap, code, level, limit)
        if df is None:  # no devices feed; or the first 补盲 not computed yet
            parts.append(html.P(label("not_connected" if nearby.devices_frame(snap, F.DEVICE_KPIS) is None else "waiting"),
                                className="rp-empty"))
            break
        head = html.Tr([html.Th(label(k)) for k in (f"gaps_{level}", "gaps_unseen", "gaps_events", "gaps_share")])
        rows = [html.Tr(className="gap-row", children=[
            html.Td(dcc.Link(place_path(city, r["code"]) if level == "grid" else city.region_name(r["code"]),
                             href=spot_href(r["code"]))),
            html.Td(fmt_count(r["unseen"]), className="bad"), html.Td(fmt_count(r["events"])),
            html.Td(f"{100 * r['unseen'] / r['events']:.0f}%" if r["events"] else "—")])
            for r in df.to_dict("records")]
        parts += [html.H4(label(f"gaps_by_{level}"), className="rp-sub"),
                  html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table", id=f"gaps-{level}")
                  if rows else html.P(label("gaps_none"), className="rp-empty")]
    fixes = nearby.coord_fixes(snap, code, limit)
    if fixes is not None:
        head = html.Tr([html.Th(label(k)) for k in ("gaps_camera", "gaps_grid", "gaps_coord", "gaps_grid_events")])
        rows = [html.Tr(className="fix-row", children=[
            html.Td(f"{r['device_type']} · {r['device_id']}"), html.Td(place_path(city, r["grid_code"])
                                                                         if r["grid_code"] in city else "—"),
            html.Td(label(f"coord_{r['coord_quality']}"), className=f"coord-{r['coord_quality']}"),
            html.Td(fmt_count(r["grid_events"]))]) for r in fixes.to_dict("records")]
        parts += [html.H4(label("gaps_fixes"), className="rp-sub"),
                  html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table", id="gaps-fixes")
                  if rows else html.P(label("gaps_no_fixes"), className="rp-empty")]
    parts += tags_part(snap, city, code, float(radius), limit)
    return html.Section(id="region-gaps", className="panel region-panel", children=parts)


def tags_part(snap: Snapshot, city, code: str, radius: float, limit: int = 10) -> list[Component]:
    """标签治理, beside the untagged cameras by region: the events of the last 30 days within the radius of an
    untagged camera, for the region and per child (queries/nearby.untagged_events), and the untagged cameras with
    the most events near them (untagged_cameras). Nothing when the devices feed is not connected (the 补盲 part
    above says 未接入); 计算中 until the ETL's first 标签治理."""
    t = nearby.untagged_events(snap, city, code)
    parts: list[Component] = [html.H4(label("tags_title"), className="rp-sub")]
    if t is None:
        if nearby.devices_frame(snap, F.DEVICE_KPIS) is None:
            return []
        return [*parts, html.P(label("waiting"), className="rp-empty")]
    reg = t["region"]
    share = f"{100 * reg['near_untagged'] / reg['events']:.0f}%" if reg["events"] else "—"
    parts.append(html.P(label("tags_note", n=fmt_count(reg["near_untagged"]), r=f"{radius:.0f}",
                              events=fmt_count(reg["events"]), share=share), className="note", id="tags-region"))
    kids = t["children"]
    if len(kids):
        head = html.Tr([html.Th(label(k)) for k in ("children", "cameras_untagged", "tags_near", "gaps_events")])
        rows = [html.Tr(className="tags-row", children=[
            html.Td(r["name"]), html.Td(fmt_count(r["cameras_untagged"])),
            html.Td(fmt_count(r["near_untagged"]), className="bad" if r["near_untagged"] else None),
            html.Td(fmt_count(r["events"]))]) for r in kids.head(limit * 2).to_dict("records")]
        parts += [html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table", id="tags-children")]
    cams = nearby.untagged_cameras(snap, code, limit)
    if cams is not None:
        head = html.Tr([html.Th(label("gaps_camera")), html.Th(label("gaps_grid")),
                        html.Th(label("tags_camera_events", r=f"{radius:.0f}"))])
        rows = [html.Tr(className="tags-camera", children=[
            html.Td(f"{r['device_type']} · {r['device_id']}"),
            html.Td(place_path(city, r["grid_code"]) if r["grid_code"] in city else "—"),
            html.Td(fmt_count(r["events_near"]))]) for r in cams.to_dict("records")]
        parts += [html.H4(label("tags_cameras"), className="rp-sub"),
                  html.Table([html.Thead(head), html.Tbody(rows)], className="ranking rp-table", id="tags-cameras")
                  if rows else html.P(label("tags_no_cameras"), className="rp-empty")]
    return parts


def wall_gaps(snap: Snapshot, city, code: str, n: int = 8) -> html.Table | html.Div:
    """The wall's 补盲 section (its cameras page): the streets (below a district: the grids) of its area with
    the most events of the last 30 days no online camera was near, unseen / events (camera_gaps)."""
    level = "grid" if city.level_of(code) in ("street", "community", "grid") else "street"
    df = nearby.camera_gaps(snap, code, level, n)
    if df is None:
        return html.Div(label("not_connected" if nearby.devices_frame(snap, F.DEVICE_KPIS) is None else "waiting"),
                        className="not-connected-note")
    head = html.Tr([html.Th(label(f"gaps_{level}")), html.Th(label("gaps_unseen")), html.Th(label("gaps_events"))])
    rows = [html.Tr([html.Td(city.short_name(r["code"]) if level == "grid" else city.region_name(r["code"])),
                     html.Td(fmt_count(r["unseen"]), className="bad"), html.Td(fmt_count(r["events"]))])
            for r in df.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="ranking", id="big-gaps-table")

"""The phone's map as a small server-drawn SVG (`/small/map.svg?region=…&v=<snapshot>`): the region's
children coloured by overdue events, with names and counts (a department user: its department's overdue cases
only, queries/department_views.py overdue_by_child). A phone on a weak connection never
downloads plotly.js (~1.2 MB gzipped) for one map; the SVG is a few kB, cached per snapshot version."""

from __future__ import annotations

import math
from functools import lru_cache
from xml.sax.saxutils import escape

import flask

from config.city import City
from dashboard.access import department_scope, require_region
from dashboard.context import cockpit
from dashboard.routes import _features, cached_response
from queries import department_views, views

WIDTH = 400
ZERO_FILL, SCALE = "#dfe8df", ("#ffd27a", "#f08a24", "#c62828")  # none overdue; then more is worse


def _rings(geometry: dict):
    coords = geometry["coordinates"]
    polys = coords if geometry["type"] == "MultiPolygon" else [coords]
    for poly in polys:
        yield from poly


@lru_cache(maxsize=256)
def outlines(geo_path: str, parent: str) -> tuple[tuple[tuple[str, str], ...], tuple[float, float, float, float, float]]:
    """Each feature under `parent` as (code, SVG path) in a WIDTH-wide frame, and (x0, y1, k, cos, height)."""
    feats = [f for f in _features(geo_path) if f["properties"]["code"].startswith(parent)]
    pts = [p for f in feats for ring in _rings(f["geometry"]) for p in ring]
    if not pts:
        return (), (0, 0, 1, 1, 100)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    cos = math.cos(math.radians((y0 + y1) / 2))
    k = (WIDTH - 8) / max((x1 - x0) * cos, 1e-9)
    height = min(max((y1 - y0) * k + 8, 120), 520)
    k = min(k, (height - 8) / max(y1 - y0, 1e-9))
    out = []
    for f in feats:
        d = []
        for ring in _rings(f["geometry"]):
            xy = [(4 + (x - x0) * cos * k, 4 + (y1 - y) * k) for x, y in ring]
            d.append("M" + "L".join(f"{x:.0f},{y:.0f}" for x, y in xy) + "Z")
        out.append((f["properties"]["code"], "".join(d)))
    return tuple(out), (x0, y1, k, cos, height)


def colour(value: float, top: float) -> str:
    if not value or math.isnan(value) or top <= 0:
        return ZERO_FILL
    return SCALE[min(len(SCALE) - 1, int(len(SCALE) * value / (top + 1e-9)))]


def region_svg(city: City, region: str, snap, dept: str = "") -> str:
    children = city.children(region)
    level = children["level"].iloc[0] if not children.empty else city.level_of(region)
    paths, (x0, y1, k, cos, height) = outlines(str(city.geojson_path(level)), region)
    if dept:
        values = department_views.overdue_by_child(snap, city, dept, region)
    elif children.empty:
        values = city.regions[city.regions["code"] == region].assign(value=float("nan"))
    else:
        values = views.child_values(snap, city, region, "today", "overdue")
    by_code = values.set_index("code")
    top = float(values["value"].max()) if values["value"].notna().any() else 0.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
             f'font-family="Noto Sans CJK SC,sans-serif" font-size="13">']
    for code, d in paths:
        v = by_code["value"].get(code, float("nan")) if code in by_code.index else float("nan")
        parts.append(f'<path d="{d}" fill="{colour(v, top)}" stroke="#fff" stroke-width="1.2"/>')
    if len(values) <= 30:
        for r in values.to_dict("records"):
            x, y = 4 + (r["lon"] - x0) * cos * k, 4 + (y1 - r["lat"]) * k
            n = "" if math.isnan(r["value"]) or not r["value"] else f" {int(r['value'])}"
            parts.append(f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle" fill="#111" stroke="#fff" '
                         f'stroke-width="3" paint-order="stroke">{escape(city.short_name(r["code"]))}{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def register_phone_map(server: flask.Flask) -> None:
    @server.get("/small/map.svg")
    def phone_map():
        c = cockpit()
        region = require_region(flask.request.args.get("region", ""))
        if region not in c.city:
            flask.abort(404)
        snap = c.snapshot()
        # the URL carries the snapshot version
        return cached_response(region_svg(c.city, region, snap, department_scope()).encode(), "image/svg+xml",
                               max_age=3600)

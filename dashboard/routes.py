"""Plain HTTP routes beside the Dash pages: /health and the boundary GeoJSON served once per level.

/geo needs a session and serves only the user's own area (`parent` defaults to, and must lie inside,
their jurisdiction): the grid layout of another street is not public. /health is public for
monitoring but says only whether data is fresh; counts (events, quarantine, frame rows, source
errors) are city-wide totals, shown only to whoever may see the city totals."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from zoneinfo import ZoneInfo

import flask
from flask_login import current_user

from config.city import City
from dashboard.access import may_see_city_totals, require_region, user_scope
from dashboard.context import cockpit


@lru_cache(maxsize=4)
def _features(geo_path: str) -> list[dict]:
    with open(geo_path, encoding="utf-8") as f:
        return json.load(f)["features"]


@lru_cache(maxsize=512)
def geojson_slice(geo_path: str, parent: str) -> bytes:
    """The features of one level whose code starts with `parent`, as compact JSON bytes."""
    feats = [f for f in _features(geo_path) if f["properties"]["code"].startswith(parent)]
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False,
                      separators=(",", ":")).encode()


@lru_cache(maxsize=2048)
def geo_bounds(geo_path: str, parent: str) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the features under `parent`, to frame a map."""
    xs, ys = [], []

    def walk(coords):
        if isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for f in _features(geo_path):
        if f["properties"]["code"].startswith(parent):
            walk(f["geometry"]["coordinates"])
    return (min(xs), min(ys), max(xs), max(ys)) if xs else (0.0, 0.0, 0.0, 0.0)


def cached_response(body: bytes, mimetype: str, max_age: int) -> flask.Response:
    """A body with its ETag, private (scoped per user) and cacheable; 304 when the browser has it."""
    etag = hashlib.sha1(body).hexdigest()[:16]
    if flask.request.if_none_match and etag in flask.request.if_none_match:
        return flask.Response(status=304)
    resp = flask.Response(body, mimetype=mimetype)
    resp.set_etag(etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = max_age
    return resp


def register_routes(server: flask.Flask, city: City) -> None:
    @server.get("/geo/<level>.json")
    def geo(level: str):
        try:
            path = str(city.geojson_path(level))
        except ValueError:
            flask.abort(404)
        parent = require_region(flask.request.args.get("parent") or user_scope())
        return cached_response(geojson_slice(path, parent), "application/geo+json", max_age=86400)

    @server.get("/medium/export.<fmt>")
    def ranking_export(fmt: str):
        if fmt not in ("csv", "xlsx"):
            flask.abort(404)
        return ranking_file(fmt)

    @server.get("/health")
    def health():
        c = cockpit()
        snap = c.snapshot()
        now = c.now()
        body = {
            "status": "ok" if snap.version is not None and not snap.is_stale(now, c.settings.stale_after_s) else
            ("waiting" if snap.version is None else "stale"),
            "version": snap.version,
            # ISO 8601 with the city's offset, as every time the cockpit writes out (the snapshot's is naive local)
            "as_of": snap.as_of.replace(tzinfo=ZoneInfo(c.city.timezone)).isoformat() if snap.as_of else None,
            "age_s": None if snap.as_of is None else round(snap.age_s(now), 1),
            "stale": snap.is_stale(now, c.settings.stale_after_s),
            "redis_ok": snap.redis_ok,
        }
        if not (current_user.is_authenticated and may_see_city_totals()):
            return flask.jsonify(body)
        body |= {
            "source_errors": snap.source_errors(),
            "quarantine": snap.meta.get("quarantine", {}),
            "quarantined_total": sum(snap.meta.get("quarantine", {}).values()),
            "events_total": snap.meta.get("events_total"),
            # 条: the units the department catalogue does not know (counted under 未归属), with their rows
            "departments": snap.meta.get("departments", {}),
            "indicators": {k: snap.meta.get("indicators", {}).get(k) for k in ("quarantined", "unknown_regions", "failing")},
            "staff": snap.meta.get("staff"),  # the staff feed's rows and quarantined rows by reason (none: no feed)
            "frames": {k: v.get("rows") for k, v in snap.manifest.get("frames", {}).items()},
        }
        return flask.jsonify(body)


def ranking_file(fmt: str) -> flask.Response:
    """/medium/export.csv|xlsx?region=&rank=: the tablet's ranking (五个一) as a file. The region is
    scope-checked; the download is written to the audit log (dashboard/security.py, attachments)."""
    import io

    from config.labels import label
    from contract.metrics import RANK_PERIODS, NotConnected
    from queries import window_views

    c = cockpit()
    region = require_region(flask.request.args.get("region") or user_scope())
    rank = flask.request.args.get("rank", "")
    period = rank if rank in RANK_PERIODS else "month"
    snap = c.snapshot()
    w = window_views.resolve_window(period, snap.as_of or c.now())
    df = window_views.ranking(snap, c.city, region, w, window_views.score_weights(c.settings))
    cols = ["rank", "code", "name", "score", "reported", "closed", "closed_on_time", "open", "overdue",
            "on_time_rate", "same_day_rate", "grid_settled_rate", "satisfaction_rate", "not_overdue_rate"]
    # `code` keeps its name in every language: a key to join the file on, not a text
    names = {k: k if k == "code" else label("rank_no" if k == "rank" else k) for k in cols}
    out = df.reindex(columns=cols).rename(columns=names)
    out = out.map(lambda v: label("not_connected") if isinstance(v, NotConnected) else v)  # a figure the source lacks
    name = f"ranking_{region}_{period}_{w.first:%Y%m%d}-{w.last:%Y%m%d}.{fmt}"
    if fmt == "csv":
        body, mime = out.to_csv(index=False).encode("utf-8-sig"), "text/csv; charset=utf-8"  # BOM: Excel reads it
    else:
        buf = io.BytesIO()
        out.to_excel(buf, index=False, sheet_name=label(f"rank_{period}"))
        body, mime = buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    resp = flask.Response(body, mimetype=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp

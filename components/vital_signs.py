"""City vital signs (城市体征) on the three screens, from queries/vital_signs.py:

- the wall's 城市体征 panel (`wall_tiles`, a carousel page of its own on walls where not every panel fits;
  registered in layouts/big.py PANELS): tiles in the catalogue's order (by theme, named on each), each with its value and unit, the change against the same time yesterday and last week, a sparkline
  of the last 24 h (an SVG image: a few hundred bytes) and its status colour; a late feed's tile shows the
  time of its last value and is marked stale by itself. Each new snapshot sends only the tiles whose text
  changed (`refresh_wall_tiles`).
- the tablet's region panel (`region_panel`, layouts/medium.py): every indicator with a value in the region,
  its 24 h trend with the warn / alarm lines drawn.
- the phone's alarms of the user's area (`phone_alarm_items`, layouts/small.py).

Text is formatted here (components/format.py's MISSING for a figure a feed does not give), labels from
config/labels.py; ids start with the page (`big-vs-...`, `medium-vitals`)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from dash import ALL, Input, Output, State, callback, html, no_update

from components.format import MISSING, is_missing
from config.labels import label
from dashboard.access import user_scope
from dashboard.context import cockpit
from queries import vital_forecast as vf
from queries import vital_signs as vs
from queries import vital_trends
from snapshots.reader import Snapshot

TILE = "big-vs-tile"  # pattern-matching id type of a wall tile: {"type": TILE, "id": <indicator>}
WALL_TILES = 24  # at most this many indicators on the wall (catalogue key `wall`, in the file's order)
STATUS_COLOUR = {"ok": "#2ee59d", "warn": "#ffb020", "alarm": "#ff4d5e", "stale": "#8aa4d6", "none": "#8aa4d6"}


# --- text -----------------------------------------------------------------------------------------

def fmt_value(v, decimals: int, unit: str = "") -> str:
    """An indicator's value with its decimals; a ratio unit '%' is shown as given (the catalogue scales)."""
    if is_missing(v):
        return MISSING
    text = f"{v:,.{decimals}f}"
    return f"{text}{unit}" if unit == "%" else text


def fmt_change(change, key: str) -> tuple[str, str]:
    """('较昨日 ▲3.2%', css class) of a relative change; '' when there is nothing to compare with."""
    if is_missing(change):
        return "", "vs-chg"
    arrow = "▲" if change > 0 else "▼" if change < 0 else label("delta_flat")
    return f"{label(key)} {arrow}{abs(change) * 100:.1f}%", "vs-chg" + (" up" if change > 0 else " down" if change < 0 else "")


def fmt_when(t: datetime | None, now: datetime) -> str:
    if t is None:
        return MISSING
    return f"{t:%H:%M}" if t.date() == now.date() else f"{t:%m-%d %H:%M}"


def sparkline_src(values: list, status: str, width: int = 240, height: int = 48, lines: tuple = (),
                  colour: str = "#29d3ff", xs: list[float] | None = None, band: dict | None = None) -> str:
    """A polyline of the values (None: a gap) as a data-URI SVG image, with optional horizontal lines
    ((value, colour) each, dashed: thresholds) on the same scale. `xs`: each value's place across (0..1; default
    evenly over the width); `band`: {"x": [0..1], "lo", "hi", "expected": [...]}, the expected band drawn as a
    shaded area with its expected line, after a thin line at the first value's place ("now")."""
    pts = [v for v in values if v is not None]
    if not pts:
        return "data:image/svg+xml," + quote(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'/>")
    ref = [v for v, _ in lines if v is not None]
    if band:
        ref += [v for v in (*band["lo"], *band["hi"]) if v is not None]
    lo, hi = min(pts + ref), max(pts + ref)
    span = (hi - lo) or 1.0
    pad = 3
    n = max(len(values) - 1, 1)
    xs = xs or [i / n for i in range(len(values))]

    def y(v: float) -> float:
        return round(pad + (height - 2 * pad) * (1 - (v - lo) / span), 1)

    segs: list[list[str]] = []
    cur: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if cur:
                segs.append(cur)
            cur = []
        else:
            cur.append(f"{round(xs[i] * width, 1)},{y(v)}")
    if cur:
        segs.append(cur)
    colour = STATUS_COLOUR[status] if status in ("warn", "alarm") else colour
    body = "".join(f"<polyline points='{' '.join(s)}' fill='none' stroke='{colour}' stroke-width='2.5' "
                   f"stroke-linejoin='round' vector-effect='non-scaling-stroke'/>" for s in segs)
    if band and band["x"]:
        x = [round(f * width, 1) for f in band["x"]]
        edge = " ".join(f"{a},{y(v)}" for a, v in zip(x, band["hi"])) + " " + \
            " ".join(f"{a},{y(v)}" for a, v in zip(reversed(x), reversed(band["lo"])))
        body = (f"<line x1='{x[0]}' x2='{x[0]}' y1='0' y2='{height}' stroke='#8aa4d6' stroke-width='1' "
                f"vector-effect='non-scaling-stroke'/><polygon points='{edge}' fill='{colour}' fill-opacity='0.4' "
                f"stroke='none'/><polyline points='{' '.join(f'{a},{y(v)}' for a, v in zip(x, band['expected']))}' "
                f"fill='none' stroke='{colour}' stroke-width='1.5' stroke-dasharray='3 3' "
                f"vector-effect='non-scaling-stroke'/>") + body
    body += "".join(f"<line x1='0' x2='{width}' y1='{y(v)}' y2='{y(v)}' stroke='{c}' stroke-width='1.5' "
                    f"stroke-dasharray='5 4' vector-effect='non-scaling-stroke'/>" for v, c in lines if v is not None)
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' preserveAspectRatio='none'>{body}</svg>"
    return "data:image/svg+xml," + quote(svg, safe=" ,.='/:")


def _lines(t: dict) -> tuple:
    """The threshold lines of an absolute-basis indicator (last-week thresholds move with last week)."""
    if t["basis"] != "absolute":
        return ()
    return ((t["warn"], STATUS_COLOUR["warn"]), (t["alarm"], STATUS_COLOUR["alarm"]))


def ahead_hours() -> float:
    """How far ahead the tiles show the band (COCKPIT_VITALS_FORECAST_HOURS); the default outside an app."""
    from flask import has_app_context

    from config.settings import Settings

    return cockpit().settings.vitals_forecast_hours if has_app_context() else \
        float(Settings.model_fields["vitals_forecast_hours"].default)


def with_bands(snap: Snapshot, tiles: list[dict], ahead_h: float) -> list[dict]:
    """Each tile with its expected band over the coming `ahead_h` hours (queries/vital_forecast.py): t["band"]
    (None: not forecast) and t["marks"] (the sparkline's hour marks, for placing the band beside them)."""
    marks = vf.spark_marks(snap)
    if not marks:
        return tiles
    end = marks[-1] + timedelta(hours=ahead_h)
    return [{**t, "marks": marks, "ahead_h": ahead_h,
             "band": vf.vital_band(snap, t["indicator"], t["code"], marks[-1].floor("h"), end)} for t in tiles]


def band_parts(t: dict, colour: str, width: int, height: int, lines: tuple = ()) -> tuple[str, str, str]:
    """(sparkline src, title, data-band) of a tile: its last 24 h and, when forecast, the band over the coming
    hours (title: the hours' expected values; data-band: the same numbers in full, for the screens' recount);
    a forecast indicator short of history says so in the title."""
    band, marks = t.get("band"), t.get("marks")
    if not band or not marks or len(marks) != len(t["spark"]):
        return sparkline_src(t["spark"], t["status"], width, height, lines, colour), label("vs_trend"), ""
    first, total = marks[0], (marks[-1] - marks[0]).total_seconds() + t["ahead_h"] * 3600
    xs = [(m - first).total_seconds() / total for m in marks]
    if band["state"] != "fitted" or not band["hours"]:
        short = label("vs_band_short", days=f"{band['needs_h'] / 24:g}") if band["state"] == "short" else label("vs_trend")
        return sparkline_src(t["spark"], t["status"], width, height, lines, colour, xs), short, ""
    bx = [(h - first).total_seconds() / total for h in band["hours"]]
    src = sparkline_src(t["spark"], t["status"], width, height, lines, colour, xs,
                        {"x": bx, "lo": band["lo"], "hi": band["hi"], "expected": band["expected"]})
    d = t["decimals"]
    title = " · ".join(label("vs_band_at", t=f"{h:%H:%M}", v=fmt_value(e, d), lo=fmt_value(a, d), hi=fmt_value(b, d))
                       for h, e, a, b in zip(band["hours"], band["expected"], band["lo"], band["hi"]))
    data = ";".join(f"{h:%Y-%m-%dT%H:%M}|{e!r}|{a!r}|{b!r}" for h, e, a, b in
                    zip(band["hours"], band["expected"], band["lo"], band["hi"]))
    ahead = label("vs_band_ahead", h=f"{t['ahead_h']:g}")
    return src, f"{label('vs_band')} {ahead}: {title}", data


def _data_band(data: str) -> dict[str, Any]:
    """The band's numbers as the image's data-band attribute (none without a band)."""
    return {"data-band": data} if data else {}


# --- wall -----------------------------------------------------------------------------------------

def tile_body(t: dict, now: datetime) -> tuple[list, str]:
    """(children, className) of a wall tile."""
    status = t["status"]
    day, day_cls = fmt_change(t["change_day"], "vs_day")
    week, week_cls = fmt_change(t["change_week"], "vs_week")
    when = fmt_when(t["time"], now)
    foot = label("vs_last", t=when) if status in ("stale", "none") else label("vs_updated", t=when)
    if t["sites"] > 1:
        foot += " · " + label("vs_sites", n=t["sites"])
    spark, title, data = band_parts(t, "#29d3ff", 240, 48)
    if (t.get("band") or {}).get("state") == "short":  # a forecast indicator short of history: no band, said so
        foot += " · " + label("vs_band_short", days=f"{t['band']['needs_h'] / 24:g}")
    children = [  # flat: assets/vital_signs.css arranges them as a list row, a tile or a tall tile by the room
        html.Span(t["theme"], className="vs-theme"), html.Span(t["name"], className="vs-name"),
        html.Span(label(f"vs_status_{status}"), className="vs-badge"),
        html.Div([html.Span(fmt_value(t["value"], t["decimals"], t["unit"]), className="vs-num"),
                  html.Span("" if t["unit"] == "%" else t["unit"], className="vs-unit")], className="vs-value"),
        html.Div([html.Span(day, className=day_cls), html.Span(week, className=week_cls)], className="vs-change"),
        html.Img(src=spark, className="vs-spark", alt="", title=title, **_data_band(data)),
        html.Div(foot, className="vs-foot"),
    ]
    return [html.Div(children, className="vs-in")], f"vs-tile st-{status}"  # the tile: a CSS size container


def wall_tiles(snap: Snapshot, code: str, now: datetime) -> html.Div:
    """The 城市体征 panel's body: a tile per indicator, in the catalogue's order (so by theme), already filled so
    the first paint is right; the wall's layout (assets/big_canvas.js) gives the panel its place."""
    tiles = with_bands(snap, vs.wall_vital_signs(snap, code, WALL_TILES), ahead_hours())
    cells = []
    for t in tiles:
        children, cls = tile_body(t, now)
        cells.append(html.Div(children, id={"type": TILE, "id": t["indicator"]}, className=cls))
    return html.Div(cells or [html.Div(label("page_vitals") + " · " + label("not_connected"), className="vs-empty")],
                    id="big-vitals", className="vs-grid")


def _digest(x) -> str:
    return hashlib.blake2b(json.dumps(x, default=str, sort_keys=True).encode(), digest_size=6).hexdigest()


def changed_tiles(tiles: list[dict], ids: list[str], sent: dict | None, now: datetime, unchanged=None
                  ) -> tuple[list, list, dict]:
    """(children, classNames, digests) for the tiles `ids` on screen: a tile whose text changed since the digest in
    `sent` is sent again, the rest are `unchanged` (no_update in the callback); a tile gone from the snapshot stays."""
    by_id = {t["indicator"]: t for t in tiles}
    sent = dict(sent or {})
    children, classes = [], []
    for i in ids:
        t = by_id.get(i)
        body, cls = tile_body(t, now) if t is not None else (None, None)
        d = None if t is None else _digest([body, cls])
        if t is None or sent.get(i) == d:
            children.append(unchanged)
            classes.append(unchanged)
        else:
            sent[i] = d
            children.append(body)
            classes.append(cls)
    return children, classes, sent


def register_wall_callbacks() -> None:
    """The wall's tile refresh, registered by the page module (layouts/big.py) as it is executed for each app: a
    callback registered at this module's import would reach only the first app a process builds."""

    @callback(Output({"type": TILE, "id": ALL}, "children"), Output({"type": TILE, "id": ALL}, "className"),
              Output("big-vs-sent", "data"), Input("big-version", "data"),
              State({"type": TILE, "id": ALL}, "id"), State("big-vs-sent", "data"), prevent_initial_call=True)
    def refresh_wall_tiles(_key, ids, sent):
        """A new snapshot: the tiles whose text changed (a digest per tile in big-vs-sent); the rest no_update."""
        c = cockpit()
        snap = c.snapshot()
        tiles = with_bands(snap, vs.wall_vital_signs(snap, user_scope(), WALL_TILES), ahead_hours())
        return changed_tiles(tiles, [i["id"] for i in ids], sent, c.now(), no_update)


# --- tablet ---------------------------------------------------------------------------------------

def region_panel(snap: Snapshot, code: str, now: datetime, window=None) -> html.Section | None:
    """The tablet's vital signs of a region: each indicator with a value there, its trend (over the tablet's
    `window`, queries/vital_trends.py: hourly or daily points; without one the last 24 h) and its warn / alarm
    lines (None when the snapshot has no vital signs at all)."""
    if not vs.has_vital_signs(snap):
        return None
    if window is not None:
        step, _starts, tiles = vital_trends.region_trends(snap, code, window.first, window.last, now)
        span = f"{window.first:%m-%d}" if window.first == window.last else f"{window.first:%m-%d} ~ {window.last:%m-%d}"
        trend_label = label("vs_trend_window", window=label("window_" + window.name), span=span,
                            step=label("vs_step_hour" if step == 1 else "vs_step_day"))
    else:
        tiles, trend_label = vs.region_vital_signs(snap, code), label("vs_trend")
    tiles = with_bands(snap, tiles, ahead_hours())  # the expected band (queries/vital_forecast.py)
    rows = []
    for t in tiles:
        status = t["status"]
        day, day_cls = fmt_change(t["change_day"], "vs_day")
        week, week_cls = fmt_change(t["change_week"], "vs_week")
        points = t.get("trend", t["spark"])
        rows.append(html.Div(className=f"mv-row st-{status}", id=f"medium-vitals-{t['indicator']}", children=[
            html.Div(className="mv-what", children=[
                html.Div(t["name"], className="mv-name"),
                html.Div([html.B(fmt_value(t["value"], t["decimals"], t["unit"])), " ",
                          "" if t["unit"] == "%" else t["unit"]], className="mv-value"),
                html.Div([html.Span(label(f"vs_status_{status}"), className="mv-badge"), " ",
                          fmt_when(t["time"], now)], className="mv-when"),
                html.Div([html.Span(day, className=day_cls), " ", html.Span(week, className=week_cls)],
                         className="mv-change")]),
            _tablet_trend(t, points, trend_label),
        ]))
    legend = html.Div(className="mv-legend", children=[
        trend_label, " · ", html.Span("- - " + label("vs_warn_line"), className="mv-warn"), " ",
        html.Span("- - " + label("vs_alarm_line"), className="mv-alarm"), " ",
        html.Span("▒ " + label("vs_band"), className="mv-band")])
    return html.Section(id="medium-vitals", className="panel region-panel vitals-region", children=[
        html.H3(label("page_vitals"), className="panel-title"), legend,
        html.Div(rows or [html.Div(label("vs_none_here"), className="rp-empty")], className="mv-rows")])


def _tablet_trend(t: dict, points: list, trend_label: str) -> html.Div:
    """A tablet row's trend with the threshold lines and, when forecast, the band over the coming hours: drawn after
    the last 24 h; beside a window's trend (queries/vital_trends.py: hours or days) its figures only, under it; or
    why there is none (too little history)."""
    band = t.get("band") or {}
    _, title, data = band_parts(t, "#1565c0", 300, 70, _lines(t))
    if "trend" in t:
        src = sparkline_src(points, t["status"], 300, 70, _lines(t), "#1565c0")
    else:
        src, _, _ = band_parts(t, "#1565c0", 300, 70, _lines(t))
    note = title if band.get("state") == "short" or data else ""
    return html.Div(className="mv-trend-box", children=[
        html.Img(src=src, className="mv-trend", alt=trend_label, title=trend_label, **_data_band(data)),
        *([html.Div(note, className="mv-band-note")] if note else [])])


# --- phone ----------------------------------------------------------------------------------------

def phone_alarm_items(snap: Snapshot, code: str, names: dict) -> list:
    """The phone's alert list items for the vital signs past warn / alarm that concern the user's area."""
    out = []
    for a in vs.area_vital_alarms(snap, code)[:6]:
        level = "red" if a["status"] == "alarm" else "amber"
        value = fmt_value(a["value"], a["decimals"], a["unit"]) + ("" if a["unit"] == "%" else a["unit"])
        out.append(html.Li(label("label_value", label=f"{names.get(a['code'], a['code'])} {a['name']}",
                                 value=f"{value} · {label('vs_status_' + a['status'])}"),
                           className=f"alert alert-{level} alert-vitals"))
    return out

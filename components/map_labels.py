"""Region labels on a map that do not sit on each other.

A city's central districts are small beside its outer ones: at the wall's size their names, each at its
region's label point, overlap into an unreadable knot. `spread_labels` keeps every label that has room at
its point and moves the others outward, away from the knot, to the nearest free place, with a leader line
back to the point. It works in the map's own pixels (Web Mercator, as the maps are drawn, scaled to a
nominal height), so a placement holds whatever the screen: the wall's canvas is scaled as a whole."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DIRECTIONS = 16  # candidate directions around a label point
STEPS = 10  # candidate distances, each one label height further out


@dataclass(frozen=True)
class Placed:
    lon: list[float]  # where each label is drawn
    lat: list[float]
    leader_lon: list[float | None]  # leader lines from a moved label to its point (None separates lines)
    leader_lat: list[float | None]


def _mercator_y(lat: np.ndarray) -> np.ndarray:
    return np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _text_box(text: str, font_px: float) -> tuple[float, float]:
    """Width and height in px of a label (lines split by <br>; a CJK character is one em, others ~0.6)."""
    lines = text.split("<br>")
    width = max(sum(font_px if ord(ch) > 0x2E80 else 0.6 * font_px for ch in line) for line in lines)
    return width + 4, len(lines) * font_px * 1.25


def spread_labels(lon: list[float], lat: list[float], texts: list[str], font_px: float = 11,
                  map_height_px: float = 600, bounds: tuple[float, float, float, float] | None = None) -> Placed:
    """Label positions (lon, lat) for `texts` at points (lon, lat), none overlapping another where the map
    leaves room, and the leader lines of those moved. `bounds` (lon0, lat0, lon1, lat1) is the map's frame
    (default: the points' own extent); `map_height_px` the height it is drawn at."""
    n = len(texts)
    if n == 0:
        return Placed([], [], [], [])
    x = np.radians(np.asarray(lon, dtype=float))
    y = _mercator_y(np.asarray(lat, dtype=float))
    if bounds:
        y0, y1 = _mercator_y(np.array([bounds[1], bounds[3]]))
        x0, x1 = np.radians([bounds[0], bounds[2]])
    else:
        x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    span = max(y1 - y0, 1e-9)
    scale = map_height_px / span  # px per Mercator unit, both axes
    px, py = (x - x0) * scale, (y1 - y) * scale  # screen px, y down
    w_frame, h_frame = max((x1 - x0) * scale, 1.0), map_height_px
    boxes = [_text_box(t, font_px) for t in texts]

    def overlaps(cx: float, cy: float, w: float, h: float, placed: list[tuple[float, float, float, float]]) -> bool:
        return any(abs(cx - ox) * 2 < w + ow and abs(cy - oy) * 2 < h + oh for ox, oy, ow, oh in placed)

    # the labels with the fewest neighbours in reach keep their points first; a knot's others move
    reach = np.array([[abs(px[i] - px[j]) * 2 < boxes[i][0] + boxes[j][0] and abs(py[i] - py[j]) * 2 < boxes[i][1] + boxes[j][1]
                       for j in range(n)] for i in range(n)]).sum(axis=1)
    order = sorted(range(n), key=lambda i: (reach[i], i))
    mid_x, mid_y = float(px.mean()), float(py.mean())
    placed: list[tuple[float, float, float, float]] = []
    out_x, out_y = px.copy(), py.copy()
    moved: list[int] = []
    for i in order:
        w, h = boxes[i]
        spot = (px[i], py[i])
        if overlaps(*spot, w, h, placed):
            away = math.atan2(py[i] - mid_y, px[i] - mid_x)  # outward from the labels' middle first
            angles = sorted((2 * math.pi * k / DIRECTIONS for k in range(DIRECTIONS)),
                            key=lambda a: abs(math.remainder(a - away, 2 * math.pi)))
            candidates = ((px[i] + math.cos(a) * r, py[i] + math.sin(a) * r)
                          for r in (h * s for s in range(1, STEPS + 1)) for a in angles)
            free = next((c for c in candidates if not overlaps(*c, w, h, placed)
                         and w / 2 <= c[0] <= w_frame - w / 2 and h / 2 <= c[1] <= h_frame - h / 2), None)
            if free is not None:
                spot = free
                moved.append(i)
        out_x[i], out_y[i] = spot
        placed.append((spot[0], spot[1], w, h))
    def to_lon(sx):
        return np.degrees(np.asarray(sx) / scale + x0)

    def to_lat(sy):
        return np.degrees(2 * np.arctan(np.exp(y1 - np.asarray(sy) / scale)) - np.pi / 2)

    leader_lon: list[float | None] = []
    leader_lat: list[float | None] = []
    for i in moved:  # from the point to the edge of the moved label's box, not under its text
        dx, dy = out_x[i] - px[i], out_y[i] - py[i]
        w, h = boxes[i]
        t = min((w / 2) / abs(dx) if dx else math.inf, (h / 2) / abs(dy) if dy else math.inf, 1.0)
        ex, ey = out_x[i] - dx * t, out_y[i] - dy * t
        leader_lon += [float(lon[i]), float(to_lon(ex)), None]
        leader_lat += [float(lat[i]), float(to_lat(ey)), None]
    lon_out, lat_out = [float(v) for v in lon], [float(v) for v in lat]  # a label not moved: its point exactly
    for i in moved:
        lon_out[i], lat_out[i] = float(to_lon(out_x[i])), float(to_lat(out_y[i]))
    return Placed(lon_out, lat_out, leader_lon, leader_lat)

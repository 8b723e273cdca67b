"""Region labels on a map never sit on each other (components/map_labels.py): the wall's districts of the demo
city, whose central ones overlap at their label points, and a label with room kept at its point."""

from __future__ import annotations

import numpy as np

from components.map_labels import _mercator_y, _text_box, spread_labels


def boxes_px(lon, lat, texts, font, height, bounds):
    x0, y1 = np.radians(bounds[0]), _mercator_y(np.array([bounds[3]]))[0]
    scale = height / (_mercator_y(np.array([bounds[3]]))[0] - _mercator_y(np.array([bounds[1]]))[0])
    px = (np.radians(np.asarray(lon)) - x0) * scale
    py = (y1 - _mercator_y(np.asarray(lat))) * scale
    return [(x, y, *_text_box(t, font)) for x, y, t in zip(px, py, texts)]


def overlapping(boxes) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if abs(boxes[i][0] - boxes[j][0]) * 2 < boxes[i][2] + boxes[j][2] - 1e-6
            and abs(boxes[i][1] - boxes[j][1]) * 2 < boxes[i][3] + boxes[j][3] - 1e-6]


def test_the_demo_citys_districts_are_labelled_without_overlap(city):
    d = city.children(city.code)
    texts = [f"{n}<br>{k}件" for k, n in enumerate(d["name"], start=10)]
    lon, lat = d["lon"].tolist(), d["lat"].tolist()
    bounds = (min(lon) - 0.3, min(lat) - 0.3, max(lon) + 0.3, max(lat) + 0.3)
    assert overlapping(boxes_px(lon, lat, texts, 15, 640, bounds)), "the demo city's centre must be a knot to undo"
    at = spread_labels(lon, lat, texts, 15, 640, bounds)
    assert overlapping(boxes_px(at.lon, at.lat, texts, 15, 640, bounds)) == []
    moved = [i for i in range(len(lon)) if abs(at.lon[i] - lon[i]) + abs(at.lat[i] - lat[i]) > 1e-9]
    assert moved and len(moved) < len(lon)  # the knot is undone by moving some, not all
    assert len(at.leader_lon) == 3 * len(moved)  # a leader line back to each moved label's point
    starts = {(at.leader_lon[3 * i], at.leader_lat[3 * i]) for i in range(len(moved))}
    assert starts == {(lon[k], lat[k]) for k in moved}


def test_a_label_with_room_stays_at_its_point():
    at = spread_labels([118.0, 119.0], [32.0, 31.0], ["A区<br>1件", "B区<br>2件"], 11, 480, (117.5, 30.5, 119.5, 32.5))
    assert at.lon == [118.0, 119.0] and at.lat == [32.0, 31.0] and at.leader_lon == []
    assert spread_labels([], [], []).lon == []

"""标签治理 (issue 28): the events of the last 30 days within the radius of a camera without a business tag, per
region (the `untagged_events` frame) and per untagged camera (`untagged_cameras`), both written by the ETL
(etl/transforms/nearby_cameras.py untagged_exposure) and recounted here by an independent brute force: the
geodesic distance (pyproj's Geod on the WGS-84 ellipsoid) from every event row of the source to every untagged
camera row of its devices table; and the tablet's 补盲 panel showing them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import NOW
from pyproj import Geod
from sqlalchemy import text

from config.datums import convert
from contract.ground import Ground
from contract.windows import window_start
from etl.transforms.nearby_cameras import camera_points, untagged_exposure
from queries import nearby
from snapshots.reader import SnapshotReader

RADIUS = 300.0
EDGE = 0.05  # metres: the product's projection and the geodesic agree far better (a centimetre); closer is either way
GEOD = Geod(ellps="WGS84")


def brute_force(sim_engine, city, quarantined: list[int]) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """(events, cameras, dmin, pairs): the source's events of the last 30 days (not quarantined), its untagged
    cameras with a position, each event's geodesic distance to the nearest of them, and every (event, camera)
    pair with its distance. A coarse box in degrees first (0.005° is over 400 m here), then pyproj on the pairs."""
    with sim_engine.connect() as conn:
        ev = pd.read_sql(text("SELECT row_id, grid_code, lon, lat FROM events WHERE reported_at >= :s"), conn,
                         params={"s": window_start(NOW, "30d").to_pydatetime()})
        cams = pd.read_sql(text("SELECT device_id, grid_code, lon, lat FROM devices WHERE kind = 'camera' "
                                "AND lon IS NOT NULL AND lat IS NOT NULL AND coalesce(trim(tags), '') = ''"), conn)
    ev = ev[~ev["row_id"].isin(quarantined)].reset_index(drop=True)
    ewlon, ewlat = convert(ev["lon"].to_numpy(float), ev["lat"].to_numpy(float), city.datum, "WGS84")
    cwlon, cwlat = convert(cams["lon"].to_numpy(float), cams["lat"].to_numpy(float), city.datum, "WGS84")
    dmin = np.full(len(ev), np.inf)
    pairs = []
    for j in range(len(cams)):
        cand = np.flatnonzero((np.abs(ewlon - cwlon[j]) < 0.005) & (np.abs(ewlat - cwlat[j]) < 0.005))
        if not len(cand):
            continue
        _, _, d = GEOD.inv(np.full(len(cand), cwlon[j]), np.full(len(cand), cwlat[j]), ewlon[cand], ewlat[cand])
        dmin[cand] = np.minimum(dmin[cand], d)
        pairs.append(np.column_stack([cand, np.full(len(cand), j), d]))
    return ev, cams, dmin, (np.concatenate(pairs) if pairs else np.zeros((0, 3)))


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_events_near_untagged_cameras_recounted_by_geodesic_brute_force(sim_engine, city, published, redis_client):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    regions, per_cam = snap.frame("untagged_events"), snap.frame("untagged_cameras")
    ev, cams, dmin, pairs = brute_force(sim_engine, city, snap.frame("quarantine")["row_id"].tolist())
    assert len(cams) > 100 and np.isfinite(dmin).sum() > 100  # the simulated city has untagged cameras near events
    surely, maybe = dmin <= RADIUS - EDGE, dmin <= RADIUS + EDGE
    got = regions.set_index("code")
    tight = checked = 0
    for level, n in (("city", 4), ("district", 6), ("street", 9), ("community", 12), ("grid", 15)):
        code = ev["grid_code"].str.slice(0, n)
        want = pd.DataFrame({"code": code, "events": 1, "surely": surely, "maybe": maybe}).groupby("code").sum()
        mine = got[got["level"] == level]
        assert set(mine.index) == set(want.index), level
        assert (mine["events"] == want["events"].reindex(mine.index)).all(), level
        w = want.reindex(mine.index)
        assert ((w["surely"] <= mine["near_untagged"]) & (mine["near_untagged"] <= w["maybe"])).all(), level
        tight += int((w["surely"] == w["maybe"]).sum())
        checked += len(mine)
    assert tight >= 0.95 * checked
    city_row = got.loc[city.code]
    assert 0 < city_row["near_untagged"] < city_row["events"]
    # per camera: the events within the radius of each untagged camera with a position, every one listed
    assert sorted(per_cam["device_id"]) == sorted(cams["device_id"])
    cam_of = dict(zip(cams.index, cams["device_id"]))
    p = pd.DataFrame({"device": [cam_of[int(j)] for j in pairs[:, 1]], "d": pairs[:, 2]})
    sure = p[p["d"] <= RADIUS - EDGE].groupby("device").size()
    poss = p[p["d"] <= RADIUS + EDGE].groupby("device").size()
    mine = per_cam.set_index("device_id")["events_near"]
    assert ((sure.reindex(mine.index, fill_value=0) <= mine) & (mine <= poss.reindex(mine.index, fill_value=0))).all()
    assert mine.sum() > 0 and list(per_cam["events_near"]) == sorted(per_cam["events_near"], reverse=True)


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_the_tablet_panel_shows_the_regions_and_cameras_of_the_frames(client_as, city, published, redis_client):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    district = "320102"
    from layouts.medium_outputs import LIST_OUTPUTS  # the tablet's lists callback, where the 补盲 panel is

    outs, props = zip(*LIST_OUTPUTS)
    payload = {"output": ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
               "outputs": [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
               "inputs": [{"id": "medium-version", "property": "data", "value": [1, False]},
                          {"id": "medium-state", "property": "data", "value": {"region": district, "window": "7d"}}],
               "state": [], "changedPropIds": ["medium-version.data"]}
    r = client_as("district").post("/_dash-update-component", json=payload)
    assert r.status_code == 200
    body = json.loads(r.get_data(as_text=True))
    texts = json.dumps(body, ensure_ascii=False)
    t = nearby.untagged_events(snap, city, district)
    assert t is not None and t["region"]["events"] > 0
    assert f"{t['region']['near_untagged']:,}" in texts and "tags-children" in texts
    cams = nearby.untagged_cameras(snap, district, 10)
    assert len(cams) and cams["grid_code"].str.startswith(district).all()
    assert all(d in texts for d in cams["device_id"])
    # another district's untagged cameras are not listed
    others = snap.frame("untagged_cameras")
    others = others[~others["grid_code"].str.startswith(district) & (others["events_near"] > 0)]
    assert not any(f" · {d}\"" in texts for d in others["device_id"].head(50))


GROUND = Ground("WGS84", 118.8, 32.05)


def test_untagged_exposure_on_literal_frames():
    east = 1 / (111_320 * np.cos(np.radians(32.05)))  # about a metre of longitude here
    dev = pd.DataFrame([{"device_id": d, "kind": "camera", "device_type": "球机", "grid_code": g, "lon": lon,
                         "lat": 32.05, "tags": tags, "status": "online", "last_seen_at": NOW, "coord_quality": "verified"}
                        for d, g, lon, tags in (("A", "320102002001001", 118.8, ""),
                                                ("B", "320102002001002", 118.8 + 250 * east, " "),
                                                ("C", "320102002001001", 118.8, "治安"))])
    pts = camera_points(dev, GROUND)
    ev = pd.DataFrame({"grid_code": ["320102002001001", "320102002001002", "320102002001", "320102003001001"],
                       "lon": [118.8 + 100 * east, 118.8 + 500 * east, np.nan, 118.8 - 290 * east],
                       "lat": [32.05] * 4})
    regions, cams = untagged_exposure(ev, pts, GROUND, RADIUS)
    r = regions.set_index("code")
    assert r.loc["3201", ["events", "near_untagged"]].tolist() == [4, 3]  # A, B: 100, 150 m; B: 250 m; no point; A: 290 m
    assert r.loc["320102002", ["events", "near_untagged"]].tolist() == [3, 2]
    assert r.loc["320102002001", ["events", "near_untagged"]].tolist() == [3, 2]  # the community-only one counts here
    assert "320102002001" not in set(r[r["level"] == "grid"].index)
    assert r.loc["320102003001001", ["events", "near_untagged"]].tolist() == [1, 1]
    assert cams[["device_id", "events_near"]].values.tolist() == [["A", 2], ["B", 2]]  # C is tagged: not listed
    none_untagged = untagged_exposure(ev, pts[pts["device_id"] == "C"], GROUND, RADIUS)
    assert none_untagged[0]["near_untagged"].sum() == 0 and none_untagged[1].empty

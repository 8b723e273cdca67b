"""The cameras around a point and 补盲 (issue 28): the web tier's lookup (queries/nearby.py, an STRtree over
the camera_points frame) against an independent brute-force haversine over the source's devices table on
random points; the camera_gaps frame (etl/transforms/nearby_cameras.py) recounted by SQL over the source's
events and devices; the transforms on literal frames."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
import redis
from helpers import NOW, fresh_engine
from sqlalchemy import text

from config.datums import convert
from contract.ground import Ground, city_ground, compass
from contract.windows import window_start
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.transforms.nearby_cameras import camera_gaps, camera_points, coord_fixes, near_any, unseen_events
from queries import nearby
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

RADIUS = 300.0
WGS84_A, WGS84_E2 = 6378137.0, 0.00669437999014


def lookup(*args) -> pd.DataFrame:
    """queries/nearby.nearby_cameras as a frame (it returns one dict per camera)."""
    return pd.DataFrame(nearby.nearby_cameras(*args), columns=nearby.NEARBY_COLUMNS)


def ground_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Metres on the ground between WGS-84 points, brute force: the haversine central angle times the
    ellipsoid's radius of curvature in the direction of travel (Euler), at the mean latitude. Independent of
    the product's projection; right to millimetres at these distances."""
    p1, p2, l1, l2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lat2, lon1, lon2))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    angle = 2 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    pm = (p1 + p2) / 2
    w = 1 - WGS84_E2 * np.sin(pm) ** 2
    m, n = WGS84_A * (1 - WGS84_E2) / w ** 1.5, WGS84_A / np.sqrt(w)
    az = np.arctan2(np.sin(l2 - l1) * np.cos(p2), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(l2 - l1))
    r = 1 / (np.cos(az) ** 2 / m + np.sin(az) ** 2 / n)
    return r * angle


@pytest.fixture(scope="module")
def camera_source(tmp_path_factory, city, redis_server):
    """35 days of a small simulated city with 2,500 cameras (SQLite), run through every ETL job at NOW, in a
    Redis database of its own (14); built once for the module (the tests only read it)."""
    engine = fresh_engine("sqlite", tmp_path_factory.mktemp("cameras"))
    Simulator(engine, city, seed=9, events_per_day=250, bad_row_rate=0.01).backfill(35, NOW, n_cameras=2500, n_iot=50)
    with engine.begin() as conn:  # for the recount's join (the city's own source would have its indexes)
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_test_devices_lat ON devices (lat)"))
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/14")
    client.flushdb()
    EtlJobs(engine, city, SnapshotStore(client), history_days=120).run_all(NOW)
    yield engine, SnapshotReader(client).current()
    client.flushdb()
    engine.dispose()


def source_cameras(engine, city) -> pd.DataFrame:
    with engine.connect() as conn:
        cams = pd.read_sql(text("SELECT device_id, grid_code, lon, lat, status FROM devices "
                                "WHERE kind = 'camera' AND lon IS NOT NULL AND lat IS NOT NULL"), conn)
    cams["wlon"], cams["wlat"] = convert(cams["lon"], cams["lat"], city.datum, "WGS84")
    return cams


def brute_nearby(cams: pd.DataFrame, city, lon: float, lat: float, scope: str) -> pd.DataFrame:
    wlon, wlat = convert([lon], [lat], city.datum, "WGS84")
    d = ground_m(wlon[0], wlat[0], cams["wlon"], cams["wlat"])
    out = cams.assign(d=d)
    out = out[(out["d"] <= RADIUS) & out["grid_code"].str.startswith(scope)]
    return out.sort_values(["d", "device_id"], kind="stable")


def assert_same_list(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same cameras in the same order, distances within 1 m. Two cameras whose distances differ by less than
    the two methods' disagreement (1 cm) may be listed either way round; one within 1 cm of the radius
    may be in one list only."""
    g = dict(zip(got["device_id"], got["distance_m"]))
    w = dict(zip(want["device_id"], want["d"]))
    edge = {k for k, v in {**g, **w}.items() if abs(v - RADIUS) < 0.01}
    assert set(g) - edge == set(w) - edge
    for k in set(g) & set(w):
        assert abs(g[k] - w[k]) < 1.0, (k, g[k], w[k])
    ids = [i for i in got["device_id"] if i in w]
    for a, b in zip(ids, ids[1:]):
        assert w[a] <= w[b] + 0.01, (a, b, w[a], w[b])  # nearest first, up to the methods' disagreement
        if g[a] == g[b]:  # a tie (cameras on one spot): by device id
            assert a < b


@pytest.mark.slow  # the module's simulated source: ~30 s once (docs/testing.md: the tiers)
def test_nearby_lists_equal_brute_force_haversine(camera_source, city):
    engine, snap = camera_source
    cams = source_cameras(engine, city)
    ground = city_ground(city)
    rnd = random.Random(28)
    with engine.connect() as conn:
        events = pd.read_sql(text("SELECT lon, lat, grid_code FROM events WHERE reported_at >= :s"), conn,
                             params={"s": window_start(NOW, "30d").to_pydatetime()})
    events = events[city.contains(events["lon"].to_numpy(), events["lat"].to_numpy())]
    points = [tuple(events.iloc[i][["lon", "lat"]]) for i in rnd.sample(range(len(events)), 150)]
    # and points scattered near cameras (not on them): several cameras within reach, some near the edge
    for _ in range(150):
        c = cams.iloc[rnd.randrange(len(cams))]
        points.append((c["lon"] + rnd.uniform(-0.004, 0.004), c["lat"] + rnd.uniform(-0.003, 0.003)))
    seen = 0
    for lon, lat in points:
        got = lookup(snap, ground, lon, lat, RADIUS, city.code)
        want = brute_nearby(cams, city, lon, lat, city.code)
        assert_same_list(got, want)
        seen += len(want)
    assert seen > 300  # the lists are not all empty
    # a district's user: only the cameras of the district, the same list cut to it
    district = "320102"
    for lon, lat in points[:80]:
        got = lookup(snap, ground, lon, lat, RADIUS, district)
        assert got["grid_code"].str.startswith(district).all()
        assert_same_list(got, brute_nearby(cams, city, lon, lat, district))


@pytest.mark.slow  # the module's simulated source: ~30 s once (docs/testing.md: the tiers)
def test_direction_and_status_of_a_listed_camera(camera_source, city):
    engine, snap = camera_source
    cams = source_cameras(engine, city).set_index("device_id")
    ground = city_ground(city)
    c = cams.iloc[0]
    lon, lat = float(c["lon"]) - 0.0015, float(c["lat"]) - 0.0010  # the camera lies north-east of the point
    got = lookup(snap, ground, lon, lat, RADIUS, city.code).set_index("device_id")
    row = got.loc[cams.index[0]]
    assert row["direction"] == "NE"
    assert row["online"] == int(c["status"] == "online")
    assert lookup(snap, ground, lon, lat, RADIUS, "999999").empty  # nobody's region: nothing


UNSEEN_SQL = """
SELECT substr(e.grid_code, 1, :n) AS code, count(*) AS events,
  sum(CASE WHEN e.dmin IS NULL OR e.dmin > :far THEN 1 ELSE 0 END) AS surely_unseen,
  sum(CASE WHEN e.dmin IS NULL OR e.dmin > :near THEN 1 ELSE 0 END) AS maybe_unseen
FROM (
  SELECT ev.row_id, ev.grid_code, min(2 * 6371008.8 * asin(sqrt(
      power(sin(radians(d.lat - ev.lat) / 2), 2)
      + cos(radians(ev.lat)) * cos(radians(d.lat)) * power(sin(radians(d.lon - ev.lon) / 2), 2)))) AS dmin
  FROM events ev
  LEFT JOIN devices d ON d.kind = 'camera' AND d.status = 'online' AND d.lon IS NOT NULL
       AND d.lat BETWEEN ev.lat - 0.004 AND ev.lat + 0.004 AND d.lon BETWEEN ev.lon - 0.005 AND ev.lon + 0.005
  WHERE ev.reported_at >= :start {exclude}
  GROUP BY ev.row_id, ev.grid_code
) e
WHERE length(e.grid_code) >= :n
GROUP BY substr(e.grid_code, 1, :n)
"""


@pytest.mark.slow  # the module's simulated source: ~30 s once (docs/testing.md: the tiers)
def test_camera_gaps_recounted_by_sql(camera_source, city):
    """Per grid and per street: the events of the last 30 days (equal) and those no online camera was within
    300 m of, by a plain haversine in SQL on the source's coordinates. The SQL's sphere and the source's GCJ-02
    are each up to ~1.3 m off the ground, so an event within 2 m of the radius may go either way: the frame's
    count must lie between the SQL's sure and possible counts (and most regions have no such event)."""
    engine, snap = camera_source
    q = snap.frame("quarantine")["row_id"].tolist()
    exclude = f"AND ev.row_id NOT IN ({','.join(map(str, q))})" if q else ""
    gaps = snap.frame("camera_gaps")
    assert len(gaps) > 20 and (gaps["unseen"] > 0).all()
    tight = 0
    for level, n in (("grid", 15), ("street", 9)):
        with engine.connect() as conn:
            sql = pd.read_sql(text(UNSEEN_SQL.format(exclude=exclude)), conn, params={
                "n": n, "far": RADIUS + 2, "near": RADIUS - 2,
                "start": window_start(NOW, "30d").to_pydatetime()}).set_index("code")
        got = gaps[gaps["level"] == level].set_index("code")
        assert set(got.index) <= set(sql.index)
        for code, r in sql.iterrows():
            if code not in got.index:  # not listed: nothing unseen for sure
                assert r["surely_unseen"] == 0, code
                continue
            g = got.loc[code]
            assert g["events"] == r["events"], code
            assert r["surely_unseen"] <= g["unseen"] <= r["maybe_unseen"], code
            tight += r["surely_unseen"] == r["maybe_unseen"]
        assert sql["surely_unseen"].sum() > 0
    assert tight >= 0.9 * len(gaps)


@pytest.mark.slow  # the module's simulated source: ~30 s once (docs/testing.md: the tiers)
def test_coord_fixes_are_the_unverified_cameras_by_their_grids_events(camera_source, city):
    engine, snap = camera_source
    fixes = snap.frame("camera_fixes")
    with engine.connect() as conn:
        want = pd.read_sql(text("SELECT device_id, grid_code, coord_quality FROM devices WHERE kind = 'camera' "
                                "AND coord_quality IN ('approximate', 'missing')"), conn)
        q = snap.frame("quarantine")["row_id"].tolist()
        per_grid = dict(conn.execute(text(
            "SELECT grid_code, count(*) FROM events WHERE reported_at >= :s "
            + (f"AND row_id NOT IN ({','.join(map(str, q))}) " if q else "") + "GROUP BY grid_code"),
            {"s": window_start(NOW, "30d").to_pydatetime()}).all())
    assert sorted(fixes["device_id"]) == sorted(want["device_id"])
    assert all(fixes["grid_events"] == [per_grid.get(g, 0) for g in fixes["grid_code"]])
    assert list(fixes["grid_events"]) == sorted(fixes["grid_events"], reverse=True)
    busiest = nearby.coord_fixes(snap, "320102", 5)
    assert len(busiest) and busiest["grid_code"].str.startswith("320102").all()


# ------------------------------------------------------------------------------- literal frames

GROUND = Ground("WGS84", 118.8, 32.05)


def cams(*rows) -> pd.DataFrame:
    """Cameras (device_id, lon, lat, status, coord_quality) as the devices feed gives them."""
    return pd.DataFrame([{"device_id": d, "kind": "camera", "device_type": "球机", "grid_code": "320102002001001",
                          "lon": lon, "lat": lat, "tags": "", "status": s, "last_seen_at": NOW, "coord_quality": q}
                         for d, lon, lat, s, q in rows])


def metres_east(m: float, lat: float = 32.05) -> float:
    """Degrees of longitude that many metres east at `lat` (the WGS-84 parallel's radius)."""
    n = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(math.radians(lat)) ** 2)
    return math.degrees(m / (n * math.cos(math.radians(lat))))


def test_an_event_is_seen_only_by_an_online_camera_within_the_radius():
    pts = camera_points(cams(("A", 118.8 + metres_east(299.5), 32.05, "online", "verified"),
                             ("B", 118.8 + metres_east(200), 32.05, "offline", "verified"),
                             ("C", 118.9, 32.05, "online", "missing")), GROUND)
    assert list(pts["device_id"]) == ["A", "B", "C"]
    ev = pd.DataFrame({"grid_code": ["320102002001001"] * 3, "lon": [118.8, 118.8 - metres_east(1), np.nan],
                       "lat": [32.05, 32.05, np.nan]})
    assert unseen_events(ev, pts, GROUND, 300).tolist() == [False, True, True]  # 299.5 m; 300.5 m; no point
    gaps = camera_gaps(ev, pts, GROUND, 300)
    assert gaps[["code", "level", "events", "unseen"]].values.tolist() == [
        ["320102002", "street", 3, 2], ["320102002001001", "grid", 3, 2]]
    assert camera_gaps(ev, pts[pts["device_id"] == "B"], GROUND, 300)["unseen"].tolist() == [3, 3]  # offline


def test_near_any_counts_the_radius_in_and_equals_a_brute_force():
    """The k-d tree search (etl/transforms/nearby_cameras.py near_any): a camera exactly at the radius is near,
    one a float's step beyond it is not; on random points the same as every pair's distance compared."""
    r = 300.0
    x, y = np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0])
    assert near_any(x[:1], y[:1], np.array([r]), np.array([0.0]), r).tolist() == [True]
    assert near_any(x[:1], y[:1], np.array([np.nextafter(r, np.inf)]), np.array([0.0]), r).tolist() == [False]
    assert near_any(x, y, np.zeros(0), np.zeros(0), r).tolist() == [False] * 3
    rng = np.random.default_rng(28)
    ex, ey = rng.uniform(-5000, 5000, 4000), rng.uniform(-5000, 5000, 4000)
    cx, cy = rng.uniform(-5000, 5000, 300), rng.uniform(-5000, 5000, 300)
    cx[:20], cy[:20] = ex[:20] + r, ey[:20]  # on the radius of an event (within a rounding of it)
    brute = (np.hypot(ex[:, None] - cx[None, :], ey[:, None] - cy[None, :]) <= r).any(axis=1)
    got = near_any(ex, ey, cx, cy, r)
    assert got.sum() > 100 and (~got).sum() > 100
    assert got.tolist() == brute.tolist()


def test_camera_points_leave_out_the_cameras_without_a_position_and_fixes_list_them():
    dev = cams(("A", 118.8, 32.05, "online", "verified"), ("B", np.nan, np.nan, "online", "missing"),
               ("C", 118.81, 32.05, "offline", "approximate"))
    assert list(camera_points(dev, GROUND)["device_id"]) == ["A", "C"]
    ev = pd.DataFrame({"grid_code": ["320102002001001"] * 4, "lon": [118.8] * 4, "lat": [32.05] * 4})
    f = coord_fixes(dev, ev)
    assert f[["device_id", "coord_quality", "grid_events"]].values.tolist() == [["B", "missing", 4],
                                                                                 ["C", "approximate", 4]]


def test_compass_points():
    assert list(compass([0, 1, 1, 1, 0, -1, -1, -1, 0], [1, 1, 0, -1, -1, -1, 0, 1, 0])) == \
        ["N", "NE", "E", "SE", "S", "SW", "W", "NW", ""]


def test_the_projection_keeps_ground_distances_within_a_centimetre(city):
    ground = city_ground(city)
    rnd = np.random.default_rng(3)
    lon0, lat0 = city.center
    lon = lon0 + rnd.uniform(-0.4, 0.4, 500)
    lat = lat0 + rnd.uniform(-0.4, 0.4, 500)
    ang = rnd.uniform(0, 2 * np.pi, 500)
    lon2, lat2 = lon + 0.0025 * np.sin(ang), lat + 0.0025 * np.cos(ang)
    x1, y1 = ground.xy(lon, lat)
    x2, y2 = ground.xy(lon2, lat2)
    w1, w2 = convert(lon, lat, city.datum, "WGS84"), convert(lon2, lat2, city.datum, "WGS84")
    assert np.abs(np.hypot(x2 - x1, y2 - y1) - ground_m(*w1, *w2)).max() < 0.01


def test_slow_frames_rebuilt_in_a_thread_never_hold_the_devices_run(camera_source, city, redis_server, wait_until):
    """With forecast_background (the service), 补盲 and 标签治理 are built inline the first time (the first snapshot
    has them) and, when due again, in a thread of their own: that devices run publishes without them (the last ones
    stand), the next one after the thread is done publishes them, equal to an inline build over the same inputs."""
    from datetime import timedelta

    from contract import frames as F
    from contract.metrics import SLOW_FRAMES_S

    engine, _ = camera_source
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/13")
    client.flushdb()
    try:
        jobs = EtlJobs(engine, city, SnapshotStore(client, "slow"), history_days=120)
        jobs.forecast_background = True
        jobs.run("events", NOW)
        jobs.run("devices", NOW)
        first = SnapshotStore(client, "slow").manifest()["frames"][F.CAMERA_GAPS.name]
        assert jobs._slow_build is None and jobs.slow_at[F.CAMERA_GAPS.name] == NOW  # inline, the first time
        later = NOW + timedelta(seconds=SLOW_FRAMES_S[F.CAMERA_GAPS.name] + 1)
        jobs.run("devices", later)
        assert jobs._slow_build is not None  # due again: built in the background
        assert SnapshotStore(client, "slow").manifest()["frames"][F.CAMERA_GAPS.name] == first  # the last one stands
        assert wait_until(jobs._slow_build.done, timeout_s=120)
        jobs.run("devices", later + timedelta(seconds=1))
        assert jobs._slow_build is None
        published = SnapshotStore(client, "slow").manifest()["frames"][F.CAMERA_GAPS.name]
        assert published["as_of"] > first["as_of"]  # published by this run (same bytes: the key is kept)
        gaps = SnapshotStore(client, "slow").read_frame(published["key"])
        inline = EtlJobs(engine, city, SnapshotStore(client, "inline"), history_days=120)
        inline.run("events", NOW)
        inline.run("devices", later)  # not in the background: built in the run, over the same 30 days
        expected = SnapshotStore(client, "inline").read_frame(
            SnapshotStore(client, "inline").manifest()["frames"][F.CAMERA_GAPS.name]["key"])
        pd.testing.assert_frame_equal(gaps.reset_index(drop=True), expected.reset_index(drop=True))
        assert len(gaps)
    finally:
        client.flushdb()

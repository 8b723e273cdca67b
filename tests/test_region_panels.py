"""The tablet's region panels (components/region_panels.py): the recurring-problem clusters on literal
frames and against an independent computation over SQL rows, the safety rank and components and the
camera counts against independent SQL, and every panel rendered at every level with its numbers."""

import json
import math
import random
from collections import defaultdict
from datetime import timedelta

import pandas as pd
import plotly
import pytest
from helpers import BACKENDS, CAMERA_SQL, NOW, fresh_engine
from sqlalchemy import insert, text

from components import region_panels
from components.format import fmt_number, fmt_rate, place_path
from contract.domain import SAFETY_COMPONENTS
from contract.metrics import RECURRING
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import Event
from etl.transforms.recurring import recurring_clusters
from queries import views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

T = pd.Timestamp
AS_OF = T("2026-11-20 18:00")
LON, LAT = 118.78, 32.05  # a spot in the city
M_LAT = 1 / 111_320  # one metre in degrees of latitude
M_LON = 1 / (111_320 * math.cos(math.radians(32)))


def ev(i, category="城市管理", east_m=0.0, north_m=0.0, days_ago=1.0, closed=False, grid="320102002001001"):
    return {"event_id": f"E{i}", "grid_code": grid, "category": category, "lon": LON + east_m * M_LON,
            "lat": LAT + north_m * M_LAT, "reported_at": AS_OF - pd.Timedelta(days=days_ago),
            "closed_at": AS_OF if closed else pd.NaT}


# --- the transform on literal frames -----------------------------------------------------------

def test_four_close_events_form_one_cluster():
    # 4 events of one category within 50 m (E4 in another grid), 1 closed, reported 1 to 4 days ago
    e = pd.DataFrame([ev(1, days_ago=4), ev(2, east_m=30, days_ago=3, closed=True), ev(3, north_m=40, days_ago=2),
                      ev(4, east_m=-20, north_m=20, days_ago=1, grid="320102002001002")])
    c = recurring_clusters(e, AS_OF, ref_lat=32)
    assert len(c) == 1
    r = c.iloc[0]
    assert (r["category"], r["events"], r["open"], r["days"]) == ("城市管理", 4, 3, 4)
    assert r["grid_code"] == "320102002001001"  # 3 of the 4 events
    assert r["example_ids"] == "E4,E3,E2,E1"  # newest first
    assert r["lon"] == pytest.approx(LON + 2.5 * M_LON) and r["lat"] == pytest.approx(LAT + 15 * M_LAT)


def test_far_apart_different_category_or_old_events_do_not_cluster():
    e = pd.DataFrame([ev(1), ev(2, east_m=2000), ev(3, north_m=2000),  # same category, 2 km apart
                      ev(4, category="民生服务", east_m=10), ev(5, category="公共安全", north_m=10),  # other categories
                      ev(6, days_ago=31), ev(7, days_ago=40, east_m=5)])  # outside the 30-day window
    assert recurring_clusters(e, AS_OF, ref_lat=32).empty


def test_cluster_across_a_cell_border_and_examples_capped():
    # 7 events 20 m either side of a cell border (x = 150 m · k), all in one cluster; 5 newest listed
    border = math.floor(LON / (150 * M_LON)) * 150 + 150 - LON / M_LON
    e = pd.DataFrame([ev(i, east_m=border + (20 if i % 2 else -20), days_ago=i) for i in range(1, 8)])
    c = recurring_clusters(e, AS_OF, ref_lat=32)
    assert c["events"].tolist() == [7]
    assert c.iloc[0]["example_ids"] == "E1,E2,E3,E4,E5" and c.iloc[0]["days"] == 7


def test_no_chains_along_a_dense_street():
    # 3 events every 150 m along 3 km: one chain of touching cells, but clusters stay local (≤ 3 × 3 cells)
    e = pd.DataFrame([ev(100 * k + j, east_m=150 * k + 10 * j) for k in range(20) for j in range(3)])
    c = recurring_clusters(e, AS_OF, ref_lat=32)
    assert len(c) > 10 and 50 <= c["events"].sum() <= 60  # a few lone cells of 1-2 events drop out
    assert c["events"].max() <= 9  # at most 3 x 3 cells of (here) at most 3 events: no chain


# --- a small simulated source with planted events, per backend --------------------------------

PLANTED = "井盖破损"  # categories the simulator never writes, so only the planted events can cluster
SPREAD = "占道经营"


def planted_rows(city):
    """4 PLANTED events within 50 m in one grid (1 closed), 2 more of them 2+ km away, one 40 days
    old at the spot; 3 SPREAD events each 2+ km from the others."""
    grids = city.grids()
    spot = grids[grids["code"].str.startswith("320102002")].iloc[0]
    far = grids[(abs(grids["lon"] - spot["lon"]) > 0.03) & grids["code"].str.startswith("3201")].sample(5, random_state=3)
    far = far.sort_values("lon")
    rows = []

    def add(grid, lon, lat, category, days_ago, closed=False):
        t = NOW - timedelta(days=days_ago)
        stages = {s: t + timedelta(hours=k) if closed else None for k, s in enumerate(
            ("dispatched_at", "handled_at", "verified_at", "closed_at"), 1)}
        rows.append({"event_id": f"PL{len(rows):04d}", "grid_code": grid, "lon": round(lon, 6), "lat": round(lat, 6),
                     "category": category, "channel": "随手拍", "reported_at": t, "due_at": t + timedelta(days=3),
                     "updated_at": t + timedelta(hours=5 if closed else 0), **stages})

    for k, (de, dn) in enumerate([(0, 0), (30, 5), (-10, 35), (20, -25)]):
        add(spot["code"], spot["lon"] + de * M_LON, spot["lat"] + dn * M_LAT, PLANTED, 2 + 3 * k, closed=k == 1)
    add(spot["code"], spot["lon"], spot["lat"], PLANTED, 40)
    for g in far.iloc[:2].itertuples():
        add(g.code, g.lon, g.lat, PLANTED, 5)
    add(spot["code"], spot["lon"], spot["lat"], SPREAD, 3)
    for g in far.iloc[2:4].itertuples():
        add(g.code, g.lon, g.lat, SPREAD, 3)
    return spot, rows


@pytest.fixture(scope="module", params=BACKENDS)
def source(request, tmp_path_factory, city, redis_server):
    """(engine, snapshot, planted spot): 3 simulated days plus the planted events, run through every job."""
    import redis

    engine = fresh_engine(request.param, tmp_path_factory.mktemp("panels"))
    Simulator(engine, city, seed=5, events_per_day=1500, bad_row_rate=0.0).backfill(3, NOW, n_cameras=3000, n_iot=200)
    spot, rows = planted_rows(city)
    with engine.begin() as conn:
        conn.execute(insert(Event), rows)
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    EtlJobs(engine, city, SnapshotStore(client)).run_all(NOW)
    snap = SnapshotReader(client, min_check_s=0).current()
    client.flushdb()
    yield engine, snap, spot
    engine.dispose()


CLUSTER_SQL = """SELECT count(*) AS n, sum(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) AS open,
       min(reported_at) AS first, max(reported_at) AS last, avg(lon) AS lon, avg(lat) AS lat
FROM events WHERE category = :cat AND reported_at >= :start AND abs(lon - :lon) < 0.001 AND abs(lat - :lat) < 0.001"""


def test_planted_cluster_equals_sql(source):
    engine, snap, spot = source
    start = (T(NOW).normalize() - pd.Timedelta(days=29)).to_pydatetime()
    rec = snap.frame("recurring")
    mine = rec[rec["category"] == PLANTED]
    assert len(mine) == 1, "the 4 close events are one cluster; the far and old ones are not in it"
    got = mine.iloc[0]
    params = {"cat": PLANTED, "start": start, "lon": spot["lon"], "lat": spot["lat"]}
    with engine.connect() as conn:
        sql = conn.execute(text(CLUSTER_SQL), params).one()
        newest = [r[0] for r in conn.execute(text(
            "SELECT event_id FROM events WHERE category = :cat AND reported_at >= :start AND abs(lon - :lon) < 0.001 "
            "AND abs(lat - :lat) < 0.001 ORDER BY reported_at DESC LIMIT 5"), params)]
    assert sql.n == 4 and got["events"] == sql.n and got["open"] == sql.open == 3
    assert got["first_reported"] == T(sql.first) and got["last_reported"] == T(sql.last)
    assert got["days"] == (T(sql.last).normalize() - T(sql.first).normalize()).days + 1
    assert got["lon"] == pytest.approx(sql.lon) and got["lat"] == pytest.approx(sql.lat)
    assert got["grid_code"] == spot["code"] and got["example_ids"].split(",") == newest
    assert rec[rec["category"] == SPREAD].empty, "3 events of a category 2 km apart are no cluster"


def clusters_by_hand(rows, ref_lat, cell_m, min_events):
    """The RECURRING rule (contract/metrics.py) in plain Python over SQL rows: (category, events, open) per cluster."""
    dlat = cell_m / 111_320.0
    dlon = cell_m / (111_320.0 * math.cos(math.radians(ref_lat)))
    cells = defaultdict(list)
    for r in rows:
        cells[(r.category, math.floor(r.lon / dlon), math.floor(r.lat / dlat))].append(r)

    def rank(cell):  # smaller is better: more events, then the lower cell number
        return (-len(cells[cell]), cell)

    def around(cell):
        c, x, y = cell
        return [(c, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)
                and (c, x + dx, y + dy) in cells]

    peaks = {cell for cell in cells if all(rank(cell) < rank(o) for o in around(cell))}
    joined = defaultdict(list)
    for cell, members in cells.items():
        options = [o for o in [cell, *around(cell)] if o in peaks]
        joined[min(options, key=rank) if options else cell] += members
    return sorted((m[0].category, len(m), sum(r.closed_at is None for r in m))
                  for m in joined.values() if len(m) >= min_events)


def test_recurring_clusters_equal_rule_by_hand_over_sql(source, city):
    engine, snap, _ = source
    start = (T(NOW).normalize() - pd.Timedelta(days=29)).to_pydatetime()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT category, lon, lat, closed_at FROM events WHERE reported_at >= :start"),
                            {"start": start}).all()
    want = clusters_by_hand(rows, city.center[1], RECURRING["cell_m"], RECURRING["min_events"])
    rec = snap.frame("recurring")
    got = sorted(zip(rec["category"], rec["events"].astype(int), rec["open"].astype(int)))
    assert len(want) > 20, "the sample must mean something"
    assert got == want


SAFETY_SQL = """WITH latest AS (
  SELECT s.* FROM safety_index s WHERE s.month = (SELECT max(month) FROM safety_index t WHERE t.region_code = s.region_code))
SELECT l.index_value, l.public_security, l.security, l.fire, l.traffic, l.production, l.disputes,
       (SELECT count(*) FROM latest o WHERE length(o.region_code) = length(:code) AND o.region_code LIKE :parent
          AND o.index_value > l.index_value) + 1 AS rank,
       (SELECT count(*) FROM latest o WHERE length(o.region_code) = length(:code) AND o.region_code LIKE :parent) AS n
FROM latest l WHERE l.region_code = :code"""


def test_safety_rank_and_components_equal_sql(source, city):
    engine, snap, _ = source
    rnd = random.Random(5)
    district = rnd.choice(city.children(city.code)["code"].tolist())
    street = rnd.choice(city.children(district)["code"].tolist())
    with engine.connect() as conn:
        for code, parent in ((district, city.code), (street, district)):
            sql = conn.execute(text(SAFETY_SQL), {"code": code, "parent": f"{parent}%"}).one()
            shown = views.safety_rank(snap, city, code)
            assert (shown["rank"], shown["of"]) == (sql.rank, sql.n), code
            assert shown["of"] == len(city.children(parent))
            for col in ("public_security", *SAFETY_COMPONENTS):
                assert shown[col] == pytest.approx(getattr(sql, col)), (code, col)
            assert shown["safety_index"] == pytest.approx(sql.index_value)
    below = views.safety_rank(snap, city, city.children(street)["code"].iloc[0])
    assert below["code"] == street and not below["own"] and below["rank"] == shown["rank"]
    assert views.safety_rank(snap, city, city.code)["rank"] is None  # the city has no siblings


def test_camera_counts_equal_sql(source, city):
    engine, snap, _ = source
    streets = city.regions.loc[city.regions["level"] == "street", "code"].tolist()
    street = random.Random(8).choice([s for s in streets if s.startswith("320102")])
    grids = city.regions.loc[(city.regions["level"] == "grid") & city.regions["code"].str.startswith(street), "code"]
    with engine.connect() as conn:
        sql = conn.execute(text(CAMERA_SQL), {"prefix": f"{street}%"}).one()
        covered = {r[0] for r in conn.execute(text(
            "SELECT DISTINCT grid_code FROM devices WHERE kind = 'camera' AND grid_code LIKE :p"), {"p": f"{street}%"})}
    k = views.camera_summary(snap, street)
    assert k["cameras"] == sql.cameras > 0 and k["cameras_online"] == sql.online
    assert k["cameras_offline"] == sql.cameras - sql.online
    assert k["camera_online_rate"] == pytest.approx(sql.online / sql.cameras)
    assert (k["cameras_untagged"], k["cameras_unplaced"]) == (sql.untagged, sql.unplaced)
    assert (k["cameras_coord_approx"], k["cameras_coord_missing"]) == (sql.approx, sql.missing)
    blind = sorted(set(grids) - covered)
    assert k["blind_grids"] == len(blind)
    names = city.regions.set_index("code")["name"]
    assert views.blind_grid_names(snap, street) == [names[g] for g in blind][:20]


# --- rendering at every level ------------------------------------------------------------------

def texts(component) -> list[str]:
    """Every string in a component tree (children and link targets)."""
    if component is None:
        return []
    if isinstance(component, str | int | float):
        return [str(component)]
    if isinstance(component, list | tuple):
        return [t for c in component for t in texts(c)]
    out = texts(getattr(component, "children", None))
    href = getattr(component, "href", None)
    return out + ([f"href={href}"] if href else [])


def levels(city, spot):
    grid = spot["code"]
    return {"city": city.code, "district": grid[:6], "street": grid[:9], "community": grid[:12], "grid": grid}


def render(panel, snap, city, code):
    component = panel(snap, city, code, NOW)
    json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)  # what Dash sends must serialise
    return " ".join(texts(component))


def test_recurring_panel_every_level(source, city):
    _, snap, spot = source
    for level, code in levels(city, spot).items():
        shown = render(region_panels.recurring_panel, snap, city, code)
        totals = views.recurring_totals(snap, code)
        assert totals["clusters"] > 0 and f"{totals['clusters']:,}" in shown and f"{totals['events']:,}" in shown
        top = views.recurring_problems(snap, code).iloc[0]
        assert f"{top['events']} 件 / {top['days']} 天" in shown and place_path(city, top["grid_code"]) in shown, level
        assert f"href=?event={top['example_ids'].split(',')[0]}" in shown, level
        if level in ("community", "grid"):
            assert PLANTED in shown and "4 件" in shown
    custom = region_panels.recurring_panel(snap, city, spot["code"], NOW, event_href=lambda e: f"/medium?event={e}")
    assert any(t.startswith("href=/medium?event=PL") for t in texts(custom))


def test_safety_panel_every_level(source, city):
    _, snap, spot = source
    for level, code in levels(city, spot).items():
        shown = render(region_panels.safety_panel, snap, city, code)
        s = views.safety_rank(snap, city, code)
        assert fmt_number(s["safety_index"]) in shown and fmt_number(s["fire"]) in shown, level
        assert "消防" in shown and "矛盾纠纷" in shown
        if level != "city":
            assert f"第 {s['rank']} / {s['of']} 名" in shown, level
        assert ("所属街道" in shown) == (level in ("community", "grid")), level


def test_camera_panel_every_level(source, city):
    _, snap, spot = source
    for level, code in levels(city, spot).items():
        shown = render(region_panels.camera_panel, snap, city, code)
        k = views.camera_summary(snap, code)
        assert fmt_rate(k["camera_online_rate"]) in shown, level
        assert f"{k['cameras_online']:,}" in shown and f"{k['cameras_unplaced']:,}" in shown, level
        for name in views.blind_grid_names(snap, code)[:3]:
            assert name in shown, level
        children = city.children(code)
        if not children.empty:  # the child table, worst online rate first
            worst = views.camera_status(snap, city, code).iloc[0]
            assert worst["name"] in shown, level

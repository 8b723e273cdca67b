"""Every KPI of the wall's frame (event_kpis: today, contract/metrics.py WALL_WINDOWS), for random regions, equals
an independent SQL count over the simulated source (quarantined rows excluded by their row ids). The other
windows come from the pieces only and are recounted in tests/test_tablet_vs_sql.py."""

import random

import pytest
from helpers import CAMERA_SQL, NOW, STOCK_SQL, WINDOW_SQL, not_quarantined
from sqlalchemy import text

from contract.windows import window_start
from queries import views
from snapshots.reader import SnapshotReader


def sample_regions(city, n_per_level=4, seed=11):
    rnd = random.Random(seed)
    picks = ["3201"]
    for level in ("district", "street", "community", "grid"):
        codes = city.regions.loc[city.regions["level"] == level, "code"].tolist()
        picks += rnd.sample(codes, n_per_level)
    return picks


def test_screen_kpis_equal_independent_sql(published, sim_engine, city, redis_client):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    assert quarantined, "the simulated source has malformed rows; they must be in quarantine"
    exclude = not_quarantined(quarantined)
    checked = 0
    with sim_engine.connect() as conn:
        for code in sample_regions(city):
            for window in ("today",):
                start = window_start(NOW, window).to_pydatetime()
                sql = conn.execute(text(WINDOW_SQL.format(exclude=exclude)), {"prefix": f"{code}%", "start": start}).one()
                stock = conn.execute(text(STOCK_SQL.format(exclude=exclude)), {"prefix": f"{code}%", "now": NOW}).one()
                shown = views.region_kpis(snap, code)
                assert shown["reported"] == sql.reported, (code, window)
                assert shown["closed"] == (sql.closed or 0), (code, window)
                assert shown["closed_on_time"] == (sql.closed_on_time or 0), (code, window)
                assert shown["same_day_cleared"] == (sql.same_day or 0), (code, window)
                assert shown["grid_settled"] == (sql.grid_settled or 0), (code, window)
                assert shown["satisfied"] == (sql.satisfied or 0), (code, window)
                assert shown["open"] == (stock.open or 0) and shown["overdue"] == (stock.overdue or 0), (code, window)
                if sql.closed:
                    assert shown["on_time_rate"] == pytest.approx(sql.closed_on_time / sql.closed)
                checked += 1
            cams = conn.execute(text(CAMERA_SQL), {"prefix": f"{code}%"}).one()
            k = views.region_kpis(snap, code)
            assert k["cameras"] == (cams.cameras or 0) and k["cameras_online"] == (cams.online or 0), code
    assert checked == 17
    # one implementation per figure and window: the ETL's frame holds the wall's window only
    assert set(snap.frame("event_kpis")["window"]) == {"today"}
    assert set(snap.frame("by_category")["window"]) == set(snap.frame("by_channel")["window"]) == {"today"}
    city_today = views.region_kpis(snap, "3201")
    assert city_today["reported"] > 100, "the sample must be big enough to mean something"


def test_quarantine_counts_match_spoiled_rows(published, sim_engine, redis_client):
    """Unknown grids and missing categories are countable in SQL directly; the ETL found them all."""
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    with sim_engine.connect() as conn:
        unknown = conn.execute(text("SELECT count(*) FROM events WHERE grid_code = '999999999999999'")).scalar()
        missing = conn.execute(text("SELECT count(*) FROM events WHERE category IS NULL")).scalar()
    q = snap.meta["quarantine"]
    assert q["unknown_grid"] == unknown and unknown > 0
    assert q["missing_category"] == missing and missing > 0


def test_stock_shown_where_nothing_was_reported_in_the_window(published, sim_engine, redis_client):
    """Grids with open events but no event reported today: their open/overdue still show today
    (stocks are the state now, whatever the window's cohort)."""
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    start = window_start(NOW, "today").to_pydatetime()
    sql = f"""
        SELECT grid_code, sum(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) AS open,
               sum(CASE WHEN closed_at IS NULL AND due_at < :now THEN 1 ELSE 0 END) AS overdue
        FROM events WHERE 1=1 {exclude} GROUP BY grid_code
        HAVING sum(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) > 0
           AND sum(CASE WHEN reported_at >= :start THEN 1 ELSE 0 END) = 0
        ORDER BY grid_code LIMIT 20"""
    with sim_engine.connect() as conn:
        rows = conn.execute(text(sql), {"now": NOW, "start": start}).all()
    assert len(rows) >= 5, "the simulated city must have such grids for this test to mean something"
    for grid_code, open_, overdue in rows:
        shown = views.region_kpis(snap, grid_code)
        assert shown["reported"] == 0, grid_code
        assert (shown["open"], shown["overdue"]) == (open_, overdue), grid_code

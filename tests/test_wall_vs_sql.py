"""The wall's yesterday figures and alerts against independent SQL counts over the simulated source
(quarantined rows excluded by their row ids)."""

from datetime import timedelta

import pytest
from helpers import NOW, not_quarantined
from sqlalchemy import text

from etl.jobs import EtlJobs
from etl.transforms.alerts import AlertThresholds
from queries import views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.slow  # each over 15 s: a whole ETL run per test (docs/testing.md: the tiers)

YESTERDAY_SQL = """
SELECT sum(CASE WHEN reported_at >= :day THEN 1 ELSE 0 END) AS reported,
       sum(CASE WHEN reported_at >= :day AND closed_at IS NOT NULL AND closed_at <= :t THEN 1 ELSE 0 END) AS closed,
       sum(CASE WHEN closed_at IS NULL OR closed_at > :t THEN 1 ELSE 0 END) AS open,
       sum(CASE WHEN (closed_at IS NULL OR closed_at > :t) AND due_at < :t THEN 1 ELSE 0 END) AS overdue
FROM events WHERE grid_code LIKE :prefix AND reported_at <= :t {exclude}
"""
OVERDUE_SQL = """SELECT substr(grid_code, 1, 6) AS district, count(*) FROM events
WHERE closed_at IS NULL AND due_at < :now AND length(grid_code) = 15 {exclude} GROUP BY district"""
CAMERA_SQL = """SELECT substr(grid_code, 1, 6) AS district, count(*),
       sum(CASE WHEN status = 'online' THEN 1 ELSE 0 END) FROM devices WHERE kind = 'camera' GROUP BY district"""
THRESHOLDS = AlertThresholds(overdue_min=3, spike_factor=3.0, spike_min=8, camera_online_min=0.95)


@pytest.fixture
def snap(sim_engine, city, redis_client):
    EtlJobs(sim_engine, city, SnapshotStore(redis_client), alert_thresholds=THRESHOLDS).run_all(NOW)
    return SnapshotReader(redis_client, min_check_s=0).current()


def test_same_time_yesterday_equals_sql(snap, sim_engine, city):
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    t = NOW - timedelta(days=1)
    day = t.replace(hour=0, minute=0, second=0)
    codes = ["3201", *city.children("3201")["code"], *city.children("320102")["code"]]
    with sim_engine.connect() as conn:
        for code in codes:
            sql = conn.execute(text(YESTERDAY_SQL.format(exclude=exclude)),
                               {"prefix": f"{code}%", "t": t, "day": day}).one()
            shown = views.region_kpis_yesterday(snap, code)
            assert shown.get("reported", 0) == (sql.reported or 0), code
            assert shown.get("closed", 0) == (sql.closed or 0), code
            assert shown.get("open", 0) == (sql.open or 0) and shown.get("overdue", 0) == (sql.overdue or 0), code
    city_row = views.region_kpis_yesterday(snap, "3201")
    assert city_row["reported"] > 100 and city_row["overdue"] > 0, "the sample must mean something"


def test_alerts_equal_sql(snap, sim_engine, city):
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    alerts = views.region_alerts(snap, city.code)
    districts = set(city.children(city.code)["code"])
    with sim_engine.connect() as conn:
        overdue = {d: n for d, n in conn.execute(text(OVERDUE_SQL.format(exclude=exclude)), {"now": NOW})
                   if d in districts}
        cams = {d: (n, on) for d, n, on in conn.execute(text(CAMERA_SQL)) if d in districts}
    want_overdue = {d for d, n in overdue.items() if n >= THRESHOLDS.overdue_min}
    shown = alerts[alerts["kind"] == "overdue"].set_index("code")
    assert set(shown.index) == want_overdue and want_overdue, "overdue alerts differ from SQL"
    for d in want_overdue:
        assert shown.at[d, "value"] == overdue[d]
        assert shown.at[d, "level"] == ("red" if overdue[d] >= 2 * THRESHOLDS.overdue_min else "amber")
    want_cam = {d for d, (n, on) in cams.items() if n and on / n < THRESHOLDS.camera_online_min}
    shown_cam = alerts[alerts["kind"] == "camera"].set_index("code")
    assert set(shown_cam.index) == want_cam, "camera alerts differ from SQL"
    for d in want_cam:
        assert shown_cam.at[d, "value"] == pytest.approx(cams[d][1] / cams[d][0])

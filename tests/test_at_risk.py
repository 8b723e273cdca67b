"""将超期: the at-risk list of every region equals an independent SQL query over the source; the
transform on literal rows keeps exactly the open events due within the horizon."""

import random
from datetime import datetime, timedelta

import pandas as pd
from helpers import not_quarantined
from sqlalchemy import text

from contract import frames as F
from etl.transforms.at_risk import at_risk_events
from queries import views
from snapshots.reader import SnapshotReader

T = datetime(2026, 11, 20, 12, 0)
AT_RISK_SQL = """SELECT event_id FROM events WHERE closed_at IS NULL AND due_at >= :now AND due_at < :until
AND grid_code LIKE :prefix {exclude} ORDER BY due_at, event_id"""


def test_only_open_events_due_within_the_horizon():
    rows = pd.DataFrame({
        "event_id": ["late", "soon", "edge", "later", "closed"],
        "grid_code": ["320102002001001"] * 5, "category": ["c"] * 5, "channel": ["h"] * 5,
        "due_at": pd.to_datetime([T - timedelta(minutes=1), T + timedelta(minutes=30), T + timedelta(hours=2),
                                  T + timedelta(hours=3), T + timedelta(minutes=5)]),
        "closed_at": pd.to_datetime([None, None, None, None, T]),
        **{f"{s}_at": pd.to_datetime([T - timedelta(hours=1)] * 5) for s in ("reported", "dispatched")},
        **{f"{s}_at": pd.to_datetime([None] * 5) for s in ("handled", "verified")},
    })
    out = at_risk_events(rows, T, horizon_h=2)
    assert out["event_id"].tolist() == ["soon"]  # past due is overdue, not at risk; the horizon is exclusive
    assert out["minutes_left"].tolist() == [30.0] and out["status"].tolist() == ["dispatched"]
    F.AT_RISK.check(out)


def test_at_risk_per_region_equals_sql(published, sim_engine, city, redis_client):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    now = snap.as_of
    quarantined = snap.frame(F.QUARANTINE)["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    codes = [city.code, *city.children(city.code)["code"]]
    rng = random.Random(3)
    codes += rng.sample(city.regions[city.regions["level"] == "street"]["code"].tolist(), 10)
    codes += rng.sample(city.regions[city.regions["level"] == "grid"]["code"].tolist(), 10)
    total = 0
    with sim_engine.connect() as conn:
        for code in codes:
            want = [r[0] for r in conn.execute(text(AT_RISK_SQL.format(exclude=exclude)), {
                "now": now, "until": now + timedelta(hours=2), "prefix": code + "%"})]
            got = views.at_risk(snap, code)["event_id"].tolist()
            assert sorted(got) == sorted(want), code
            total += len(want)
    assert total > 0, "the simulated city has events due within two hours"


def test_wall_alert_for_districts_with_many_at_risk(published, city, redis_client):
    from etl.transforms.alerts import AlertThresholds, wall_alerts

    snap = SnapshotReader(redis_client, min_check_s=0).current()
    per_district = snap.frame(F.AT_RISK)["grid_code"].str.slice(0, 6).value_counts()
    assert len(per_district) > 0

    def at_risk_alerts(least: int):
        alerts = wall_alerts(snap.frames, city.regions, snap.as_of, AlertThresholds(at_risk_min=least))
        return alerts[alerts["kind"] == "at_risk"].set_index("code")["value"].sort_index().to_dict()

    assert at_risk_alerts(1) == per_district.astype(float).sort_index().to_dict()
    assert at_risk_alerts(int(per_district.max()) + 1) == {}

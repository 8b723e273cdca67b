"""Bad source rows are quarantined with their reason and counted; good rows still flow; nothing crashes."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, update

from etl.jobs import EtlJobs
from etl.source.mapped_read import EventSource
from etl.source.mapping import load_mapping
from etl.source.schema import Event
from etl.state.event_ledger import EventLedger
from snapshots.store import SnapshotStore

NOW = datetime(2026, 11, 20, 12, 0)


def row(city, event_id, **over):
    grid = city.grids().iloc[0]
    base = dict(event_id=event_id, grid_code=grid["code"], lon=grid["lon"], lat=grid["lat"], category="城市管理",
                channel="12345热线", priority=2, reported_at=NOW - timedelta(hours=2),
                dispatched_at=NOW - timedelta(hours=1), handled_at=None, verified_at=None, closed_at=None,
                due_at=NOW + timedelta(hours=20),
                updated_at=NOW - timedelta(hours=1))
    base.update(over)
    return base


BAD = {
    "unknown_grid": dict(grid_code="320199999999999"),
    "outside_city": dict(lon=121.47, lat=31.23),  # Shanghai
    "stage_order": dict(handled_at=NOW - timedelta(hours=3)),  # handled before reported
    "future_time": dict(reported_at=NOW + timedelta(days=1), dispatched_at=None),
    "missing_category": dict(category=None),
}


@pytest.mark.parametrize("reason", [*BAD, "duplicate_id"])
def test_each_bad_row_is_quarantined_with_reason(engine, city, redis_client, reason):
    rows = [row(city, "OK1"), row(city, "OK2")]
    rows.append(row(city, "OK1") if reason == "duplicate_id" else row(city, "BAD", **BAD[reason]))
    with engine.begin() as c:
        c.execute(insert(Event), rows)
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    manifest = jobs.run("events", NOW)
    assert manifest is not None, "the ETL must not crash on a bad row"
    assert manifest["meta"]["quarantine"][reason] == 1
    assert sum(manifest["meta"]["quarantine"].values()) == 1
    assert manifest["meta"]["events_total"] == 2
    q = jobs.store.read_frame(manifest["frames"]["quarantine"]["key"])
    assert q["reason"].tolist() == [reason]


def test_fixed_row_leaves_quarantine(engine, city):
    with engine.begin() as c:
        c.execute(insert(Event), [row(city, "A", category=None)])
    ledger = EventLedger(city, EventSource(load_mapping(), city))
    ledger.pull(engine, NOW)
    assert ledger.quarantine_counts()["missing_category"] == 1 and ledger.events.empty
    with engine.begin() as c:
        c.execute(update(Event).values(category="民生服务", updated_at=NOW))
    ledger.pull(engine, NOW + timedelta(seconds=5))
    assert sum(ledger.quarantine_counts().values()) == 0
    assert ledger.events["event_id"].tolist() == ["A"]


def test_late_update_to_old_event_is_counted(engine, city):
    """An event reported long ago and closed now: the incremental pull picks up the change."""
    with engine.begin() as c:
        c.execute(insert(Event), [row(city, "OLD", reported_at=NOW - timedelta(days=20),
                                      dispatched_at=NOW - timedelta(days=20), updated_at=NOW - timedelta(days=20))])
    ledger = EventLedger(city, EventSource(load_mapping(), city))
    ledger.pull(engine, NOW)
    with engine.begin() as c:
        c.execute(update(Event).values(handled_at=NOW - timedelta(minutes=3), verified_at=NOW - timedelta(minutes=2),
                                       closed_at=NOW - timedelta(minutes=1), updated_at=NOW))
    stats = ledger.pull(engine, NOW + timedelta(seconds=5))
    assert stats["read"] == 1
    assert ledger.events["closed_at"].notna().all()

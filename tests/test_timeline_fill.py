"""A full timeline write goes a slice a tick (etl/state/timeline_sync.py): the events job publishes a snapshot every
tick while it runs, the source moving on meanwhile; the tick after its last slice rewrites what changed while it
ran; the timelines in Redis are then exactly those a fresh one-tick full write gives, and so is the flow log's
quarantine. A step of an event the ledger holds but too old for a timeline is neither pending nor an orphan. A
Redis emptied half-way through starts the write again. On SQLite and PostgreSQL (when TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import NOW, timelines
from sqlalchemy import insert

from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import EventStep
from etl.state.id_owner import contains_many
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.slow  # about 20 s: a simulated source, some 30 ticks

KEEP_DAYS = 2  # of the source's 5 days: the older events' steps are read by the full write, their timelines not written


def jobs_keeping(engine, city, store: SnapshotStore, keep_days: int = KEEP_DAYS) -> EtlJobs:
    jobs = EtlJobs(engine, city, store)
    jobs.timeline_days = jobs.timelines.keep_days = keep_days
    return jobs


def step_quarantine(jobs: EtlJobs) -> tuple[dict, dict]:
    steps = jobs.timelines.steps
    return ({s: (e, r) for s, (e, r, _) in steps.bad.items()}, {s: e for s, (e, _) in steps.pending.items()})


def test_a_full_write_in_slices_lets_the_snapshots_go_on(engine, city, redis_client):
    sim = Simulator(engine, city, seed=8, events_per_day=400, bad_row_rate=0.01)
    sim.backfill(5, NOW, n_cameras=20, n_iot=20)
    with engine.begin() as c:  # a flow-log row whose event nobody knows: pending, then an orphan
        c.execute(insert(EventStep), [dict(event_id="NOSUCH-EVENT", step_no=1, action="reported",
                                           at=NOW - timedelta(hours=1), level="city", unit="x", actor="y", note="",
                                           updated_at=NOW - timedelta(hours=1))])
    jobs = jobs_keeping(engine, city, SnapshotStore(redis_client))
    jobs.timelines.fill_slice_s, jobs.timelines.fill_chunk = 0, 600  # one chunk of the flow log a tick

    t = NOW
    first = jobs.run("events", t)
    assert first["meta"]["timelines"]["mode"] == "full" and jobs.timelines.filling is not None
    versions, totals, ticks = [first["version"]], [first["meta"]["events_total"]], 0
    while jobs.timelines.filling is not None:
        t += timedelta(minutes=2)
        sim.tick(t)
        manifest = jobs.run("events", t)
        versions.append(manifest["version"])
        totals.append(manifest["meta"]["events_total"])
        ticks += 1
        assert ticks < 200, "the full write never ends"
    assert ticks >= 5, f"the write took {ticks} ticks: the slices were not tested"
    assert versions == sorted(set(versions)), "a tick during the write published no snapshot"
    assert totals[-1] > totals[0], "the snapshots during the write did not take in the new events"
    stats = jobs.timeline_stats
    assert stats["mode"] == "full" and stats["slices"] > ticks

    t += timedelta(minutes=2)
    sim.tick(t)
    jobs.run("events", t)  # the tick after: what changed while the write ran
    resumed = jobs.timeline_stats
    assert resumed["mode"] == "incremental" and resumed["written"] > 0

    fresh = jobs_keeping(engine, city, SnapshotStore(redis_client, "fresh"))
    assert fresh.run("events", t)["meta"]["timelines"]["written"] > 0  # one chunk: done in its tick
    got, want = timelines(redis_client, "cockpit"), timelines(redis_client, "fresh")
    assert len(want) > 100 and set(got) == set(want)
    assert [e for e in want if got[e] != want[e]] == []
    assert step_quarantine(jobs) == step_quarantine(fresh)
    bad, pending = step_quarantine(jobs)
    assert "NOSUCH-EVENT" in pending.values()
    assert not any(contains_many(jobs.ledger.id_owner, list(pending.values()))), \
        "a step of an event the ledger holds (too old for a timeline) was held as pending"
    # the ledger holds events closed and past the timeline window: none has a key
    held = jobs.ledger.events
    too_old = (held["reported_at"] < NOW - timedelta(days=KEEP_DAYS + 1)) & held["closed_at"].notna()
    assert too_old.sum() > 100 and not set(held.loc[too_old, "event_id"]) & set(got)


def test_an_emptied_redis_starts_the_write_again(engine, city, redis_client):
    sim = Simulator(engine, city, seed=9, events_per_day=300)
    sim.backfill(2, NOW, n_cameras=10, n_iot=10)
    jobs = jobs_keeping(engine, city, SnapshotStore(redis_client))
    jobs.timelines.fill_slice_s, jobs.timelines.fill_chunk = 0, 500
    t = NOW
    jobs.run("events", t)
    for _ in range(3):
        t += timedelta(minutes=1)
        jobs.run("events", t)
    assert jobs.timelines.filling is not None
    redis_client.flushdb()  # half-way: the snapshot and the timelines written so far are gone
    while True:
        t += timedelta(minutes=1)
        sim.tick(t)
        manifest = jobs.run("events", t)
        if jobs.timelines.filling is None:
            break
    assert manifest["meta"]["timelines"]["mode"] == "full"
    jobs.run("events", t)  # the tick after: what changed while the write ran
    fresh = jobs_keeping(engine, city, SnapshotStore(redis_client, "fresh"))
    fresh.run("events", t)
    got, want = timelines(redis_client, "cockpit"), timelines(redis_client, "fresh")
    assert len(want) > 100 and set(got) == set(want)
    assert [e for e in want if got[e] != want[e]] == []


def test_the_flow_log_is_read_in_pages_each_event_whole(engine, city, redis_client):
    """The full write's read of the flow log: pages of a few rows (mapped_read.Page, each its own statement), the
    newest event ids first; every step read once, every event's steps in one chunk, also an event with more steps
    than a page holds."""
    sizes = {f"E{k:03d}": k % 5 + 1 for k in range(40)} | {"E020": 30}
    at = NOW - timedelta(hours=1)
    with engine.begin() as c:
        c.execute(insert(EventStep), [dict(event_id=e, step_no=i + 1, action="reported", at=at, level="city", unit="u",
                                           actor="a", note="", updated_at=at) for e, n in sizes.items() for i in range(n)])
    steps = EtlJobs(engine, city, SnapshotStore(redis_client)).timelines.steps
    chunks = list(steps.scan(engine, set(sizes), NOW, 7))
    assert len(chunks) >= sum(sizes.values()) // 7
    assert sum(len(c) for c in chunks) == sum(sizes.values()) and not steps.pending and not steps.bad
    holders = [e for c in chunks for e in set(c["event_id"])]
    assert sorted(holders) == sorted(sizes), "an event's steps came in two chunks, or not at all"
    assert all(len(g) == sizes[e] for c in chunks for e, g in c.groupby("event_id"))
    assert chunks[0]["event_id"].max() == "E039" and chunks[-1]["event_id"].min() == "E000"
    assert steps.watermark == at


def test_a_small_source_is_written_in_the_tick_that_began_it(engine, city, redis_client):
    """A flow log of one page and its step-less events in one chunk: the whole write in the first slice, however
    slow the machine (a zero budget here), so the snapshot after the first tick has every timeline."""
    Simulator(engine, city, seed=4, events_per_day=300, bad_row_rate=0.02).backfill(2, NOW, n_cameras=5, n_iot=5)
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    jobs.timelines.fill_slice_s = 0
    meta = jobs.run("events", NOW)["meta"]
    assert jobs.timelines.filling is None
    assert meta["timelines"]["mode"] == "full" and meta["timelines"]["written"] == meta["events_total"] > 500

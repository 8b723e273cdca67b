"""A takeover does not rewrite every timeline: a second EtlJobs taking over from the first on the same
real Redis resumes from the sync marker the first one left (etl/state/timeline_sync.py) and rewrites only
the events changed since; the timelines in Redis are then exactly those a fresh full write gives, and the
flow log's quarantine counts go on from the previous leader's. The writes are counted by Redis itself:
every timeline key is made persistent after the first leader, and a rewrite gives it a TTL again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import NOW, timelines
from sqlalchemy import insert

from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import EventStep
from snapshots.store import SnapshotStore
from snapshots.timelines import TimelineStore

pytestmark = pytest.mark.slow  # each over 15 s (docs/testing.md: the tiers)


def rewritten(client, prefix: str) -> set[str]:
    """Timeline keys with a TTL again since they were made persistent (a SET ... EX rewrote them)."""
    keys = list(client.scan_iter(f"{prefix}:timeline:*", count=5000))
    with client.pipeline(transaction=False) as p:
        for k in keys:
            p.ttl(k)
        ttls = p.execute()
    return {k.decode().split(":", 2)[2] for k, t in zip(keys, ttls) if t != -1}


def persist_all(client, prefix: str) -> int:
    keys = list(client.scan_iter(f"{prefix}:timeline:*", count=5000))
    with client.pipeline(transaction=False) as p:
        for k in keys:
            p.persist(k)
        p.execute()
    return len(keys)


def test_a_new_leader_resumes_the_timelines_of_the_previous_one(engine, city, redis_client):
    sim = Simulator(engine, city, seed=5, events_per_day=400, bad_row_rate=0.01)
    sim.backfill(4, NOW, n_cameras=20, n_iot=20)
    with engine.begin() as c:  # a flow-log row the first leader quarantines: the second must still count it
        c.execute(insert(EventStep), [dict(event_id="NOSUCH-EVENT", step_no=1, action="teleported",
                                           at=NOW - timedelta(hours=1), level="city", unit="x", actor="y", note="",
                                           updated_at=NOW - timedelta(hours=1))])
    first = EtlJobs(engine, city, SnapshotStore(redis_client))
    assert first.run("events", NOW)["meta"]["timelines"]["mode"] == "full"
    t1 = NOW + timedelta(hours=1)
    sim.tick(t1)
    first.run("events", t1)
    total = persist_all(redis_client, "cockpit")
    assert total > 1000, "too few timelines for the count to mean anything"

    # the first leader is gone; the source moves on; a second process takes over on the same Redis
    t2 = t1 + timedelta(hours=1)
    sim.tick(t2)
    second = EtlJobs(engine, city, SnapshotStore(redis_client))
    manifest = second.run("events", t2)
    assert manifest["meta"]["timelines"]["mode"] == "incremental", "the takeover fell back to writing them all"
    stats = second.timeline_stats
    assert stats["resumed_from"] == first.timelines.marker(first.ledger.watermark)["events_watermark"]
    moved = rewritten(redis_client, "cockpit")
    assert 0 < len(moved) == stats["written"] < total // 5, (len(moved), stats, total)

    # a fresh full write of the same source at the same time, under another prefix: the same timelines
    fresh = EtlJobs(engine, city, SnapshotStore(redis_client, "fresh"))
    fresh_manifest = fresh.run("events", t2)
    assert fresh_manifest["meta"]["timelines"]["mode"] == "full"
    got, want = timelines(redis_client, "cockpit"), timelines(redis_client, "fresh")
    assert set(got) == set(want)
    assert [e for e in want if got[e] != want[e]] == []
    # the flow log's quarantine carried over: the same rows as the full read of every step row, and the
    # same counts, except that pending steps the first leader saw an hour ago are orphans already
    steps, fresh_steps = second.timelines.steps, fresh.timelines.steps
    assert {s: (e, r) for s, (e, r, _) in steps.bad.items()} == {s: (e, r) for s, (e, r, _) in fresh_steps.bad.items()}
    assert {s: e for s, (e, _) in steps.pending.items()} == {s: e for s, (e, _) in fresh_steps.pending.items()}
    q, fresh_q = manifest["meta"]["quarantine"], fresh_manifest["meta"]["quarantine"]
    assert q["step_action"] >= 1
    assert {k: v for k, v in q.items() if k.startswith("step_") and k != "step_orphan"} == \
        {k: v for k, v in fresh_q.items() if k.startswith("step_") and k != "step_orphan"}
    seen_before = sum(t2 - first >= timedelta(minutes=1) for _, first in steps.pending.values())
    assert q["step_orphan"] == seen_before > fresh_q["step_orphan"] == 0

    # and the next tick is an ordinary incremental one
    t3 = t2 + timedelta(minutes=30)
    sim.tick(t3)
    second.run("events", t3)
    assert second.timeline_stats["mode"] == "incremental" and "resumed_from" not in second.timeline_stats


def test_without_a_marker_a_new_leader_writes_them_all(engine, city, redis_client):
    sim = Simulator(engine, city, seed=6, events_per_day=300)
    sim.backfill(2, NOW, n_cameras=10, n_iot=10)
    first = EtlJobs(engine, city, SnapshotStore(redis_client))
    total = first.run("events", NOW)["meta"]["events_total"]
    redis_client.delete(first.store.prefix + ":timelines_synced")
    assert TimelineStore(redis_client).read_marker() is None
    second = EtlJobs(engine, city, SnapshotStore(redis_client))
    stats = second.run("events", NOW + timedelta(seconds=5))["meta"]["timelines"]
    assert stats["mode"] == "full" and stats["written"] == total
    assert TimelineStore(redis_client).read_marker()["events_watermark"] is not None

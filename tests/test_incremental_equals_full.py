"""A long run of incremental ticks ends in exactly the frames a full recompute gives: the simulated city
moves on for 30 ticks across a midnight (new events, stages, reopens) while direct SQL closes open
events, reopens closed ones, recategorises and spoils rows (quarantined) and mends them; then a fresh
EtlJobs on the same source, with the window KPIs computed the way they were before issue 16
(bench/reference_windows.py), publishes once. Every published frame (contract/frames.py) must
be equal but for the times a row was first seen (and so when a pending flow-log row turns orphan), and so
must every event timeline in Redis."""

from __future__ import annotations

import random
from datetime import timedelta

import pandas as pd
import pytest
from helpers import NOW
from sqlalchemy import text

from bench.reference_windows import ReferenceWindows
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from snapshots.store import SnapshotStore
from snapshots.timelines import decode

pytestmark = pytest.mark.slow  # over 30 s (docs/testing.md: the tiers)

SEEN = ("seen_at",)  # when the ETL first saw a bad row: a fresh process sees it now


def random_changes(engine, rng: random.Random, now, n: int) -> dict[str, int]:
    """n random direct changes at update time `now`: close, reopen, recategorise, spoil, mend."""
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    done = {"close": 0, "reopen": 0, "category": 0, "spoil": 0, "mend": 0}
    with engine.begin() as c:
        open_ids = [r[0] for r in c.execute(text("SELECT row_id FROM events WHERE closed_at IS NULL"))]
        closed_ids = [r[0] for r in c.execute(text("SELECT row_id FROM events WHERE closed_at IS NOT NULL"))]
        spoiled = [r[0] for r in c.execute(text("SELECT row_id FROM events WHERE grid_code = '320199999999999'"))]
        for _ in range(n):
            kind = rng.choice(["close", "close", "reopen", "category", "spoil", "mend"])
            if kind == "close" and open_ids:
                rid = open_ids.pop(rng.randrange(len(open_ids)))
                c.execute(text(
                    "UPDATE events SET dispatched_at = coalesce(dispatched_at, :t), handled_at = coalesce(handled_at, :t), "
                    "verified_at = coalesce(verified_at, :t), closed_at = :t, handling_level = coalesce(handling_level, "
                    "'community'), satisfaction = :s, updated_at = :t WHERE row_id = :r AND reported_at <= :t"),
                    {"t": stamp, "r": rid, "s": rng.choice([None, 2, 5])})
            elif kind == "reopen" and closed_ids:
                rid = closed_ids.pop(rng.randrange(len(closed_ids)))
                c.execute(text("UPDATE events SET closed_at = NULL, reopened = 1, satisfaction = NULL, updated_at = :t "
                               "WHERE row_id = :r"), {"t": stamp, "r": rid})
            elif kind == "category":
                c.execute(text("UPDATE events SET category = :k, channel = :ch, updated_at = :t WHERE row_id = :r"),
                          {"k": rng.choice(["市容环境", "城市管理", "交通运输"]), "ch": rng.choice(["12345热线", "网格员巡查"]),
                           "t": stamp, "r": rng.choice(open_ids + closed_ids)})
            elif kind == "spoil":
                rid = rng.choice(open_ids + closed_ids)
                c.execute(text("UPDATE events SET grid_code = '320199999999999', updated_at = :t WHERE row_id = :r"),
                          {"t": stamp, "r": rid})
                spoiled.append(rid)
            elif kind == "mend" and spoiled:  # back into a real grid (its neighbour's)
                rid = spoiled.pop(rng.randrange(len(spoiled)))
                c.execute(text("UPDATE events SET grid_code = (SELECT grid_code FROM events WHERE row_id <> :r AND "
                               "grid_code <> '320199999999999' ORDER BY row_id LIMIT 1), updated_at = :t WHERE row_id = :r"),
                          {"t": stamp, "r": rid})
            else:
                continue
            done[kind] += 1
    return done


def frames_of(store: SnapshotStore) -> dict[str, pd.DataFrame]:
    manifest = store.manifest()
    return {name: store.read_frame(f["key"]) for name, f in manifest["frames"].items()}


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order (by every column as text), without the first-seen times."""
    df = df.drop(columns=[c for c in SEEN if c in df])
    order = df.astype(str).apply(tuple, axis=1).sort_values().index if len(df) else df.index
    return df.loc[order].reset_index(drop=True)


def timelines(client, prefix: str) -> dict[str, dict]:
    keys = sorted(client.scan_iter(f"{prefix}:timeline:*", count=5000))
    return {k.decode().split(":", 2)[2]: decode(v) for k, v in zip(keys, client.mget(keys))}


def test_incremental_ticks_end_in_the_frames_of_a_full_recompute(engine, city, redis_client):
    sim = Simulator(engine, city, seed=3, events_per_day=250, bad_row_rate=0.01)
    sim.backfill(8, NOW, n_cameras=10, n_iot=10)
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client, "live"))
    rng, now, changes = random.Random(16), NOW, {}
    jobs.run("events", now)
    for _ in range(30):  # 30 ticks of 10-40 minutes from 15:30: past midnight, so the windows roll over
        now += timedelta(minutes=rng.randint(10, 40))
        sim.tick(now)
        for kind, n in random_changes(engine, rng, now, rng.randint(10, 60)).items():
            changes[kind] = changes.get(kind, 0) + n
        assert jobs.run("events", now) is not None
    assert now.date() > NOW.date(), "the run did not cross a midnight"
    assert all(n >= 20 for n in changes.values()), changes
    assert sum(changes.values()) >= 500, changes
    # the medians were patched tick by tick, built only at the start and on the new day
    assert jobs.windows.week_facts.medians.rebuilds == 2, jobs.windows.week_facts.medians.rebuilds

    fresh = EtlJobs(engine, city, SnapshotStore(redis_client, "fresh"), windows=ReferenceWindows())
    fresh.run("events", now)
    live, full = frames_of(jobs.store), frames_of(fresh.store)
    assert set(live) == set(full)
    assert len(live) >= 15
    assert len(full["quarantine"]) > 0 and len(full["event_kpis"]) > 0
    # a step waits ORPHAN_AFTER before it counts as an orphan, from when the process first saw it: the fresh one
    # holds the same steps as pending (a time, not a difference in what is known)
    orphans = live["quarantine_steps"]["reason"] == "step_orphan"
    assert set(jobs.timelines.steps.pending) == set(fresh.timelines.steps.pending)
    assert set(live["quarantine_steps"].loc[orphans, "step_id"]) <= set(fresh.timelines.steps.pending)
    live["quarantine_steps"] = live["quarantine_steps"][~orphans]
    for name in sorted(full):
        a, b = canonical(live[name]), canonical(full[name])
        assert list(a.columns) == list(b.columns), name
        assert a.dtypes.astype(str).to_dict() == b.dtypes.astype(str).to_dict(), name
        pd.testing.assert_frame_equal(a, b, check_dtype=True, obj=name)
    assert timelines(redis_client, "live") == timelines(redis_client, "fresh")

"""Hot standby (issue 24): a process that does not lead keeps the ETL state current (the leader's incremental
pull by watermark and state updates, nothing published), so when the leader stops it publishes on its next
tick from that state, with an event written after the stop and without reading the history again. Cold, it
reads the whole history when it takes over. Two schedulers on one real Redis and a SQLite source."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import event, text

from config.clock import now_local
from contract import frames as F
from contract.keys import Keys
from etl.jobs import EtlJobs
from etl.scheduler import EtlScheduler
from etl.source.schema import writable_engine
from snapshots.store import SnapshotStore

TTL_S = 6.0  # long enough that a loaded machine does not make the lock change hands before the stop
INTERVALS = {"events": 0.5, "devices": 5.0, "safety": 30.0}


def write_event(engine, event_id: str, at) -> None:
    """A new event in the source: a copy of its newest row, reported (and updated) at `at`."""
    with engine.begin() as c:
        row = dict(c.execute(text("SELECT * FROM events ORDER BY row_id DESC LIMIT 1")).mappings().one())
        row.pop("row_id")
        row |= {"event_id": event_id, "reported_at": at, "updated_at": at, "dispatched_at": None, "handled_at": None,
                "verified_at": None, "closed_at": None, "satisfaction": None}
        c.execute(text(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)


@pytest.mark.parametrize("standby", ["hot", "cold"])
def test_the_standby_publishes_a_post_stop_event_on_its_next_tick(sim_engine, city, redis_client, tmp_path,
                                                                   wait_until, standby):
    path = tmp_path / "source.db"
    shutil.copy(sim_engine.url.database, path)
    engine = writable_engine(f"sqlite:///{path}")
    store = SnapshotStore(redis_client)
    leader = EtlScheduler(EtlJobs(engine, city, SnapshotStore(redis_client)), redis_client, "cockpit", TTL_S,
                          INTERVALS, standby=standby).start()
    other = None
    try:
        # the leader's snapshot with its events in it (a first events run that failed, say a source read refused
        # once, is retried after its backoff while the other jobs have published)
        assert wait_until(lambda: (m := store.manifest() or {}).get("publisher") == leader.leader.identity
                          and "events_total" in m.get("meta", {}), timeout_s=300)
        own = writable_engine(f"sqlite:///{path}")  # the standby's own connections: its reads are counted
        statements: list[str] = []
        event.listen(own, "before_cursor_execute", lambda *a: statements.append(a[2]))
        other = EtlScheduler(EtlJobs(own, city, SnapshotStore(redis_client)), redis_client, "cockpit", TTL_S,
                             INTERVALS, standby=standby).start()
        total = store.manifest()["meta"]["events_total"]
        if standby == "hot":  # it has read the history and then kept up: two advances at least
            assert wait_until(lambda: other.jobs.advances >= 2, timeout_s=300), other.jobs.advances
            n, a = len(statements), other.jobs.advances  # what a standby costs the source, per incremental advance
            assert wait_until(lambda: other.jobs.advances >= a + 3, timeout_s=300), other.jobs.advances
            print(f"\nhot standby: {(len(statements) - n) / (other.jobs.advances - a):.1f} SQL statements an advance")
        assert not other.leader.is_leader and other.runs["events"] == 0  # it stood by: nothing published
        pulled = other.jobs.rows_pulled  # hot: the history, read while standing by; cold: nothing
        leader.shutdown()  # the lock goes with it (or expires during a long last tick: the standby may lead by now)
        write_event(engine, "AFTER-STOP-1", now_local(city.timezone))

        def shows_it():
            m = store.manifest()
            if m is None or m.get("publisher") != other.leader.identity:
                return None
            ticker = store.read_frame(m["frames"][F.TICKER.name]["key"])
            return m if "AFTER-STOP-1" in set(ticker["event_id"]) else None

        manifest = wait_until(shows_it, timeout_s=300)
        assert manifest is not None, store.manifest() and store.manifest().get("publisher")
        assert manifest["meta"]["events_total"] == total + 1
        since_stop = other.jobs.rows_pulled - pulled
        if standby == "hot":  # since the stop it read what changed (the new event, the pull's overlap), not the history
            assert pulled >= total and 1 <= since_stop < total / 10, (pulled, since_stop, total)
        else:
            assert pulled == 0 and other.jobs.advances == 0 and since_stop >= total, (since_stop, total)
        assert every_job_in(manifest), sorted(manifest["frames"])
        assert redis_client.get(Keys("cockpit").leader).decode() == other.leader.identity
    finally:
        if leader.sched.running:
            leader.shutdown()
        if other is not None:
            other.shutdown()
            other.jobs.engine.dispose()
        engine.dispose()


def every_job_in(manifest: dict) -> bool:
    return {F.EVENT_KPIS.name, F.DEVICE_KPIS.name, F.SAFETY_LATEST.name} <= set(manifest["frames"])


def test_the_survivors_first_snapshot_has_every_frame_the_leader_published(sim_engine, city, redis_client, tmp_path,
                                                                          wait_until, vitals_db, opinion_api):
    """Every job warm on the standby (events, devices, safety, the forecast fitted in its thread, the vital signs'
    feeds): the leader stops, and the survivor's first snapshot writes every frame the leader's last one held, each
    under its own version (none left over from the leader), before it has read the source as leader."""
    from indicator_helpers import vitals_feeds

    path = tmp_path / "source.db"
    shutil.copy(sim_engine.url.database, path)
    intervals = {"events": 0.5, "devices": 5.0, "safety": 30.0, "forecast": 5.0, "indicators": 2.0}

    def scheduler():
        jobs = EtlJobs(writable_engine(f"sqlite:///{path}"), city, SnapshotStore(redis_client))
        jobs.indicators = vitals_feeds(city, vitals_db, opinion_api.url)
        jobs.forecast_background = True  # as the service runs it (dashboard/service.py start_etl)
        return EtlScheduler(jobs, redis_client, "cockpit", TTL_S, intervals, standby="hot").start()

    store = SnapshotStore(redis_client)
    every = {F.EVENT_KPIS.name, F.DEVICE_KPIS.name, F.SAFETY_LATEST.name, F.FORECAST_DAYS.name, F.INDICATORS.name,
             F.CAMERA_GAPS.name, F.RECURRING.name}
    leader = scheduler()
    other = None
    try:
        assert wait_until(lambda: every <= set((store.manifest() or {}).get("frames", {})), timeout_s=300), \
            sorted((store.manifest() or {}).get("frames", {}))
        other = scheduler()
        assert wait_until(lambda: other.jobs.warm_complete(tuple(intervals)), timeout_s=300), other.jobs.warmed
        assert not other.leader.is_leader and other.jobs.published_version is None  # it stood by: nothing published
        published: list[dict] = []
        publish = other.jobs.store.publish

        def recorded(*args, **kwargs):
            published.append(publish(*args, **kwargs))
            return published[-1]

        other.jobs.store.publish = recorded  # type: ignore[method-assign]
        with leader.run_lock:  # between two of the leader's runs: its last snapshot is the one in Redis
            last = store.manifest()
            leader.sched.shutdown(wait=False)
        leader.leader.release()
        assert wait_until(lambda: published, timeout_s=60)
    finally:
        if leader.sched.running:
            leader.shutdown()
        if other is not None:
            other.shutdown()
    first = published[0]
    assert first["publisher"] == other.leader.identity and other.warm_publishes == 1
    mine = {name for name, e in first["frames"].items() if e["key"] == Keys("cockpit").frame(name, first["version"])}
    assert set(last["frames"]) <= mine, sorted(set(last["frames"]) - mine)
    assert every <= mine
    assert first["meta"]["forecast"]["series"] > 0 and first["meta"]["indicators"]["feeds"]  # the jobs' meta with them

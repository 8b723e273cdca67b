"""Redis snapshots swap atomically; one scheduler of two leads; a dead source leaves the last snapshot."""

import threading
from datetime import datetime, timedelta

import pandas as pd
import pytest
import redis
from sqlalchemy import create_engine

from contract.frames import FrameContractError, declaration
from etl.jobs import EtlJobs
from etl.scheduler import EtlScheduler, LeaderLock
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore, frame_to_ipc, ipc_to_frame

NOW = datetime(2026, 11, 20, 12, 0)
SAMPLE = {"text": "x", "int": 0, "float": 0.0, "time": pd.Timestamp(NOW), "category": "x"}


def frame_of(name: str, v: int) -> pd.DataFrame:
    """A one-row frame that matches the declaration of `name` (contract/frames.py), with a column v."""
    return pd.DataFrame({**{c: [SAMPLE[k]] for c, k in declaration(name).columns.items()}, "v": [v]})


def test_publish_refuses_a_frame_that_breaks_its_declaration(redis_client):
    store = SnapshotStore(redis_client)
    with pytest.raises(FrameContractError, match="'blind_grids'.*missing column.*'name'"):
        store.publish({"blind_grids": pd.DataFrame({"code": ["320102"]})}, NOW)
    with pytest.raises(FrameContractError, match="'by_hour'.*'today' is text"):
        store.publish({"by_hour": frame_of("by_hour", 1).assign(today="many")}, NOW)
    with pytest.raises(FrameContractError, match="not declared"):
        store.publish({"made_up": pd.DataFrame({"v": [1]})}, NOW)
    assert store.manifest() is None, "nothing was written"


def test_arrow_roundtrip_keeps_types():
    df = pd.DataFrame({"code": ["3201", "320102"], "n": [1, 2], "rate": [0.5, None],
                       "t": pd.to_datetime(["2026-11-20 10:00", None])})
    back = ipc_to_frame(frame_to_ipc(df))
    assert back["code"].tolist() == ["3201", "320102"] and back["n"].tolist() == [1, 2]
    assert pd.isna(back.loc[1, "rate"]) and pd.isna(back.loc[1, "t"])


def test_publish_swaps_all_frames_at_once(redis_client):
    store = SnapshotStore(redis_client, keep_s=30)
    m1 = store.publish({"blind_grids": frame_of("blind_grids", 1), "alerts": frame_of("alerts", 1)}, NOW)
    m2 = store.publish({"blind_grids": frame_of("blind_grids", 2)}, NOW + timedelta(seconds=5))
    assert m2["version"] > m1["version"]
    # b carried over unchanged, a replaced; the old a stays readable for a while, then expires
    assert m2["frames"]["alerts"]["key"] == m1["frames"]["alerts"]["key"]
    assert store.read_frame(m2["frames"]["blind_grids"]["key"])["v"].tolist() == [2]
    assert 0 < redis_client.ttl(m1["frames"]["blind_grids"]["key"]) <= 30
    assert redis_client.ttl(m2["frames"]["blind_grids"]["key"]) == -1


def test_a_frame_published_again_unchanged_keeps_its_key(redis_client):
    """A quiet tick republishes frames whose bytes did not change: they keep their keys (nothing written, readers
    keep what they loaded) but carry the new as_of; a changed one gets a new key; an evicted key is written again."""
    store = SnapshotStore(redis_client, keep_s=30)
    m1 = store.publish({"blind_grids": frame_of("blind_grids", 1), "alerts": frame_of("alerts", 1)}, NOW)
    m2 = store.publish({"blind_grids": frame_of("blind_grids", 1), "alerts": frame_of("alerts", 2)},
                       NOW + timedelta(seconds=5))
    assert m2["frames"]["blind_grids"]["key"] == m1["frames"]["blind_grids"]["key"]
    assert m2["frames"]["blind_grids"]["as_of"] == (NOW + timedelta(seconds=5)).isoformat()
    assert redis_client.ttl(m2["frames"]["blind_grids"]["key"]) == -1, "still current: no expiry"
    assert m2["frames"]["alerts"]["key"] != m1["frames"]["alerts"]["key"]
    assert store.read_frame(m2["frames"]["alerts"]["key"])["v"].tolist() == [2]
    redis_client.delete(m2["frames"]["blind_grids"]["key"])  # evicted
    m3 = store.publish({"blind_grids": frame_of("blind_grids", 1)}, NOW + timedelta(seconds=10))
    assert m3["frames"]["blind_grids"]["key"] != m2["frames"]["blind_grids"]["key"]
    assert store.read_frame(m3["frames"]["blind_grids"]["key"])["v"].tolist() == [1]
    # another store (another leader) knows none of our bytes: it writes its own
    m4 = SnapshotStore(redis_client).publish({"blind_grids": frame_of("blind_grids", 1)}, NOW + timedelta(seconds=15))
    assert m4["frames"]["blind_grids"]["key"] != m3["frames"]["blind_grids"]["key"]


def test_reader_never_sees_a_mixed_snapshot(redis_client):
    """While a writer publishes versions where every frame holds the version number, every read
    finds all frames of one manifest holding the same number."""
    store = SnapshotStore(redis_client)
    store.publish({"blind_grids": frame_of("blind_grids", 0), "alerts": frame_of("alerts", 0)}, NOW)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            store.publish({"blind_grids": frame_of("blind_grids", i), "alerts": frame_of("alerts", i)}, NOW)

    t = threading.Thread(target=writer)
    t.start()
    reader = SnapshotReader(redis_client, min_check_s=0)
    seen = set()
    try:
        for _ in range(200):
            snap = reader.current()
            a, b = snap.frame("blind_grids")["v"][0], snap.frame("alerts")["v"][0]
            assert a == b
            seen.add(snap.version)
    finally:
        stop.set()
        t.join()
    assert len(seen) > 3


def test_reader_serves_last_snapshot_marked_stale_when_redis_is_gone(redis_server):
    from demo.embedded_redis import EmbeddedRedis

    own = EmbeddedRedis().start()
    client = redis.Redis.from_url(own.url, socket_timeout=1, socket_connect_timeout=1)
    SnapshotStore(client).publish({"blind_grids": frame_of("blind_grids", 7)}, NOW)
    reader = SnapshotReader(client, min_check_s=0)
    assert reader.current().frame("blind_grids")["v"][0] == 7 and reader.current().redis_ok
    own.stop()
    snap = reader.current()
    assert snap.frame("blind_grids")["v"][0] == 7
    assert not snap.redis_ok and snap.is_stale(NOW, 60)


def test_reader_kept_fresh_in_the_background_serves_without_loading(redis_server, wait_until):
    """keep_fresh (gunicorn workers): a new version is fetched, decoded and warmed by a background thread,
    and requests get it without loading anything themselves; Redis gone: the last one, marked stale."""
    from demo.embedded_redis import EmbeddedRedis

    own = EmbeddedRedis().start()
    client = redis.Redis.from_url(own.url, socket_timeout=1, socket_connect_timeout=1)
    store = SnapshotStore(client)
    store.publish({"event_pieces@2026-11-16": frame_of("event_pieces@2026-11-16", 1), "alerts": frame_of("alerts", 1)}, NOW)
    warmed = []
    reader = SnapshotReader(client, min_check_s=0.05, warm=lambda snap: warmed.append(snap.version))
    reader.keep_fresh()
    first = reader.current()  # the first load is the caller's
    assert first.frame("alerts")["v"][0] == 1
    store.publish({"alerts": frame_of("alerts", 2)}, NOW + timedelta(seconds=5))
    loads = []
    real_load = reader._load
    reader._load = lambda manifest: loads.append(threading.current_thread().name) or real_load(manifest)
    assert wait_until(lambda: reader.current().frame("alerts")["v"][0] == 2)
    assert loads and set(loads) == {"snapshot-refresh"}, "only the background thread loads"
    assert warmed == [first.version, reader.current().version]  # each version warmed before it is served
    assert reader.current().frame("event_pieces@2026-11-16") is first.frame("event_pieces@2026-11-16")  # carried over
    own.stop()
    assert wait_until(lambda: not reader.current().redis_ok)
    assert reader.current().frame("alerts")["v"][0] == 2 and reader.current().is_stale(NOW, 60)


def test_leader_lock_one_of_two_and_takeover(redis_client, wait_until):
    a = LeaderLock(redis_client, "cockpit:leader", ttl_s=1.5)
    b = LeaderLock(redis_client, "cockpit:leader", ttl_s=1.5)
    assert a.hold() is True
    assert b.hold() is False
    assert a.hold() is True  # renews
    assert wait_until(lambda: not redis_client.exists("cockpit:leader")), "a died without renewing: its lock expires"
    assert b.hold() is True
    assert a.hold() is False


def test_two_schedulers_only_the_leader_runs_jobs(sim_engine, city, redis_client, wait_until):
    scheds = [EtlScheduler(EtlJobs(sim_engine, city, SnapshotStore(redis_client)), redis_client, "cockpit", 3.0,
                           {"devices": 0.3}) for _ in range(2)]
    for s in scheds:
        s.start()
    try:
        wait_until(lambda: max(s.runs["devices"] for s in scheds) >= 2, timeout_s=60)
        runs = sorted(s.runs["devices"] for s in scheds)
        leaders = [s.leader.is_leader for s in scheds]
    finally:
        for s in scheds:
            s.shutdown()
    assert leaders.count(True) == 1
    assert runs[0] == 0 and runs[1] >= 2


@pytest.mark.faults
def test_source_down_keeps_last_snapshot_then_recovers(tmp_path, city, redis_client, wait_until):
    from demo.simulator import Simulator
    from etl.source.schema import writable_engine

    path = tmp_path / "src.db"
    eng = writable_engine(f"sqlite:///{path}")
    sim = Simulator(eng, city, seed=3, events_per_day=200, bad_row_rate=0)
    sim.backfill(2, NOW, n_cameras=100, n_iot=50)
    jobs = EtlJobs(eng, city, SnapshotStore(redis_client), base_backoff_s=0.01)
    first = jobs.run("events", NOW)
    total = first["meta"]["events_total"]
    # the source goes away: the job reports the error, keeps the last frames and backs off
    jobs.engine = create_engine(f"sqlite:///{tmp_path}/missing/nowhere.db")
    assert jobs.run("events", NOW + timedelta(seconds=5)) is None
    m = jobs.store.manifest()
    assert m["meta"]["events_status"]["ok"] is False
    assert m["frames"]["event_kpis"]["key"] == first["frames"]["event_kpis"]["key"]
    reader = SnapshotReader(redis_client, min_check_s=0)
    assert reader.current().source_errors() and reader.current().is_stale(NOW, 60)
    # meanwhile the source gets new events; when it is back nothing is lost
    later = NOW + timedelta(minutes=10)
    added = sim._insert_events(sim._new_events(NOW, later), later)
    jobs.engine = eng
    assert wait_until(jobs.backoff["events"].should_try), "the backoff after the failure never ends"
    m = jobs.run("events", later)
    assert m["meta"]["events_status"]["ok"] is True
    assert m["meta"]["events_total"] == total + added


def test_request_threads_share_a_snapshot_safely(redis_client):
    """Many request threads at once on a new snapshot (issue 15, item 8): each derived value is built once
    between them and all get the same object; a kept-fresh reader starts exactly one refresher thread per
    process, however many first requests arrive together."""
    store = SnapshotStore(redis_client)
    store.publish({"alerts": frame_of("alerts", 1)}, NOW)
    reader = SnapshotReader(redis_client, min_check_s=0.05)
    reader.keep_fresh()
    snap = reader.current()
    builds: list[int] = []

    def slow_build(*_frame):
        builds.append(1)
        threading.Event().wait(0.05)  # long enough for every thread to arrive while it builds
        return object()

    barrier, got = threading.Barrier(16), []

    def request():
        barrier.wait()
        reader.current()
        got.append((snap.memo("index", slow_build), snap.frame_memo("alerts", "by_code", slow_build)))

    before = {t.ident for t in threading.enumerate() if t.name == "snapshot-refresh"}
    threads = [threading.Thread(target=request) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 2, f"built {len(builds)} times"
    assert len({id(a) for a, _ in got}) == 1 and len({id(b) for _, b in got}) == 1
    refreshers = {t.ident for t in threading.enumerate() if t.name == "snapshot-refresh"} - before
    assert len(refreshers) == 1

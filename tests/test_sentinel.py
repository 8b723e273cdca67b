"""Redis failover with Sentinel (issue 15, fault 1): a master, a replica and three sentinels started
from the redis-server binary on free ports; the ETL and the web app connect through redis-py's
Sentinel support (COCKPIT_REDIS_SENTINELS, COCKPIT_REDIS_SERVICE). The master is killed: the web
tier keeps serving the last snapshot (never none) while the ETL's publishes fail, and after the
replica is promoted the ETL publishes again through the same client, the leader lock still one
process's. The seconds without a new snapshot are printed (docs/reliability.md), not asserted."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import redis
from helpers import fault_figure
from redis.sentinel import Sentinel

from config.settings import load_settings
from dashboard.service import redis_client, sentinel_addresses
from demo.embedded_redis import free_port, redis_server_binary
from etl.jobs import EtlJobs
from etl.scheduler import EtlScheduler
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.faults  # a Redis master killed (docs/testing.md: the tiers)

SERVICE = "cockpit"


def start(args: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([redis_server_binary(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            assert proc.poll() is None and time.monotonic() < deadline, f"redis on {port} did not start"
            time.sleep(0.05)


@pytest.fixture
def sentinel_cluster(tmp_path, wait_until):
    """(master process, master port, replica port, sentinel addresses), all stopped afterwards."""
    procs = []
    m_port, r_port = free_port(), free_port()
    base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs.append(start(["--port", str(m_port), "--dir", str(tmp_path), *base], m_port))
    procs.append(start(["--port", str(r_port), "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(m_port),
                        *base], r_port))
    sentinels = []
    for i in range(3):
        port = free_port()
        conf = tmp_path / f"sentinel-{i}.conf"  # sentinels rewrite their config: one writable file each
        conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor {SERVICE} 127.0.0.1 {m_port} 2\n"
                        f"sentinel down-after-milliseconds {SERVICE} 1000\nsentinel failover-timeout {SERVICE} 5000\n")
        procs.append(start([str(conf), "--sentinel"], port))
        sentinels.append(("127.0.0.1", port))
    probe = Sentinel(sentinels, socket_timeout=1)
    assert wait_until(lambda: probe.discover_slaves(SERVICE) and all(
        len(redis.Redis(port=p, socket_timeout=1).sentinel_sentinels(SERVICE)) == 2 for _, p in sentinels),
        timeout_s=30), "the sentinels did not find the replica and each other"
    yield procs[0], m_port, r_port, sentinels
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_sentinel_addresses_are_checked():
    from config.settings import SettingsError

    assert sentinel_addresses("a:1, b:26379") == [("a", 1), ("b", 26379)]
    with pytest.raises(SettingsError, match="COCKPIT_REDIS_SENTINELS"):
        sentinel_addresses("a:1,nohost")


def test_master_killed_the_screens_keep_the_last_snapshot_and_the_etl_carries_on(
        sentinel_cluster, sim_engine, city, tmp_path, wait_until):
    from dashboard.app import create_app

    master, m_port, r_port, sentinels = sentinel_cluster
    settings = load_settings(redis_sentinels=",".join(f"{h}:{p}" for h, p in sentinels), redis_service=SERVICE,
                             secret_key="test-secret-key-0123456789", cookie_secure=False,
                             app_db_url=f"sqlite:///{tmp_path}/app.db", stale_after_s=3600)
    client = redis_client(settings)
    sched = EtlScheduler(EtlJobs(sim_engine, city, SnapshotStore(client)), client, "cockpit", 3.0,
                         {"events": 0.5, "devices": 1.0}).start()
    web = create_app(settings, city, client).server.test_client()
    try:
        assert wait_until(lambda: web.get("/health").get_json()["version"] is not None, timeout_s=120)
        before = web.get("/health").get_json()["version"]
        assert wait_until(lambda: web.get("/health").get_json()["version"] > before, timeout_s=60)  # ticking

        master.send_signal(signal.SIGKILL)
        master.wait()
        killed_at, last, seen = time.monotonic(), web.get("/health").get_json()["version"], []

        def fresh_again() -> bool:
            body = web.get("/health").get_json()
            seen.append(body)
            return body["redis_ok"] and body["version"] > last and sched.runs["events"] > 0

        assert wait_until(fresh_again, timeout_s=90), seen[-3:]
        gap_s = time.monotonic() - killed_at
        promoted = Sentinel(sentinels, socket_timeout=1).discover_master(SERVICE)
        assert wait_until(lambda: web.get("/health").get_json()["version"] > seen[-1]["version"], timeout_s=30)
        leaders = sched.leader.is_leader
    finally:
        sched.shutdown()
    fault_figure("Redis master SIGKILLed (1 replica, 3 Sentinels, down-after 1 s)",
                 f"the last snapshot, stale in {sum(1 for b in seen if b['status'] == 'stale')} of {len(seen)} health "
                 f"reads", gap_s, errors="versions only grew")
    assert promoted == ("127.0.0.1", r_port)
    assert all(b["version"] is not None for b in seen), "the screens never lost their snapshot"
    versions = [b["version"] for b in seen]
    assert versions == sorted(versions)
    assert leaders is True

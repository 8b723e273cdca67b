"""What a hot standby reads from the source, beside the leader, per minute (issue 24; docs/operations.md):

    python -m bench.standby_reads SOURCE.db [--seconds 120] [--standby hot]

A leader and a standby (EtlScheduler, the product's default intervals: events 3 s, devices 60 s, safety 3600 s,
forecast 60 s) in this process on one Redis of their own and the SQLite source, each with its own engines: every
SQL statement each sends to the source and to the app database is counted (SQLAlchemy's before_cursor_execute;
the event rows each pull read: EtlJobs.rows_pulled), from the moment the standby is warm (its backfill done) for `--seconds`. A live writer
adds an event every 2 s. Prints JSON: statements and rows per minute, per process and database, and each
process's RSS (this process's, taken with the two in it: the standby's state is the ETL's state, see
bench/takeover.py for the memory of separate processes)."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

import redis
from sqlalchemy import event

from bench.takeover import Writer
from config.city import load_city
from config.settings import load_settings
from demo.embedded_redis import EmbeddedRedis
from etl.jobs import EtlJobs
from etl.scheduler import EtlScheduler
from etl.source.schema import source_engine, writable_engine
from snapshots.store import SnapshotStore


def counted(engine, counts: Counter, label: str):
    def before(conn, cursor, statement, params, context, executemany):
        counts[f"{label}_statements"] += 1

    event.listen(engine, "before_cursor_execute", before)
    return engine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.standby_reads", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--standby", default="hot", choices=["hot", "cold"])
    a = ap.parse_args(argv)
    settings = load_settings()
    city = load_city(settings.city_dir)
    server = EmbeddedRedis().start()
    client = redis.Redis.from_url(server.url)
    url = f"sqlite:///{a.source}"
    app = f"sqlite:////tmp/cockpit-standby-reads-{os.getpid()}.db"
    intervals = {"events": settings.events_interval_s, "devices": settings.cameras_interval_s,
                 "safety": settings.safety_interval_s, "forecast": settings.forecast_interval_s}
    counts = {"leader": Counter(), "standby": Counter()}

    def scheduler(who: str, standby: str) -> EtlScheduler:
        jobs = EtlJobs(counted(source_engine(url), counts[who], "source"), city, SnapshotStore(client),
                       app_engine=counted(writable_engine(app), counts[who], "app_db"))
        jobs.forecast_background = True
        return EtlScheduler(jobs, client, "cockpit", settings.leader_ttl_s, intervals, standby=standby).start()

    leader = scheduler("leader", a.standby)
    while leader.jobs.published_version is None:
        time.sleep(0.5)
    standby = scheduler("standby", a.standby)
    while a.standby == "hot" and not standby.jobs.warm_complete(tuple(intervals)):
        time.sleep(0.5)
    stop = threading.Event()
    writer = Writer(url)
    threading.Thread(target=writer.live, args=(2.0, stop), daemon=True).start()
    base = {k: Counter(v) for k, v in counts.items()}
    rows0 = {"leader": leader.jobs.rows_pulled, "standby": standby.jobs.rows_pulled}
    time.sleep(a.seconds)
    stop.set()
    per_min = 60.0 / a.seconds
    out = {"standby": a.standby, "seconds": a.seconds, "intervals": intervals, "live_events": writer.n,
           "load": [round(x, 1) for x in os.getloadavg()]}
    for who, sched in (("leader", leader), ("standby", standby)):
        diff = counts[who] - base[who]
        out[who] = {**{k: round(v * per_min, 1) for k, v in sorted(diff.items())},
                    "event_rows_pulled": round((sched.jobs.rows_pulled - rows0[who]) * per_min, 1),
                    "leads": sched.leader.is_leader}
    print(json.dumps(out, indent=1))
    for s in (standby, leader):
        s.shutdown()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

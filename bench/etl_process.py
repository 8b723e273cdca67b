"""The ETL as its own process, as in production (web workers run with COCKPIT_RUN_ETL=false).

    python -m bench.etl_process SOURCE_URL REDIS_URL PREFIX OUT.json [--ticks N]

Measures the full backfill (events/s, seconds, peak RSS) and incremental ticks of 1,000 and 10,000
new or updated events, writes them to OUT.json, then keeps running the ETL scheduler on the default
intervals (so the freshness and load phases see a live ETL) until it is terminated."""

from __future__ import annotations

import argparse
import json
import resource
import signal
import time

import redis

from bench.generate import touch_events
from config.city import load_city
from config.settings import load_settings
from dashboard.service import job_intervals
from etl.jobs import EtlJobs
from etl.scheduler import EtlScheduler
from etl.source.schema import source_engine, writable_engine
from etl.state.event_ledger import WATERMARK_OVERLAP, history_start, read_events
from snapshots.store import SnapshotStore


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log_runs(jobs: EtlJobs, path: str) -> None:
    """Record every `jobs.run` of the live schedule (which job, when it started, how long it took) to `path`."""
    run, out = jobs.run, open(path, "a", buffering=1)

    def logged(names, *args, **kw):
        t0, w0 = time.perf_counter(), time.time()
        try:
            return run(names, *args, **kw)
        finally:
            out.write(json.dumps({"job": names if isinstance(names, str) else list(names), "start": w0,
                                  "s": round(time.perf_counter() - t0, 3), "publish": kw.get("publish", True)}) + "\n")

    jobs.run = logged  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source"), ap.add_argument("redis"), ap.add_argument("prefix"), ap.add_argument("out")
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs-log", default=None, help="on the live schedule, one JSON line per job run: name, start, seconds")
    ap.add_argument("--tick-gap", type=float, default=None, help="seconds between ticks (default: the pull's overlap + 1)")
    a = ap.parse_args()
    settings = load_settings()
    city = load_city(settings.city_dir)
    engine = source_engine(a.source)  # the ETL's read path: read-only
    writer = writable_engine(a.source)  # the bench's own changes to the source
    client = redis.Redis.from_url(a.redis)
    jobs = EtlJobs(engine, city, SnapshotStore(client, a.prefix, settings.snapshot_keep_s))
    out: dict = {}

    t0 = time.perf_counter()
    first_day = history_start(jobs.clock(), jobs.history_days).to_pydatetime()
    n_read = len(read_events(engine, jobs.source, None, first_day))  # the source read alone (the ledger's path), for the split
    out["read_seconds"] = time.perf_counter() - t0
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    m = jobs.run("events")
    out["backfill_events_seconds"] = jobs.published_after_s  # source -> the first snapshot out
    while jobs.timelines.filling is not None:  # the full timeline write, a slice a tick (here the ticks back to back)
        m = jobs.run("events")
    out["backfill_with_timelines_seconds"] = time.perf_counter() - t0  # ... and every timeline written
    out["backfill_timelines"] = jobs.timeline_stats
    t1 = time.perf_counter()
    jobs.run("devices"), jobs.run("safety")
    out["backfill_other_seconds"] = time.perf_counter() - t1
    out["backfill_events"] = int(jobs.store.manifest()["meta"]["events_total"])
    out["backfill_read_rows"] = n_read
    out["backfill_peak_rss_mb"] = peak_rss_mb()
    out["read_peak_rss_mb"] = rss_before
    out["redis_used_mb"] = client.info("memory")["used_memory"] / 2**20

    # Each pull re-reads the changes of the 30 s before its watermark (etl/state/event_ledger.py WATERMARK_OVERLAP).
    # So that a tick reads its own burst only, as on a live schedule, the bench waits out the overlap and
    # lets one live event move the watermark (an unmeasured tick) before each burst; --tick-gap 0 skips it.
    gap = WATERMARK_OVERLAP.total_seconds() + 1 if a.tick_gap is None else a.tick_gap
    for size in (1000, 10000):
        times, published, read = [], [], []
        for k in range(a.ticks):
            if gap > 0:
                time.sleep(gap)
                touch_events(writer, city, 1, 0, jobs.clock(), a.seed + k)
                jobs.run("events")
            now = jobs.clock()
            touch_events(writer, city, size // 2, size - size // 2, now, a.seed + size + k)
            t0 = time.perf_counter()
            m = jobs.run("events", now)
            times.append(time.perf_counter() - t0)
            if m is None:
                raise RuntimeError("ETL tick failed; see the log")
            published.append(jobs.published_after_s)
            read.append(m["meta"]["events_pull"]["read"])
        out[f"tick_{size}_seconds"] = published  # the burst read -> the new snapshot out
        out[f"tick_{size}_with_timelines_seconds"] = times  # ... and the touched timelines rewritten
        out[f"tick_{size}_rows_read"] = read
    out["peak_rss_mb"] = peak_rss_mb()
    with open(a.out, "w") as f:
        json.dump(out, f)

    # the live schedule as the service runs it: every job at its interval, the forecast's fit in the background
    jobs.forecast_background = True
    sched = EtlScheduler(jobs, client, a.prefix, settings.leader_ttl_s, job_intervals(settings, jobs))
    if a.runs_log:
        log_runs(jobs, a.runs_log)
    sched.start()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.2)
    sched.shutdown()


if __name__ == "__main__":
    main()

"""The cold backfill alone: `EtlJobs.run("events")` on a fresh EtlJobs, from the source to the first snapshot out
(the timeline write after it skipped unless --timelines), with the process's peak RSS:

    python -m bench.backfill SOURCE_URL REDIS_URL [--profile OUT.prof] [--timelines] [--read-only]

Prints JSON: events kept, seconds to the snapshot, events/s, peak RSS (MB), the events job's split, and the
machine's busy CPU-seconds over the run (every process: a PostgreSQL server's work for the read included).
--read-only: the first read's parts alone, as the backfill reads them (no ledger, no frames): the floor a backfill
cannot go under on this source and machine."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time


def trace_rss(main_id: int) -> None:
    """Every 0.1 s to stderr: the RSS (MB) and the innermost frames of the project's code the main thread is in."""
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page / 2**20
        frame, where = sys._current_frames().get(main_id), []
        while frame is not None:
            name = frame.f_code.co_filename
            if "/site-packages/" not in name and "/lib/python" not in name:
                where.append(f"{os.path.basename(name)}:{frame.f_lineno}")
            frame = frame.f_back
        print(f"rss {rss:7.0f} MB  {' < '.join(where[:4])}", file=sys.stderr, flush=True)
        time.sleep(0.1)


def machine_busy_s() -> float:
    """The CPU-seconds every process on the machine has used since boot (Linux /proc/stat: user, nice, system)."""
    with open("/proc/stat") as f:
        user, nice, system = (int(x) for x in f.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def read_only(jobs) -> None:
    """The first read's parts, read and made canonical as the backfill does, and nothing more; prints JSON."""
    from datetime import datetime

    from etl.state.event_ledger import history_start

    now = datetime.now()
    first = history_start(now, jobs.ledger.history_days).to_pydatetime()
    busy0, cpu0, t0 = machine_busy_s(), time.process_time(), time.perf_counter()
    parts = jobs.source.history_parts(jobs.engine, first, now)
    if parts is None:
        raise SystemExit("this source's first read is not read in parts (see EventSource.history_parts)")
    rows = sum(len(p) for p in parts)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rows": rows, "read_s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - cpu0, 2),
                      "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 2),
                      "machine_cpu_s": round(machine_busy_s() - busy0, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source"), ap.add_argument("redis")
    ap.add_argument("--prefix", default=f"bench-backfill-{os.getpid()}")
    ap.add_argument("--profile", default=None, help="write a cProfile of the run here")
    ap.add_argument("--timelines", action="store_true", help="write every timeline after the snapshot, as the ticks after it do (here back to back)")
    ap.add_argument("--trace-rss", action="store_true", help="print the RSS every 0.1 s with where the run is")
    ap.add_argument("--read-only", action="store_true", help="only the first read's parts, nothing built from them")
    a = ap.parse_args()
    import redis

    from config.city import load_city
    from config.settings import load_settings
    from etl.jobs import EtlJobs
    from etl.source.schema import source_engine
    from snapshots.store import SnapshotStore

    settings = load_settings()
    client = redis.Redis.from_url(a.redis)
    jobs = EtlJobs(source_engine(a.source), load_city(settings.city_dir), SnapshotStore(client, a.prefix, settings.snapshot_keep_s))
    if a.read_only:
        return read_only(jobs)
    if not a.timelines:
        jobs.timelines.catch_up = lambda engine: None  # type: ignore[method-assign]
    if a.trace_rss:
        threading.Thread(target=trace_rss, args=(threading.get_ident(),), daemon=True).start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    busy0, cpu0, t0 = machine_busy_s(), time.process_time(), time.perf_counter()
    if a.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    m = jobs.run("events")
    while a.timelines and jobs.timelines.filling is not None:  # the full timeline write, a slice a tick
        m = jobs.run("events")
    if a.profile:
        prof.disable()
        prof.dump_stats(a.profile)
    wall = time.perf_counter() - t0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    if m is None or jobs.published_after_s is None:
        raise SystemExit("the events job failed; see the log")
    meta, snap = m["meta"], jobs.published_after_s
    n = int(meta["events_total"])
    print(json.dumps({"events": n, "snapshot_s": round(snap, 3), "wall_s": round(wall, 3),
                      "events_per_s": round(n / snap), "cpu_s": round(time.process_time() - cpu0, 2),
                      "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 2),
                      "machine_cpu_s": round(machine_busy_s() - busy0, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "rss_before_mb": round(rss0), "split": meta.get("events_split_s"),
                      "load": os.getloadavg()[0]}))
    for k in client.scan_iter(f"{a.prefix}*"):
        client.delete(k)


if __name__ == "__main__":
    main()

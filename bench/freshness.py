"""Freshness on a source generated once, without the rest of the bench:

    python -m bench.freshness SOURCE_URL [--samples 30] [--ticks 5] [--workdir DIR]

Starts an embedded Redis and the ETL in its own process as production runs it (bench/etl_process.py: the backfill,
the measured ticks, then every job of the service on its interval), then inserts one event at a time into the source
and waits for it in the published snapshot (bench/run.py `freshness`, the figure of `python3 cockpit.py bench`).
Prints JSON: the samples, p50/p95, the ETL process's backfill and ticks, and the job runs around each sample that
took longest (from the ETL's run log), so a slow sample shows what held it."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from bench.run import PREFIX, freshness, pct, start_etl_process
from config.city import load_city
from config.settings import load_settings
from demo.embedded_redis import EmbeddedRedis
from etl.source.schema import writable_engine
from snapshots.store import SnapshotStore


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--ticks", type=int, default=5, help="measured ticks of 1,000 and 10,000 events before")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args(argv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="cockpit-freshness-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    city = load_city(settings.city_dir)
    rds = EmbeddedRedis()
    rds.start()
    store = SnapshotStore(redis.Redis.from_url(rds.url), PREFIX)
    runs_log = work / "runs.jsonl"
    procs: list[subprocess.Popen] = []
    try:
        etl = start_etl_process(a.source, rds.url, work, a.ticks, procs, "--runs-log", str(runs_log))
        time.sleep(2 * settings.events_interval_s)  # the live schedule's first runs (every job) out of the way
        starts = []
        t_first = time.time()
        samples = freshness(writable_engine(a.source), city, store, a.samples, starts=starts)
        time.sleep(settings.events_interval_s + 2)  # the run that published the last sample logs when it ends
        runs = [json.loads(line) for line in runs_log.read_text().splitlines()] if runs_log.exists() else []
        runs = [r for r in runs if r["start"] + r["s"] >= t_first]
        worst = sorted(range(len(samples)), key=lambda k: -samples[k])[:3]
        out = {"source": a.source, "events_interval_s": settings.events_interval_s,
               "samples": [round(x, 3) for x in samples], "p50_s": round(pct(samples, 50), 2),
               "p95_s": round(pct(samples, 95), 2), "max_s": round(max(samples), 2),
               "etl": {k: v for k, v in etl.items() if not k.endswith("_rows_read")},
               "runs": {job: {"n": len(rs), "max_s": max(r["s"] for r in rs), "sum_s": round(sum(r["s"] for r in rs), 2)}
                        for job in {str(r["job"]) for r in runs} if (rs := [r for r in runs if str(r["job"]) == job])},
               "worst": [{"seconds": round(samples[k], 2),
                          "runs": [{**r, "start": round(r["start"] - starts[k], 2)} for r in runs
                                   if starts[k] - 4 <= r["start"] <= starts[k] + samples[k]]} for k in worst]}
        print(json.dumps(out, indent=1))
        return 0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        rds.stop()


if __name__ == "__main__":
    raise SystemExit(main())

"""The events tick of this checkout against another's, on one large existing source, one EtlJobs at a time:

    git worktree add /tmp/before <commit>
    python -m bench.tick_cost SOURCE_URL --before /tmp/before [--rounds 1] [--ticks 5] [--size 10000] [--gap 31]
    python -m bench.tick_cost SOURCE_URL --one [--ticks 5] ...      (one checkout's run: what the above starts)

bench/ticks_side_by_side.py runs three EtlJobs in one process (the pre-issue-16 reference path, the product's,
a takeover): at 10M events that is three first runs of ~5 GB each. Here each checkout runs only the product's
EtlJobs, in its own process, in turn (before, after; the next round after, before): the first run (timed), then
`--ticks` bursts of `--size` source changes (half new events, half open events closed: bench/generate.py
touch_events), each after the pull's overlap (`--gap`) and one live event, as ticks_side_by_side does. The
source must be writable (the bursts are written to it): use a copy. Prints each run's tick p50 (seconds to the
snapshot being out) and CPU p50 with the ratios after / before, and the load average at each burst. This file is
copied into the other checkout's bench/ when it has none."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(source: str, ticks: int, size: int, gap: float) -> dict:
    import numpy as np
    import redis

    from bench.generate import touch_events
    from config.city import load_city
    from config.settings import load_settings
    from demo.embedded_redis import EmbeddedRedis
    from etl.jobs import EtlJobs
    from etl.source.schema import source_engine, writable_engine
    from snapshots.store import SnapshotStore

    city = load_city(load_settings().city_dir)
    engine, writer = source_engine(source), writable_engine(source)
    rds = EmbeddedRedis().start()
    out: dict = {}
    try:
        jobs = EtlJobs(engine, city, SnapshotStore(redis.Redis.from_url(rds.url), "new"))
        c0, t0 = time.process_time(), time.perf_counter()
        jobs.run("events")
        out["first_run_s"], out["first_run_cpu_s"] = round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)
        tick, cpu, loads = [], [], []
        for k in range(ticks):
            time.sleep(gap)
            touch_events(writer, city, 1, 0, jobs.clock(), 50 + k)
            jobs.run("events")  # one live event, unmeasured: the burst below is the next tick's own
            now = jobs.clock()
            touch_events(writer, city, size // 2, size - size // 2, now, 100 + k)
            loads.append(round(os.getloadavg()[0], 1))
            c0 = time.process_time()
            jobs.run("events", now)
            cpu.append(round(time.process_time() - c0, 3))
            tick.append(round(float(jobs.published_after_s or "nan"), 3))
        out.update(tick_s=tick, cpu_s=cpu, tick_p50_s=round(float(np.median(tick)), 3),
                   cpu_p50_s=round(float(np.median(cpu)), 3), load_average_at_bursts=loads)
        import resource
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        rds.stop()
    return out


def run_in(checkout: Path, a: argparse.Namespace) -> dict:
    if not (checkout / "bench" / "tick_cost.py").exists():
        shutil.copy(Path(__file__), checkout / "bench" / "tick_cost.py")
    done = subprocess.run([sys.executable, "-m", "bench.tick_cost", a.source, "--one", "--ticks", str(a.ticks),
                           "--size", str(a.size), "--gap", str(a.gap)], cwd=checkout, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{checkout}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout[done.stdout.index("{"):])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a writable copy of a source (SQLite URL)")
    ap.add_argument("--before", help="the other checkout (git worktree) to compare against")
    ap.add_argument("--after", default=str(ROOT), help="default: this checkout")
    ap.add_argument("--one", action="store_true", help="run this checkout only, print its JSON")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--gap", type=float, default=31.0, help="seconds before each burst (the pull's overlap + 1)")
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.source, a.ticks, a.size, a.gap), indent=1))
        return 0
    if not a.before:
        ap.error("--before CHECKOUT (or --one)")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(a.rounds):
        for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
            res = run_in(Path(getattr(a, name)), a)
            runs[name].append(res)
            print(name, json.dumps(res), file=sys.stderr, flush=True)
    med = {k: statistics.median(x["tick_p50_s"] for x in v) for k, v in runs.items()}
    med_cpu = {k: statistics.median(x["cpu_p50_s"] for x in v) for k, v in runs.items()}
    print(json.dumps({"runs": runs, "ratio_after_over_before": round(med["after"] / med["before"], 3),
                      "cpu_ratio_after_over_before": round(med_cpu["after"] / med_cpu["before"], 3)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

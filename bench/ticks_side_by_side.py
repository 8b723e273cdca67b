"""The events tick done the way it was before issue 16 and the way it is now, side by side in one run on
one generated source:

    python -m bench.ticks_side_by_side SOURCE_URL [--ticks 5] [--size 10000] [--profile OUT.txt]

Two EtlJobs on one embedded Redis (prefixes `ref` and `new`): the reference one computes the window KPIs
as before (EtlJobs(reference_windows=True), etl/transforms/reference_windows.py), the other as now. Each
burst of `size` source changes (half new events, half open events closed: bench/generate.py touch_events)
is pulled by both, alternating which goes first; prints the per-tick seconds to the snapshot being out,
the CPU seconds of the transforms, the ratio, a takeover (a third EtlJobs on the `new` prefix: its first
run, and what it rewrote of the timelines), and with --profile a pyinstrument profile of one new tick."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import redis

from bench.generate import touch_events
from config.city import load_city
from config.settings import load_settings
from demo.embedded_redis import EmbeddedRedis
from etl.jobs import EtlJobs
from etl.source.schema import source_engine
from snapshots.store import SnapshotStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--profile", default=None)
    a = ap.parse_args()
    city = load_city(load_settings().city_dir)
    engine = source_engine(a.source)
    rds = EmbeddedRedis()
    rds.start()
    out: dict = {}
    try:
        client = redis.Redis.from_url(rds.url)
        jobs = {"ref": EtlJobs(engine, city, SnapshotStore(client, "ref"), reference_windows=True),
                "new": EtlJobs(engine, city, SnapshotStore(client, "new"))}
        for name, j in jobs.items():
            t0 = time.perf_counter()
            j.run("events")
            out[f"{name}_backfill_s"] = round(time.perf_counter() - t0, 2)
        ticks: dict[str, list] = {"ref": [], "new": []}
        cpu: dict[str, list] = {"ref": [], "new": []}
        for k in range(a.ticks):
            now = jobs["new"].clock()
            touch_events(engine, city, a.size // 2, a.size - a.size // 2, now, 100 + k)
            for name in (("ref", "new") if k % 2 == 0 else ("new", "ref")):
                j = jobs[name]
                c0 = time.process_time()
                if name == "new" and a.profile and k == a.ticks - 1:
                    from pyinstrument import Profiler
                    prof = Profiler(interval=0.001)
                    prof.start()
                    j.run("events", now)
                    prof.stop()
                    with open(a.profile, "w") as f:
                        f.write(prof.output_text(unicode=False, color=False))
                else:
                    j.run("events", now)
                cpu[name].append(time.process_time() - c0)
                ticks[name].append(j.published_after_s)
            time.sleep(0.5)
        for name in ticks:
            out[f"{name}_tick_s"] = [round(x, 3) for x in ticks[name]]
            out[f"{name}_tick_p50_s"] = round(float(np.median(ticks[name])), 3)
            out[f"{name}_cpu_p50_s"] = round(float(np.median(cpu[name])), 3)
        out["ratio_p50"] = round(out["ref_tick_p50_s"] / out["new_tick_p50_s"], 2)
        out["ratio_cpu_p50"] = round(out["ref_cpu_p50_s"] / out["new_cpu_p50_s"], 2)
        # a takeover on the `new` prefix: the previous leader's timelines are kept, the changed ones rewritten
        touch_events(engine, city, a.size // 2, a.size - a.size // 2, jobs["new"].clock(), 999)
        taker = EtlJobs(engine, city, SnapshotStore(client, "new"))
        t0 = time.perf_counter()
        taker.run("events")
        out["takeover_snapshot_s"] = round(taker.published_after_s, 2)
        out["takeover_with_timelines_s"] = round(time.perf_counter() - t0, 2)
        out["takeover_timelines"] = taker.timeline_stats
        out["timelines_kept"] = jobs["new"].store.manifest()["meta"].get("events_total")
    finally:
        rds.stop()
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()

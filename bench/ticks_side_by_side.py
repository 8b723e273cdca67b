"""The events tick done the way it was before issue 16 and the way it is now, side by side in one run on
one generated source:

    python -m bench.ticks_side_by_side SOURCE_URL [--ticks 5] [--size 10000] [--gap 31] [--profile OUT.txt]

Two EtlJobs on one embedded Redis (prefixes `ref` and `new`): the reference one runs the events tick as it was
before issue 16 (EtlJobs(windows=ReferenceWindows()): whole weeks rebuilt, the window KPIs and counts of
bench/reference_windows.py over the 30 days' facts), the other as now. Each burst of `size` source
changes (half new events, half open events closed: bench/generate.py touch_events) is pulled by both,
alternating which goes first. As on a live schedule, a tick reads its own burst only: before each burst the
bench waits out the pull's overlap (`--gap`, default 31 s) and lets both take one live event (an unmeasured
tick). Prints the per-tick seconds to the snapshot being out and with the timelines, the CPU seconds, the
ratios, the load average, a takeover (a third EtlJobs on the `new` prefix: its first run, and what it rewrote
of the timelines), and with --profile a pyinstrument profile of the last new tick (--profile-tick K: the K-th)."""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import redis

from bench.generate import touch_events
from bench.reference_windows import ReferenceWindows
from config.city import load_city
from config.settings import load_settings
from demo.embedded_redis import EmbeddedRedis
from etl.jobs import EtlJobs
from etl.source.schema import source_engine, writable_engine
from etl.state.event_ledger import WATERMARK_OVERLAP
from snapshots.store import SnapshotStore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--profile-tick", type=int, default=-1,
                    help="which measured tick of the new path --profile records (0: the first, default: the last)")
    ap.add_argument("--gap", type=float, default=WATERMARK_OVERLAP.total_seconds() + 1,
                    help="seconds before each burst (the pull's overlap + 1: a tick reads its own burst only)")
    ap.add_argument("--first-closes-old", action="store_true",
                    help="the first burst closes the oldest open events (a tick that dirties many old weeks)")
    a = ap.parse_args()
    city = load_city(load_settings().city_dir)
    engine = source_engine(a.source)  # the ETL's read path: read-only
    writer = writable_engine(a.source)  # the bench's own changes to the source
    rds = EmbeddedRedis()
    rds.start()
    out: dict = {}
    try:
        client = redis.Redis.from_url(rds.url)
        jobs = {"ref": EtlJobs(engine, city, SnapshotStore(client, "ref"), windows=ReferenceWindows()),
                "new": EtlJobs(engine, city, SnapshotStore(client, "new"))}
        for name, j in jobs.items():
            t0 = time.perf_counter()
            j.run("events")
            while j.timelines.filling is not None:  # the full timeline write, a slice a tick
                j.run("events")
            out[f"{name}_backfill_s"] = round(time.perf_counter() - t0, 2)
        ticks: dict[str, list] = {"ref": [], "new": []}
        whole: dict[str, list] = {"ref": [], "new": []}
        cpu: dict[str, list] = {"ref": [], "new": []}
        loads = []
        for k in range(a.ticks):
            if a.gap > 0:
                time.sleep(a.gap)
                touch_events(writer, city, 1, 0, jobs["new"].clock(), 50 + k)
                for j in jobs.values():
                    j.run("events")
            now = jobs["new"].clock()
            touch_events(writer, city, a.size // 2, a.size - a.size // 2, now, 100 + k,
                         oldest=a.first_closes_old and k == 0)
            loads.append(os.getloadavg()[0])
            for name in (("ref", "new") if k % 2 == 0 else ("new", "ref")):
                j = jobs[name]
                c0, w0 = time.process_time(), time.perf_counter()
                if name == "new" and a.profile and k == a.profile_tick % a.ticks:
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
                whole[name].append(time.perf_counter() - w0)
                ticks[name].append(j.published_after_s)
            time.sleep(0.5)
        for name in ticks:
            out[f"{name}_tick_s"] = [round(x, 3) for x in ticks[name]]
            out[f"{name}_tick_p50_s"] = round(float(np.median(ticks[name])), 3)
            out[f"{name}_tick_p95_s"] = round(float(np.percentile(ticks[name], 95)), 3)
            out[f"{name}_with_timelines_s"] = [round(x, 3) for x in whole[name]]
            out[f"{name}_with_timelines_p50_s"] = round(float(np.median(whole[name])), 3)
            out[f"{name}_cpu_s"] = [round(x, 3) for x in cpu[name]]
            out[f"{name}_cpu_p50_s"] = round(float(np.median(cpu[name])), 3)
        out["ratio_p50"] = round(out["ref_tick_p50_s"] / out["new_tick_p50_s"], 2)
        out["ratio_p95"] = round(out["ref_tick_p95_s"] / out["new_tick_p95_s"], 2)
        out["ratio_with_timelines_p50"] = round(out["ref_with_timelines_p50_s"] / out["new_with_timelines_p50_s"], 2)
        out["ratio_cpu_p50"] = round(out["ref_cpu_p50_s"] / out["new_cpu_p50_s"], 2)
        out["ratio_per_tick"] = [round(r / n, 2) for r, n in zip(ticks["ref"], ticks["new"])]
        out["load_average_at_bursts"] = [round(x, 1) for x in loads]
        # a takeover on the `new` prefix: the previous leader's timelines are kept, the changed ones rewritten
        touch_events(writer, city, a.size // 2, a.size - a.size // 2, jobs["new"].clock(), 999)
        taker = EtlJobs(engine, city, SnapshotStore(client, "new"))
        t0 = time.perf_counter()
        taker.run("events")
        out["takeover_snapshot_s"] = round(taker.published_after_s, 2)
        while taker.timelines.filling is not None:  # (a resume is one write; only a missing marker makes it full)
            taker.run("events")
        out["takeover_with_timelines_s"] = round(time.perf_counter() - t0, 2)
        out["takeover_timelines"] = taker.timeline_stats
        out["timelines_kept"] = jobs["new"].store.manifest()["meta"].get("events_total")
    finally:
        rds.stop()
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()

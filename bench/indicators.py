"""City vital signs at a large city's scale: the indicators job's cost per tick and the wall's refresh bytes.

    .venv/bin/python -m bench.indicators [--indicators 200] [--regional 50] [--days 90] [--ticks 30]

A synthetic catalogue: `--indicators` feeds, `--regional` of them with a value per district (11 sites),
the rest city-wide; cadences 1 min (10 %), 5 min (40 %), 15 min (30 %) and 1 h (20 %). The feeds are read
through the product's own path (IndicatorFeeds: background reads, canonical rows, the kept series, the
samples, the transforms, the publish to an embedded Redis with the frames checked), from in-memory
readers that give each feed's rows after its watermark (so the figures are the ETL's, not a database's).
First the backfill tick (`--days` of history), then `--ticks` ticks 10 s apart (the job's default).
The ETL run lock: the ticks alternate between the job as it ran before (reads taken in and frames built in
`run`, all of it under the scheduler's run lock) and as it runs now (EtlJobs.indicators_prepare outside the
lock, then `run`: only the publish under it); each tick's time under the lock is recorded per way.
The wall's refresh: the 城市体征 tiles callback's answer (components/vital_signs.py refresh_wall_tiles: the
tiles whose text changed, gzip as served) between consecutive snapshots, and when every tile changed; and the
map's answer on the 城市体征 page (layouts/big.py vitals_map: the Patch of its data, by district)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import time

import numpy as np
import pandas as pd
from plotly.utils import PlotlyJSONEncoder
from sqlalchemy import create_engine

from components.vital_map import vital_map
from components.vital_signs import WALL_TILES, changed_tiles
from config.city import load_city
from config.indicators import parse_catalogue
from config.settings import ROOT
from demo.embedded_redis import EmbeddedRedis
from etl.jobs import EtlJobs
from etl.state.indicator_series import IndicatorFeeds
from etl.transforms.indicators import indicator_info, indicator_trend
from queries import vital_trends
from queries.vital_signs import wall_vital_signs
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

CADENCES = [(60, 0.1), (300, 0.4), (900, 0.3), (3600, 0.2)]
DISTRICTS = ["320102", "320104", "320105", "320106", "320111", "320113", "320114", "320115", "320116", "320117",
             "320118"]


class SyntheticFeed:
    """Rows of a daily shape at the feed's cadence, after the watermark and up to the bench's clock."""

    def __init__(self, k: int, cadence: int, regional: bool, clock):
        self.k, self.cadence, self.regional, self.clock = k, cadence, regional, clock

    def read(self, since: pd.Timestamp) -> pd.DataFrame:
        step = pd.Timedelta(seconds=self.cadence)
        ts = pd.date_range(since.floor(step) + step, self.clock(), freq=step)
        h = ts.hour.to_numpy() + ts.minute.to_numpy() / 60
        base = 100 + 50 * np.sin((h - 8) / 24 * 2 * np.pi) + self.k
        if not self.regional:
            return pd.DataFrame({"time": ts, "value": base})
        n = len(ts)
        return pd.DataFrame({"time": np.tile(ts, len(DISTRICTS)), "region": np.repeat(DISTRICTS, n),
                             "value": np.concatenate([base * (1 + i / 20) for i in range(len(DISTRICTS))])})


def catalogue(n: int, regional: int) -> tuple[dict, list[tuple[int, bool]]]:
    cadences = [c for c, share in CADENCES for _ in range(round(share * n))][:n]
    cadences += [300] * (n - len(cadences))
    themes = ["人口", "交通", "经济运行", "城市保障", "生态环境", "城市舆情", "热线", "安全"]
    inds, spec = [], []
    for k in range(n):
        reg = k % max(1, n // max(regional, 1)) == 0 and sum(r for _, r in spec) < regional
        spec.append((cadences[k], reg))
        inds.append({"id": f"ind_{k:03d}", "name": f"指标{k:03d}", "theme": themes[k % len(themes)], "unit": "",
                     "cadence": cadences[k], "rollup": "sum" if k % 2 else "mean", "range": [0, 10000],
                     "thresholds": {"warn": 180, "alarm": 195},
                     "source": {"connection": "db", "sql": "select 1 as time, 1 as value",
                                **({"region": "region"} if reg else {})}})
    return {"connections": {"db": {"url": "sqlite://"}}, "indicator": inds}, spec


def wall_answer(snap, city_code: str, now, sent: dict) -> tuple[int, int, dict]:
    """(gzip bytes of the tiles callback's answer, tiles sent, new digests), as refresh_wall_tiles answers."""
    tiles = wall_vital_signs(snap, city_code, WALL_TILES)
    children, classes, new = changed_tiles(tiles, [t["indicator"] for t in tiles], sent, now)
    n = sum(c is not None for c in children)
    answer = {"multi": True, "response": {"tiles": {"children": children, "className": classes}, "sent": {"data": new}}}
    return len(gzip.compress(json.dumps(answer, cls=PlotlyJSONEncoder).encode())), n, new


def map_answer(snap, city, now) -> int:
    """gzip bytes of the wall map's Patch on the 城市体征 page (the first indicator with values by district)."""
    ind = vital_trends.map_indicator(snap, city.code, None, None)
    values, head = vital_trends.map_values(snap, city.children(city.code), ind, city.code)
    fig = vital_map(values, head, f"/geo/district.json?parent={city.code}", now)
    answer = {"multi": True, "response": {"big-map": {"figure": {"__dash_patch_update": "__dash_patch_update",
                                                                 "operations": [{"operation": "Assign", "location": ["data"],
                                                                                 "params": {"value": fig["data"]}}]}}}}
    return len(gzip.compress(json.dumps(answer, cls=PlotlyJSONEncoder).encode()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.indicators", description=__doc__.split("\n\n")[0])
    ap.add_argument("--indicators", type=int, default=200)
    ap.add_argument("--regional", type=int, default=50)
    ap.add_argument("--days", type=float, default=90)
    ap.add_argument("--ticks", type=int, default=30)
    a = ap.parse_args(argv)
    city = load_city(ROOT / "config" / "cities" / "nanjing")
    data, spec = catalogue(a.indicators, a.regional)
    cat = parse_catalogue(data, "<bench>")
    clock = {"now": pd.Timestamp("2026-11-20 08:00:00")}
    readers = {i.id: SyntheticFeed(k, c, r, lambda: clock["now"]) for k, (i, (c, r)) in enumerate(zip(cat.indicator, spec))}
    feeds = IndicatorFeeds(cat, city, readers, native_days=a.days, wait_s=600)
    redis_server = EmbeddedRedis().start()
    try:
        import redis

        client = redis.Redis.from_url(redis_server.url)
        jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(client), indicators=feeds)
        reader = SnapshotReader(client)
        t0, c0 = time.perf_counter(), time.process_time()
        jobs.run("indicators", clock["now"].to_pydatetime())
        backfill_s, backfill_cpu = time.perf_counter() - t0, time.process_time() - c0
        points = sum(s.points() for s in feeds.values.values())
        snap = reader.refresh(force=True)
        full_bytes, full_n, sent = wall_answer(snap, city.code, clock["now"].to_pydatetime(), {})
        ticks, answers, sent_n, maps = [], [], [], []
        locked: dict[str, list[float]] = {"before": [], "after": []}
        locked_cpu: dict[str, list[float]] = {"before": [], "after": []}  # the process's CPU seconds (a loaded machine)
        tick_cpu = []
        for k in range(a.ticks):
            clock["now"] += pd.Timedelta(seconds=10)
            now = clock["now"].to_pydatetime()
            way = "before" if k % 2 == 0 else "after"
            t0, c0 = time.perf_counter(), time.process_time()
            if way == "after":
                jobs.indicators_prepare(now)  # outside the run lock
            t1, c1 = time.perf_counter(), time.process_time()
            jobs.run("indicators", now)  # under the run lock
            t2, c2 = time.perf_counter(), time.process_time()
            ticks.append(t2 - t0)
            tick_cpu.append(c2 - c0)
            locked[way].append(t2 - t1)
            locked_cpu[way].append(c2 - c1)
            snap = reader.refresh(force=True)
            b, n, sent = wall_answer(snap, city.code, now, sent)
            answers.append(b)
            sent_n.append(n)
            maps.append(map_answer(snap, city, now))
        trend_rows = snap.manifest["frames"].get("indicator_trend", {}).get("rows")
        t0, c0 = time.perf_counter(), time.process_time()  # the trends frame alone (every 5 min, and as the hour turns)
        first, means = feeds.hour_means(clock["now"])
        indicator_trend(first, means, indicator_info(cat), city.regions, city.code, clock["now"])
        trend_s, trend_cpu = time.perf_counter() - t0, time.process_time() - c0
        trend_entry = snap.manifest["frames"].get("indicator_trend")
        trend_bytes = int(client.strlen(trend_entry["key"])) if trend_entry else None
        frames = {k: v.get("rows") for k, v in snap.manifest["frames"].items() if k.startswith("indicator")}
        out = {"indicators": a.indicators, "regional": a.regional, "days": a.days, "points_kept": points,
               "backfill_tick_s": round(backfill_s, 2), "backfill_tick_cpu_s": round(backfill_cpu, 2),
               "load_average": [round(x, 1) for x in os.getloadavg()],
               "tick_p50_s": round(statistics.median(ticks), 3), "tick_p95_s": round(float(np.percentile(ticks, 95)), 3),
               "tick_max_s": round(max(ticks), 3), "frames_rows": frames,
               "wall_tiles": full_n, "wall_refresh_all_tiles_bytes": full_bytes,
               "wall_refresh_p50_bytes": int(statistics.median(answers)), "wall_refresh_max_bytes": max(answers),
               "wall_tiles_sent_p50": statistics.median(sent_n),
               "wall_map_patch_p50_bytes": int(statistics.median(maps)), "wall_map_patch_max_bytes": max(maps),
               "tick_cpu_p50_s": round(statistics.median(tick_cpu), 3),
               "trend_rows": trend_rows, "trend_frame_bytes": trend_bytes, "trend_build_s": round(trend_s, 3),
               "trend_build_cpu_s": round(trend_cpu, 3),
               **{f"run_lock_{w}_cpu_{q}_s": round(float(np.percentile(v, p)), 3) for w, v in locked_cpu.items() if v
                  for q, p in (("p50", 50), ("p95", 95), ("max", 100))},
               **{f"run_lock_{w}_{q}_s": round(float(np.percentile(v, p)), 3) for w, v in locked.items() if v
                  for q, p in (("p50", 50), ("p95", 95), ("max", 100))},
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        feeds.close()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

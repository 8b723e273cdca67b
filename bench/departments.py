"""The department (条) views' cost in the web tier, on a generated source:

    python -m bench.departments [--events 1000000] [--source sqlite:///…] [--queries 300] [--history-days 120]

Generates a SQLite source (bench/generate.py: ~66 departments by category, demo/sim_departments.py) unless
`--source` names an existing one (read through a read-only session, as the product reads a city's source: the
10M source of bench/backfill.py, say), runs the ETL once into an embedded Redis, then times what a department drill-down asks
(queries/department_views.py, the tablet's render: the ranking of a region and period, a department's figures
in a region, by region, by category, its trend, its cases) for random department × region × window, first
call of a frame version apart (the per-week department order is built once per frame: its cost is printed
too). Beside it the other way: each query masks the week's rows by department number (no second order).
Prints JSON: p50 / p95 / p99 ms of each, the one-off build, the ETL's first run, the process's peak memory and the
machine's load average at the start and the end (a shared machine: rely on ratios within one run)."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def pct(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "p99": round(float(np.percentile(a, 99)), 2), "n": len(a)}


def masked_totals(pieces, numbers, first_day, last_day, code):
    """A department's window sums without the department order: each week's rows masked by number."""
    from contract.metrics import PIECE_FLAGS

    sums = np.zeros(len(PIECE_FLAGS), np.int64)
    lo, hi = numbers
    for ix in pieces._over(first_day, last_day):
        if code is None:
            d = ix.pieces["dept"].to_numpy()
            m = (d >= lo) & (d < hi) & (ix.days >= first_day) & (ix.days <= last_day)
            sums += ix.flags[m].sum(axis=0, dtype=np.int64)
        else:
            pos = ix.positions(code, first_day, last_day)
            d = ix.pieces["dept"].to_numpy()[pos]
            sums += ix.flags[pos[(d >= lo) & (d < hi)]].sum(axis=0, dtype=np.int64)
    return sums


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--source", help="a generated source's URL (default: generate one)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--history-days", type=int, default=120, help="the days of pieces kept (COCKPIT_HISTORY_DAYS)")
    ap.add_argument("--redis-url", help="a Redis to publish to (default: an embedded one, stopped at the end)")
    ap.add_argument("--no-etl", action="store_true",
                    help="time the views on the snapshot already in --redis-url (an earlier run's), no ETL run")
    a = ap.parse_args(argv)
    load_start = os.getloadavg()

    import redis

    from bench.generate import generate
    from config.city import load_city
    from config.clock import now_local
    from config.departments import load_departments
    from config.settings import load_settings
    from demo.embedded_redis import EmbeddedRedis
    from etl.jobs import EtlJobs
    from etl.source.schema import source_engine, writable_engine
    from queries import department_pieces as dp
    from queries import department_views as dv
    from queries.pieces import piece_index
    from queries.window_views import resolve_window
    from snapshots.reader import SnapshotReader
    from snapshots.store import SnapshotStore

    city = load_city(load_settings().city_dir)
    now = now_local(city.timezone).replace(microsecond=0)  # the city's clock, as the product's jobs run
    work = Path(tempfile.mkdtemp(prefix="bench-depts-"))
    url = a.source
    t0 = time.perf_counter()
    if url is None:
        url = f"sqlite:///{work}/source.db"
        generate(writable_engine(url), city, a.events, now)
    gen_s = time.perf_counter() - t0
    if a.no_etl and not a.redis_url:
        ap.error("--no-etl needs --redis-url")
    server = EmbeddedRedis().start() if a.redis_url is None else None
    try:
        r = redis.Redis.from_url(a.redis_url if server is None else server.url)
        engine = writable_engine(url) if a.source is None else source_engine(url)  # a given source: read-only
        with engine.connect() as c:
            events = int(c.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
        etl_s = None
        if not a.no_etl:
            jobs = EtlJobs(engine, city, SnapshotStore(r), history_days=a.history_days)
            t0 = time.perf_counter()
            jobs.run_all(now)
            etl_s = round(time.perf_counter() - t0, 1)
        snap = SnapshotReader(r, min_check_s=0).current()
        assert snap is not None and snap.as_of is not None, "no snapshot published"
        as_of = snap.as_of
        pieces = piece_index(snap)
        assert pieces is not None
        t0 = time.perf_counter()
        for ix in pieces.weeks.values():
            dp.department_order(ix)
        build_ms = (time.perf_counter() - t0) * 1000
        cat = load_departments(city.folder)
        rnd = random.Random(1)
        depts = [*cat.table["code"], "-"]
        districts = city.children(city.code)["code"].tolist()
        weights = {"closure_rate": 0.3, "on_time_closure_rate": 0.4, "rework_rate": 0.15, "extension_rate": 0.15}
        timings: dict[str, list[float]] = {k: [] for k in ("ranking", "department_view", "kpis_ordered", "kpis_masked")}
        for _ in range(a.queries):
            dept = rnd.choice(depts)
            region = rnd.choice([city.code, *districts])
            w = resolve_window(rnd.choice(["7d", "30d", "quarter", "week", "month"]), as_of)
            t = time.perf_counter()
            dv.ranking(snap, region, w, weights)
            timings["ranking"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()  # what the tablet's department render asks besides the ranking
            dv.department_kpis(snap, dept, region, w)
            dv.by_region(snap, city, dept, region, w)
            dv.by_category(snap, dept, region, w)
            dv.trend(snap, dept, w)
            timings["department_view"].append((time.perf_counter() - t) * 1000)
            code = None if region == city.code else region
            t = time.perf_counter()
            dp.totals(pieces, cat.number_range(dept), *w.days, code)
            timings["kpis_ordered"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            masked_totals(pieces, cat.number_range(dept), *w.days, code)
            timings["kpis_masked"].append((time.perf_counter() - t) * 1000)
        rows = int(sum(len(ix.pieces) for ix in pieces.weeks.values()))
        print(json.dumps({"events": events, "piece_rows": rows, "as_of": str(snap.as_of),
                          "departments": len(cat.table), "generate_s": round(gen_s, 1), "etl_first_run_s": etl_s,
                          "history_days": a.history_days, "department_order_build_ms_all_weeks": round(build_ms, 1),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                          "load_average_start": [round(x, 1) for x in load_start],
                          "load_average_end": [round(x, 1) for x in os.getloadavg()],
                          **{k: pct(v) for k, v in timings.items()}}, indent=1))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

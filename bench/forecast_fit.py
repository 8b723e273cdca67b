"""The forecast job's fit at a year's scale (docs/benchmarks.md): 10M events a year → ~3.3M events in the 120 days
the ETL keeps, a large city of 15 districts × 85 streets, so every district × category and every street × total is
~1,400 series. Times daily_counts (the facts → series × days) and event_forecast (statsforecast MSTL per series,
the holiday calendar), wall clock and this process's CPU, and prints the load average (the machine is shared).

    python bench/forecast_fit.py [--events-per-year 10000000] [--days 120] [--districts 15] [--streets 85]"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contract.domain import CATEGORIES  # noqa: E402
from demo.sim_shape import day_factor  # noqa: E402
from etl.transforms.forecast import daily_counts, event_forecast  # noqa: E402


def synthetic_facts(events_per_year: int, days: int, districts: int, streets: int, seed: int = 1) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    last = pd.Timestamp("2026-11-30")
    day_index = pd.date_range(last - pd.Timedelta(days=days - 1), last, freq="D")
    per_day = r.poisson(events_per_year / 365 * np.array([day_factor(d.date()) for d in day_index]))
    n = int(per_day.sum())
    day = np.repeat(day_index.to_numpy(), per_day)
    d = r.integers(1, districts + 1, n)
    s = r.zipf(1.6, n) % streets + 1  # uneven streets
    grid = (((3201 * 1000 + 100 + d) * 1000 + s) * 1000 + r.integers(1, 15, n)) * 1000 + r.integers(1, 10, n)
    return pd.DataFrame({"grid_no": grid.astype(np.int64), "day": day,
                         "category": np.array(CATEGORIES, dtype=object)[r.integers(0, len(CATEGORIES), n)]})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events-per-year", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--districts", type=int, default=15)
    ap.add_argument("--streets", type=int, default=85)
    a = ap.parse_args()
    facts = synthetic_facts(a.events_per_year, a.days, a.districts, a.streets)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    series, days, y = daily_counts(facts, facts["day"].min(), facts["day"].max())
    t1, c1 = time.perf_counter(), time.process_time()
    f = event_forecast(series, days, y)
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"events_in_history": int(len(facts)), "days": len(days), "series": int(len(series)),
                      "forecast_rows": int(len(f)),
                      "daily_counts_s": round(t1 - t0, 2), "daily_counts_cpu_s": round(c1 - c0, 2),
                      "fit_s": round(t2 - t1, 2), "fit_cpu_s": round(c2 - c1, 2),
                      "total_s": round(t2 - t0, 2), "total_cpu_s": round(c2 - c0, 2),
                      "load_average_before": load_before, "load_average_after": os.getloadavg(),
                      "cores": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()

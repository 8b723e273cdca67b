"""How long a process takes to load the city model, and to parse its boundaries on first use (the figure
that was a timed test, tests/test_city.py: a load then had to stay under 1.5 s):

    python -m bench.city_load [CITY_FOLDER] [--runs 7]

Prints JSON: the median and the slowest of `runs` loads (config/city.py load_city: city.toml and
regions.csv, validated), and the first point-in-city and point-in-grid lookups of one loaded city (the
district and grid boundaries parsed then), in seconds, with the load average."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from config.city import load_city
from config.settings import ROOT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default=str(ROOT / "config" / "cities" / "nanjing"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    loads = []
    for _ in range(args.runs):
        started = time.perf_counter()
        city = load_city(args.folder)
        loads.append(time.perf_counter() - started)
    lon, lat = [city.center[0]], [city.center[1]]
    started = time.perf_counter()
    city.contains(lon, lat)
    contains_s = time.perf_counter() - started
    started = time.perf_counter()
    city.grid_at(lon, lat)
    grid_at_s = time.perf_counter() - started
    print(json.dumps({"city": city.code, "runs": args.runs, "load_p50_s": round(statistics.median(loads), 3),
                      "load_max_s": round(max(loads), 3), "first_contains_s": round(contains_s, 3),
                      "first_grid_at_s": round(grid_at_s, 3), "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

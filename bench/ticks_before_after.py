"""The default path's events tick of two checkouts of the product, alternated in one run on one generated source:

    git worktree add /tmp/before <commit>
    python -m bench.ticks_before_after --before /tmp/before [--events 300000] [--rounds 3] [--ticks 5]

Generates a SQLite source of `--events` events (bench/generate.py) unless `--source` names one, then runs
`python -m bench.ticks_side_by_side SOURCE --gap 0` from each checkout in turn (before, after, after, before, …, so
a drift of the machine's load falls on both), and prints each run's `new_tick_p50_s` (the seconds from a tick's
start to its snapshot being out, the product's path) and `new_cpu_p50_s` (its CPU seconds: steadier than the wall
time on a loaded machine) with the ratios after / before of their medians (JSON)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generated_source(events: int, workdir: Path) -> str:
    from bench.generate import generate
    from config.city import load_city
    from config.settings import load_settings
    from etl.source.schema import writable_engine

    url = f"sqlite:///{workdir}/source.db"
    generate(writable_engine(url), load_city(load_settings().city_dir), events, datetime.now())
    return url


def one_run(checkout: Path, source: str, ticks: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.ticks_side_by_side", source, "--ticks", str(ticks), "--gap", "0"],
                         cwd=checkout, capture_output=True, text=True, check=True)
    return json.loads(out.stdout[out.stdout.index("{"):])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="a checkout of the product to compare against (git worktree)")
    ap.add_argument("--after", default=str(ROOT), help="default: this checkout")
    ap.add_argument("--source", default=None, help="a source URL (default: generate one of --events events)")
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = a.source or generated_source(a.events, Path(tmp))
        runs: dict[str, list[float]] = {"before": [], "after": []}
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(a.rounds):
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                res = one_run(Path(getattr(a, name)), source, a.ticks)
                runs[name].append(res["new_tick_p50_s"])
                cpu[name].append(res["new_cpu_p50_s"])
                print(name, res["new_tick_p50_s"], res["new_cpu_p50_s"], file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(json.dumps({"events": a.events if a.source is None else None, "ticks_per_run": a.ticks,
                      "new_tick_p50_s": runs, "new_cpu_p50_s": cpu,
                      "ratio_after_over_before": round(med["after"] / med["before"], 3),
                      "cpu_ratio_after_over_before": round(med_cpu["after"] / med_cpu["before"], 3)}, indent=1))


if __name__ == "__main__":
    main()

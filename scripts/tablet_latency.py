"""The tablet's drill-down latency per level through the real HTTP callback endpoint of a running
cockpit (signed in as the demo's city leader): its three render callbacks, p50 / p95 over N requests
per level and window, 10 random regions per level; prints a Markdown table.

    python scripts/tablet_latency.py http://127.0.0.1:8050 30 7d 30d
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_client import CockpitClient  # noqa: E402
from config.city import load_city  # noqa: E402
from config.settings import ROOT  # noqa: E402

# callback name -> its first output ("id.prop"), as bench/http_client.py finds callbacks
CALLBACKS = {"first view": "medium-kpis.children", "ranking": "medium-rank-periods.children",
             "lists": "medium-overdue.children"}


def sample_regions(city, seed: int = 1, n: int = 10) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    codes = {"city": [city.code]}
    for level in ("district", "street", "community", "grid"):
        codes[level] = rnd.sample(city.regions.loc[city.regions["level"] == level, "code"].tolist(), n)
    return codes


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[max(0, round(0.95 * len(s)) - 1)]


def main(argv: list[str]) -> int:
    base = argv[0] if argv else "http://127.0.0.1:8050"
    n = int(argv[1]) if len(argv) > 1 else 30
    windows = argv[2:] or ["7d"]
    city = load_city(ROOT / "config" / "cities" / "nanjing")
    cli = CockpitClient(base)
    cli.sign_in("leader", "leader-demo")
    print("| window | level | " + " | ".join(f"{k} p50 / p95 (ms)" for k in CALLBACKS) + " | first view bytes |")
    print("|---|---|" + "---:|" * (len(CALLBACKS) + 1))
    for window in windows:
        for level, codes in sample_regions(city).items():
            cells, size = [], 0.0
            for name, output in CALLBACKS.items():
                version = cli.version("medium")

                def values(region: str, version=version, window=window) -> dict:
                    return {"medium-version.data": version,
                            "medium-state.data": {"region": region, "window": window, "measure": "density"}}

                cli.callback(output, values(codes[0]), "medium-state.data")  # warm
                times, sizes = [], []
                for i in range(n):
                    r = cli.callback(output, values(codes[i % len(codes)]), "medium-state.data")
                    if r.status != 200:
                        raise SystemExit(f"{name} {codes[i % len(codes)]}: HTTP {r.status} {r.body[:200]!r}")
                    times.append(r.seconds * 1000)
                    sizes.append(r.received)
                cells.append(f"{statistics.median(times):.0f} / {p95(times):.0f}")
                if name == "first view":
                    size = statistics.median(sizes) / 1024
            print(f"| {window} | {level} | " + " | ".join(cells) + f" | {size:.1f} KiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The tablet's drill-down latency per level through the real HTTP callback endpoint of a running
cockpit (signed in as the demo's city leader): its three render callbacks, p50 / p95 over N requests
per level and window, 10 random regions per level; prints a Markdown table.

    python scripts/tablet_latency.py http://127.0.0.1:8050 30 7d 30d
"""
import sys, statistics, random
sys.path.insert(0, '.')
from bench.http_client import CockpitClient
from config.city import load_city
from config.settings import ROOT
city = load_city(ROOT / "config/cities/nanjing")
cli = CockpitClient(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8050"); cli.sign_in("leader", "leader-demo")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 30
windows = sys.argv[3:] or ["7d"]
rnd = random.Random(1)
codes = {"city": ["3201"]}
for lvl in ("district", "street", "community", "grid"):
    codes[lvl] = rnd.sample(city.regions.loc[city.regions.level == lvl, "code"].tolist(), 10)
CALLBACKS = {"first view": "medium-kpis.children", "ranking": "medium-rank-periods.children", "lists": "medium-overdue.children"}
print("| window | level | " + " | ".join(f"{k} p50 / p95 (ms)" for k in CALLBACKS) + " | first view bytes |")
print("|---|---|" + "---:|" * (len(CALLBACKS) + 1))
for window in windows:
    for lvl, cs in codes.items():
        row, size = [], 0
        for name, out in CALLBACKS.items():
            version = cli.version("medium")
            vals = lambda r: {"medium-version.data": version, "medium-state.data": {"region": r, "window": window, "measure": "density"}}
            cli.callback(out, vals(cs[0]), "medium-state.data")
            ts, sizes = [], []
            for i in range(N):
                r = cli.callback(out, vals(cs[i % len(cs)]), "medium-state.data")
                assert r.status == 200, r.body[:200]
                ts.append(r.seconds * 1000); sizes.append(r.received)
            ts.sort()
            row.append(f"{statistics.median(ts):.0f} / {ts[max(0, int(round(0.95 * len(ts))) - 1)]:.0f}")
            if name == "first view":
                size = statistics.median(sizes) / 1024
        print(f"| {window} | {lvl} | " + " | ".join(row) + f" | {size:.1f} KiB |")

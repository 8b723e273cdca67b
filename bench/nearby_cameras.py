"""The cameras around a point (issue 28) at a city's scale: `python -m bench.nearby_cameras [--cameras 15000]
[--events 820000] [--lookups 3000]`.

No source database and no event history are needed for a lookup: the devices come from the demo simulator's
generator (15,000 cameras by default, placed by its grid weights), the events of the last 30 days are
points drawn the way the simulator draws them (820,000 by default: 30 days of a 10M-a-year city). Times:
the ETL's transforms (camera_points, camera_gaps over those events, coord_fixes), the frames published
to an embedded Redis and read back, the web tier's STRtree built once for the frame, then `--lookups`
lookups (queries/nearby.nearby_cameras at random event points, a city-wide user and a district's),
against a naive scan of every camera (haversine over all of them) at the same points. Prints a Markdown
table for docs/benchmarks.md."""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np
import pandas as pd
import redis

from config.city import load_city
from config.settings import ROOT
from contract import frames as F
from contract.ground import city_ground
from demo.embedded_redis import EmbeddedRedis
from demo.simulator import Simulator
from etl.source.schema import source_engine
from etl.transforms.nearby_cameras import camera_gaps, camera_points, coord_fixes, untagged_exposure
from queries import nearby
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

NOW = datetime(2026, 11, 20, 15, 30)


def naive(cams: pd.DataFrame, lon: float, lat: float, radius_m: float) -> pd.DataFrame:
    """What a lookup would cost without the index: a haversine to every camera, then filter and sort."""
    p1, p2 = np.radians(lat), np.radians(cams["lat"].to_numpy())
    dl = np.radians(cams["lon"].to_numpy() - lon)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * 6371008.8 * np.arcsin(np.sqrt(a))
    hit = cams.assign(d=d)[d <= radius_m]
    return hit.sort_values(["d", "device_id"])


def pct(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"{np.percentile(a, 50):.2f} / {np.percentile(a, 95):.2f} / {np.percentile(a, 99):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=15000)
    ap.add_argument("--events", type=int, default=820_000)
    ap.add_argument("--lookups", type=int, default=3000)
    ap.add_argument("--radius", type=float, default=300.0)
    a = ap.parse_args()
    city = load_city(ROOT / "config" / "cities" / "nanjing")
    sim = Simulator(source_engine("sqlite://"), city, seed=1)
    dev = sim._devices(NOW, a.cameras, 0)
    rng = np.random.default_rng(2)
    gi = rng.choice(len(sim.grids), a.events, p=sim.grid_p)
    g = sim.grids.iloc[gi]
    events = pd.DataFrame({"grid_code": g["code"].to_numpy(object),
                           "lon": g["lon"].to_numpy() + rng.normal(0, 0.0003, a.events),
                           "lat": g["lat"].to_numpy() + rng.normal(0, 0.0003, a.events)})
    ground = city_ground(city)
    rows = []
    t = time.perf_counter()
    points = camera_points(dev, ground)
    rows.append(("ETL camera_points (cameras with a position, x/y)", f"{(time.perf_counter() - t) * 1000:.0f} ms",
                 f"{len(points):,} rows"))
    t, c = time.perf_counter(), time.process_time()
    gaps = camera_gaps(events, points, ground, a.radius)
    rows.append((f"ETL camera_gaps over {a.events:,} events (wall clock; CPU)",
                 f"{(time.perf_counter() - t) * 1000:.0f} ms; {(time.process_time() - c) * 1000:.0f} ms",
                 f"{len(gaps):,} rows, {int(gaps.loc[gaps['level'] == 'street', 'unseen'].sum()):,} events unseen"))
    t = time.perf_counter()
    fixes = coord_fixes(dev, events)
    rows.append(("ETL coord_fixes", f"{(time.perf_counter() - t) * 1000:.0f} ms", f"{len(fixes):,} rows"))
    t, c = time.perf_counter(), time.process_time()
    untagged, per_cam = untagged_exposure(events, points, ground, a.radius)
    rows.append((f"ETL untagged_exposure (标签治理) over {a.events:,} events (wall clock; CPU)",
                 f"{(time.perf_counter() - t) * 1000:.0f} ms; {(time.process_time() - c) * 1000:.0f} ms",
                 f"{len(per_cam):,} untagged cameras, {int(untagged.loc[untagged['code'] == city.code, 'near_untagged'].sum()):,}"
                 " events near one"))
    server = EmbeddedRedis().start()
    try:
        client = redis.Redis.from_url(server.url)
        store = SnapshotStore(client, "nearbybench")
        t = time.perf_counter()
        store.publish({F.CAMERA_POINTS.name: points, F.CAMERA_GAPS.name: gaps, F.CAMERA_FIXES.name: fixes}, NOW, {})
        rows.append(("publish the three frames", f"{(time.perf_counter() - t) * 1000:.0f} ms",
                     f"camera_points {len(points):,} rows"))
        snap = SnapshotReader(client, "nearbybench").current()
        t = time.perf_counter()
        nearby.camera_index(snap)
        rows.append(("web: STRtree built (once per camera_points version)", f"{(time.perf_counter() - t) * 1000:.1f} ms", ""))
        pick = rng.choice(len(events), a.lookups, replace=False)
        pts = events.iloc[pick][["lon", "lat"]].to_numpy()
        for who, scope, everywhere in (("city", city.code, True), ("district 320102", "320102", False)):
            ms, cpu, found = [], [], 0
            for lon, lat in pts:
                t, c = time.perf_counter(), time.thread_time()
                got = nearby.nearby_cameras(snap, ground, float(lon), float(lat), a.radius, scope, everywhere)
                ms.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c) * 1000)
                found += len(got or [])
            rows.append((f"web: lookup, {who}'s scope, wall clock (p50 / p95 / p99)", f"{pct(ms)} ms",
                         f"{a.lookups:,} lookups, {found / a.lookups:.1f} cameras each"))
            rows.append((f"web: lookup, {who}'s scope, CPU (p50 / p95 / p99)", f"{pct(cpu)} ms", ""))
        cams = points[["device_id", "lon", "lat"]]
        ms, cpu = [], []
        for lon, lat in pts[:500]:
            t, c = time.perf_counter(), time.thread_time()
            naive(cams, float(lon), float(lat), a.radius)
            ms.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
        rows.append(("naive: haversine to every camera, wall clock (p50 / p95 / p99)", f"{pct(ms)} ms", "500 lookups"))
        rows.append(("naive: haversine to every camera, CPU (p50 / p95 / p99)", f"{pct(cpu)} ms", ""))
    finally:
        server.stop()
    print(f"| {a.cameras:,} cameras, radius {a.radius:.0f} m | time | |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()

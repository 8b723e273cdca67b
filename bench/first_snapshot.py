"""Seconds from the product's process start to its first snapshot and to its first complete one (every
job's frames in it: events, devices, safety), as an operator sees it through /health:

    python -m bench.first_snapshot [--runs 3] [--port 18650] [--days 90] [--dir DIR] [--source URL]

Fills a SQLite source once with the demo simulator's history (`--days`, COCKPIT_SIM_EVENTS_PER_DAY a day;
kept in DIR between calls), then starts `python -m demo` (the demo as `python3 cockpit.py demo` runs it: an
embedded Redis of its own, so every start is a first start, the live simulator, the ETL in the web process)
`--runs` times on that source (`--source URL`: on that one instead, say the year `python -m bench.generate`
wrote, with the demo's live simulator idle, COCKPIT_SIM_TICK_S=3600: a city's systems write its source, not the
product's process, whose every Python thread shares the ETL's interpreter). Each run signs in with the demo's wall token and polls /health every 0.1 s
until the snapshot holds every job's frames, then stops the process. Prints one line per run and the median.

With `--watch S` each run goes on polling until S seconds after the start and also says how many snapshots came
and the longest wait for a new one after the first (what a screen sees while the start's timeline write runs:
docs/benchmarks.md, "Issue 24: the screens during a start's timeline write")."""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from config.city import load_city
from config.clock import now_local
from config.settings import ROOT, load_settings
from contract import frames as F

# a frame of each job: the wall's tiles read them (events: 上报/办结…, devices: 摄像头在线率, safety: 平安指数/安全感)
EVERY_JOB = {"events": F.EVENT_KPIS.name, "devices": F.DEVICE_KPIS.name, "safety": F.SAFETY_LATEST.name}
DEMO_WALL_TOKEN = "demo-wall-token"  # demo/__main__.py DEMO_WALL_TOKEN


def fill_source(url: str, days: int) -> None:
    from demo.simulator import Simulator
    from etl.source.schema import writable_engine

    settings = load_settings()
    city = load_city(settings.city_dir)
    n = Simulator(writable_engine(url), city, seed=settings.sim_seed,
                  events_per_day=settings.sim_events_per_day).backfill(days, now_local(city.timezone))
    if n:
        print(f"source filled: {n} events of history", flush=True)


def one_start(env: dict[str, str], port: int, timeout_s: float, watch_s: float = 0) -> dict:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "demo"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out: dict = {"first_snapshot_s": None, "complete_s": None, "missing_at_first": None}
    versions: list[tuple[float, int]] = []  # (seconds since the start, version) of each new snapshot seen
    try:
        signed_in = False
        while time.perf_counter() - t0 < max(timeout_s if out["complete_s"] is None else 0, watch_s) \
                and proc.poll() is None:
            try:
                if not signed_in:
                    opener.open(f"http://127.0.0.1:{port}/big?token={DEMO_WALL_TOKEN}", timeout=5).read()
                    signed_in = True
                body = json.loads(opener.open(f"http://127.0.0.1:{port}/health", timeout=5).read())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
                continue
            now = time.perf_counter() - t0
            if body.get("version") is not None:
                if not versions or versions[-1][1] != body["version"]:
                    versions.append((now, body["version"]))
                have = set(body.get("frames", {}))
                missing = sorted(job for job, frame in EVERY_JOB.items() if frame not in have)
                if out["first_snapshot_s"] is None:
                    out["first_snapshot_s"], out["missing_at_first"] = round(now, 2), missing
                if not missing and out["complete_s"] is None:
                    out["complete_s"] = round(now, 2)
                    if not watch_s:
                        break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if watch_s:
        waits = [b[0] - a[0] for a, b in zip(versions, versions[1:])]
        out["snapshots"], out["longest_wait_s"] = len(versions), round(max(waits), 1) if waits else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=18650)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "cockpit-first-snapshot"))
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--watch", type=float, default=0.0, help="poll until this many seconds after each start")
    ap.add_argument("--source", default=None, help="start on this source (SQLAlchemy URL) instead of the demo's history")
    a = ap.parse_args()
    data = Path(a.dir)
    data.mkdir(parents=True, exist_ok=True)
    source = a.source or f"sqlite:///{data / 'source.db'}"
    if a.source is None:
        fill_source(source, a.days)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_")}
    env |= {"COCKPIT_SOURCE_URL": source, "COCKPIT_APP_DB_URL": f"sqlite:///{data / 'app.db'}",
            "COCKPIT_PORT": str(a.port), "COCKPIT_HOST": "127.0.0.1"}
    if a.source is not None:
        env["COCKPIT_SIM_TICK_S"] = "3600"
    results = []
    for i in range(a.runs):
        r = one_start(env, a.port, a.timeout, a.watch)
        results.append(r)
        watched = (f"; {r['snapshots']} snapshots in {a.watch:g} s, the longest wait for a new one after the first "
                   f"{r['longest_wait_s']} s") if a.watch else ""
        print(f"run {i + 1}: first snapshot {r['first_snapshot_s']} s (jobs missing from it: "
              f"{', '.join(r['missing_at_first'] or []) or 'none'}), first complete snapshot {r['complete_s']} s"
              f"{watched}", flush=True)
    done = [r["complete_s"] for r in results if r["complete_s"] is not None]
    load = os.getloadavg()[0]
    print(f"median seconds from process start to the first complete snapshot: "
          f"{statistics.median(done) if done else None} ({len(done)}/{a.runs} runs; load average {load:.1f} "
          f"on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""A week on the wall in an hour (issue 15, item 9): `python -m faults.soak --minutes 60 --out DIR`.

Real processes, each started here: redis-server on a free port; the demo simulator (a fresh SQLite source:
a backfill at the demo's rate, then a live stream at a compressed rate, the demo users and wall token); the
ETL alone (`python -m dashboard.etl`); the web tier under gunicorn (deploy/gunicorn.conf.py, 2 workers,
COCKPIT_RUN_ETL=false); and a wall in headless Chromium (faults/soak_wall.py) on
/big?pages=overview,events,safety,cameras with the shortest carousel interval and a reload_hour the run
reaches. The load is compressed through the product's own settings (fast ticks, short ETL intervals, a fast
poll, a day's events every hour); the summary says how many wall-days of flips, snapshots and polls that is
at the production defaults. Every `sample_s` it samples the page's JS heap and DOM nodes and the RSS of
every process, and judges each series flat or not (faults/soak_stats.py). Writes samples.csv, summary.json
and the processes' logs into the output folder.

Measured 2026-12-04, `python -m faults.soak --minutes 60 --out /tmp/soak60` (2 cores, load average 4-19 from
other work): 61.5 min, 335 samples; 739 flips, 1321 of 1333 snapshots seen, the daily reload at 3595 s with
data after it; 0 console errors, 0 failed requests, 0 requests off localhost. That is 0.26 wall-days of flips,
0.08 of snapshots, 0.17 of polls and 1.05 days of events at the production defaults, not a week: the carousel's
shortest page is 5 s and the ETL's tick time, not its interval, sets the snapshot rate. Flat (last quarter vs
first, after warm-up): heap 23.2 -> 24.2 MB, DOM nodes 2031 -> 2029, Chromium RSS 1155 -> 1215 MB, web 957 ->
992, ETL 1027 -> 1094, simulator 288 -> 291. Not flat: redis-server 173 -> 460 MB, superseded frames kept
COCKPIT_SNAPSHOT_KEEP_S (300 s) at a publish rate that rose as the machine's load fell. Slopes: heap +1.8 MB/h
(dash-renderer's undo history gains an entry per dcc.Interval tick; the daily reload clears it), Chromium
+88 MB/h."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from config.settings import ROOT
from faults import soak_stats as st
from faults.soak_wall import Wall

PRODUCTION = {"page_s": 30.0, "events_interval_s": 5.0, "poll_ms": 2000, "events_per_day": 3000}
DAY_S = 86400
PAGES = "overview,events,safety,cameras"

# The simulator process: backfill at the demo's rate, the demo users and wall token, then the demo's live
# loop (demo/__main__.py start_simulator) at COCKPIT_SIM_TICK_S and COCKPIT_SIM_EVENTS_PER_DAY.
SIM_SCRIPT = """import sys, time
from config.city import load_city
from config.clock import now_local
from config.settings import load_settings
from demo.__main__ import configure_logging, ensure_demo_users, start_simulator
from demo.simulator import Simulator
from etl.source.schema import writable_engine
configure_logging()
days, per_day, cameras, iot = (int(x) for x in sys.argv[1:5])
s = load_settings(); city = load_city(s.city_dir); engine = writable_engine(s.source_url)
Simulator(engine, city, seed=s.sim_seed, events_per_day=per_day).backfill(days, now_local(city.timezone), cameras, iot)
ensure_demo_users(s, city)
print("SOAK-READY", flush=True)
start_simulator(s, city, engine)
while True:
    time.sleep(3600)
"""


@dataclass(frozen=True)
class Load:
    """The compressed load; each figure is a product setting (COCKPIT_*) or the wall's URL."""
    page_s: float = 5.0  # ?interval=: the wall's shortest (layouts/big.py)
    poll_ms: int = 500  # COCKPIT_POLL_MS
    sim_tick_s: float = 0.5  # COCKPIT_SIM_TICK_S
    events_per_hour: int = 3000  # live: a production day's events every hour (24x the demo's rate)
    events_interval_s: float = 1.0  # COCKPIT_EVENTS_INTERVAL_S
    cameras_interval_s: float = 5.0  # COCKPIT_CAMERAS_INTERVAL_S
    safety_interval_s: float = 60.0  # COCKPIT_SAFETY_INTERVAL_S
    backfill_days: int = 35
    backfill_per_day: int = 3000
    cameras: int = 15000
    iot: int = 20000
    web_workers: int = 2


def city_timezone() -> str:
    with open(ROOT / "config" / "cities" / "nanjing" / "city.toml", "rb") as f:
        return tomllib.load(f)["timezone"]


def events_per_day(per_hour: float, tz: str, seconds: float) -> int:
    """COCKPIT_SIM_EVENTS_PER_DAY giving `per_hour` events an hour over the next `seconds` (the simulator
    follows a daily rhythm: HOUR_WEIGHTS)."""
    from demo.simulator import HOUR_WEIGHTS

    now = datetime.now(ZoneInfo(tz))
    hours = [(now + timedelta(hours=k)).hour for k in range(max(1, int(seconds // 3600) + 1))]
    weight = sum(HOUR_WEIGHTS[h] for h in hours) / len(hours)
    return max(10, int(per_hour * 24 * HOUR_WEIGHTS.mean() / weight))


def reload_plan(tz: str, opened: datetime, jump_at_s: float | None) -> tuple[int, datetime | None]:
    """The wall reloads in its reload_hour once loaded for more than an hour (assets/big_canvas.js). Real
    clock: the hour an hour and 30 s after opening. Fake clock (a test): the page's clock jumps at
    `jump_at_s` to 30 s past the next hour at least an hour ahead; returns (hour, that instant)."""
    if jump_at_s is None:
        return (opened + timedelta(seconds=3630)).astimezone(ZoneInfo(tz)).hour, None
    at = (opened + timedelta(seconds=jump_at_s + 3605)).astimezone(ZoneInfo(tz))
    target = at.replace(minute=0, second=30, microsecond=0) + timedelta(hours=1)
    return target.hour, target


def wait_for(pred, timeout_s: float, what: str, procs: dict) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        dead = [name for name, p in procs.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"soak: {what} not ready ({'exited: ' + ', '.join(dead) if dead else 'timeout'})")
        time.sleep(0.5)


def health_version(base: str):
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            return json.load(r).get("version")
    except (OSError, ValueError):
        return None


def count_events(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as c:
        return int(c.execute("SELECT count(*) FROM events").fetchone()[0])


def start(out: Path, work: Path, load: Load, run_s: float, tz: str) -> tuple[dict, object, str, dict]:
    """redis-server, the simulator, the ETL and gunicorn; returns (processes, redis, base URL, settings)."""
    from demo.embedded_redis import EmbeddedRedis

    rds = EmbeddedRedis().start()
    from demo.embedded_redis import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_") and k != "REDIS_URL"}
    settings = {"COCKPIT_REDIS_URL": rds.url, "COCKPIT_SOURCE_URL": f"sqlite:///{work / 'source.db'}",
                "COCKPIT_APP_DB_URL": f"sqlite:///{work / 'app.db'}", "COCKPIT_SECRET_KEY": secrets.token_hex(32),
                "COCKPIT_COOKIE_SECURE": "false", "COCKPIT_HOST": "127.0.0.1", "COCKPIT_PORT": str(port),
                "COCKPIT_BRIEFING_DIR": str(work / "briefings"), "COCKPIT_POLL_MS": str(load.poll_ms),
                "COCKPIT_SIM_TICK_S": str(load.sim_tick_s),
                "COCKPIT_SIM_EVENTS_PER_DAY": str(events_per_day(load.events_per_hour, tz, run_s)),
                "COCKPIT_EVENTS_INTERVAL_S": str(load.events_interval_s),
                "COCKPIT_CAMERAS_INTERVAL_S": str(load.cameras_interval_s),
                "COCKPIT_SAFETY_INTERVAL_S": str(load.safety_interval_s)}
    env |= settings
    py, procs = sys.executable, {}

    def spawn(name: str, args: list[str], extra: dict | None = None):
        log = open(out / f"{name}.log", "w")
        procs[name] = subprocess.Popen([py, *args], cwd=ROOT, env=env | (extra or {}), stdout=log,
                                       stderr=subprocess.STDOUT)

    spawn("sim", ["-c", SIM_SCRIPT, str(load.backfill_days), str(load.backfill_per_day), str(load.cameras),
                  str(load.iot)])
    spawn("web", ["-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "dashboard.wsgi:server"],
          {"COCKPIT_RUN_ETL": "false", "WEB_WORKERS": str(load.web_workers)})  # boots while the source fills
    wait_for(lambda: "SOAK-READY" in (out / "sim.log").read_text(errors="replace"), 900, "simulator backfill", procs)
    spawn("etl", ["-m", "dashboard.etl"])  # checks the source's tables on start: after the backfill
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: health_version(base) is not None, 600, "first snapshot on /health", procs)
    return procs, rds, base, {k: v for k, v in settings.items() if k != "COCKPIT_SECRET_KEY"}


def stop(procs: dict, rds) -> None:
    for name in ("web", "etl", "sim"):
        p = procs.get(name)
        if p and p.poll() is None:
            p.terminate()
    for p in procs.values():
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    rds.stop()


SERIES = {"heap_mb": True, "dom_nodes": True, "dom_elements": True, "rss_chromium_mb": True,
          "rss_web_mb": False, "rss_etl_mb": False, "rss_sim_mb": False, "rss_redis_mb": False, "redis_used_mb": False}


def run_soak(minutes: float, out_dir: Path, load: Load | None = None, sample_s: float = 10.0,
             jump_at_s: float | None = None) -> dict:
    """Run the soak for `minutes` of wall time (longer by up to a few minutes when the daily reload falls
    just after); `jump_at_s`: a fake page clock jumps to the reload hour that many seconds in (tests)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from snapshots.store import SnapshotStore

    load = load or Load()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_s, tz = minutes * 60, city_timezone()
    work = Path(tempfile.mkdtemp(prefix="cockpit-soak-"))
    procs, rds, base, settings = start(out_dir, work, load, run_s, tz)
    store = SnapshotStore(__import__("redis").Redis.from_url(rds.url))
    v0, n0 = store.manifest()["version"], count_events(work / "source.db")
    rows: list[dict] = []
    try:
        with sync_playwright() as pw:
            wall = Wall(pw, fake_clock=jump_at_s is not None)
            try:
                opened = datetime.now().astimezone()
                hour, jump_to = reload_plan(tz, opened, jump_at_s)
                path = f"/big?pages={PAGES}&interval={load.page_s:g}&reload_hour={hour}"
                wall.open(f"{base}{path}&token=demo-wall-token")
                t_open = wall.now()
                end_s, died = run_s, None
                if jump_at_s is None and run_s >= 3600 - 120:  # the reload is due at 3600-3630 s: see it through
                    end_s = max(run_s, 3630 + 60)
                while True:
                    t = wall.now() - t_open
                    dead = [n for n, p in procs.items() if p.poll() is not None]
                    if dead:  # stop here; what was sampled is still written and judged
                        died = f"{', '.join(dead)} exited at {t:.0f} s"
                        break
                    row = {"t_s": round(t, 1), "time": datetime.now().isoformat(timespec="seconds"),
                           "load1": os.getloadavg()[0], "loads": len(wall.loads), "flips": wall.counts["flips"],
                           "snapshots_seen": len(wall.versions), "polls": wall.counts["polls"]}
                    row |= wall.sample()
                    row |= st.sample_rss({n: p.pid for n, p in procs.items()}, rds.proc.pid) | st.redis_memory(store.r)
                    row["etl_version"] = (store.manifest() or {}).get("version")
                    rows.append(row)
                    st.write_csv(out_dir / "samples.csv", rows)  # a run cut short keeps its samples
                    if t >= end_s:
                        break
                    if jump_to is not None and jump_at_s <= t + sample_s:  # once: jump_to is then None
                        wall.wait(jump_at_s - t)
                        wall.jump((jump_to - datetime.now().astimezone()).total_seconds() * 1000)
                        jump_to = None
                        continue
                    wall.wait(min(sample_s, end_s - t) if end_s > t else sample_s)
                wall_summary = wall.summary()
                try:
                    wall.wait_for_data(30_000)  # still (or again, after its reload) showing data
                    wall_summary["data_at_end"] = True
                except Exception:  # noqa: BLE001 - reported, not raised: the samples matter more
                    wall_summary["data_at_end"] = False
                wall_summary["reload_at_s"] = [round(x - t_open, 1) for x in wall.loads[1:]]
                wall_summary["url"] = path
            finally:
                wall.close()
        v1, n1 = store.manifest()["version"], count_events(work / "source.db")
    finally:
        stop(procs, rds)
        shutil.rmtree(work, ignore_errors=True)
    real_run = rows[-1]["t_s"]
    reload_s = wall_summary["reload_at_s"][0] if wall_summary["reload_at_s"] else None
    flat = st.verdicts(rows, SERIES, real_run, reload_s)
    days = {"flips": round(wall_summary["flips"] * PRODUCTION["page_s"] / DAY_S, 3),
            "snapshots": round(wall_summary["snapshots_seen"] * PRODUCTION["events_interval_s"] / DAY_S, 3),
            "polls": round(wall_summary["polls"] * PRODUCTION["poll_ms"] / 1000 / DAY_S, 3),
            "events": round((n1 - n0) / PRODUCTION["events_per_day"], 3)}
    summary = {"started": rows[0]["time"], "run_s": real_run, "samples": len(rows), "sample_s": sample_s,
               "load_average": [round(x, 2) for x in os.getloadavg()], "load": asdict(load), "settings": settings,
               "production_defaults": PRODUCTION, "reload_hour": hour, "timezone": tz,
               "fake_clock_jump_at_s": jump_at_s, "wall": wall_summary,
               "etl": {"published": v1 - v0, "events_written": n1 - n0},
               "processes": {"web_processes_max": max(r["web_processes"] for r in rows),
                             "chromium_processes_max": max(r["chromium_processes"] for r in rows)},
               "wall_days": days, "bound": st.BOUND, "flat": flat, "died": died,
               "not_judged": st.verdicts(rows, {"dash_history": True, "js_listeners": True, "heap_before_gc_mb": True,
                                                "rss_renderer_mb": True, "redis_keys": False}, real_run, reload_s),
               "pass": all(v["pass"] is not False for v in flat.values())}
    w = wall_summary
    summary["checks"] = {"all processes lived": died is None, "wall shows data at the end": w["data_at_end"],
                         "daily reload seen": w["reloads"] >= 1 if real_run > 3600 or jump_at_s else None,
                         "no console errors": w["console_errors"] == 0, "no failed requests": w["failed_requests"] == 0,
                         "no request left localhost": w["non_local_requests"] == 0}
    st.write_csv(out_dir / "samples.csv", rows)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m faults.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--out", type=Path, required=True, help="folder for samples.csv, summary.json and the logs")
    ap.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples (default 10)")
    a = ap.parse_args(argv)
    summary = run_soak(a.minutes, a.out, sample_s=a.sample_s)
    print(st.describe(summary))
    print(f"samples: {a.out / 'samples.csv'}; summary: {a.out / 'summary.json'}")
    return 0 if summary["pass"] and all(v is not False for v in summary["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark suite, one command: `python3 cockpit.py bench [--events N] [--backend sqlite|postgres]`.

Generates the source, runs the ETL in its own process (backfill, ticks, then the live schedule),
serves the app on gunicorn (2 workers, COCKPIT_RUN_ETL=false), measures freshness, drill-down per
level and bytes over HTTP, the naive way in the same run, then phones + walls with locust; writes
the results table to docs/benchmarks.md (see bench/report.py)."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
import requests

from bench import report
from bench.generate import generate, touch_events
from bench.http_client import CockpitClient
from bench.naive import naive_drilldown, naive_wall_refresh
from config.city import load_city
from config.clock import now_local
from config.settings import ROOT, load_settings
from dashboard.user_store import UserStore
from demo.embedded_redis import EmbeddedRedis
from etl.source.schema import writable_engine
from snapshots.store import SnapshotStore

PY = sys.executable
PREFIX = "bench"
USERS = {"leader": ("leader-bench-pw", "city"), "phone": ("phone-bench-pw", "street")}
WALL_TOKEN = "bench-wall-token"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="cockpit.py bench", description=__doc__)
    ap.add_argument("--events", type=int, default=200_000, help="events in the source (10000000 = a year of the city)")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8064")))
    ap.add_argument("--samples", type=int, default=30, help="requests per measured figure")
    ap.add_argument("--load-seconds", type=int, default=None, help="locust duration (default 60; 180 from 1M events)")
    ap.add_argument("--phones", type=int, default=200)
    ap.add_argument("--walls", type=int, default=4)
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--tick-gap", type=float, default=None, help="seconds between measured ticks (default 31: the pull's overlap + 1)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--workdir", default=None, help="where the SQLite source, app db and logs go (default: a temp dir)")
    ap.add_argument("--side-by-side", action="store_true",
                    help="only generate the source and run the events tick the old way and the new way beside each other "
                         "(bench/ticks_side_by_side.py, the first burst closing the oldest open events; prints JSON, "
                         "writes no section)")
    return ap.parse_args(argv)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` if the server lacks it (the bench fills it from empty)."""
    from sqlalchemy import create_engine, make_url, text

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if not c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}).scalar():
            c.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, float), q)) if len(xs) else float("nan")


def wait_for(pred, timeout_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready in {timeout_s:.0f}s")


def disk_bytes(engine, url: str) -> int:
    if engine.dialect.name == "sqlite":
        return Path(url.removeprefix("sqlite:///")).stat().st_size
    with engine.connect() as c:
        return int(c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())


def freshness(engine, city, store: SnapshotStore, n: int, starts: list[float] | None = None) -> list[float]:
    """Seconds from a committed insert in the source to its update time being the published watermark (each
    insert's wall-clock time appended to `starts` when given)."""
    out = []
    rng = np.random.default_rng(1)
    for k in range(n):
        time.sleep(float(rng.uniform(0, 2)))  # land anywhere in the schedule's cycle
        now = now_local(city.timezone).replace(microsecond=0)
        touch_events(engine, city, 1, 0, now, 1000 + k)
        t0 = time.perf_counter()
        if starts is not None:
            starts.append(time.time())
        stamp = now.strftime("%Y-%m-%d %H:%M:%S")
        wait_for(lambda stamp=stamp: (store.manifest() or {}).get("meta", {}).get("events_watermark", "") >= stamp, 120, "freshness")
        out.append(time.perf_counter() - t0)
    return out


def start_etl_process(url: str, redis_url: str, work: Path, ticks: int, procs: list, *extra: str) -> dict:
    """The ETL in its own process (bench/etl_process.py: backfill, measured ticks, then the live schedule), appended
    to `procs`; returns its measurements once it has written them (its log in work/etl.log)."""
    out = work / "etl.json"
    with open(work / "etl.log", "w") as log:
        procs.append(subprocess.Popen([PY, "-m", "bench.etl_process", url, redis_url, PREFIX, str(out),
                                       "--ticks", str(ticks), *extra], env={**os.environ, "PYTHONPATH": str(ROOT)},
                                      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    wait_for(out.exists, 3600, "ETL process", procs[-1])
    time.sleep(0.2)  # written, then closed
    return json.loads(out.read_text())


def drill_path(city) -> list[tuple[str, str]]:
    """(level, code) from the city down to one grid, always into the busiest-looking first child."""
    path, code = [("city", city.code)], city.code
    while not city.children(code).empty:
        child = city.children(code).iloc[0]
        code = child["code"]
        path.append((child["level"], code))
    return path


def medium_values(region: str, version) -> dict:
    return {"medium-version.data": version, "medium-state.data": {"region": region, "window": "7d", "measure": "overdue"}}


def first_load(cli: CockpitClient, page: str, search: str, version) -> dict:
    """Bytes of a screen's first load (HTML, layout, callbacks graph, page content, first render) and
    of the static code it references (cached by the browser after the first visit)."""
    import re

    html = cli.get(f"/{page}{search}")
    parts = [html, cli.get("/_dash-layout"), cli.get("/_dash-dependencies"),
             cli.callback("_pages_content.children", {"_pages_location.pathname": f"/{page}",
                                                       "_pages_location.search": search}, "_pages_location.pathname")]
    if page == "medium":
        parts.append(cli.callback("medium-kpis.children", medium_values(search.split("=")[-1], version), "medium-version.data"))
    elif page == "small":
        parts.append(cli.callback("small-kpis.children", {"small-version.data": version, "small-region.data": search.split("=")[-1]},
                                  "small-version.data"))
    else:
        parts.append(cli.callback("big-kpi-reported-value.children", {"big-version.data": version}, "big-version.data"))
        parts.append(cli.callback("big-map.figure", {"big-version.data": version, "big-measure.value": "overdue", "big-level.value": "district"},
                                  "big-version.data"))
    bad = [p.status for p in parts if p.status != 200]
    if bad:
        raise RuntimeError(f"first load of /{page}: HTTP {bad}")
    assets = sorted(set(re.findall(r'(?:src|href)="(/_dash-component-suites/[^"]+|/assets/[^"]+)"', html.body.decode())))
    static = sum(cli.get(a).received for a in assets)
    return {"bytes": sum(p.received + p.sent for p in parts), "static_bytes": static}


def run_load(base: str, cookies: dict, phone_region: str, drill: list[str], seconds: int, phones: int, walls: int,
             work: Path) -> dict:
    env = {**os.environ, "BENCH_COOKIES": json.dumps(cookies), "BENCH_PHONE_REGION": phone_region,
           "BENCH_DRILL_REGIONS": json.dumps(drill), "BENCH_WALLS": str(walls), "PYTHONPATH": str(ROOT)}
    csv_prefix = work / "locust"
    cmd = [PY, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "-u", str(phones + walls),
           "-r", str(max(1, (phones + walls) // 10)), "-t", f"{seconds}s", "--host", base, "--csv", str(csv_prefix),
           "--only-summary", "--loglevel", "WARNING"]
    with open(work / "locust.log", "w") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, timeout=seconds + 120)
    rows = {r["Name"]: r for r in csv.DictReader(open(f"{csv_prefix}_stats.csv"))}
    agg = rows["Aggregated"]
    out = {"seconds": seconds, "users": phones + walls, "requests": int(agg["Request Count"]),
           "failures": int(agg["Failure Count"]), "rps": float(agg["Requests/s"]),
           "p50_ms": float(agg["50%"]), "p95_ms": float(agg["95%"]), "p99_ms": float(agg["99%"]), "by_name": {}}
    for name, r in rows.items():
        if name != "Aggregated":
            out["by_name"][name] = {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                                    "p50_ms": float(r["50%"]), "p95_ms": float(r["95%"])}
    return out


def worker_peak_rss_mb(master_pid: int) -> list[float]:
    out = []
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(int(line.split()[1]) / 1024)
    return out


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    load_s = a.load_seconds or (180 if a.events >= 1_000_000 else 60)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="cockpit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    city = load_city(settings.city_dir)
    url = a.pg_url if a.backend == "postgres" else f"sqlite:///{work / 'source.db'}"
    if a.backend == "postgres":
        ensure_database(url)
    engine = writable_engine(url)  # the bench writes its source (the ETL process reads it read-only)
    R: dict = {"args": {"events": a.events, "backend": a.backend, "samples": a.samples, "load_seconds": load_s,
                        "phones": a.phones, "walls": a.walls}, "machine": report.machine(engine)}
    procs: list[subprocess.Popen] = []
    try:
        print(f"bench: generating {a.events:,} events into {a.backend} …", flush=True)
        now = now_local(city.timezone).replace(microsecond=0)
        R["generate"] = generate(engine, city, a.events, now)
        R["generate"]["disk_bytes"] = disk_bytes(engine, url)
        print(f"bench: generated in {R['generate']['seconds']:.1f}s", flush=True)
        if a.side_by_side:
            return subprocess.call([PY, "-m", "bench.ticks_side_by_side", url, "--ticks", str(a.ticks), "--first-closes-old",
                                    "--profile", str(work / "steady_tick_profile.txt")],
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)

        rds = EmbeddedRedis(); rds.start()  # noqa: E702
        client = redis.Redis.from_url(rds.url)
        store = SnapshotStore(client, PREFIX)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        print("bench: ETL backfill and ticks …", flush=True)
        gap = ["--tick-gap", str(a.tick_gap)] if a.tick_gap is not None else []
        R["etl"] = start_etl_process(url, rds.url, work, a.ticks, procs, *gap)
        print(f"bench: ETL {R['etl']}", flush=True)

        print("bench: freshness …", flush=True)
        R["freshness_seconds"] = freshness(engine, city, store, max(5, a.samples // 3))
        R["events_interval_s"] = settings.events_interval_s

        app_db = f"sqlite:///{work / 'app.db'}"
        users = UserStore(app_db)
        path = drill_path(city)
        street = next(code for level, code in path if level == "street")
        users.add_user("leader", USERS["leader"][0], "city", city.code, city)
        users.add_user("phone", USERS["phone"][0], "street", street, city)
        users.set_token("bench-wall", WALL_TOKEN, city.code, city)
        web_env = {**env, "COCKPIT_RUN_ETL": "false", "COCKPIT_REDIS_URL": rds.url, "COCKPIT_REDIS_PREFIX": PREFIX,
                   "COCKPIT_SOURCE_URL": url, "COCKPIT_APP_DB_URL": app_db, "COCKPIT_SECRET_KEY": "bench-" + os.urandom(8).hex(),
                   "COCKPIT_COOKIE_SECURE": "false", "COCKPIT_PORT": str(a.port)}
        web_log = open(work / "gunicorn.log", "w")
        gun = subprocess.Popen([PY, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{a.port}", "--timeout", "120",
                                "dashboard.wsgi:server"], env=web_env, cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT)
        procs.append(gun)
        base = f"http://127.0.0.1:{a.port}"

        def up():
            try:
                return requests.get(base + "/health", timeout=2).status_code in (200, 503)
            except requests.RequestException:
                return False
        wait_for(up, 120, "gunicorn", gun)

        leader = CockpitClient(base)
        leader.sign_in("leader", USERS["leader"][0])
        version = leader.version("medium")
        print("bench: drill-down, real and naive …", flush=True)
        R["drilldown"] = {}
        for level, code in path:
            leader.callback("medium-kpis.children", medium_values(code, version), "medium-state.data")  # warm
            real = []
            for _ in range(a.samples):
                r = leader.callback("medium-kpis.children", medium_values(code, version), "medium-state.data")
                if r.status != 200:
                    raise RuntimeError(f"drill-down {level} {code}: HTTP {r.status}")
                real.append(r.seconds)
            naive, naive_bytes = [], 0
            for _ in range(max(3, a.samples // 3)):
                t0 = time.perf_counter()
                body = naive_drilldown(engine, city, code, now_local(city.timezone))
                naive.append(time.perf_counter() - t0)
                naive_bytes = len(gzip.compress(body))
            R["drilldown"][level] = {"code": code, "real": real, "naive": naive, "real_bytes": r.received + r.sent,
                                     "naive_bytes": naive_bytes}

        print("bench: bytes over the wire …", flush=True)
        phone = CockpitClient(base)
        phone.sign_in("phone", USERS["phone"][0])
        wall = CockpitClient(base)
        wall.sign_in_token(WALL_TOKEN)
        R["bytes"] = {"big": first_load(wall, "big", "", version), "medium": first_load(leader, "medium", f"?region={city.code}", version),
                      "small": first_load(phone, "small", f"?region={street}", version)}
        fig = wall.callback("big-map.figure", {"big-version.data": version, "big-measure.value": "overdue", "big-level.value": "district"},
                            "big-version.data").json()["response"]["big-map"]["figure"]
        new_version = [version[0] + 1, False]
        parts = [wall.callback("big-version.data", {"big-poll.n_intervals": 2, "big-version.data": version}, "big-poll.n_intervals"),
                 wall.callback("big-kpi-reported-value.children", {"big-version.data": new_version}, "big-version.data"),
                 wall.callback("big-map.figure", {"big-version.data": new_version, "big-measure.value": "overdue", "big-level.value": "district",
                                                  "big-map.figure": fig}, "big-version.data")]
        R["bytes"]["wall_refresh"] = sum(p.received + p.sent for p in parts)
        R["bytes"]["wall_refresh_naive"] = len(gzip.compress(naive_wall_refresh(engine, city, now_local(city.timezone)))) + \
            parts[1].received + parts[1].sent
        R["bytes"]["drilldown_step"] = R["drilldown"]["street"]["real_bytes"]
        R["bytes"]["drilldown_step_naive"] = R["drilldown"]["street"]["naive_bytes"]

        print(f"bench: load, {a.phones} phones + {a.walls} walls for {load_s}s …", flush=True)
        cookies = {"phone": phone.s.cookies.get_dict(), "wall": wall.s.cookies.get_dict()}
        drill = [code for level, code in path if level in ("street", "community", "grid")]
        # phones here are street staff; their drill-down stays inside their street
        R["load"] = run_load(base, cookies, street, [c for c in drill if c.startswith(street)], load_s,
                             a.phones, a.walls, work)
        R["web_peak_rss_mb"] = worker_peak_rss_mb(gun.pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    (work / "results.json").write_text(json.dumps(R, indent=1, default=str))
    report.write(R, Path(a.out))
    print(f"bench: results in {a.out} (raw: {work / 'results.json'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

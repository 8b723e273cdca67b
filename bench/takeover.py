"""The ETL leader killed again and again, a hot and a cold standby side by side (issue 24), measured from outside
as an operator would see it:

    python -m bench.takeover [--events 1000000] [--source PATH] [--kills 5] [--modes hot,cold] [--out JSON]

Two processes of the product (`python -m dashboard.etl`, default settings: leader TTL 15 s, events every 3 s) on one
Redis (a redis-server of its own) and a SQLite source made by the bench's generator (bench/generate.py; generated
into PATH when it is missing, reused otherwise: at 10M that takes minutes). A live city writes an event into the
source every `--live-every` seconds. For each kill: a standby is started (alternately hot and cold, so both see the
same machine), left to stand by until ready (hot: its log says every job's state is current) and `--steady` seconds
more (what standing by costs: its CPU and the leader's over that span), then the leader is SIGKILLed and an event
written to the source at once. Recorded: seconds from the kill to the survivor's first snapshot and to its first
snapshot with that event; whether that first snapshot wrote every frame the dead leader's last one held (each
under a version of its own); the survivor's memory and CPU. A thread polls Redis every 20 ms: the manifest, and the
lock's holder and remaining TTL, which gives every leader's longest gap between two renewals of the lock (the
TTL question: a leader that renews late loses the lock; the longest ticks, a cold leader's backfill included, run
meanwhile). Prints a line per kill, then p50/p95 per mode, and writes everything to `--out` (JSON)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import redis
from sqlalchemy import text

from config.settings import ROOT, load_settings
from contract.keys import Keys
from demo.embedded_redis import EmbeddedRedis
from snapshots.store import ipc_to_frame

PREFIX = "cockpit"
IDENTITY = re.compile(r"ETL scheduler running \(([^)]+)\)")


def ensure_source(path: Path, events: int) -> None:
    """Generate the source once (bench/generate.py), into a temporary file renamed when complete."""
    if path.exists():
        return
    from bench.generate import generate
    from config.city import load_city
    from config.clock import now_local
    from etl.source.schema import writable_engine

    city = load_city(load_settings().city_dir)
    part = path.with_name(path.name + ".partial")
    part.unlink(missing_ok=True)
    eng = writable_engine(f"sqlite:///{part}")
    r = generate(eng, city, events, now_local(city.timezone))
    eng.dispose()
    part.rename(path)
    print(f"source generated: {r['events']:,} events in {r['seconds']:.0f} s into {path}", flush=True)


class Writer:
    """Events into the source: a copy of the newest row, reported and updated now (one writer at a time)."""

    def __init__(self, url: str):
        from etl.source.schema import writable_engine

        self.engine, self.lock, self.n = writable_engine(url), threading.Lock(), 0

    def write(self, event_id: str) -> None:
        from config.clock import now_local

        at = now_local("Asia/Shanghai").replace(tzinfo=None)
        with self.lock, self.engine.begin() as c:
            row = dict(c.execute(text("SELECT * FROM events ORDER BY row_id DESC LIMIT 1")).mappings().one())
            row.pop("row_id")
            row |= {"event_id": event_id, "reported_at": at, "updated_at": at, "dispatched_at": None,
                    "handled_at": None, "verified_at": None, "closed_at": None, "satisfaction": None}
            c.execute(text(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
            self.n += 1

    def live(self, every_s: float, stop: threading.Event) -> None:
        k = 0
        while not stop.wait(every_s):
            k += 1
            self.write(f"LIVE-{os.getpid()}-{k}")


class Etl:
    """One `python -m dashboard.etl` process."""

    def __init__(self, env: dict[str, str], standby: str, log_path: Path):
        self.standby, self.log_path, self.started = standby, log_path, time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "dashboard.etl"], cwd=ROOT,
                                     env=env | {"COCKPIT_STANDBY": standby}, stdout=subprocess.DEVNULL,
                                     stderr=open(log_path, "w"))
        self.identity: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ident(self) -> str | None:
        if self.identity is None and (m := IDENTITY.search(self.log())):
            self.identity = m.group(1)
        return self.identity

    def ready(self) -> bool:
        """Standing by: hot once every job's state is current, cold once its scheduler runs."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"ETL process ended: {self.log()[-1500:]}")
        return self.ident() is not None and (self.standby == "cold" or "stands by hot" in self.log())

    def cpu_s(self) -> float:
        parts = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        status = open(f"/proc/{self.proc.pid}/status").read()
        return int(status.split("VmRSS:")[1].split()[0]) / 1024

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Watch:
    """Redis polled every 20 ms: each new manifest (when, who, its frames' keys), the lock's holder and remaining
    TTL (renewals, hence each holder's longest gap between two), and a survivor's first snapshot with an event."""

    def __init__(self, client: redis.Redis, ttl_s: float):
        self.r, self.keys, self.ttl_ms = client, Keys(PREFIX), ttl_s * 1000
        self.manifests: list[tuple[float, dict]] = []
        self.gaps: dict[str, float] = {}  # holder -> longest seconds between two renewals seen
        self.min_left: dict[str, float] = {}  # holder -> least TTL left seen, seconds
        self.target: tuple[str, str] | None = None  # (publisher, event id) looked for in the ticker
        self.target_at: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        raw_last, holder, left_last, renewed_at = None, None, None, None
        while not self.stop.is_set():
            p = self.r.pipeline(transaction=False)
            p.get(self.keys.manifest)
            p.get(self.keys.leader)
            p.pttl(self.keys.leader)
            raw, who, left = p.execute()
            t = time.monotonic()
            who = who.decode() if who else None
            if who != holder:
                holder, left_last, renewed_at = who, None, t
            if who is not None and left >= 0:
                if left_last is not None and left > left_last + 50:  # renewed since the last poll
                    self.gaps[who] = max(self.gaps.get(who, 0.0), t - renewed_at)
                    self.min_left[who] = min(self.min_left.get(who, 1e9), left_last / 1000)  # left before it renewed
                    renewed_at = t
                left_last = left
            if raw and raw != raw_last:
                raw_last = raw
                m = json.loads(raw)
                self.manifests.append((t, m))
                if self.target and self.target_at is None and m.get("publisher") == self.target[0]:
                    blob = self.r.get(m["frames"]["ticker"]["key"])
                    if blob is not None and self.target[1] in set(ipc_to_frame(blob)["event_id"]):
                        self.target_at = t
            self.stop.wait(0.02)

    def last(self) -> dict | None:
        return self.manifests[-1][1] if self.manifests else None

    def first_from(self, who: str, after: float) -> tuple[float, dict] | None:
        return next(((t, m) for t, m in self.manifests if t >= after and m.get("publisher") == who), None)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def wait_for(pred, timeout_s: float, what: str, every_s: float = 0.1):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if v := pred():
            return v
        time.sleep(every_s)
    raise TimeoutError(what)


def key_version(key: str) -> int:
    return int(key.rsplit(":", 1)[1])


def one_kill(k: int, leader: Etl, survivor: Etl, watch: Watch, writer: Writer, steady_s: float,
             timeout_s: float) -> dict:
    wait_for(survivor.ready, timeout_s, f"standby {survivor.standby} ready")
    ready_at, cpu_l0, cpu_s0 = time.monotonic(), leader.cpu_s(), survivor.cpu_s()
    time.sleep(steady_s)
    span = time.monotonic() - ready_at
    cpu_leader, cpu_standby = (leader.cpu_s() - cpu_l0) / span, (survivor.cpu_s() - cpu_s0) / span
    rss = survivor.rss_mb()
    load = os.getloadavg()[0]
    event_id = f"AFTER-KILL-{k}-{int(time.time())}"
    assert survivor.identity is not None
    watch.target, watch.target_at = (survivor.identity, event_id), None
    leader.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.proc.wait()
    writer.write(event_id)
    dead = watch.last() or {"frames": {}, "version": 0}
    first = wait_for(lambda: watch.first_from(survivor.identity, killed), timeout_s, "the survivor's first snapshot", 0.02)
    wait_for(lambda: watch.target_at, timeout_s, "the post-kill event on the screens", 0.02)
    t_first, m = first
    own = {n for n, e in m["frames"].items() if key_version(e["key"]) > dead["version"]}
    missing = sorted(set(dead["frames"]) - own)
    return {"kill": k, "standby": survivor.standby, "first_s": round(t_first - killed, 2),
            "with_event_s": round(watch.target_at - killed, 2), "complete": not missing, "missing": missing,
            "frames": len(m["frames"]), "warm_publish": "published its standby state" in survivor.log(),
            "standby_rss_mb": round(rss), "standby_cpu_per_s": round(cpu_standby, 3),
            "leader_cpu_per_s": round(cpu_leader, 3), "load_at_kill": round(load, 1)}


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs, float), q)), 2) if xs else float("nan")


def markdown(runs: list[dict]) -> str:
    """The runs' kills as docs/reliability.md shows them: one row per standby mode and source size."""
    out = ["| events | standby | kill → first snapshot, each kill (s) | kill → a snapshot with the post-kill event (s) | "
           "p50 / p95 to the event | first snapshot wrote every frame | standby RSS (MB) | standby CPU (s/s) | "
           "load at the kills |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        for mode in ("hot", "cold"):
            mine = [r for r in run["kills"] if r["standby"] == mode]
            if not mine:
                continue
            w = run[mode]["with_event_s"]
            out.append(f"| {run['events']:,} | {mode} | {', '.join(str(r['first_s']) for r in mine)} | "
                       f"{', '.join(str(r['with_event_s']) for r in mine)} | {w['p50']} / {w['p95']} | "
                       f"{sum(r['complete'] for r in mine)} of {len(mine)}"
                       f"{'' if all(r['complete'] for r in mine) else ' (' + ', '.join(sorted({m for r in mine for m in r['missing']})) + ' missing)'} | "
                       f"{', '.join(str(r['standby_rss_mb']) for r in mine)} | "
                       f"{', '.join(str(r['standby_cpu_per_s']) for r in mine)} | "
                       f"{', '.join(str(r['load_at_kill']) for r in mine)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.takeover", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events in a generated source")
    ap.add_argument("--source", type=Path, default=None,
                    help="the SQLite source (generated here if missing; default /work/data/takeover-<events>.db or a temp dir)")
    ap.add_argument("--kills", type=int, default=5, help="kills per standby mode")
    ap.add_argument("--modes", default="hot,cold")
    ap.add_argument("--steady", type=float, default=20.0, help="seconds a ready standby stands by before the kill")
    ap.add_argument("--live-every", type=float, default=2.0, help="seconds between the live city's events (0: none)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="JSON with every kill (default: in the workdir)")
    ap.add_argument("--markdown", type=Path, nargs="+", default=None,
                    help="print the table docs/reliability.md shows from these runs' JSON files, and run nothing")
    a = ap.parse_args(argv)
    if a.markdown:
        print(markdown([json.loads(x.read_text()) for x in a.markdown]))
        return 0
    default_dir = Path("/work/data") if Path("/work/data").is_dir() else Path(os.environ.get("TMPDIR", "/tmp"))
    source = a.source or default_dir / f"takeover-{a.events}.db"
    work = a.workdir or Path(f"/tmp/cockpit-takeover-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    ensure_source(source, a.events)
    url = f"sqlite:///{source}"
    with Writer(url).engine.connect() as c:
        n_events = c.execute(text("SELECT count(*) FROM events")).scalar_one()
    settings = load_settings()
    ttl_s, tick_s = settings.leader_ttl_s, settings.events_interval_s
    server = EmbeddedRedis().start()
    client = redis.Redis.from_url(server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCKPIT_") and k != "REDIS_URL"}
    env |= {"COCKPIT_REDIS_URL": server.url, "COCKPIT_SOURCE_URL": url, "COCKPIT_APP_DB_URL": f"sqlite:///{work}/app.db",
            "COCKPIT_SECRET_KEY": "takeover-bench-" + "s" * 32}
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    writer, stop = Writer(url), threading.Event()
    watch = Watch(client, ttl_s)
    procs = [Etl(env, "hot", work / "etl-0.log")]
    rows: list[dict] = []
    started = time.monotonic()
    print(f"{n_events:,} events in {source}; TTL {ttl_s:g} s, events every {tick_s:g} s; load {os.getloadavg()[0]:.1f}",
          flush=True)
    try:
        first = wait_for(lambda: procs[0].ident() and watch.first_from(procs[0].identity, 0), a.timeout,
                         "the first leader's snapshot")
        print(f"first leader published after {first[0] - started:.1f} s", flush=True)
        threading.Thread(target=writer.live, args=(a.live_every, stop), daemon=True).start() if a.live_every > 0 else None
        for k in range(1, a.kills * len(modes) + 1):
            mode = modes[(k - 1) % len(modes)]
            procs.append(Etl(env, mode, work / f"etl-{k}.log"))
            row = one_kill(k, procs[-2], procs[-1], watch, writer, a.steady, a.timeout)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        stop.set()
        for p in procs:
            p.kill()
        watch.close()
        server.stop()
    ticks = [m["meta"].get("events_seconds") for _, m in watch.manifests if m.get("meta", {}).get("events_seconds")]
    summary: dict = {"events": n_events, "source": str(source), "ttl_s": ttl_s, "events_interval_s": tick_s,
                     "bound_s": ttl_s + tick_s, "kills": rows, "cpus": os.cpu_count(),
                     "load_end": [round(x, 1) for x in os.getloadavg()],
                     "longest_renewal_gap_s": round(max(watch.gaps.values(), default=0.0), 2),
                     "renewal_gaps_s": {k: round(v, 2) for k, v in watch.gaps.items()},
                     "least_ttl_left_s": round(min(watch.min_left.values(), default=ttl_s), 2),
                     "longest_events_tick_s": max(ticks, default=None), "live_events": writer.n}
    for mode in modes:
        mine = [r for r in rows if r["standby"] == mode]
        summary[mode] = {q: {"p50": pct([r[q] for r in mine], 50), "p95": pct([r[q] for r in mine], 95),
                             "max": max((r[q] for r in mine), default=None)} for q in ("first_s", "with_event_s")}
        summary[mode]["complete"] = sum(r["complete"] for r in mine)
        summary[mode]["standby_rss_mb"] = statistics.median([r["standby_rss_mb"] for r in mine]) if mine else None
        summary[mode]["standby_cpu_per_s"] = statistics.median([r["standby_cpu_per_s"] for r in mine]) if mine else None
    out = a.out or work / "takeover.json"
    out.write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    for mode in modes:
        s = summary[mode]
        print(f"{mode}: kill to first snapshot p50 {s['first_s']['p50']} / p95 {s['first_s']['p95']} s, to the "
              f"post-kill event p50 {s['with_event_s']['p50']} / p95 {s['with_event_s']['p95']} s (bound "
              f"{summary['bound_s']:g} s); complete first snapshots {s['complete']}/{a.kills}; standby RSS "
              f"{s['standby_rss_mb']} MB, CPU {s['standby_cpu_per_s']} s/s")
    print(f"longest lock renewal gap {summary['longest_renewal_gap_s']} s (least TTL left {summary['least_ttl_left_s']} s), "
          f"longest events tick {summary['longest_events_tick_s']} s; load {summary['load_end']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

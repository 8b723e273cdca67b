"""The results table: machine and versions, each figure, each ratio and budget, as docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import sqlite3
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

PACKAGES = ("pandas", "numpy", "pyarrow", "SQLAlchemy", "dash", "plotly", "redis", "gunicorn", "locust", "psycopg")


def machine(engine) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    db = f"SQLite {sqlite3.sqlite_version}"
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            db = c.exec_driver_sql("SHOW server_version").scalar()
            db = f"PostgreSQL {db}"
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mb": mem, "os": platform.platform(),
            "python": platform.python_version(), "database": db,
            "packages": {p: _version(p) for p in PACKAGES}}


def _version(p: str) -> str:
    try:
        return version(p)
    except Exception:  # noqa: BLE001 - not installed
        return "-"


def ms(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, float), q)) * 1000


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(R: dict) -> list[tuple[str, str, str]]:
    """(figure, value, budget/verdict) rows."""
    e, out = R["etl"], []
    g = R["generate"]
    out.append(("source generated", f"{g['events']:,} events in {g['seconds']:.1f} s; {g['disk_bytes'] / 1e6:,.0f} MB on disk", ""))
    rate = e["backfill_events"] / e["backfill_events_seconds"]
    floor = 500_000 if R["args"]["backend"] == "postgres" else 300_000  # issue 16's targets
    out.append(("ETL full backfill (events job)", f"{rate:,.0f} events/s ({e['backfill_events']:,} events of the kept "
                f"history to the first snapshot in {e['backfill_events_seconds']:.1f} s; source read alone "
                f"{e['read_seconds']:.1f} s)", f"≥ {floor:,}/s: {verdict(rate >= floor)}"))
    tl = e.get("backfill_timelines") or {}
    out.append(("ETL backfill, event timelines", f"{tl.get('written', 0):,} timelines in {tl.get('seconds', 0):.1f} s "
                f"after the snapshot is out, {tl.get('slices', 1)} slices over the ticks after it, run back to back (done {e['backfill_with_timelines_seconds']:.1f} s after the start); "
                f"Redis {e.get('redis_used_mb', 0):,.0f} MiB", ""))
    out.append(("ETL backfill peak memory", f"{e['backfill_peak_rss_mb']:,.0f} MB RSS (ETL process)",
                f"≤ 3,000 MB: {verdict(e['backfill_peak_rss_mb'] <= 3000)}"))
    out.append(("ETL devices + safety jobs", f"{e['backfill_other_seconds']:.2f} s", ""))
    for size in (1000, 10000):
        t, tw = e[f"tick_{size}_seconds"], e[f"tick_{size}_with_timelines_seconds"]
        limit = 500 if size == 10000 else 200  # issue 16: p95 to the snapshot being out
        budget = f"p95 ≤ {limit} ms: {verdict(ms(t, 95) <= limit)}"
        out.append((f"ETL tick, {size:,} new/updated events", f"snapshot out p50 {ms(t, 50):,.0f} ms, p95 {ms(t, 95):,.0f} ms; "
                    f"with the timelines p50 {ms(tw, 50):,.0f} ms, p95 {ms(tw, 95):,.0f} ms "
                    f"({int(np.median(e[f'tick_{size}_rows_read'])):,} rows read)", budget))
    f = R["freshness_seconds"]
    out.append((f"freshness, source insert → Redis (default {R.get('events_interval_s', 5):g} s schedule)",
                f"p50 {np.percentile(f, 50):.1f} s, p95 {np.percentile(f, 95):.1f} s",
                f"p95 ≤ 5 s: {verdict(np.percentile(f, 95) <= 5)}"))
    for level, d in R["drilldown"].items():
        p95, n95 = ms(d["real"], 95), ms(d["naive"], 95)
        ratio = ms(d["naive"], 50) / ms(d["real"], 50)
        out.append((f"drill-down {level} ({d['code']}), HTTP callback",
                    f"p50 {ms(d['real'], 50):.1f} ms, p95 {p95:.1f} ms · naive p50 {ms(d['naive'], 50):,.0f} ms, "
                    f"p95 {n95:,.0f} ms · **{ratio:,.0f}×** faster",
                    f"p95 ≤ 20 ms: {verdict(p95 <= 20)}; ≥ 20×: {verdict(ratio >= 20)}"))
    b = R["bytes"]
    for page in ("big", "medium", "small"):
        out.append((f"first load /{page}", f"{b[page]['bytes'] / 1024:,.1f} KB (+ {b[page]['static_bytes'] / 1024:,.0f} KB "
                    "static code, cached after the first visit)", ""))
    out.append(("wall refresh (poll + panels + map patch)", f"{b['wall_refresh'] / 1024:,.1f} KB · naive "
                f"{b['wall_refresh_naive'] / 1024:,.1f} KB ({b['wall_refresh_naive'] / b['wall_refresh']:,.0f}×)",
                f"≤ 50 KB: {verdict(b['wall_refresh'] <= 50 * 1024)}"))
    out.append(("drill-down step (street)", f"{b['drilldown_step'] / 1024:,.1f} KB · naive "
                f"{b['drilldown_step_naive'] / 1024:,.1f} KB", ""))
    ld = R["load"]
    out.append((f"load: {R['args']['phones']} phones + {R['args']['walls']} walls, {ld['seconds']} s, gunicorn 2 workers",
                f"{ld['requests']:,} requests ({ld['rps']:.0f}/s), p50 {ld['p50_ms']:.0f} ms, p95 {ld['p95_ms']:.0f} ms, "
                f"p99 {ld['p99_ms']:.0f} ms, {ld['failures']} errors",
                f"p95 ≤ 200 ms, no errors: {verdict(ld['p95_ms'] <= 200 and ld['failures'] == 0)}"))
    for name, r in sorted(ld["by_name"].items()):
        out.append((f"  · {name}", f"{r['requests']:,} requests, p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                    f"{r['failures']} errors", ""))
    if R.get("web_peak_rss_mb"):
        out.append(("web workers peak memory", ", ".join(f"{x:,.0f} MB" for x in R["web_peak_rss_mb"]), ""))
    return out


FIGURE_NAMES = ["source generated", "ETL full backfill", "ETL backfill, event timelines", "ETL backfill peak memory", "ETL tick, 1,000", "ETL tick, 10,000",
                "freshness", "drill-down city", "drill-down district", "drill-down street", "drill-down community",
                "drill-down grid", "first load /big", "first load /medium", "first load /small", "wall refresh",
                "drill-down step", "load:"]


def section(R: dict) -> str:
    m, a = R["machine"], R["args"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {a['events']:,} events · {a['backend']} · {when}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_mb'] / 1024:.0f} GB RAM; {m['os']}; Python {m['python']}; "
             f"{m['database']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".", "",
             f"Command: `python3 cockpit.py bench --events {a['events']} --backend {a['backend']}` "
             f"({a['samples']} samples per latency figure; naive: a third of that).", "",
             "| figure | result | budget |", "|---|---|---|"]
    lines += [f"| {f} | {v} | {b} |" for f, v, b in rows(R)]
    return "\n".join(lines) + "\n"


HEADER = """# Benchmarks

Run by `python3 cockpit.py bench` (see README "Benchmarks"); each run adds or replaces its section
(one per scale and backend). The naive way is measured in the same run: per request it queries the
source and aggregates with pandas, then builds the whole figure with its GeoJSON inline.
Benchmarks are not pass/fail; a missed budget is marked **missed** and discussed in the notes below.
"""


def write(R: dict, path: Path) -> None:
    """Replace this scale+backend's section in the file (other sections and the notes stay)."""
    new = section(R)
    key = new.split(" · ")[0] + " · " + R["args"]["backend"] + " · "
    text = path.read_text() if path.exists() else HEADER
    parts = text.split("\n## ")
    head, sections = parts[0], ["## " + p for p in parts[1:]]
    kept = [s for s in sections if not s.startswith(key) and not s.startswith("## Notes")]
    notes = [s for s in sections if s.startswith("## Notes")]
    body = head.rstrip("\n") + "\n\n" + "\n".join(s.rstrip("\n") + "\n" for s in sorted([*kept, new], key=_order))
    if notes:
        body += "\n" + notes[0].rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def _order(section_text: str) -> tuple:
    head = section_text.split("\n", 1)[0]
    n = int(head.removeprefix("## ").split(" ")[0].replace(",", "") or 0)
    return (-n, head)

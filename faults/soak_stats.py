"""Measures and verdicts of the soak (faults/soak.py): resident memory of process trees read from /proc (no
dependency), and whether a sampled series stayed flat: after a warm-up (the first 10% of the run), the mean
of the last quarter against the mean of the first quarter, and a least-squares slope."""

from __future__ import annotations

import csv
import os
from pathlib import Path

WARMUP = 0.10  # the first 10% of the run: caches fill, the first snapshots load, plotly draws
BOUND_PCT = 10.0  # flat: the last quarter's mean at most this much above the first quarter's
BOUND = (f"after a warm-up of the first {WARMUP:.0%} of the run, the mean of the last quarter of the "
         f"remaining samples is at most {BOUND_PCT:g}% above the mean of its first quarter (the slope is "
         "reported, not judged); the browser's series end at the daily reload (a new page starts afresh)")


# ---------------------------------------------------------------------------------------- processes

def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        out[int(name)] = (int(raw[raw.rindex(")") + 2:].split()[1]), comm)
    return out


def tree(root: int, table: dict[int, tuple[int, str]]) -> list[int]:
    """`root` and all its descendants that are alive in `table`."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _comm) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root] if root in table else []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_kb(pid: int) -> int:
    """Resident set size (VmRSS) of one process in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def is_renderer(pid: int) -> bool:
    """A Chromium renderer (the page's process: its JS heap, DOM and layout live there)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"--type=renderer" in f.read()
    except OSError:
        return False


def rss_mb(pids: list[int]) -> float:
    return round(sum(rss_kb(p) for p in pids) / 1024, 2)


def sample_rss(pids: dict[str, int], redis_pid: int) -> dict:
    """RSS (MB) of each product process tree (`pids`: web, etl, sim), redis-server, and Chromium's processes
    (the rest of this process's descendants but Playwright's driver)."""
    table = process_table()
    row, known = {}, {redis_pid}
    for name, pid in pids.items():
        tree_pids = tree(pid, table)
        known |= set(tree_pids)
        row[f"rss_{name}_mb"] = rss_mb(tree_pids)
    row["web_processes"] = len(tree(pids["web"], table))
    row["rss_redis_mb"] = rss_mb([redis_pid])
    rest = [p for p in tree(os.getpid(), table) if p not in known and p != os.getpid()]
    driver = [p for p in rest if table[p][1].startswith("node")]  # comm: node-MainThread
    chromium = [p for p in rest if p not in driver and not table[p][1].startswith(("python", "sh"))]
    row["rss_chromium_mb"] = rss_mb(chromium)
    row["rss_renderer_mb"] = rss_mb([p for p in chromium if is_renderer(p)])
    row["chromium_processes"] = len(chromium)
    row["rss_driver_mb"] = rss_mb(driver)
    return row


def redis_memory(client) -> dict:
    """Redis's own count of the bytes it holds (RSS adds the allocator's keep) and its number of keys."""
    try:
        return {"redis_used_mb": round(client.info("memory")["used_memory"] / 2**20, 2), "redis_keys": client.dbsize()}
    except Exception:  # noqa: BLE001 - a sample without it
        return {}


# ---------------------------------------------------------------------------------------- verdicts

def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def flatness(t: list[float], y: list, run_s: float, until_s: float | None = None) -> dict:
    """The verdict on one series sampled at seconds `t` of a run of `run_s` seconds; samples from `until_s`
    on are left out (the wall's page after its reload). Missing samples (None, '') are skipped."""
    pts = [(ti, float(yi)) for ti, yi in zip(t, y) if yi not in (None, "")
           and ti >= WARMUP * run_s and (until_s is None or ti < until_s)]
    if len(pts) < 8:
        return {"samples": len(pts), "pass": None, "why": "fewer than 8 samples after the warm-up"}
    start, end = pts[0][0], pts[-1][0]
    span = max(end - start, 1e-9)
    first = [v for ti, v in pts if ti <= start + span / 4]
    last = [v for ti, v in pts if ti >= end - span / 4]
    q1, q4 = _mean(first), _mean(last)
    tm, ym = _mean([p[0] for p in pts]), _mean([p[1] for p in pts])
    var = sum((ti - tm) ** 2 for ti, _ in pts)
    slope_h = sum((ti - tm) * (v - ym) for ti, v in pts) / var * 3600 if var else 0.0
    growth = (q4 - q1) / q1 * 100 if q1 else 0.0
    return {"samples": len(pts), "window_s": [round(start), round(end)], "first_quarter_mean": round(q1, 3),
            "last_quarter_mean": round(q4, 3), "growth_pct": round(growth, 2), "slope_per_h": round(slope_h, 3),
            "slope_pct_per_h": round(slope_h / ym * 100, 2) if ym else 0.0,
            "min": round(min(p[1] for p in pts), 3), "max": round(max(p[1] for p in pts), 3),
            "pass": growth <= BOUND_PCT}


def verdicts(rows: list[dict], series: dict[str, bool], run_s: float, reload_s: float | None) -> dict:
    """flatness() of each named series; `series` says whether it belongs to the wall's page (cut at the reload)."""
    t = [r["t_s"] for r in rows]
    return {name: flatness(t, [r.get(name) for r in rows], run_s, reload_s if page else None)
            for name, page in series.items()}


def write_csv(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def describe(summary: dict) -> str:
    """The summary as a few lines of text (the CLI prints it)."""
    w, d = summary["wall"], summary["wall_days"]
    lines = [f"soak {summary['run_s'] / 60:.1f} min, {summary['samples']} samples every {summary['sample_s']:g} s, "
             f"load average {summary['load_average']}; verdict: {'PASS' if summary['pass'] else 'FAIL'}",
             f"wall: {w['loads']} loads ({w['reloads']} reloads at {w['reload_at_s']} s, reload_hour "
             f"{summary['reload_hour']}), {w['flips']} flips, {w['snapshots_seen']} snapshots seen "
             f"({summary['etl']['published']} published), {w['panel_refreshes']} refreshes, {w['polls']} polls; "
             f"{w['console_errors']} console errors, {w['failed_requests']} failed requests "
             f"({w['aborted_requests']} aborted by a navigation), {w['non_local_requests']} non-local",
             "wall-days at production defaults: " + ", ".join(f"{k} {v}" for k, v in d.items()),
             f"checks: {summary['checks']}" + (f"; died: {summary['died']}" if summary["died"] else ""),
             f"bound: {summary['bound']}"]
    for name, v in summary["flat"].items():
        if v.get("pass") is None:
            lines.append(f"  {name:<18} {v.get('why')}")
            continue
        lines.append(f"  {name:<18} {'pass' if v['pass'] else 'FAIL'}  first quarter {v['first_quarter_mean']:>10.2f}"
                     f"  last quarter {v['last_quarter_mean']:>10.2f}  growth {v['growth_pct']:>6.2f}%  "
                     f"slope {v['slope_per_h']:>9.2f}/h ({v['slope_pct_per_h']:.2f}%/h)  n={v['samples']}")
    return "\n".join(lines)

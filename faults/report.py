"""docs/reliability.md from one `cockpit.py faults` run: the figures the fault tests recorded (one JSON
line each, tests/helpers.py fault_figure) and the soak's summary (faults/soak.py), with the date, the
command and the machine's load. Nothing here measures; it only writes down what was measured."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

HEAD = """# Reliability: faults tried with real processes, and what they cost

Written by `{command}` on {date} ({machine}; load average {load} at the end, from the run itself and
whatever else the shared machine ran). Every row is a test with real processes: real redis-server (and
Sentinels), real Python ETL and gunicorn processes, PostgreSQL servers the tests start and stop, a SQLite
copy of a simulated city. The tests assert behaviour (no half snapshot, nothing lost, never a 5xx, stale
marked); the seconds are what the runs measured, never asserted. `python3 cockpit.py test` runs the same
tests in their short variants (the source down 3 s instead of 10 minutes, Redis down 3 s instead of 20).
"""

TABLE = """| fault | what the screens showed | seconds to recover | events lost | errors seen | test |
|---|---|---|---|---|---|
"""

FOUND = """## What the soaks found, and what became of it

- A fresh gunicorn gthread worker answered some of a page's first script requests with 500 (Dash runs its
  set-up in the first request and sets its flag before the work, plotly/dash#3971): a wall opened, or
  reloaded at night, against a worker just started or recycled stayed blank. Fixed: the set-up runs when the
  app is built (`dashboard/service.py` set_up_before_serving; `tests/test_first_requests.py`).
- redis-server's memory followed the publish rate: superseded snapshots were kept 300 s at ~2.5 MB a
  publish (first soak: 173 → 460 MB as the machine's load fell and ticks quickened). `COCKPIT_SNAPSHOT_KEEP_S`
  is now 60 s; a reader needs the old frames only between its manifest read and its MGET. The second soak
  (below, with 60 s, publishing 0.9 a second, 2.4× the first) still fails the 10 % bound: Redis's used memory
  swings between 360 and 510 MB with the publish rate after the first 20 minutes, without a trend, and its
  keys grow 4 % (92k → 96k: timelines of events written at 24× a day's rate while their 30-day expiry runs
  at real time). Bounded at production rates, but not shown flat by this run.
- With the ETL as its own service and the web tier at `COCKPIT_RUN_ETL=false` (deploy/), no process built
  the daily briefing. Fixed: the ETL alone starts the same background work as a web process that runs the
  ETL (`start_background_work`).
- APScheduler logged a warning a second while a tick outlasted its interval; filtered (one run at a time is
  the design).
- Not fixed: the wall's JS heap gains ~1.8 MB/h because dash-renderer keeps an undo-history entry per
  `dcc.Interval` tick; Chromium's own memory climbs ~88 MB/h outside the heap. The daily reload
  (`?reload_hour=`, default `COCKPIT_WALL_RELOAD_HOUR`) clears both; a wall with `reload_hour=-1` keeps
  growing. The reload fires in the reload hour once the page has been open an hour (the guard against a
  reload loop), so a wall opened at 03:30 with `reload_hour=4` reloads at 04:30.
"""

LIMITS = """## Known limits

- After a Sentinel failover, writes the old master had not yet replicated are lost: the manifest may step
  back one version, and the next publish may reuse a version number the screens saw before. Readers
  compare versions for inequality, so they reload; the ETL, seeing a manifest that is not the one it
  published, republishes every frame.
- A SQLite source made unreadable is tried as a file replaced by a non-database, with an ETL that holds no
  connection (restarted meanwhile): a running ETL's pooled connections keep the old file open across a
  rename or a chmod (and as root chmod stops nothing), so it goes on reading the moved file, which is the
  right outcome but not an outage.
- Every source read has a statement timeout (`COCKPIT_SOURCE_TIMEOUT_S`): PostgreSQL's `statement_timeout`
  (psycopg and ADBC), MySQL/MariaDB's, SQLite's progress handler, and the SQLite bulk read's child process
  killed at the same limit.
- The leader TTL in most of these tests is 3 s; in production `COCKPIT_LEADER_TTL_S` is 15 s, so a takeover
  takes about 12 s more than measured here (the takeover section above is measured at 15 s).
"""


def fault_rows(path: Path) -> list[dict]:
    """The figures the tests recorded, in the order they ran (a test run twice keeps its last figure)."""
    if not path.exists():
        return []
    rows: dict[tuple[str, str], dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if "fault" in row:  # not the run's pytest summary
                rows[(row["test"], row["fault"])] = row
    return list(rows.values())


def _cell(value) -> str:
    return "—" if value is None or value == "" else str(value).replace("|", "/").replace("\n", " ")


def faults_table(rows: list[dict]) -> str:
    lines = [f"| {_cell(r['fault'])} | {_cell(r['shown'])} | {_cell(r['recover_s'])} | {_cell(r['lost'])} | "
             f"{_cell(r['errors'])} | `{r['test'].split('::')[-1]}` |" for r in rows]
    return TABLE + "\n".join(lines) + "\n"


def soak_section(s: dict | None) -> str:
    if s is None:
        return "## A week on the wall in an hour\n\nNot run this time (`--soak-minutes 0`).\n"
    w, d = s["wall"], s["wall_days"]
    out = ["## A week on the wall in an hour (`faults/soak.py`)\n",
           (f"Run separately: `{s['command']}`. " if s.get("command") else "") +
           f"{s['run_s'] / 60:.0f} minutes from {s['started']}: the demo's simulator writing "
           f"{s['etl']['events_written']:,} events, the ETL publishing {s['etl']['published']:,} snapshots, the wall "
           f"(1920×1080, headless Chromium) on `{w['url']}` with the carousel running; every process sampled every "
           f"{s['sample_s']:g} s ({s['samples']} samples). Verdict: **{'flat' if s['pass'] else 'NOT flat'}** "
           f"(bound: {s['bound']}).\n",
           f"The wall: {w['loads']} page loads ({w['reloads']} daily reload(s), at {w['reload_at_s']} s, "
           f"`reload_hour={s['reload_hour']}`), {w['flips']:,} page flips, {w['snapshots_seen']:,} snapshots seen, "
           f"{w['polls']:,} polls; {w['console_errors']} console errors, {w['failed_requests']} failed requests, "
           f"{w['non_local_requests']} requests off the machine. At production defaults that is "
           + ", ".join(f"{v:g} days of {k}" for k, v in d.items()) + ".\n",
           "| series | first quarter | last quarter | growth | slope | samples | flat |",
           "|---|---|---|---|---|---|---|"]
    for name, v in s["flat"].items():
        if v.get("pass") is None:
            out.append(f"| {name} | — | — | — | — | {v.get('samples', 0)} | {v.get('why', '—')} |")
        else:
            out.append(f"| {name} | {v['first_quarter_mean']:,.1f} | {v['last_quarter_mean']:,.1f} | "
                       f"{v['growth_pct']:+.1f} % | {v['slope_pct_per_h']:+.2f} %/h | {v['samples']} | "
                       f"{'yes' if v['pass'] else '**no**'} |")
    checks = ", ".join(f"{k}: {'yes' if v else ('—' if v is None else '**no**')}" for k, v in s["checks"].items())
    out.append(f"\nChecks: {checks}.\n")
    return "\n".join(out)


KEPT = ("<!-- kept: ", "<!-- /kept -->")


def kept_sections(path: Path) -> str:
    """The sections of the file written by other commands (bench/takeover.py's runs), between `<!-- kept: what -->`
    and `<!-- /kept -->`: carried over as they are when the report is written again."""
    if not path.exists():
        return ""
    text, out, at = path.read_text(encoding="utf-8"), [], 0
    while (start := text.find(KEPT[0], at)) >= 0 and (end := text.find(KEPT[1], start)) >= 0:
        out.append(text[start:end + len(KEPT[1])] + "\n")
        at = end
    return "\n".join(out)


def write_report(out: Path, figures: Path, soak: dict | None, command: str, tests: str = "") -> str:
    """Render docs/reliability.md; returns the text written."""
    kept = kept_sections(out)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    rows = fault_rows(figures)
    text = "\n".join([
        HEAD.format(command=command, date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine=machine, load=load),
        "## Faults\n", faults_table(rows) if rows else "No fault test recorded a figure (did they run?).\n",
        f"The fault tests: {tests}. Among them, bad input everywhere a client reaches (`tests/test_bad_input.py`: "
        "malformed callback bodies, wrong types, bodies over 1 MiB, undecodable bytes, and hypothesis fuzzing the "
        "callback endpoint, routes and raw query bytes) gets 400/401/403/413 with a short message, never a 500, "
        "and a refusal never names a region.\n" if tests else "",
        kept, soak_section(soak), FOUND, LIMITS])
    out.write_text(text, encoding="utf-8")
    return text

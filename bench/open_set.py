"""The open_set watermark's cost (docs/benchmarks.md): `python -m bench.open_set --events 1000000`.

Generates a year of events into a SQLite source (bench/generate.py), then pulls it through the ETL's ledger
(etl/state/event_ledger.py) with the demo's mapping under watermark kind `open_set` (new rows by row_id, the
open events re-read by event_id, 5,000 ids a select) and, for comparison, under `update_time`; each tick
follows a burst of changes (bench/generate.py touch_events: new events and open ones closed). Prints JSON:
the open events, the ids re-read, the source seconds a tick (the re-read alone, and the whole pull)."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from bench.generate import generate, touch_events
from config.city import load_city
from config.clock import now_local
from config.settings import ROOT, load_settings
from etl.source.mapped_read import EventSource
from etl.source.mapping import load_mapping
from etl.source.schema import source_engine, writable_engine
from etl.state.event_ledger import EventLedger

DEMO = ROOT / "config" / "sources" / "demo.toml"


def mapping_file(folder: Path, kind: str) -> Path:
    """The demo's mapping with the watermark `kind` (open_set: by row_id)."""
    old = '[events.watermark]\nkind = "update_time"\n'
    text = DEMO.read_text(encoding="utf-8")
    assert old in text, "config/sources/demo.toml's watermark changed: update bench/open_set.py"
    if kind == "open_set":
        text = text.replace(old, '[events.watermark]\nkind = "open_set"\ncolumn = "row_id"\n')
    path = folder / f"{kind}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(url: str, writer, city, kind: str, folder: Path, now, ticks: int, burst: int) -> dict:
    source = EventSource(load_mapping(mapping_file(folder, kind)), city)
    engine = source_engine(url)
    ledger = EventLedger(city, source)
    t0 = time.perf_counter()
    ledger.pull(engine, now)
    first = time.perf_counter() - t0
    pulls, rereads, passed = [], [], []
    for k in range(1, ticks + 1):
        at = now + timedelta(seconds=5 * k)
        touch_events(writer, city, burst // 2, burst - burst // 2, at, 500 + k)
        t0 = time.perf_counter()
        stats = ledger.pull(engine, at + timedelta(seconds=1))
        pulls.append(time.perf_counter() - t0)
        passed.append(stats["read"])
        if kind == "open_set":
            rereads.append(source.open_stats["seconds"])
    out = {"first_read_s": round(first, 2), "tick_pull_ms_p50": round(1000 * statistics.median(pulls), 1),
           "tick_pull_ms_max": round(1000 * max(pulls), 1), "rows_passed_on_per_tick": statistics.median(passed)}
    if kind == "open_set":
        out |= {"open_events": source.open_stats["open"], "ids_reread_per_tick": source.open_stats["reread"],
                "selects_per_tick": source.open_stats["chunks"],
                "reread_ms_p50": round(1000 * statistics.median(rereads), 1), "reread_ms_max": round(1000 * max(rereads), 1)}
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.open_set", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--burst", type=int, default=100, help="changes before each tick: half new events, half closes")
    ap.add_argument("--open-share", type=float, default=0.0,
                    help="also reopen this share of the events (closed_at cleared, every k-th row): a larger open set")
    ap.add_argument("--pg-url", default=None, help="a PostgreSQL database to fill instead of a SQLite file (created if missing)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse", action="store_true", help="keep the source an earlier run generated (the workdir's "
                    "source.db, or the --pg-url database)")
    ap.add_argument("--kinds", default="open_set,update_time")
    a = ap.parse_args(argv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="cockpit-openset-"))
    work.mkdir(parents=True, exist_ok=True)
    city = load_city(load_settings().city_dir)
    url = a.pg_url or f"sqlite:///{work / 'source.db'}"
    if a.pg_url:
        from bench.run import ensure_database

        ensure_database(url)
    writer = writable_engine(url)
    now = now_local(city.timezone).replace(microsecond=0)
    reuse = a.reuse and (bool(a.pg_url) or (work / "source.db").exists())
    gen = {"seconds": 0.0} if reuse else generate(writer, city, a.events, now, n_cameras=100, n_iot=100)
    if a.open_share > 0 and not reuse:
        with writer.begin() as c:
            c.execute(text(f"UPDATE events SET closed_at = NULL WHERE row_id % {max(1, round(1 / a.open_share))} = 0"))
    report = {"events": a.events, "generate_s": round(gen["seconds"], 1), "backend": writer.dialect.name,
              "ticks": a.ticks, "burst": a.burst, "open_share_added": a.open_share}
    for kind in a.kinds.split(","):
        report[kind] = run(url, writer, city, kind, work, now, a.ticks, a.burst)
        now += timedelta(minutes=5)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

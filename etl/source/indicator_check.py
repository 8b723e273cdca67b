"""`python3 cockpit.py indicators check`: read every feed of the indicator catalogue (COCKPIT_INDICATORS; the
demo's config/indicators/demo.toml when empty) and write nothing. Per indicator: rows read (the last
--days days), the latest time and whether it is late, values quarantined and why (out of range, bad time,
bad value, future time), rows naming a region the city does not have, the read's duration or its error;
then the slowest read. The feeds are read side by side, each with its connection's timeout. Exits 2
naming the file and key when the catalogue is wrong, 1 when a feed cannot be read, 0 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from config.indicators import DEMO_INDICATORS, Catalogue, IndicatorError, load_catalogue
from etl.source.indicator_feeds import canonical_rows, make_readers
from etl.source.placement import Placer


def check(cat: Catalogue, city, source_url: str, now: pd.Timestamp, days: float = 90.0) -> dict:
    """The report (plain data): one entry per indicator and the slowest read."""
    readers = make_readers(cat, city, source_url)
    placer = Placer(city)
    since = now - pd.Timedelta(days=days)

    def one(ind):
        conn = cat.connections[ind.source.connection]
        t0 = time.perf_counter()
        try:
            raw = readers[ind.id].read(since)
        except Exception as exc:  # noqa: BLE001 - reported, the other feeds go on
            return {"id": ind.id, "ok": False, "error": str(exc)[:300], "read_s": round(time.perf_counter() - t0, 3)}
        secs = time.perf_counter() - t0
        rows, bad, unknown = canonical_rows(raw, ind, placer, city, now, conn.timezone or city.timezone)
        latest = rows["time"].max() if not rows.empty else None
        late = latest is None or (now - latest).total_seconds() > ind.late_after_s
        return {"id": ind.id, "name": ind.name, "ok": True, "rows": int(len(raw)), "read_s": round(secs, 3),
                "latest": None if latest is None else latest.isoformat(), "late": bool(late),
                "quarantined": {str(k): int(v) for k, v in bad["reason"].value_counts().items()},
                "unknown_regions": unknown, "sites": int(rows["site"].nunique()) if not rows.empty else 0}

    with ThreadPoolExecutor(max_workers=4) as pool:
        feeds = list(pool.map(one, cat.indicator))
    slowest = max(feeds, key=lambda f: f["read_s"], default=None)
    return {"catalogue": cat.path, "as_of": now.isoformat(), "days": days, "indicators": feeds,
            "slowest": None if slowest is None else {"id": slowest["id"], "read_s": slowest["read_s"]},
            "failing": [f["id"] for f in feeds if not f["ok"]]}


def _print(report: dict) -> None:
    print(f"indicators check: {report['catalogue']} (last {report['days']:g} days to {report['as_of']}); nothing written")
    print(f"{'indicator':<22} {'rows':>8} {'latest':<20} {'late':<5} {'quarantined':<24} {'unknown':>7} {'read s':>7}")
    for f in report["indicators"]:
        if not f["ok"]:
            print(f"{f['id']:<22} FAILED after {f['read_s']} s: {f['error']}")
            continue
        q = ", ".join(f"{k} {v}" for k, v in f["quarantined"].items()) or "-"
        print(f"{f['id']:<22} {f['rows']:>8} {str(f['latest'])[:19]:<20} {'LATE' if f['late'] else '-':<5} "
              f"{q:<24} {f['unknown_regions']:>7} {f['read_s']:>7}")
    if report["slowest"]:
        print(f"slowest read: {report['slowest']['id']} ({report['slowest']['read_s']} s)")


def main(argv: list[str] | None = None) -> int:
    from config.city import load_city
    from config.clock import now_local
    from config.settings import load_settings

    ap = argparse.ArgumentParser(prog="cockpit.py indicators", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check"])
    ap.add_argument("--catalogue", help="indicator file (default: COCKPIT_INDICATORS, else the demo's)")
    ap.add_argument("--source-url", help="the source database for same_as_source connections (default: COCKPIT_SOURCE_URL)")
    ap.add_argument("--days", type=float, default=None, help="how far back to read (default: COCKPIT_INDICATORS_NATIVE_DAYS)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    a = ap.parse_args(argv)
    settings = load_settings()
    city = load_city(settings.city_dir)
    try:
        cat = load_catalogue(a.catalogue or settings.indicators or DEMO_INDICATORS)
    except IndicatorError as exc:
        print(f"indicators check: {exc}", file=sys.stderr)
        return 2
    now = pd.Timestamp(now_local(city.timezone)).tz_localize(None)
    report = check(cat, city, a.source_url or settings.source_url, now, a.days or settings.indicators_native_days)
    print(json.dumps(report, ensure_ascii=False, indent=1)) if a.json else _print(report)
    return 1 if report["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())

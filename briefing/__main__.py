"""`python -m briefing --day 2026-11-30 --out DIR [--region CODE]`: build the daily briefings (日报) from
the snapshot now in Redis (COCKPIT_REDIS_URL, COCKPIT_REDIS_PREFIX; the city from COCKPIT_CITY_DIR): the
city, every district and street, or with --region that region and the districts and streets under it.
Prints one line per file and the total time; exit code 2 with a message for a bad argument or setting."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from briefing.data import LEVELS
from briefing.pdf import build_all
from config.city import CityConfigError, load_city
from config.labels import set_language
from config.settings import SettingsError, load_settings
from queries.department_views import score_weights as department_weights
from queries.window_views import score_weights
from snapshots.reader import SnapshotReader


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m briefing", description=__doc__.split("\n\n")[0])
    p.add_argument("--day", help="local day yyyy-mm-dd (default: the day before the snapshot's as_of)")
    p.add_argument("--out", required=True, type=Path, help="folder; files go to OUT/<day>/<code>.pdf")
    p.add_argument("--region", help="a city, district or street code (default: the whole city)")
    args = p.parse_args(argv)
    try:
        settings = load_settings()
        city = load_city(settings.city_dir)
    except (SettingsError, CityConfigError) as exc:
        print(f"briefing: {exc}", file=sys.stderr)
        return 2
    if not settings.redis_url:
        print("briefing: COCKPIT_REDIS_URL is required (the snapshot is read from Redis)", file=sys.stderr)
        return 2
    set_language(settings.lang)
    if args.region and (args.region not in city or city.level_of(args.region) not in LEVELS):
        print(f"briefing: --region {args.region} is not a city, district or street of {city.name}", file=sys.stderr)
        return 2
    import redis

    snap = SnapshotReader(redis.Redis.from_url(settings.redis_url), settings.redis_prefix).current()
    if snap.version is None:
        print(f"briefing: no snapshot in Redis at {settings.redis_url} (prefix {settings.redis_prefix})", file=sys.stderr)
        return 2
    try:
        day = date.fromisoformat(args.day) if args.day else snap.as_of.date() - timedelta(days=1)
    except ValueError:
        print(f"briefing: --day {args.day!r} is not a date yyyy-mm-dd", file=sys.stderr)
        return 2
    report = build_all(snap, city, day, args.out, {**score_weights(settings), **department_weights(settings)}, settings.history_days, args.region)
    sizes = sorted(report.files.values())
    for code, n in report.files.items():
        print(f"{args.out / day.isoformat() / (code + '.pdf')}\t{n / 1024:.0f} KiB")
    print(f"{len(sizes)} briefings for {day} in {report.seconds:.1f} s ({report.seconds / max(len(sizes), 1):.2f} s each); "
          f"size min {sizes[0] / 1024:.0f} KiB, median {sizes[len(sizes) // 2] / 1024:.0f} KiB, "
          f"max {sizes[-1] / 1024:.0f} KiB, total {sum(sizes) / 1024 / 1024:.1f} MiB" if sizes else "no briefings")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ETL alone, no web server: `python -m dashboard.etl` (`python3 cockpit.py etl`), settings from
the environment. For deployments that run the ETL as its own service (deploy/) and the web tier with
COCKPIT_RUN_ETL=false. Any number may run: the Redis leader lock elects one, the others wait to take
over. SIGTERM (systemd, docker stop) shuts the scheduler down and releases the lock, so a standby
takes over at its next election instead of after the lock's TTL."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from config.city import CityConfigError, load_city
from config.settings import SettingsError, load_settings

log = logging.getLogger("cockpit.etl")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m dashboard.etl", description=__doc__).parse_args(argv)
    from dashboard.__main__ import configure_logging
    from dashboard.metrics import configure_log_format
    from dashboard.service import redis_client, start_background_work
    from snapshots.reader import SnapshotReader

    configure_logging()
    try:
        settings = load_settings()
        configure_log_format(settings.log_format)
        city = load_city(settings.city_dir)
        client = redis_client(settings)
        # the ETL, 督办 delivery, audit retention and the briefing's morning build: all that runs where the ETL runs
        sched = start_background_work(settings, city, client, SnapshotReader(client, settings.redis_prefix))
    except (SettingsError, CityConfigError) as exc:
        print(f"cockpit etl: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("ETL scheduler running (%s); waiting for the leader lock or holding it", sched.leader.identity)
    stop.wait()
    sched.shutdown()  # releases the lock if we hold it
    log.info("ETL scheduler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

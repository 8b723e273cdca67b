"""Run the product: `python -m dashboard` (`python3 cockpit.py run`), settings from the environment
only. The demo (embedded Redis, simulated source) is `python -m demo` (`python3 cockpit.py demo`)."""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from config.city import CityConfigError, load_city
from config.settings import Settings, SettingsError, load_settings
from etl.source.mapping import MappingError

log = logging.getLogger("cockpit")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def port_free(host: str, port: int) -> None:
    """Raise SettingsError naming COCKPIT_PORT if another program listens on (host, port): checked before the ETL's
    threads start, which would otherwise keep a process whose server could not start running."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server sets it: a closed port's TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SettingsError(f"COCKPIT_PORT: port {port} on {host} is in use ({exc.strerror}); "
                                "stop the program that holds it or set COCKPIT_PORT to another port") from None


def serve(build, **overrides) -> int:
    """Load the settings and the city, build the app with `build(settings, city)`, and serve it; a bad
    setting or city folder stops with exit code 2 and a message naming it."""
    try:
        settings: Settings = load_settings(**overrides)
        city = load_city(settings.city_dir)
        from dashboard.auth import secret_key

        secret_key(settings)  # outside the demo: stop now, naming COCKPIT_SECRET_KEY
        port_free(settings.host, settings.port)  # before anything starts (the ETL, the demo's Redis and simulator)
        app = build(settings, city)
    except (SettingsError, CityConfigError, MappingError) as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2
    settings = app.server.config["COCKPIT"].settings
    log.info("cockpit at http://%s:%d/ (screens /big /medium /small, health /health)", settings.host, settings.port)
    app.run(host=settings.host, port=settings.port, debug=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m dashboard", description=__doc__).parse_args(argv)
    configure_logging()
    from dashboard.service import build_app

    return serve(build_app)


if __name__ == "__main__":
    sys.exit(main())

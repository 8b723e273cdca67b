"""Run the cockpit: `python -m dashboard` (production settings from the environment) or
`python -m dashboard --demo` (embedded Redis, SQLite source filled and fed by the simulator)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

import redis

from config.city import CityConfigError, load_city
from config.settings import SettingsError, load_settings
from etl.embedded_redis import EmbeddedRedis
from etl.jobs import EtlJobs, now_local
from etl.scheduler import EtlScheduler
from etl.snapshot_store import SnapshotStore
from etl.source_schema import source_engine

log = logging.getLogger("cockpit")


def alert_thresholds(settings):
    from etl.transforms.alerts import AlertThresholds

    return AlertThresholds(settings.alert_overdue_min, settings.alert_spike_factor, settings.alert_spike_min,
                           settings.alert_camera_online_min)


def start_simulator(settings, city, engine) -> threading.Thread:
    from etl.simulator import Simulator

    sim = Simulator(engine, city, seed=settings.sim_seed, events_per_day=settings.sim_events_per_day)
    t0 = time.perf_counter()
    n = sim.backfill(settings.sim_backfill_days, now_local(city.timezone))
    if n:
        log.info("simulator: wrote %d events of history in %.1fs", n, time.perf_counter() - t0)

    def loop():
        while True:
            time.sleep(settings.sim_tick_s)
            try:
                sim.tick(now_local(city.timezone))
            except Exception:  # the demo source must keep going
                log.exception("simulator tick failed")

    t = threading.Thread(target=loop, name="simulator", daemon=True)
    t.start()
    return t


# The demo's users (README "Demo credentials"): one per role, and a wall token. Demo only.
DEMO_USERS = [("leader", "leader-demo", "city", "3201"), ("xuanwu", "xuanwu-demo", "district", "320102"),
              ("meiyuan", "meiyuan-demo", "street", "320102002"), ("grid1", "grid1-demo", "grid", "320102002001")]
DEMO_WALL_TOKEN = ("demo-wall", "demo-wall-token", "3201")


def ensure_demo_users(settings, city) -> None:
    """Create the demo users (if missing) and print how to sign in."""
    from dashboard.user_store import UserStore

    store = UserStore(settings.app_db_url)
    have = {u.name for u in store.users()}
    for name, password, role, region in DEMO_USERS:
        if name not in have:
            store.add_user(name, password, role, region, city)
    store.set_token(DEMO_WALL_TOKEN[0], DEMO_WALL_TOKEN[1], DEMO_WALL_TOKEN[2], city)
    lines = [f"  {name:<8} / {password:<13} {role:<8} {region}" for name, password, role, region in DEMO_USERS]
    log.info("demo sign-in (user / password, role, region):\n%s\n  wall display: /big?token=%s",
             "\n".join(lines), DEMO_WALL_TOKEN[1])


def build_app(settings, city):
    """Everything the settings ask for (embedded Redis, simulator, ETL scheduler), then the app."""
    if not settings.redis_url:
        embedded = EmbeddedRedis().start()
        settings = settings.model_copy(update={"redis_url": embedded.url})
        log.info("embedded Redis at %s", embedded.url)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    engine = source_engine(settings.source_url)
    if settings.simulate:
        ensure_demo_users(settings, city)
        start_simulator(settings, city, engine)
    if settings.run_etl:
        jobs = EtlJobs(engine, city, SnapshotStore(client, settings.redis_prefix, settings.snapshot_keep_s),
                       settings.future_tolerance_s, settings.quarantine_keep,
                       alert_thresholds=alert_thresholds(settings), history_days=settings.history_days,
                       timeline_days=settings.timeline_days)
        EtlScheduler(jobs, client, settings.redis_prefix, settings.leader_ttl_s,
                     {"events": settings.events_interval_s, "devices": settings.cameras_interval_s,
                      "safety": settings.safety_interval_s}).start()
    from dashboard.app import create_app

    return create_app(settings, city, client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    parser.add_argument("--demo", action="store_true", help="simulate the source (sets COCKPIT_SIMULATE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        settings = load_settings(**({"simulate": True} if args.demo else {}))
        city = load_city(settings.city_dir)
        from dashboard.auth import secret_key

        secret_key(settings)  # outside the demo: stop now, naming COCKPIT_SECRET_KEY
    except (SettingsError, CityConfigError) as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2
    try:
        app = build_app(settings, city)
    except SettingsError as exc:
        print(f"cockpit: {exc}", file=sys.stderr)
        return 2
    settings = app.server.config["COCKPIT"].settings
    log.info("cockpit at http://%s:%d/ (screens /big /medium /small, health /health)", settings.host, settings.port)
    app.run(host=settings.host, port=settings.port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

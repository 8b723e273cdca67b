"""The demo: `python -m demo` (`python3 cockpit.py demo`). An embedded Redis, a SQLite source filled
with history and fed live by the simulator, the demo users, then the product as in production."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from config.clock import now_local
from dashboard.__main__ import configure_logging, serve

log = logging.getLogger("cockpit.demo")

# The demo's users (README "Demo credentials"): one per role, and a wall token. Demo only. Their regions
# follow the city model (COCKPIT_CITY_DIR): the city, its first district, that district's first street and
# that street's first community (in Nanjing 3201, 320102 玄武区, 320102002 梅园新村街道, 320102002001).
DEMO_USERS = [("leader", "leader-demo", "city"), ("xuanwu", "xuanwu-demo", "district"),
              ("meiyuan", "meiyuan-demo", "street"), ("grid1", "grid1-demo", "grid")]
DEMO_WALL_TOKEN = ("demo-wall", "demo-wall-token")
# A department user (条): 住建 (the demo's slow department) within the first district, when the city's catalogue has it
DEMO_DEPT_USER = ("zhujian", "zhujian-demo", "ZJ")


def demo_regions(city) -> list[str]:
    """The regions of the demo users in `city`: the city, then the first child of each, down to a community."""
    codes = [city.code]
    for _ in range(3):
        kids = city.children(codes[-1])
        codes.append(str(kids["code"].min()))
    return codes


def demo_users(city) -> list[tuple[str, str, str, str]]:
    """(name, password, role, region) of each demo user in `city`."""
    return [(*user, region) for user, region in zip(DEMO_USERS, demo_regions(city))]


def start_simulator(settings, city, engine) -> threading.Thread:
    from demo.hotline_source import HotlineSimulator
    from demo.simulator import Simulator

    shape = HotlineSimulator if settings.sim_source_shape == "hotline" else Simulator  # a foreign source, or ours
    sim = shape(engine, city, seed=settings.sim_seed, events_per_day=settings.sim_events_per_day)
    t0 = time.perf_counter()
    n = sim.backfill(settings.sim_backfill_days, now_local(city.timezone))
    if n:
        log.info("simulator: wrote %d events of history in %.1fs", n, time.perf_counter() - t0)

    vitals = start_vital_signs(settings, city, engine)

    def loop():
        while True:
            time.sleep(settings.sim_tick_s)
            try:
                sim.tick(now_local(city.timezone))
                if vitals is not None:
                    vitals.tick(now_local(city.timezone).replace(tzinfo=None))
            except Exception:  # the demo source must keep going
                log.exception("simulator tick failed")

    t = threading.Thread(target=loop, name="simulator", daemon=True)
    t.start()
    return t


def start_vital_signs(settings, city, engine):
    """The demo's city vital signs (demo/vital_signs.py): 15 days of feeds in the demo source, and the public-
    opinion API on 127.0.0.1:8061 (config/indicators/demo.toml), when the demo reads its own indicators."""
    from config.indicators import DEMO_INDICATORS
    from demo.vital_signs import OpinionEndpoint, VitalSignsSimulator

    if settings.indicators != str(DEMO_INDICATORS):
        return None
    vitals = VitalSignsSimulator(engine, city, seed=settings.sim_seed)
    vitals.backfill(min(settings.sim_backfill_days, 15), now_local(city.timezone).replace(tzinfo=None))
    try:
        OpinionEndpoint(port=8061, timezone=city.timezone).start()
    except OSError as exc:  # the port is taken: that one feed shows stale, the rest of the wall goes on
        log.warning("opinion API not started on 127.0.0.1:8061 (%s): its tiles will show stale", exc)
    return vitals


def ensure_demo_users(settings, city) -> None:
    """Create the demo users (if missing) and print how to sign in."""
    from config.departments import load_departments
    from dashboard.user_store import UserStore

    store = UserStore(settings.app_db_url)
    have = {u.name for u in store.users()}
    users = demo_users(city)
    for name, password, role, region in users:
        if name not in have:
            store.add_user(name, password, role, region, city)
    store.set_token(DEMO_WALL_TOKEN[0], DEMO_WALL_TOKEN[1], city.code, city)
    catalogue = load_departments(city.folder)
    dept_name, dept_password, dept = DEMO_DEPT_USER
    if dept in catalogue:
        if dept_name not in have:
            store.add_user(dept_name, dept_password, "department", users[1][3], city, dept, catalogue)
        users = [*users, (dept_name, dept_password, f"department {dept}", users[1][3])]
    lines = [f"  {name:<8} / {password:<13} {role:<8} {region} {city.names[region]}"
             for name, password, role, region in users]
    log.info("demo sign-in (user / password, role, region):\n%s\n  wall display: /big?token=%s",
             "\n".join(lines), DEMO_WALL_TOKEN[1])


def build_demo(settings, city):
    """An embedded Redis (unless COCKPIT_REDIS_URL names one), the simulator and demo users, then the app."""
    from dashboard.service import build_app
    from demo.embedded_redis import EmbeddedRedis
    from etl.source.schema import writable_engine

    if not settings.redis_url:
        embedded = EmbeddedRedis().start()
        settings = settings.model_copy(update={"redis_url": embedded.url})
        log.info("embedded Redis at %s", embedded.url)
    if settings.sim_source_shape == "hotline":  # read through the hotline's mapping, from a database of its own
        from config.settings import ROOT

        update = {} if settings.source_mapping else {
            "source_mapping": str(ROOT / "config" / "sources" / "examples" / "hotline.toml")}
        if settings.source_url == type(settings).model_fields["source_url"].default:
            update["source_url"] = f"sqlite:///{ROOT / 'data' / 'hotline.db'}"
        settings = settings.model_copy(update=update)
    if not settings.indicators and settings.sim_source_shape == "demo":  # the demo's vital signs by default
        from config.indicators import DEMO_INDICATORS

        settings = settings.model_copy(update={"indicators": str(DEMO_INDICATORS)})
    ensure_demo_users(settings, city)
    # the simulator is the one writer of the demo's source; the product reads it read-only (etl/source/schema.py)
    start_simulator(settings, city, writable_engine(settings.source_url))
    return build_app(settings, city)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    ap.add_argument("--source-shape", choices=["demo", "hotline"], default=None,
                    help="the source the simulator writes (COCKPIT_SIM_SOURCE_SHAPE): our tables or a 12345 work-order table")
    a = ap.parse_args(argv)
    configure_logging()
    extra = {"sim_source_shape": a.source_shape} if a.source_shape else {}
    return serve(build_demo, simulate=True, **extra)


if __name__ == "__main__":
    sys.exit(main())

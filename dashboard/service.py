"""The product as a service: the ETL scheduler (when this process runs it) and the web app, from the
settings. Production entry points (`python -m dashboard`, `dashboard/wsgi.py`) and the demo
(`demo/__main__.py`) all build it here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dash
import redis

from config.city import City
from config.settings import Settings, SettingsError
from dashboard.app import create_app
from snapshots.reader import SnapshotReader

if TYPE_CHECKING:
    from etl.jobs import EtlJobs
    from etl.scheduler import EtlScheduler


def sentinel_addresses(value: str) -> list[tuple[str, int]]:
    """COCKPIT_REDIS_SENTINELS (host:port,host:port) as addresses; SettingsError naming it otherwise."""
    out = []
    for item in filter(None, (x.strip() for x in value.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(f"setting COCKPIT_REDIS_SENTINELS: {item!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


def redis_client(settings: Settings) -> redis.Redis:
    """The deployment's Redis: the master the Sentinels name (COCKPIT_REDIS_SENTINELS; the client finds
    the new master after a failover by itself), else COCKPIT_REDIS_URL, required outside the demo."""
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": 5}
    if settings.redis_sentinels:
        from redis.sentinel import Sentinel

        url = redis.connection.parse_url(settings.redis_url) if settings.redis_url else {}  # password, db
        sentinel = Sentinel(sentinel_addresses(settings.redis_sentinels), sentinel_kwargs={"socket_timeout": 2},
                            **timeouts)
        return sentinel.master_for(settings.redis_service, password=url.get("password"), db=url.get("db", 0),
                                   **timeouts)
    if not settings.redis_url:
        raise SettingsError("COCKPIT_REDIS_URL (or COCKPIT_REDIS_SENTINELS) is required outside the demo (every "
                            "process of a deployment must share one Redis; `python3 cockpit.py demo` starts an "
                            "embedded one)")
    return redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)


def start_etl(settings: Settings, city: City, client: redis.Redis):
    """The ETL scheduler in this process; the Redis leader lock lets one process of a deployment run the jobs."""
    from etl.jobs import EtlJobs
    from etl.scheduler import EtlScheduler
    from etl.source.schema import source_engine, writable_engine
    from etl.transforms.alerts import AlertThresholds
    from snapshots.store import SnapshotStore

    thresholds = AlertThresholds(settings.alert_overdue_min, settings.alert_spike_factor, settings.alert_spike_min,
                                 settings.alert_camera_online_min, settings.at_risk_hours,
                                 settings.alert_at_risk_min, settings.alert_dept_overdue,
                                 rule=settings.alert_rule, expected_factor=settings.alert_expected_factor,
                                 vitals_forecast_hours=settings.vitals_forecast_hours)
    from etl.source.check import check_columns
    from etl.source.mapping import load_mapping

    engine = source_engine(settings.source_url, settings.source_timeout_s)  # read-only (etl/source/schema.py)
    mapping = load_mapping(settings.source_mapping or None)
    check_columns(engine, mapping)  # a key naming a missing table or column stops start-up, naming file, key, column
    jobs = EtlJobs(engine, city,
                   SnapshotStore(client, settings.redis_prefix, settings.snapshot_keep_s),
                   settings.future_tolerance_s, settings.quarantine_keep, alert_thresholds=thresholds,
                   history_days=settings.history_days, timeline_days=settings.timeline_days,
                   app_engine=writable_engine(settings.app_db_url), mapping=mapping,
                   nearby_camera_m=settings.nearby_camera_m)
    jobs.indicators = indicator_feeds(settings, city)
    jobs.forecast_background = True  # the forecast's fit never holds the events tick (etl/jobs.py _forecast)
    return EtlScheduler(jobs, client, settings.redis_prefix, settings.leader_ttl_s, job_intervals(settings, jobs),
                        standby=settings.standby).start()


def job_intervals(settings: Settings, jobs: EtlJobs) -> dict[str, float]:
    """Each ETL job this deployment runs and its interval in seconds (the events job first: a new leader's first
    run has every job). The benches run the same set (bench/etl_process.py)."""
    return {"events": settings.events_interval_s, "devices": settings.cameras_interval_s,
            "safety": settings.safety_interval_s, "forecast": settings.forecast_interval_s,
            **({"indicators": settings.indicators_interval_s} if jobs.indicators else {}),
            **({"staff": settings.cameras_interval_s} if jobs.staff_source is not None else {})}


def indicator_feeds(settings: Settings, city: City):
    """The city vital signs' feeds of COCKPIT_INDICATORS (None without one); a wrong catalogue stops start-up
    naming the file and the key (config/indicators.py)."""
    from config.indicators import IndicatorError, load_catalogue
    from etl.source.indicator_feeds import make_readers
    from etl.state.indicator_series import IndicatorFeeds

    try:
        cat = load_catalogue(settings.indicators)
    except IndicatorError as exc:
        raise SettingsError(f"COCKPIT_INDICATORS: {exc}") from None
    if not cat.indicator:
        return None
    return IndicatorFeeds(cat, city, make_readers(cat, city, settings.source_url), settings.indicators_native_days,
                          future_tolerance_s=settings.future_tolerance_s)


def start_supervision_delivery(settings: Settings, tz: str = "Asia/Shanghai") -> None:
    """Deliver supervisions (督办) every few seconds; any number of processes may (rows are claimed)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from dashboard.supervision import SupervisionStore, deliver_due, delivery_channel
    from etl.source.schema import writable_engine

    channel = delivery_channel(settings, tz)
    if channel is None:  # COCKPIT_SUPERVISION_CHANNEL none: stored and shown, nothing written to a city's system
        return
    store = SupervisionStore(writable_engine(settings.app_db_url))
    sched = BackgroundScheduler(daemon=True)
    sched.add_job(deliver_due, "interval", seconds=5, args=[store, channel], max_instances=1, coalesce=True,
                  id="supervision-delivery")
    sched.start()


def start_audit_retention(settings: Settings, interval_s: float = 86400.0):
    """Delete audit rows older than COCKPIT_AUDIT_KEEP_DAYS now and then once a day (where the ETL runs;
    two standbys doing it too is harmless: the delete is idempotent). Returns the scheduler."""
    from datetime import datetime

    from apscheduler.schedulers.background import BackgroundScheduler

    from dashboard.user_store import UserStore

    store = UserStore(settings.app_db_url)
    sched = BackgroundScheduler(daemon=True)
    sched.add_job(store.prune_audit, "interval", seconds=interval_s, args=[settings.audit_keep_days],
                  max_instances=1, coalesce=True, id="audit-retention", next_run_time=datetime.now())
    sched.start()
    return sched


def build_app(settings: Settings, city: City, client: redis.Redis | None = None) -> dash.Dash:
    """The web app with the briefing's route, and, if settings.run_etl, the background work beside it."""
    client = client or redis_client(settings)
    app = create_app(settings, city, client)
    add_briefing(app)
    if settings.run_etl:
        start_background_work(settings, city, client, app.server.config["COCKPIT"].reader)
    set_up_before_serving(app)
    return app


def start_background_work(settings: Settings, city: City, client: redis.Redis, reader: SnapshotReader) -> EtlScheduler:
    """What runs where the ETL runs (in a web process with COCKPIT_RUN_ETL, or alone: dashboard/etl.py): the
    ETL scheduler, the 督办 delivery, audit retention and the briefing's morning build. One list, so the
    ETL run as its own service (deploy/) is not missing a part of it."""
    from briefing.web import start_briefing_scheduler

    sched = start_etl(settings, city, client)
    start_supervision_delivery(settings, city.timezone)
    start_audit_retention(settings)
    start_briefing_scheduler(settings, city, client, reader)
    return sched


def set_up_before_serving(app: dash.Dash) -> None:
    """Dash's once-per-process set-up (script registry, callback map), run now rather than in the first
    request: Dash sets its "done" flag before the work, so on a threaded server (gunicorn gthread, Flask's
    own) requests arriving alongside the first saw an empty registry and got 500s for scripts, a blank
    wall after a worker start or recycle (plotly/dash#3971, open; tests/test_first_requests.py)."""
    with app.server.test_request_context("/"):
        app._setup_server()


def add_briefing(app: dash.Dash) -> None:
    """The daily briefing's route (briefing/web.py; its morning build: start_background_work). The
    briefing sits beside the pages (layouts), above this layer: this composition root is the one place that
    may import it (pyproject.toml, ignore_imports)."""
    from briefing.web import register_briefing

    register_briefing(app.server)

"""All settings in one declared table. Each field's description is its help text; the README
table is checked against this class by tests/test_settings.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "COCKPIT_"


class SettingsError(ValueError):
    """A setting is wrong; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    city_dir: Path = Field(ROOT / "config" / "cities" / "nanjing",
                           description="Folder of the city model (city.toml, regions.csv, geo/).")
    source_url: str = Field(f"sqlite:///{ROOT / 'data' / 'source.db'}",
                            description="SQLAlchemy URL of the source system the ETL reads.")
    source_timeout_s: float = Field(300.0, ge=0, description="A source query running longer than this many seconds is ended (PostgreSQL statement_timeout, MySQL max_execution_time, SQLite interrupted) and the tick retried with backoff; 0: no limit.")
    source_mapping: str = Field("", description="Source mapping file (TOML or YAML): where the source's rows are and how each field is found (docs/connect-a-source.md). Empty: the demo's config/sources/demo.toml.")
    redis_url: str = Field("", validation_alias=AliasChoices("COCKPIT_REDIS_URL", "REDIS_URL"),
                           description="Redis URL (also read from REDIS_URL). Required outside the demo; the demo starts an embedded Redis when it is empty.")
    redis_prefix: str = Field("cockpit", description="Prefix of every Redis key, so deployments can share a server.")
    redis_sentinels: str = Field("", description="Redis Sentinels as host:port,host:port: when set, every process connects to the master they name for COCKPIT_REDIS_SERVICE and follows a failover (COCKPIT_REDIS_URL is then not needed).")
    redis_service: str = Field("cockpit", description="The Sentinel service (master) name, with COCKPIT_REDIS_SENTINELS.")
    metrics_token: str = Field("", description="Bearer token a Prometheus scraper sends for /metrics (Authorization: Bearer ...); without it /metrics needs a signed-in city user.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text, or json (one JSON object a line: time, level, logger, message, exception) for a log collector.")
    host: str = Field("127.0.0.1", description="Address the web server listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Port the web server listens on.")
    run_etl: bool = Field(True, description="Run the ETL scheduler in this process (one leader per deployment is elected through Redis).")
    simulate: bool = Field(False, description="Demo: fill the source with history and keep writing a live stream.")
    sim_source_shape: Literal["demo", "hotline"] = Field("demo", description="Demo: the source the simulator writes: demo (our own tables) or hotline (a 12345 work-order table, read through config/sources/examples/hotline.toml).")
    sim_seed: int = Field(20261122, description="Seed of the simulator, for a reproducible city.")
    sim_backfill_days: int = Field(90, ge=1, le=400, description="Days of history the simulator writes on first start.")
    sim_events_per_day: int = Field(3000, ge=10, description="Average events per day the simulator writes.")
    sim_tick_s: float = Field(2.0, gt=0, description="Seconds between simulator writes in live mode.")
    indicators: str = Field("", description="City vital signs: the indicator catalogue file (TOML; docs/indicators.md). Empty: no indicators (the demo uses config/indicators/demo.toml).")
    indicators_interval_s: float = Field(10.0, gt=0, description="Seconds between runs of the indicators job (each feed is read at its own poll interval, in the background).")
    indicators_native_days: float = Field(90.0, gt=1, description="Days indicator values are kept at their native resolution; older ones are kept as hourly means for a year.")
    vitals_forecast_hours: float = Field(6.0, gt=0, le=24, description="City vital signs: an indicator whose expected value (the forecast job's band, docs/forecast.md) passes its warn or alarm line within this many hours raises a warning on the wall and the phone, and the tiles show the band this far ahead.")
    events_interval_s: float = Field(3.0, gt=0, description="Seconds between incremental event ETL runs.")
    cameras_interval_s: float = Field(60.0, gt=0, description="Seconds between camera/IoT ETL runs.")
    safety_interval_s: float = Field(3600.0, gt=0, description="Seconds between safety-index ETL runs.")
    leader_ttl_s: float = Field(15.0, gt=1, description="TTL of the ETL leader lock; another process takes over this long after the leader dies.")
    standby: Literal["hot", "cold"] = Field("hot", description="What an ETL process that does not lead does: hot runs every job as the leader does (the same incremental reads of the source, the same state and frames) and publishes nothing, so on a takeover or a deploy it publishes every frame the moment it takes the lock; cold waits, and a takeover backfills the whole history (docs/operations.md: the cost).")
    snapshot_keep_s: int = Field(60, ge=10, description="Seconds a superseded snapshot stays readable in Redis (for a reader between the manifest and its frames). Redis holds about the publishes of this many seconds: ~2.5 MB each in Nanjing.")
    stale_after_s: float = Field(60.0, gt=0, description="A screen marks its data stale when the snapshot is older than this.")
    poll_ms: int = Field(2000, ge=200, description="How often screens ask whether a new snapshot exists (only the version travels).")
    quarantine_keep: int = Field(1000, ge=0, description="How many quarantined source rows are kept with their reasons.")
    future_tolerance_s: float = Field(300.0, ge=0, description="A source time later than now by more than this is quarantined as a future time.")
    alert_overdue_min: int = Field(40, ge=1, description="Alert: a district with at least this many overdue events (twice as many: red).")
    alert_spike_factor: float = Field(3.0, gt=1, description="Alert: a street whose events today exceed this many times its 7-day average for the same hours.")
    alert_spike_min: int = Field(8, ge=1, description="Alert: ... and has at least this many events today.")
    alert_rule: Literal["spike", "expected"] = Field("expected", description="Alert on today's events: expected (a district or street far outside today's forecast band; the default since the backtest in docs/forecast.md) or spike (a street over COCKPIT_ALERT_SPIKE_FACTOR × its 7-day average). Without a forecast yet, the spike rule runs.")
    alert_expected_factor: float = Field(2.0, gt=1, description="Alert rule expected: events so far today at least this many times what was expected (or at most 1/this), outside the 80 % band.")
    forecast_interval_s: float = Field(60.0, gt=0, description="Seconds between checks of the forecast job: it fits at start and again once the day has changed (nightly), in a thread of its own, and publishes at the first check after the fit is done.")
    alert_camera_online_min: float = Field(0.92, gt=0, le=1, description="Alert: a district whose camera online rate is under this.")
    alert_dept_overdue: int = Field(100, ge=1, description="Alert: a department (a functional line, with its sub-units) with at least this many overdue cases (twice as many: red).")
    alert_at_risk_min: int = Field(20, ge=1, description="Alert: a district with at least this many events at risk (due within COCKPIT_AT_RISK_HOURS; twice as many: red).")
    at_risk_hours: float = Field(2.0, gt=0, description="At risk: an open event whose deadline is within this many hours is listed as at risk (phone, tablet, wall).")
    nearby_camera_m: float = Field(300.0, gt=0, le=5000, description="Cameras within this many metres (on the ground) of an event are listed under its timeline and behind a street's or grid's alert; an event with no online camera this near counts as unseen (blind spots).")
    video_url_template: str = Field("", description="Link that opens a camera in the city's own video platform, with {device_id} replaced (e.g. https://video.intranet/play?id={device_id}); empty: cameras are listed without links. The cockpit never streams video.")
    supervision_channel: Literal["none", "outbox", "webhook"] = Field("none", description="How supervisions reach the city's system: none (kept in the app database and shown, delivery shown as not configured: the product writes nothing to a city's system), outbox (a table cockpit_supervision_outbox in the database COCKPIT_SUPERVISION_OUTBOX_URL names, acknowledged by setting acknowledged_at) or webhook (POST to COCKPIT_SUPERVISION_WEBHOOK).")
    supervision_outbox_url: str = Field("", description="SQLAlchemy URL of the database the city gives for the supervision outbox (the one place the product writes to a city's system; needs INSERT and SELECT on cockpit_supervision_outbox, and CREATE once unless the city creates the table). Required when COCKPIT_SUPERVISION_CHANNEL is outbox; never the read-only COCKPIT_SOURCE_URL account.")
    supervision_webhook: str = Field("", description="Intranet URL the supervisions are POSTed to when COCKPIT_SUPERVISION_CHANNEL is webhook (JSON, Idempotency-Key: the supervision id).")
    history_days: int = Field(120, ge=31, le=800, description="Days of event history the ETL keeps for the tablet's windows (quarter, custom ranges).")
    timeline_days: int = Field(30, ge=1, le=800, description="Days after its report an event's timeline stays in Redis (an open event's: always). Every event a screen lists is open or at most 30 days old.")
    score_w_on_time: float = Field(0.30, ge=0, description="Ranking score (五个一) weight of the on-time closure rate.")
    score_w_same_day: float = Field(0.15, ge=0, description="Ranking score weight of the same-day clearance rate (当日清零).")
    score_w_grid_settled: float = Field(0.20, ge=0, description="Ranking score weight of the share settled at grid level.")
    score_w_satisfaction: float = Field(0.20, ge=0, description="Ranking score weight of the satisfaction rate.")
    score_w_not_overdue: float = Field(0.15, ge=0, description="Ranking score weight of the share of the period's events not overdue now.")
    dept_w_closure: float = Field(0.30, ge=0, description="Department score (部门榜) weight of the closure rate (结案率).")
    dept_w_on_time: float = Field(0.40, ge=0, description="Department score weight of the on-time closure rate (按期结案率).")
    dept_w_rework: float = Field(0.15, ge=0, description="Department score weight of 1 − the rework rate (返工率).")
    dept_w_extension: float = Field(0.15, ge=0, description="Department score weight of 1 − the extension rate (延期率).")
    wall_page_s: float = Field(30.0, ge=5, description="Wall carousel: seconds per page unless the URL says ?interval=.")
    wall_vitals_map: str = Field("", description="Wall: the indicator id the map shows on the vital signs page (one with values by district; a tile tapped shows another). Empty: the first such indicator in the catalogue.")
    wall_reload_hour: int = Field(4, ge=-1, le=23, description="Wall: local hour at which it reloads itself once a day (-1: never; URL ?reload_hour=).")
    briefing_hour: int = Field(7, ge=0, le=23, description="Daily briefing: local hour from which the previous day's PDFs are built (by one process of the deployment, where the ETL scheduler runs).")
    briefing_dir: Path = Field(ROOT / "data" / "briefings", description="Folder of the daily briefing PDFs (<day>/<region code>.pdf); the last 30 days are kept.")
    app_db_url: str = Field(f"sqlite:///{ROOT / 'data' / 'app.db'}",
                            description="SQLAlchemy URL of the app database: users, roles, display tokens, audit log, supervisions (migrated to the newest schema on start: docs/operations.md).")
    audit_keep_days: float = Field(365.0, gt=0, description="Audit log rows older than this many days are deleted, once a day, by the process that runs the ETL.")
    secret_key: str = Field("", description="Signs session cookies and CSRF tokens. Required outside the demo (the demo makes a random one).")
    session_minutes: float = Field(720.0, gt=0, description="A signed-in session ends this many minutes after sign-in (wall displays: re-checked against their token instead).")
    cookie_secure: bool = Field(True, description="Session cookie only over HTTPS (also sends HSTS). Off in the demo, which serves plain http on 127.0.0.1.")
    signin_limit: str = Field("5 per minute", description="Failed sign-ins allowed per client address and per user name (Flask-Limiter syntax); more get HTTP 429.")
    lang: Literal["zh", "en"] = Field("zh", description="Language of every screen, the sign-in page and export headers: zh (Chinese) or en (English). Region names, categories and channels are data and stay as the source has them.")


    @field_validator("video_url_template")
    @classmethod
    def _video_template(cls, v: str) -> str:
        """Only {device_id} may be filled in; a template with another field or a broken brace is refused."""
        import string

        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        except ValueError as exc:
            raise ValueError(f"not a URL template ({exc})") from None
        if fields - {"device_id"}:
            raise ValueError(f"only {{device_id}} can be filled in, not {sorted(fields - {'device_id'})}")
        if v and not v.startswith(("http://", "https://", "/")):
            raise ValueError("must start with http://, https:// or /")
        return v

def _env_names() -> dict[str, str]:
    names = {}
    for name, field in Settings.model_fields.items():
        names[name] = f"{ENV_PREFIX}{name.upper()}"
        if isinstance(field.validation_alias, AliasChoices):
            names[name] = str(field.validation_alias.choices[0])
    return names


def load_settings(**overrides) -> Settings:
    """Read settings from the environment (and overrides); a wrong one raises SettingsError naming it."""
    known = set(_env_names().values())
    unknown = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (known: {', '.join(sorted(known))})")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        env = _env_names().get(field, field)
        raise SettingsError(f"setting {env}: {err['msg']} (got {err.get('input')!r})") from None

"""/metrics for Prometheus (prometheus-client) and JSON logs (COCKPIT_LOG_FORMAT=json).

Per process: request latency per page, route and callback (a callback is named by its first output,
so the label set is the app's callbacks, bounded), and failed and rate-limited sign-ins. Per
deployment, read from the snapshot at scrape time (the web tier reads what the ETL published, so a
scrape of any web process tells how the ETL is doing): snapshot version, age, staleness and bytes in
Redis, rows per frame, quarantined rows by reason, the last tick's seconds and rows per job, whether
a leader holds the lock and who. Each app has its own registry (tests build many apps).

Access: a scraper sends `Authorization: Bearer <COCKPIT_METRICS_TOKEN>`; without a token setting (or
without the header) /metrics needs a signed-in user who may see the city totals, like /health's counts."""

from __future__ import annotations

import hmac
import json
import logging
import time

import flask
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from config.settings import Settings
from contract.keys import Keys

PAGES = ("/big", "/medium", "/small", "/health", "/login", "/logout", "/metrics", "/")
BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def route_of(req: flask.Request, callbacks) -> str:
    """A bounded label for a request: the page, the route's rule, or the callback's first output."""
    if req.path == "/_dash-update-component":
        body = req.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        first = output.strip(".").split("...")[0].split(".")[0] if isinstance(output, str) else ""
        return f"callback:{first}" if output in callbacks() else "callback:unknown"
    if req.path in PAGES:
        return req.path
    if req.url_rule is not None:
        return req.url_rule.rule
    return "other"


class SnapshotCollector:
    """Gauges read from the current snapshot and the leader lock at scrape time."""

    def __init__(self, server: flask.Flask, client: redis.Redis, prefix: str):
        self.server, self.r, self.keys = server, client, Keys(prefix)

    def collect(self):
        c = self.server.config["COCKPIT"]
        snap, now = c.snapshot(), c.now()
        g = GaugeMetricFamily
        yield g("cockpit_snapshot_version", "Version of the snapshot this process serves.", value=snap.version or 0)
        age = snap.age_s(now)
        yield g("cockpit_snapshot_age_seconds", "Seconds since the served snapshot's as_of (-1: none yet).",
                value=-1 if age is None else age)
        yield g("cockpit_snapshot_stale", "1 when the screens mark the data stale.",
                value=int(snap.is_stale(now, c.settings.stale_after_s)))
        yield g("cockpit_redis_up", "1 when the last manifest read from Redis worked.", value=int(snap.redis_ok))
        frames = snap.manifest.get("frames", {})
        rows = g("cockpit_frame_rows", "Rows of each published frame.", labels=["frame"])
        for name, entry in frames.items():
            rows.add_metric([name], entry.get("rows") or 0)
        yield rows
        size, leader = None, None
        try:
            with self.r.pipeline(transaction=False) as pipe:
                for entry in frames.values():
                    pipe.strlen(entry["key"])
                pipe.get(self.keys.leader)
                *sizes, leader = pipe.execute()
            size = sum(sizes)
        except redis.RedisError:
            pass
        if size is not None:
            yield g("cockpit_snapshot_bytes", "Bytes of the served snapshot's frames in Redis.", value=size)
        holder = g("cockpit_etl_leader", "1 for the process holding the ETL leader lock.", labels=["identity"])
        if leader:
            holder.add_metric([leader.decode(errors="replace")], 1)
        yield holder
        yield g("cockpit_etl_leader_present", "1 when some process holds the ETL leader lock.", value=int(bool(leader)))
        meta = snap.meta
        quarantine = g("cockpit_quarantined_rows", "Source rows quarantined now, by reason.", labels=["reason"])
        for reason, n in (meta.get("quarantine") or {}).items():
            quarantine.add_metric([reason], n)
        yield quarantine
        yield g("cockpit_etl_tick_seconds", "Seconds the last events tick took (pull to frames).",
                value=meta.get("events_seconds") or 0)
        pulled = (meta.get("events_pull") or {})
        tick_rows = g("cockpit_etl_tick_rows", "Rows the last events tick pulled, by kind.", labels=["kind"])
        for kind, n in pulled.items():
            if isinstance(n, (int, float)) and not isinstance(n, bool):
                tick_rows.add_metric([kind], n)
        yield tick_rows
        for key, help_text in (("events_total", "Events the ETL keeps."), ("devices_total", "Devices read.")):
            if isinstance(meta.get(key), (int, float)):
                yield g(f"cockpit_etl_{key}", help_text, value=meta[key])
        ok = g("cockpit_etl_job_ok", "1 when the job's last run succeeded.", labels=["job"])
        for job in ("events", "devices", "safety"):
            status = meta.get(f"{job}_status")
            if isinstance(status, dict):
                ok.add_metric([job], int(bool(status.get("ok"))))
        yield ok


def init_metrics(server: flask.Flask, settings: Settings, client: redis.Redis, callbacks) -> None:
    """Request timing, sign-in failure counts and the /metrics route on `server`; `callbacks()` gives the
    app's callback map (filled by Dash when it first serves), so only known callbacks become labels."""
    registry = CollectorRegistry()
    latency = Histogram("cockpit_request_seconds", "Server time per request, by page, route or callback.",
                        ["route", "status"], registry=registry, buckets=BUCKETS)
    signin_failures = Counter("cockpit_signin_failures", "Failed sign-ins (401) and refused ones (429).",
                              ["outcome"], registry=registry)
    registry.register(SnapshotCollector(server, client, settings.redis_prefix))

    @server.before_request
    def started():
        flask.g.metrics_t0 = time.perf_counter()

    @server.after_request
    def observe(resp: flask.Response):
        t0 = flask.g.pop("metrics_t0", None)
        req = flask.request
        if t0 is not None and not req.path.startswith(("/assets/", "/_dash-component-suites/")):
            latency.labels(route_of(req, callbacks), str(resp.status_code // 100) + "xx").observe(
                time.perf_counter() - t0)
        if req.path == "/login" and req.method == "POST" and resp.status_code in (401, 429):
            signin_failures.labels("failed" if resp.status_code == 401 else "limited").inc()
        return resp

    @server.get("/metrics")
    def metrics():
        if not allowed(settings.metrics_token):
            return flask.jsonify(error="metrics need a bearer token or a signed-in city user"), 401
        return flask.Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def allowed(token: str) -> bool:
    """The bearer token (compared in constant time) or a signed-in user who may see the city totals."""
    sent = flask.request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), token.encode()):
        return True
    from flask_login import current_user

    from dashboard.access import may_see_city_totals

    return bool(current_user and current_user.is_authenticated and may_see_city_totals())


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the exception's traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_log_format(fmt: str) -> None:
    """COCKPIT_LOG_FORMAT: json puts the JSON formatter on every root handler (adding one if none)."""
    if fmt != "json":
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())

"""/metrics for Prometheus: a bearer token (COCKPIT_METRICS_TOKEN) or a signed-in city user, nobody
else; the figures come from the published snapshot (version, age, bytes, rows, quarantine by reason,
the last tick, the leader) and from this process (request latency per page and callback, sign-in
failures); and JSON log lines with COCKPIT_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging

from helpers import medium_payload, sign_in
from prometheus_client.parser import text_string_to_metric_families

from dashboard.metrics import JsonFormatter
from snapshots.store import SnapshotStore


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_need_the_token_or_a_city_user(settings, city, redis_client, users, client_as):
    from dashboard.app import create_app

    app = create_app(settings.model_copy(update={"metrics_token": "scrape-token-123"}), city, redis_client)
    anon = app.server.test_client()
    assert anon.get("/metrics").status_code == 401
    assert anon.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anon.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"}).status_code == 200
    store = app.server.config["COCKPIT_USERS"]
    street = app.server.test_client()
    assert sign_in(street, *users["street"][:2]).status_code == 302 and store
    assert street.get("/metrics").status_code == 401  # a street user is not the city


def test_metrics_say_what_the_snapshot_and_the_requests_do(app, published, users, client_as, redis_client):
    client = client_as("city")
    # the request and sign-in counters are the process's (other tests add to them): compare with before
    before = samples(client.get("/metrics").get_data(as_text=True))
    client.get("/")
    assert client.post("/_dash-update-component", json=medium_payload("3201")).status_code == 200
    client.get("/health")
    bad = app.server.test_client()
    assert sign_in(bad, users["city"][0], "wrong-password").status_code == 401
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    got = samples(r.get_data(as_text=True))
    manifest = SnapshotStore(redis_client).manifest()  # the published snapshot, as restored for this test
    assert got[("cockpit_snapshot_version", frozenset())] == manifest["version"]
    assert got[("cockpit_snapshot_bytes", frozenset())] > 10_000
    assert got[("cockpit_frame_rows", frozenset({("frame", "event_kpis")}))] == manifest["frames"]["event_kpis"]["rows"]
    for reason, n in manifest["meta"]["quarantine"].items():
        assert got[("cockpit_quarantined_rows", frozenset({("reason", reason)}))] == n
    assert got[("cockpit_etl_tick_seconds", frozenset())] == manifest["meta"]["events_seconds"]
    assert got[("cockpit_etl_leader_present", frozenset())] == 0  # `published` ran the jobs without a scheduler
    failures = ("cockpit_signin_failures_total", frozenset({("outcome", "failed")}))
    assert got[failures] - before.get(failures, 0) == 1

    def counts(s: dict) -> dict:
        return {dict(k[1])["route"]: v for k, v in s.items() if k[0] == "cockpit_request_seconds_count"}

    now, then = counts(got), counts(before)
    assert now["callback:medium-kpis"] - then.get("callback:medium-kpis", 0) == 1
    assert now["/health"] - then.get("/health", 0) == 1


def test_json_log_lines():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("cockpit.x", logging.WARNING, __file__, 1, "bad %s", ("input",), True)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "cockpit.x" and line["message"] == "bad input"
    assert "ValueError: boom" in line["exception"]

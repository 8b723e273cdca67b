"""Every time the cockpit writes out for another system is ISO 8601 with its offset (issue 23): the
supervision outbox and webhook payloads (tests/test_supervision.py) and /health's as_of."""

from __future__ import annotations

from datetime import datetime, timedelta


def test_health_as_of_carries_the_city_offset(app, published, client_as):
    as_of = client_as("city").get("/health").get_json()["as_of"]
    t = datetime.fromisoformat(as_of)
    assert t.utcoffset() == timedelta(hours=8), as_of  # Asia/Shanghai
    assert as_of.startswith("2026-11-20T15:30")
    anonymous = app.server.test_client().get("/health").get_json()["as_of"]
    assert anonymous == as_of

"""Bad input everywhere a client reaches (issue 15, fault 7): malformed Dash callback bodies, wrong
types where a region code is expected, missing fields, huge or deeply nested payloads, odd encodings,
and fuzzed query strings get a 4xx with a short message, never a 500 and never a traceback; a
refusal of another jurisdiction says only that it is refused (the audit log keeps the details)."""

from __future__ import annotations

import json

import pytest
from helpers import foreign_region, forged_payloads, medium_payload, page_payload, sign_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.labels import label

CALLBACK = "/_dash-update-component"
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_clean_4xx(r, *allowed: int):
    """A client error with a short body: no traceback, no Python internals."""
    body = r.get_data(as_text=True)
    assert 400 <= r.status_code < 500, (r.status_code, body[:400])
    if allowed:
        assert r.status_code in allowed, (r.status_code, body[:400])
    assert "Traceback" not in body and 'File "' not in body, body[:400]
    assert len(body) < 2000, body[:400]


def assert_never_5xx(r):
    body = r.get_data().decode("utf-8", "replace")  # an export is binary
    assert r.status_code < 500, (r.status_code, body[:400])
    assert "Traceback" not in body and 'File "' not in body, body[:400]


@pytest.fixture
def city_client(client_as):
    client = client_as("city")  # no snapshot needed: every check here comes before the data
    client.get("/")
    return client


# ------------------------------------------------------------------ wrong types where a code is expected

WRONG_TYPES = [{"region": {"a": 1}}, {"region": 3201}, {"region": ["3201"]}, 42, "3201", ["region", "3201"], True]


@pytest.mark.parametrize("state", WRONG_TYPES, ids=repr)
def test_tablet_state_of_the_wrong_type_is_400(city_client, state):
    payload = medium_payload("3201")
    payload["inputs"][1]["value"] = state
    assert_clean_4xx(city_client.post(CALLBACK, json=payload), 400)


@pytest.mark.parametrize("value", [{"code": "320102"}, 320102, [320102], 3.5, {"region": None}], ids=repr)
def test_every_callback_answers_a_wrong_type_with_400(city_client, value):
    deps = city_client.get("/_dash-dependencies").get_json()
    payloads = forged_payloads(deps, value)
    assert len(payloads) >= 7
    for payload in payloads:
        r = city_client.post(CALLBACK, json=payload)
        assert r.status_code < 500, (payload["output"], value, r.status_code)
        assert "Traceback" not in r.get_data(as_text=True)
    small = next(p for p in forged_payloads(deps, value) if "small-kpis" in p["output"])
    small["inputs"][0]["value"] = [1, False]  # the region (a store of the page) is where the wrong type is
    assert_clean_4xx(city_client.post(CALLBACK, json=small), 400)


# ----------------------------------------------------------------------------- malformed bodies

MALFORMED = {
    "a list": [1, 2, 3],
    "a string": "medium",
    "inputs a dict": {**medium_payload("3201"), "inputs": {"id": "medium-state"}},
    "inputs of numbers": {**medium_payload("3201"), "inputs": [1, 2]},
    "item without id": {**medium_payload("3201"), "inputs": [{"property": "data", "value": "3201"}]},
    "id a number": {**medium_payload("3201"), "inputs": [{"id": 5, "property": "data", "value": None}]},
    "no output": {k: v for k, v in medium_payload("3201").items() if k != "output"},
    "output a dict": {**medium_payload("3201"), "output": {"id": "x"}},
    "unknown output": {**medium_payload("3201"), "output": "nowhere.children"},
    "changedPropIds a string": {**medium_payload("3201"), "changedPropIds": "medium-version.data"},
    "too few inputs": {**medium_payload("3201"), "inputs": medium_payload("3201")["inputs"][:1]},
    "state a number": {**medium_payload("3201"), "state": 7},
    "deep nesting": {**medium_payload("3201"), "state": [{"id": "x", "property": "data",
                                                          "value": json.loads("[" * 500 + "]" * 500)}]},
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_callback_body_is_400(city_client, name):
    assert_clean_4xx(city_client.post(CALLBACK, json=MALFORMED[name]), 400)


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe\x00garbage", "{\"output\": \"\udc80\"}".encode("utf-8", "surrogatepass"),
                                 b"[" * 100_000, b"", b"null"], ids=["truncated", "bad-utf8", "lone-surrogate",
                                                                    "nested-100k", "empty", "null"])
def test_undecodable_callback_body_is_400(city_client, raw):
    r = city_client.post(CALLBACK, data=raw, content_type="application/json")
    assert_clean_4xx(r, 400)


def test_huge_callback_body_is_413(city_client):
    payload = medium_payload("3201")
    payload["state"] = [{"id": "medium-x", "property": "data", "value": "3" * (3 << 20)}]
    assert_clean_4xx(city_client.post(CALLBACK, json=payload), 413)


# ------------------------------------------------------------------------ a refusal says only "refused"

@pytest.mark.parametrize("how", ["url", "callback", "page", "event"])
def test_refusal_names_no_region(app, city, users, client_as, published, how):
    client = client_as("street")
    client.get("/")
    other = foreign_region(city, "street", users["street"][2])
    event = published.ledger.rows(lambda p: p["grid_code"].str.startswith(other)).sort_values("reported_at").iloc[-1]
    if how == "url":
        r = client.get(f"/medium?region={other}", headers={"Accept": "text/html"})
    elif how == "callback":
        r = client.post(CALLBACK, json=medium_payload(other))
    elif how == "page":
        r = client.post(CALLBACK, json=page_payload("/medium", f"?region={other}"))
    else:  # the tablet's event overlay for another street's event: its grid must not show
        r = client.post(CALLBACK, json=page_payload("/small", f"?event={event['event_id']}"))
    body = r.get_data(as_text=True)
    assert r.status_code == 403, body[:300]
    assert (r.get_json()["detail"] if r.is_json else body) == label("out_of_scope")
    assert other not in body and event["grid_code"][:9] not in body and "jurisdiction" not in body
    rows = app.server.config["COCKPIT_USERS"].audit_rows("denied")
    assert rows and (other in rows[-1].detail or event["grid_code"] in rows[-1].detail)  # the log keeps it


# -------------------------------------------------------------------------------------------- fuzz

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                           st.text(max_size=20) | st.sampled_from(["3201", "320102", "320102002", "?region=3202"]),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)


@given(data=st.data())
@FUZZ
def test_fuzz_callback_endpoint(city_client, data):
    deps = city_client.get("/_dash-dependencies").get_json()
    payload = data.draw(st.sampled_from(forged_payloads(deps, None)))
    payload = json.loads(json.dumps(payload))
    for item in payload["inputs"] + payload["state"]:  # every value replaced by whatever hypothesis makes
        item["value"] = data.draw(json_values)
    if data.draw(st.booleans()):  # and now and then the envelope itself broken
        key = data.draw(st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds"]))
        payload[key] = data.draw(json_values)
    assert_never_5xx(city_client.post(CALLBACK, json=payload))


ROUTES = ["/", "/big", "/medium", "/small", "/health", "/geo/district.json", "/geo/grid.json",
          "/medium/export.csv", "/medium/export.xlsx", "/small/map.svg", "/login", "/_dash-layout"]
QUERY_KEYS = ["region", "parent", "event", "window", "start", "end", "measure", "rank", "sort", "page", "pages",
              "interval", "canvas", "level", "reload_hour", "token", "next", "code", "grid"]


@given(path=st.sampled_from(ROUTES), query=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), st.text(max_size=30)),
                                                    max_size=4))
@FUZZ
def test_fuzz_routes(city_client, path, query):
    from urllib.parse import urlencode

    qs = urlencode(query, encoding="utf-8", errors="surrogatepass")
    assert_never_5xx(city_client.get(f"{path}?{qs}", headers={"Accept": "text/html"}))


@given(path=st.sampled_from(ROUTES), tail=st.binary(max_size=40))
@FUZZ
def test_fuzz_raw_query_bytes(city_client, path, tail):
    from urllib.parse import quote_from_bytes

    assert_never_5xx(city_client.get(f"{path}?region={quote_from_bytes(tail)}&{quote_from_bytes(tail)}=1"))


def test_fuzz_signed_out_callbacks_are_401(app, published):
    anon = app.server.test_client()
    for body in MALFORMED.values():
        assert_clean_4xx(anon.post(CALLBACK, json=body), 401)
    name_only = app.server.test_client()
    assert sign_in(name_only, "nobody", "x" * 300).status_code == 400  # the form's limits, not a 500


# ----------------------------------------------------------------------------- logs under attack

def test_a_flood_of_malformed_callbacks_logs_a_line_per_reason_without_traceback(app, city_client, client_as, caplog):
    import logging

    # an input error inside Dash or a callback (a traceback: KeyError, IndexError), a body of the wrong shape
    bodies = [MALFORMED["unknown output"], MALFORMED["too few inputs"], MALFORMED["a list"], MALFORMED["no output"]]
    caplog.set_level(logging.DEBUG, logger="dashboard.security")
    for i in range(50):
        assert_clean_4xx(city_client.post(CALLBACK, json=bodies[i % len(bodies)]), 400)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 3, [r.getMessage() for r in lines]  # one per reason: KeyError, IndexError, bad input
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() and "\n" not in r.getMessage()
               for r in lines)
    assert all("refused" in r.getMessage() and "127.0.0.1" in r.getMessage() for r in lines)
    assert [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]  # the traceback, at DEBUG
    caplog.clear()
    other = app.server.test_client()  # another client: its own line
    other.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    name, password, _ = ("leader", "city-pass-123", "3201")
    assert sign_in(other, name, password).status_code == 302
    assert_clean_4xx(other.post(CALLBACK, json=MALFORMED["a list"]), 400)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "10.9.8.7" in r.getMessage()]


def test_refusal_log_says_how_many_lines_it_left_out(caplog):
    import logging

    from dashboard.security import RefusalLog

    now = [0.0]
    refusals = RefusalLog(logging.getLogger("test.refusals"), every_s=60, max_pairs=2, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for _ in range(50):
            refusals.refused("10.0.0.1", "bad input (400)", "a list")
        now[0] = 61.0
        refusals.refused("10.0.0.1", "bad input (400)", "a list")
        for client in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):  # more pairs than it keeps: the oldest forgotten
            refusals.refused(client, "bad input (400)")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == ["refused bad input (400) from 10.0.0.1: a list",
                         "refused bad input (400) from 10.0.0.1: a list (49 more like it in the last 60 s not logged)"]
    assert len(lines) == 5 and len(refusals.pairs) == 2

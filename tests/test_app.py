"""In-process HTTP: /health, GeoJSON slices, and a page callback answered from the snapshot."""

import json

import pytest
from helpers import shown_for_window

from components.format import fmt_count
from layouts.medium_outputs import RENDER_OUTPUTS


def test_health_waiting_before_any_snapshot(app):
    body = app.server.test_client().get("/health").get_json()
    assert body["status"] == "waiting" and body["version"] is None


def test_health_reports_version_as_of_and_quarantine(app, published, client_as):
    body = client_as("city").get("/health").get_json()
    manifest = published.store.manifest()
    assert body["version"] == manifest["version"]
    assert body["as_of"].startswith("2026-11-20T15:30")
    assert body["quarantined_total"] == sum(manifest["meta"]["quarantine"].values()) > 0
    assert body["stale"] is True  # NOW in the fixtures is in the past: the data is old, and says so
    assert body["frames"]["event_kpis"] > 1000


def test_geojson_slice_and_cache(app, city, client_as):
    client = client_as("city")
    r = client.get("/geo/street.json?parent=320102")
    fc = json.loads(r.data)
    codes = {f["properties"]["code"] for f in fc["features"]}
    assert codes == set(city.children("320102")["code"])
    assert r.headers["Cache-Control"].startswith("private") and r.headers["ETag"]
    again = client.get("/geo/street.json?parent=320102", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/geo/nowhere.json").status_code == 404


def dash_post(client, output, outputs, inputs, state=()):
    payload = {"output": output, "outputs": outputs, "inputs": inputs, "state": list(state),
               "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code == 200, r.data[:300]
    return r.get_json()["response"]


def find(component, cid):
    """The Dash component dict with id `cid` inside a serialised layout tree."""
    if isinstance(component, dict):
        if component.get("props", {}).get("id") == cid:
            return component
        for v in component.get("props", {}).values():
            hit = find(v, cid)
            if hit:
                return hit
    if isinstance(component, list):
        for c in component:
            hit = find(c, cid)
            if hit:
                return hit
    return None


@pytest.mark.parametrize("region", ["3201", "320104", "320104002"])
def test_medium_render_callback_shows_snapshot_numbers(app, published, region, client_as):
    client = client_as("city")
    client.get("/medium")  # first request sets up the callbacks
    outs, props = zip(*RENDER_OUTPUTS)
    resp = dash_post(
        client, ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
        [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
        [{"id": "medium-version", "property": "data", "value": [1, False]},
         {"id": "medium-state", "property": "data", "value": {"region": region, "window": "7d", "measure": "overdue"}}])
    tile = find(resp["medium-kpis"]["children"], "medium-kpi-reported")
    shown = tile["props"]["children"][1]["props"]["children"]
    snap = app.server.config["COCKPIT"].snapshot()
    assert shown == fmt_count(shown_for_window(snap, region, "7d")["reported"])
    fig = resp["medium-map"]["figure"]
    assert fig["data"][0]["geojson"].startswith("/geo/")  # geometry by URL, never inline
    assert len(json.dumps(fig)) < 50_000

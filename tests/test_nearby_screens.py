"""The cameras around an event or an alert's spot, and 补盲, as the tablet and the phone serve them (issue 28):
what the event overlay lists is the lookup's list (queries/nearby.py), links only with a URL template, and
scope: a user of one district or street never sees another's cameras, whatever event id or region is
forged (403 or empty, never a 500, nothing disclosed)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pandas as pd
import pytest
from helpers import NOW, page_payload
from sqlalchemy import text

from config.settings import load_settings
from contract.ground import city_ground
from queries import nearby
from snapshots.reader import SnapshotReader

pytestmark = pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)


def lookup(*args) -> pd.DataFrame:
    """queries/nearby.nearby_cameras as a frame (it returns one dict per camera)."""
    return pd.DataFrame(nearby.nearby_cameras(*args), columns=nearby.NEARBY_COLUMNS)


def render(client, path: str, search: str):
    return client.post("/_dash-update-component", json=page_payload(path, search))


def components(node, class_name: str):
    """Every component of a rendered Dash answer (JSON) with that className, in document order."""
    if isinstance(node, dict):
        props = node.get("props") if "type" in node and "namespace" in node else None
        if props is not None and props.get("className") == class_name:
            yield props
        for v in node.values():
            yield from components(v, class_name)
    elif isinstance(node, list):
        for v in node:
            yield from components(v, class_name)


def ids_in(body: str, prefix: str = "") -> list[str]:
    """The device ids of the nearby list in a rendered page, in order (the items' `nc-id` texts end with it)."""
    return [p["children"].rsplit(" ", 1)[-1] for p in components(json.loads(body), "nc-id")]


def snapshot(redis_client):
    return SnapshotReader(redis_client, min_check_s=0).current()


def event_ids(sim_engine, prefix: str, n: int = 30) -> list[str]:
    with sim_engine.connect() as conn:
        return [r[0] for r in conn.execute(text(
            "SELECT event_id FROM events WHERE grid_code LIKE :p AND (closed_at IS NULL OR reported_at >= :since) "
            "AND event_id IN (SELECT event_id FROM events GROUP BY event_id HAVING count(*) = 1) "
            "ORDER BY event_id LIMIT :n"), {"p": f"{prefix}%", "n": n, "since": NOW - timedelta(days=20)})]


def timeline_point(redis_client, event_id: str) -> tuple[float, float, str]:
    from snapshots.timelines import TimelineStore

    tl = TimelineStore(redis_client).read(event_id)
    return tl["lon"], tl["lat"], tl["grid_code"]


def test_event_overlay_lists_the_lookup_nearest_first(app, city, users, client_as, published, sim_engine,
                                                      redis_client):
    client = client_as("city")
    snap = snapshot(redis_client)
    listed = 0
    for event_id in event_ids(sim_engine, "3201", 12):
        for page in ("medium", "small"):
            r = render(client, f"/{page}", f"?event={event_id}")
            assert r.status_code == 200
            body = r.get_data(as_text=True)
            assert f"{page}-nearby" in body
            lon, lat, _ = timeline_point(redis_client, event_id)
            want = lookup(snap, city_ground(city), lon, lat, 300.0, city.code, True)
            assert ids_in(body, page) == list(want["device_id"].head(20))
            assert "nc-link" not in body  # no COCKPIT_VIDEO_URL_TEMPLATE: no links
            listed += len(want)
    assert listed > 0


def test_links_follow_the_video_url_template(city, redis_client, published, sim_engine, tmp_path, redis_server):
    from helpers import sign_in

    from config.labels import set_language
    from dashboard.app import create_app

    settings = load_settings(redis_url=redis_server.url, secret_key="test-secret-key-0123456789", cookie_secure=False,
                             app_db_url=f"sqlite:///{tmp_path}/app.db",
                             video_url_template="https://video.intranet/play?id={device_id}")
    app = create_app(settings, city, redis_client)
    try:
        app.server.config["COCKPIT_USERS"].add_user("leader", "city-pass-123", "city", city.code, city)
        client = app.server.test_client()
        sign_in(client, "leader", "city-pass-123")
        snap = snapshot(redis_client)
        for event_id in event_ids(sim_engine, "3201", 20):
            lon, lat, _ = timeline_point(redis_client, event_id)
            want = lookup(snap, city_ground(city), lon, lat, 300.0, city.code, True)
            if want.empty:
                continue
            body = render(client, "/medium", f"?event={event_id}").get_data(as_text=True)
            first = want["device_id"].iloc[0]
            hrefs = [p["href"] for p in components(json.loads(body), "nc-link")]
            assert hrefs[0] == f"https://video.intranet/play?id={first}" and len(hrefs) == min(20, len(want))
            break
        else:
            pytest.fail("no event with a camera near")
    finally:
        set_language("zh")


def test_a_community_user_sees_only_the_communitys_cameras(app, city, users, client_as, published, sim_engine,
                                                           redis_client):
    """An event of the community near its border (its timeline written with a point 60 m from a neighbour's
    camera): the city-wide list has that camera, the community's user (the "grid" test user) gets the same
    list without it, on the phone and the tablet."""
    from contract.timeline_format import STEP_FIELDS
    from snapshots.timelines import TimelineStore

    community = users["grid"][2]
    snap = snapshot(redis_client)
    ground = city_ground(city)
    cams = snap.frame("camera_points")
    own = event_ids(sim_engine, community, 1)[0]
    tl = TimelineStore(redis_client).read(own)
    # the neighbour's camera nearest to the community's grids
    mine = cams[cams["grid_code"].str.startswith(community)]
    foreign = cams[~cams["grid_code"].str.startswith(community)]
    fx, fy = foreign["x"].to_numpy(), foreign["y"].to_numpy()
    d = [((fx - x) ** 2 + (fy - y) ** 2).min() for x, y in zip(mine["x"], mine["y"])]
    near = foreign.iloc[int((((fx - mine["x"].iloc[int(pd.Series(d).idxmin())]) ** 2
                              + (fy - mine["y"].iloc[int(pd.Series(d).idxmin())]) ** 2)).argmin())]
    lon, lat = near["lon"] + 0.0006, near["lat"]  # ~57 m east of it
    event_id = "BORDER-TEST-1"
    raw = {**tl, "event_id": event_id, "lon": lon, "lat": lat,
           "steps": [[s[f] for f in STEP_FIELDS] for s in tl["steps"]]}
    TimelineStore(redis_client).write_many([(event_id, raw, 3600)])
    everyone = lookup(snap, ground, lon, lat, 300.0, city.code, True)
    assert near["device_id"] in set(everyone["device_id"])
    want = list(everyone[everyone["grid_code"].str.startswith(community)]["device_id"].head(20))
    client = client_as("grid")
    for page in ("small", "medium"):
        r = render(client, f"/{page}", f"?event={event_id}")
        assert r.status_code == 200
        got = ids_in(r.get_data(as_text=True))
        assert got == want and near["device_id"] not in got
    # the city's user sees the neighbour's camera under the same event
    got = ids_in(render(client_as("city"), "/small", f"?event={event_id}").get_data(as_text=True))
    assert near["device_id"] in got


@pytest.mark.parametrize("page", ["medium", "small"])
def test_forged_event_or_spot_of_another_district_is_refused(app, city, users, client_as, published, sim_engine,
                                                            redis_client, page):
    client = client_as("district")
    mine = users["district"][2]
    other = next(c for c in city.children(city.code)["code"] if c != mine)
    foreign_event = event_ids(sim_engine, other, 1)[0]
    foreign_grid = city.regions[(city.regions["level"] == "grid") & city.regions["code"].str.startswith(other)]["code"].iloc[0]
    for search in (f"?event={foreign_event}", f"?spot={foreign_grid}", f"?spot={other}", "?event=NO-SUCH-EVENT",
                   f"?region={mine}&spot={foreign_grid[:9]}"):
        r = render(client, f"/{page}", search)
        assert r.status_code == 403, (search, r.status_code)
        body = r.get_data(as_text=True)
        assert "nc-id" not in body and foreign_grid not in body and "C0" not in body
    # a spot that is no region: the page without it (nothing to disclose), never a 500
    for search in ("?spot=99999999", "?spot=%00", "?spot=" + "9" * 300):
        r = render(client, f"/{page}", search)
        assert r.status_code in (200, 400), (search, r.status_code)
        assert "nc-id" not in r.get_data(as_text=True)
    # the tablet's state with a forged spot (not text, another district's): 400 / 403
    if page == "medium":
        from helpers import medium_payload

        for spot, code in (({"x": 1}, 400), (["3201"], 400), (foreign_grid, 403)):
            payload = medium_payload(mine)
            payload["inputs"][1]["value"]["spot"] = spot
            assert client.post("/_dash-update-component", json=payload).status_code == code, spot


def test_alert_spot_and_gaps_panel(app, city, users, client_as, published, sim_engine, redis_client):
    client = client_as("district")
    mine = users["district"][2]
    snap = snapshot(redis_client)
    gaps = snap.frame("camera_gaps")
    street = gaps[(gaps["level"] == "street") & gaps["code"].str.startswith(mine)]["code"].iloc[0]
    r = render(client, "/small", f"?region={mine}&spot={street}")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "small-spot" in body and "small-spot-where" in body
    grid, lon, lat = nearby.spot_point(snap, city, street, snap.as_of)
    assert grid.startswith(street) and len(grid) == 15
    want = lookup(snap, city_ground(city), lon, lat, 300.0, mine)
    assert ids_in(body, "small") == list(want["device_id"].head(20))
    # the tablet's lists: 补盲 panel with the district's streets and grids, most unseen first, and the fixes
    from layouts.medium_outputs import LIST_OUTPUTS

    outs, props = zip(*LIST_OUTPUTS)
    payload = {"output": ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
               "outputs": [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
               "inputs": [{"id": "medium-version", "property": "data", "value": [1, False]},
                          {"id": "medium-state", "property": "data", "value": {"region": mine, "window": "7d"}}],
               "state": [], "changedPropIds": ["medium-version.data"]}
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code == 200
    text_ = r.get_data(as_text=True)
    assert "region-gaps" in text_ and "gaps-street" in text_ and "gaps-fixes" in text_
    top = gaps[(gaps["level"] == "street") & gaps["code"].str.startswith(mine)].head(10)
    links = re.findall(r"spot=(\d{9})\b", text_)
    assert links[:len(top)] == list(top["code"])
    assert json.loads(text_)  # a plain JSON answer
    assert isinstance(pd.Timestamp(snap.as_of), pd.Timestamp)


def test_a_new_snapshot_is_warmed_with_the_camera_index(published, redis_client):
    """The reader's warm hook (dashboard/app.py warm) builds the STRtree before a snapshot is served, so the
    first event opened on it does not pay for the tree."""
    from dashboard.app import warm

    snap = snapshot(redis_client)
    assert not any(tag == "strtree" for _, tag in snap.per_frame)
    warm(snap)
    assert any(tag == "strtree" for _, tag in snap.per_frame)
    built = nearby.camera_index(snap)
    assert built is not None and built is nearby.camera_index(snap) and len(built.ids) > 1000

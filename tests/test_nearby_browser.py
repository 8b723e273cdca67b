"""The cameras around an event and the 补盲 panel in Chromium (issue 28): under an event's timeline on the
tablet (1366×1024) and the phone (390×844), nearest first with their links to the city's video platform; the
tablet's 补盲 panel; the phone's alert of a street opening its cameras. Screenshots for the README
(docs/screenshots/*-cameras-*.png); nothing loads from the internet, no console error."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from helpers import NOW, SHOTS, LiveServer, settled, wait_for_data
from sqlalchemy import text

from contract.ground import city_ground
from etl.transforms.alerts import AlertThresholds, wall_alerts
from queries import nearby
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser

TABLET, PHONE = {"width": 1366, "height": 1024}, {"width": 390, "height": 844}
TEMPLATE = "https://video.intranet/play?id={device_id}"


def lookup(*args) -> pd.DataFrame:
    """queries/nearby.nearby_cameras as a frame (it returns one dict per camera)."""
    return pd.DataFrame(nearby.nearby_cameras(*args), columns=nearby.NEARBY_COLUMNS)


def with_video_links(app) -> None:
    """The app's settings with COCKPIT_VIDEO_URL_TEMPLATE set (settings are frozen: a changed copy)."""
    c = app.server.config["COCKPIT"]
    c.settings = c.settings.model_copy(update={"video_url_template": TEMPLATE})


def event_with_cameras(sim_engine, redis_client, city, prefix: str, at_least: int = 3) -> tuple[str, list[str]]:
    """An event under `prefix` with at least `at_least` cameras within 300 m (and some offline, if any), and
    the ids of those cameras nearest first."""
    from snapshots.timelines import TimelineStore

    snap = SnapshotReader(redis_client, min_check_s=0).current()
    store = TimelineStore(redis_client)
    with sim_engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT event_id FROM events WHERE grid_code LIKE :p AND reported_at >= :s AND event_id IN "
            "(SELECT event_id FROM events GROUP BY event_id HAVING count(*) = 1) ORDER BY reported_at DESC LIMIT 400"),
            {"p": f"{prefix}%", "s": NOW - timedelta(days=5)})]
    best = None
    for e in ids:
        tl = store.read(e)
        if tl is None:
            continue
        cams = lookup(snap, city_ground(city), tl["lon"], tl["lat"], 300.0, prefix)
        if len(cams) >= at_least and (best is None or (cams["online"] == 0).any() and len(cams) <= 8):
            best = (e, list(cams["device_id"]))
            if (cams["online"] == 0).any():
                break
    assert best, "no event with cameras near"
    return best


def test_event_cameras_on_tablet_and_phone(browser, watched, published, app, city, users, sim_engine, redis_client):
    with_video_links(app)
    district = users["district"][2]
    event_id, want = event_with_cameras(sim_engine, redis_client, city, district)
    with LiveServer(app.server) as srv:
        w = watched(TABLET, "district")
        page = w.page
        page.goto(f"{srv.url}/medium?region={district}&event={event_id}")
        page.wait_for_selector("#medium-nearby-list")
        got = page.locator("#medium-nearby-list .nc-id").all_inner_texts()
        assert [t.rsplit(" ", 1)[-1] for t in got] == want[:20]
        hrefs = page.locator("#medium-nearby-list a.nc-link").evaluate_all("els => els.map(a => a.href)")
        assert hrefs[0] == TEMPLATE.format(device_id=want[0])
        assert page.locator("#medium-nearby-list a.nc-link").first.get_attribute("target") == "_blank"
        page.locator("#medium-nearby").scroll_into_view_if_needed()
        page.evaluate("() => document.querySelector('#medium-nearby').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(SHOTS / "medium-event-cameras-1366x1024.png"))
        assert w.non_local() == [] and w.errors == []

        p = watched(PHONE, "district")
        p.page.goto(f"{srv.url}/small?region={district}&event={event_id}")
        p.page.wait_for_selector("#small-nearby-list")
        got = p.page.locator("#small-nearby-list .nc-id").all_inner_texts()
        assert [t.rsplit(" ", 1)[-1] for t in got] == want[:20]
        wide = p.page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], "no sideways scroll on the phone"
        small_links = p.page.evaluate("""() => [...document.querySelectorAll('#small-nearby a')]
            .map(a => a.getBoundingClientRect().height).filter(h => h > 0 && h < 44)""")
        assert small_links == [], "touch targets of 44 px"
        p.page.evaluate("() => document.querySelector('#small-nearby').scrollIntoView({block: 'start'})")
        p.page.screenshot(path=str(SHOTS / "small-event-cameras-390x844.png"))
        assert p.non_local() == [] and p.errors == []


def test_gaps_panel_on_the_tablet_and_a_spot_from_it(browser, watched, published, app, city, users, redis_client):
    district = users["district"][2]
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    gaps = snap.frame("camera_gaps")
    top = gaps[(gaps["level"] == "street") & gaps["code"].str.startswith(district)].head(10)
    with LiveServer(app.server) as srv:
        w = watched(TABLET, "district")
        page = w.page
        page.goto(f"{srv.url}/medium?region={district}")
        wait_for_data(page, "medium")
        page.wait_for_selector("#gaps-street")
        rows = page.locator("#gaps-street tbody tr").all_inner_texts()
        assert len(rows) == len(top)
        for row, (_, r) in zip(rows, top.iterrows()):
            cells = row.split("\t")
            assert cells[0] == city.region_name(r["code"]) and cells[1] == f"{r['unseen']:,}"
        page.evaluate("() => document.querySelector('#region-gaps').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(SHOTS / "medium-gaps-1366x1024.png"))
        page.locator("#gaps-street tbody tr a").first.click()  # the cameras around that street's busiest grid
        page.wait_for_selector("#medium-spot")
        assert page.locator("#medium-spot-where").inner_text()
        assert w.non_local() == [] and w.errors == []


def test_gaps_on_the_walls_cameras_page(browser, watched, published, app, city, redis_client):
    """The wall's cameras page has a 补盲 section: the city's streets with the most unseen events."""
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    gaps = snap.frame("camera_gaps")
    top = gaps[gaps["level"] == "street"].head(8)
    with LiveServer(app.server) as srv:
        w = watched({"width": 1920, "height": 1080}, "city")
        page = w.page
        page.goto(f"{srv.url}/big?page=cameras&interval=3600")
        wait_for_data(page, "big")
        page.wait_for_selector("#big-gaps-table")
        rows = page.locator("#big-gaps-table tbody tr").all_inner_texts()
        assert [r.split("\t")[:2] for r in rows] == [[city.region_name(c), f"{u:,}"]
                                                     for c, u in zip(top["code"], top["unseen"])]
        assert page.locator("#big-panel-gaps").is_visible()
        settled(page, "() => [window.__bigWall && window.__bigWall.u, innerWidth, innerHeight]")
        page.screenshot(path=str(SHOTS / "big-cameras-gaps-1920x1080.png"))
        assert w.non_local() == [] and w.errors == []


def test_a_phone_alert_of_a_street_opens_its_cameras(browser, watched, published, app, city, redis_client):
    """The phone's alert of a street links to the cameras around it (its busiest grid today), 44 px to tap."""
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    # the simulated day need not hold a street spike at the product's thresholds: the alerts of the published
    # frames at a low spike threshold, published over them, so the phone has a street's alert to open
    frames = {name: snap.frame(name) for name in ("event_kpis", "overdue", "by_hour", "at_risk", "device_kpis")}
    alerts = wall_alerts(frames, city.regions, snap.as_of, AlertThresholds(spike_factor=1.2, spike_min=2))
    streets = alerts[alerts["code"].str.len() >= 9]
    assert len(streets), "no alert of a street even at a low threshold: the test proves nothing"
    SnapshotStore(redis_client).publish({"alerts": alerts}, snap.as_of)
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    with LiveServer(app.server) as srv:
        w = watched(PHONE, "city")
        page = w.page
        page.goto(f"{srv.url}/small")
        wait_for_data(page, "small")
        link = page.locator("#small-alerts a.alert-spot").first
        assert link.bounding_box()["height"] >= 44
        link.click()
        page.wait_for_selector("#small-spot")
        code = page.evaluate("() => new URLSearchParams(location.search).get('spot')")
        assert code in set(streets["code"])
        grid, lon, lat = nearby.spot_point(snap, city, code, snap.as_of)
        want = lookup(snap, city_ground(city), lon, lat, 300.0, city.code, True)
        got = page.locator("#small-spot .nc-id").all_inner_texts()
        assert [t.rsplit(" ", 1)[-1] for t in got] == list(want["device_id"].head(20))
        page.screenshot(path=str(SHOTS / "small-alert-cameras-390x844.png"))
        assert w.non_local() == [] and w.errors == []

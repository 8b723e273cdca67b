"""The phone screen in Chromium at phone widths, signed in as street and community staff: my area's
KPIs, my open events by deadline (against an independent SQL query), the event timeline, the quick
switch between my grids, the map; no sideways scroll, large touch targets, nothing from the internet
and no plotly.js download."""

from __future__ import annotations

import pytest
from helpers import LiveServer, expected_reported, kpi_text, not_quarantined, wait_for_data, wait_for_kpi
from sqlalchemy import text

from snapshots.reader import SnapshotReader

OPEN_SQL = """SELECT event_id FROM events WHERE grid_code LIKE :prefix AND closed_at IS NULL {exclude}
              ORDER BY due_at, event_id"""
PHONES = [{"width": 360, "height": 780}, {"width": 390, "height": 844}, {"width": 430, "height": 932}]


def open_events_sql(sim_engine, redis_client, region: str) -> list[str]:
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    exclude = not_quarantined(snap.frame("quarantine")["row_id"])
    with sim_engine.connect() as conn:
        return [r[0] for r in conn.execute(text(OPEN_SQL.format(exclude=exclude)), {"prefix": f"{region}%"})]


def touch_problems(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('.small-root a, .small-root button')]
        .map(a => [a.textContent.trim().slice(0, 20), a.getBoundingClientRect().height])
        .filter(([, h]) => h > 0 && h < 44).map(([t, h]) => `${t}: ${h}px`)""")


@pytest.mark.browser
@pytest.mark.parametrize("role", ["street", "grid"])
def test_phone_home_shows_my_area(browser, watched, published, app, city, users, sim_engine, redis_client, role):
    region = users[role][2]
    if role == "grid":  # the busiest community of the test street, so the list has something to check
        region = max(city.children(users["street"][2])["code"],
                     key=lambda c: len(open_events_sql(sim_engine, redis_client, c)))
        app.server.config["COCKPIT_USERS"].add_user("busy-grid", "busy-grid-pass", "grid", region, city)
        users[role] = ("busy-grid", "busy-grid-pass", region)
    want = open_events_sql(sim_engine, redis_client, region)
    assert want, f"{region} has no open event: the test proves nothing"
    with LiveServer(app.server) as srv:
        for viewport in PHONES:
            w = watched(viewport, role)
            page = w.page
            page.goto(f"{srv.url}/small")
            wait_for_data(page, "small")
            assert page.inner_text("h1.title") == city.regions.set_index("code").at[region, "name"]
            assert kpi_text(page, "small") == expected_reported(app, region, "today")
            assert kpi_text(page, "small", "open") == f"{len(want):,}", "the open KPI and my queue agree"
            title = page.inner_text("#small-queue-title")
            assert title.endswith(f" {len(want)}"), (title, len(want))
            links = page.locator("#small-queue a.ev-link")
            shown = [h.split("event=")[1] for h in links.evaluate_all("as => as.map(a => a.getAttribute('href'))")]
            assert shown == want[:30], "my open events, earliest deadline first"
            sw, iw = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert sw <= iw, f"/small scrolls sideways at {viewport['width']}px: {sw} > {iw}"
            assert touch_problems(page) == [], f"touch targets under 44px at {viewport['width']}px"
            assert not [u for u in w.requests if "plotly" in u], "the phone must not download plotly.js"
            assert w.non_local() == [] and w.errors == []


@pytest.mark.browser
def test_event_detail_and_grid_switch(browser, watched, published, app, city, users, sim_engine, redis_client):
    region = users["street"][2]
    want = open_events_sql(sim_engine, redis_client, region)
    with LiveServer(app.server) as srv:
        w = watched(PHONES[1], "street")
        page = w.page
        page.goto(f"{srv.url}/small")
        wait_for_data(page, "small")
        page.locator("#small-queue a.ev-link").first.click()
        page.wait_for_selector("#small-timeline")
        assert page.url.endswith(f"event={want[0]}")
        steps = page.locator("#small-timeline li").all_inner_texts()
        with sim_engine.connect() as conn:
            n_steps = conn.execute(text("SELECT count(*) FROM event_steps WHERE event_id = :e"), {"e": want[0]}).scalar()
        assert n_steps >= 1 and len(steps) == n_steps + 1, "one row per step of the flow log, then the deadline"
        assert steps[0].startswith("上报") and steps[-1].startswith("期限")
        page.locator("#small-back").click()
        page.wait_for_function("() => !document.querySelector('#small-timeline')")

        chips = page.locator("#small-switch a.chip")
        assert chips.count() == 1 + len(city.children(region))  # my whole street, then each community
        community = city.children(region)["code"].iloc[0]
        page.locator(f'#small-switch a.chip[href$="region={community}"]').click()
        page.wait_for_function("(c) => location.search.includes('region=' + c)", arg=community)
        page.wait_for_function("(n) => document.querySelector('h1.title').textContent === n",
                               arg=city.regions.set_index("code").at[community, "name"])
        wait_for_data(page, "small")
        wait_for_kpi(page, "small", expected_reported(app, community, "today"))
        assert kpi_text(page, "small") == expected_reported(app, community, "today")
        assert w.non_local() == [] and w.errors == []


def test_phone_refuses_another_street_and_its_events(app, city, users, client_as, published, sim_engine, redis_client):
    client = client_as("street")
    mine = users["street"][2]
    other = next(c for c in city.children(mine[:6])["code"] if c != mine)
    assert client.get(f"/small?region={other}", headers={"Accept": "text/html"}).status_code == 403
    assert client.get(f"/small/map.svg?region={other}").status_code == 403
    assert client.get(f"/small/map.svg?region={mine}").status_code == 200
    foreign_event = open_events_sql(sim_engine, redis_client, other)[0]
    payload = {"output": ".._pages_content.children..._pages_store.data..",
               "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
               "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/small"},
                          {"id": "_pages_location", "property": "search", "value": f"?event={foreign_event}"}],
               "state": [], "changedPropIds": ["_pages_location.pathname"]}
    assert client.post("/_dash-update-component", json=payload).status_code == 403
    mine_event = open_events_sql(sim_engine, redis_client, mine)[0]
    payload["inputs"][1]["value"] = f"?event={mine_event}"
    r = client.post("/_dash-update-component", json=payload)
    assert r.status_code == 200 and "small-timeline" in r.get_data(as_text=True)


@pytest.mark.browser
def test_refused_event_says_so_on_the_phone(browser, watched, published, app, city, users, sim_engine, redis_client):
    """An event of another street opened on the phone (a forwarded link): not a blank page but the fixed refusal
    text, the same for an id that exists nowhere, tapping it back to the user's own area."""
    from config.labels import label

    mine = users["street"][2]
    other = next(c for c in city.children(mine[:6])["code"] if c != mine)
    with LiveServer(app.server) as srv:
        w = watched(PHONES[1], "street")
        page = w.page
        for event_id in (open_events_sql(sim_engine, redis_client, other)[0], "NO-SUCH-EVENT-0001"):
            page.goto(f"{srv.url}/small?event={event_id}")
            note = page.locator("#refusal-note")
            note.wait_for(timeout=15_000)
            assert note.inner_text().strip() == f"{label('out_of_scope')} ↩"
            assert page.locator("#small-detail").count() == 0
        note.click()
        wait_for_data(page, "small")
        assert page.url.endswith("/small") and page.locator("#small-kpis .kpi").count() > 0
        assert w.non_local() == []


@pytest.mark.browser
def test_ended_session_sends_the_phone_to_sign_in(browser, watched, published, app, users):
    """Disable the user while the page is open: its next poll gets 401 and the page goes to /login."""
    with LiveServer(app.server) as srv:
        w = watched(PHONES[1], "street")
        page = w.page
        page.goto(f"{srv.url}/small")
        wait_for_data(page, "small")
        app.server.config["COCKPIT_USERS"].set_active(users["street"][0], False)
        page.wait_for_url("**/login?next=*", timeout=15_000)
        assert page.locator("input[name=username]").count() == 1
        assert w.non_local() == []

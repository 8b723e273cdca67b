"""Real-browser tests: the three screens in Chromium (Playwright, sync API) against the app served by
werkzeug on 127.0.0.1. Every figure on screen is checked against the snapshot the app reads, and every
request a page makes must stay on the local server (the cockpit runs on closed networks).

Chromium is required (CI installs it): when it is missing the tests FAIL, they are never skipped.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import (
    NOW,
    SCREENS,
    WAIT_MS,
    LiveServer,
    expected_reported,
    js_condition,
    kpi_text,
    settled,
    shown_for_window,
    stable_viewport,
    wait_for_data,
    wait_for_kpi,
)
from playwright.sync_api import expect

from components.format import fmt_count, measure_label
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import writable_engine
from queries import views
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser  # Chromium (docs/testing.md: the tiers)


def map_paths(page, screen: str) -> int:
    if screen == "small":  # an <img> of server-drawn SVG: count the regions in the image itself
        src = page.get_attribute("#small-map", "src")
        return page.evaluate("(u) => fetch(u).then(r => r.text()).then(t => (t.match(/<path /g) || []).length)", src)
    return page.locator(f"#{screen}-map .choroplethlocation").count()


def region_param(page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("region", [None])[0]


def settle_requests(page) -> None:
    """Until the page has asked for everything it will ask for unprompted: its fonts are loaded and the
    network has been quiet for 500 ms (the live poll is a short request every 2 s)."""
    page.evaluate("() => document.fonts.ready.then(() => document.fonts.status)")
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)


# Per region path of a map: its code and a screen point inside its outline (for a real tap).
INSIDE_POINTS_JS = """(sel) => [...document.querySelectorAll(sel)].map((p) => {
  const bb = p.getBBox(), m = p.getScreenCTM();
  for (let i = 1; i < 16; i++) for (let j = 1; j < 16; j++) {
    const x = bb.x + bb.width * ((i * 7) % 16) / 16, y = bb.y + bb.height * ((j * 5) % 16) / 16;
    if (p.isPointInFill(new DOMPoint(x, y))) {
      const s = new DOMPoint(x, y).matrixTransform(m);
      return {code: p.__data__ && p.__data__.loc, x: s.x, y: s.y, area: bb.width * bb.height};
    }
  }
  return {code: p.__data__ && p.__data__.loc, x: null, y: null, area: 0};
})"""


# ------------------------------------------------------------------------------------------------ tests

def test_pages_render_and_stay_local(browser, watched, published, app, city):
    with LiveServer(app.server) as srv:
        for screen, viewport in SCREENS.items():
            w = watched(viewport)
            page = w.page
            page.goto(f"{srv.url}/{screen}")
            wait_for_data(page, screen)

            assert kpi_text(page, screen) == expected_reported(app, city.code, "today"), screen
            assert map_paths(page, screen) > 0, f"/{screen}: the map drew no regions"
            assert page.locator(f"#{screen}-kpis .kpi").count() >= 6, screen
            if screen == "small":
                sw, iw = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
                assert sw <= iw, f"/small scrolls sideways at 390px: scrollWidth {sw} > innerWidth {iw}"
                assert page.locator("#small-queue li").count() > 0
            if screen == "big":
                assert page.locator("#big-ranking-table tbody tr").count() == len(city.children(city.code))
                assert page.locator("#big-ticker li").count() > 0
                assert page.locator("#big-freshness").count() == 1
            settle_requests(page)  # late requests (fonts, topojson) are in w.requests
            assert w.non_local() == [], f"/{screen} requested non-local URLs"
            assert w.errors == [], f"/{screen} console errors"


def test_wall_updates_live(browser, watched, app, city, redis_client, tmp_path):
    eng = writable_engine(f"sqlite:///{tmp_path}/live.db")
    sim = Simulator(eng, city, seed=11, events_per_day=300)
    sim.backfill(3, NOW, n_cameras=500, n_iot=200)
    jobs = EtlJobs(eng, city, SnapshotStore(redis_client))
    jobs.run_all(NOW)
    try:
        with LiveServer(app.server) as srv:
            w = watched(SCREENS["big"])
            page = w.page
            page.goto(f"{srv.url}/big?page=overview")  # pinned: the map shows event density
            wait_for_data(page, "big")
            before = kpi_text(page, "big")
            assert before == expected_reported(app, city.code, "today")
            vp_before = stable_viewport(page, "#big-map .js-plotly-plot")
            assert vp_before["paths"] == len(city.children(city.code)) and vp_before["d"]

            # New events arrive in the source; the events job publishes a new snapshot.
            later = NOW
            for _ in range(6):
                later += timedelta(minutes=20)
                sim.tick(later)
                jobs.run("events", later)
                if expected_reported(app, city.code, "today") != before:
                    break
            after = expected_reported(app, city.code, "today")
            assert after != before, "the simulator added no event today: the test proves nothing"

            wait_for_kpi(page, "big", after)
            assert kpi_text(page, "big") == after

            # The map got the new values (patched) without moving.
            snap = app.server.config["COCKPIT"].snapshot()
            want = views.child_values(snap, city, city.code, "today", "density")["value"].fillna(0).tolist()
            js_condition(page, """(want) => { const gd = document.querySelector('#big-map .js-plotly-plot');
                const z = gd && gd.data ? Array.from(gd.data[0].z) : [];
                return z.length === want.length && z.every((v, i) => Math.abs(v - want[i]) <= 1e-12 + 1e-9 * Math.abs(want[i])); }""",
                         want)
            z = page.evaluate("() => Array.from(document.querySelector('#big-map .js-plotly-plot').data[0].z)")
            assert z == pytest.approx(want, rel=1e-9, abs=1e-12), "the map's values were not updated"
            vp_after = stable_viewport(page, "#big-map .js-plotly-plot")
            assert vp_after == vp_before, "the map's viewport moved on a live update"

            assert w.non_local() == [], "the wall requested non-local URLs"
            assert w.errors == []
    finally:
        eng.dispose()


MAP_BOX_JS = """(screen) => {
  const gd = document.querySelector(`#${screen}-map .js-plotly-plot`) || document.querySelector(`#${screen}-map`);
  const panel = gd.closest('.panel');
  const g = gd.getBoundingClientRect(), p = panel.getBoundingClientRect();
  return {height: gd._fullLayout ? gd._fullLayout.height : g.height, graph: [g.top, g.bottom], panel: [p.top, p.bottom]};
}"""


def test_maps_keep_their_size(browser, watched, published, app, city):
    """Each screen's map settles at one size inside its panel (no resize loop pushing it off screen)."""
    problems = []
    with LiveServer(app.server) as srv:
        pages = {screen: watched(viewport).page for screen, viewport in SCREENS.items()}
        for screen, page in pages.items():  # the three load side by side
            page.goto(f"{srv.url}/{screen}")
        for screen, page in pages.items():
            wait_for_data(page, screen)
        first = {}
        for screen, page in pages.items():  # after the first autosize
            first[screen] = settled(page, MAP_BOX_JS, screen)
            if first[screen] is None:
                problems.append(f"/{screen}: the map's size never settles ({page.evaluate(MAP_BOX_JS, screen)})")
        for page in pages.values():  # two more polls (no new data): nothing may move
            for _ in range(2):
                with page.expect_response(lambda r: "/_dash-update-component" in r.url, timeout=WAIT_MS):
                    pass
        for screen, page in pages.items():
            later = page.evaluate(MAP_BOX_JS, screen)
            if first[screen] and later["height"] != first[screen]["height"]:
                problems.append(f"/{screen}: the map's height changed {first[screen]['height']} -> "
                                f"{later['height']} px over two polls with no new data")
            if later["graph"][1] > later["panel"][1] + 1:
                problems.append(f"/{screen}: the map (bottom {later['graph'][1]:.0f}) overflows its panel "
                                f"(bottom {later['panel'][1]:.0f})")
    assert not problems, "\n".join(problems)


def _wait_medium(page, code: str, depth: int) -> None:
    """Until the medium page shows region `code`: its breadcrumb has `depth` crumbs ending at it."""
    page.wait_for_function(
        """([code, n]) => { const a = [...document.querySelectorAll('#medium-breadcrumb a')];
             const v = document.querySelector('#medium-kpi-reported .kpi-value');
             return a.length === n && a[n - 1].classList.contains('current')
               && a[n - 1].getAttribute('href').includes('region=' + code + '&') && v && v.textContent.trim() !== ''; }""",
        arg=[code, depth], timeout=WAIT_MS)


def _check_medium(page, app, city, code: str, window: str = "today") -> list[str]:
    """The page shows `code`: URL, breadcrumb names, reported KPI; returns the breadcrumb texts."""
    depth = len(city.ancestors(code)) + 1
    _wait_medium(page, code, depth)
    assert region_param(page) == code or (code == city.code and region_param(page) is None)  # bare /medium
    names = [city.regions.set_index("code").at[c, "name"] for c in [*city.ancestors(code), code]]
    wait_for_kpi(page, "medium", expected_reported(app, code, window))  # the tiles may land after the crumbs
    crumbs = [t.strip() for t in page.locator("#medium-breadcrumb a").all_inner_texts()]
    assert crumbs == names
    assert kpi_text(page, "medium") == expected_reported(app, code, window), code
    return crumbs


def _tap_ranking(page, code: str) -> None:
    link = page.locator(f'#medium-ranking-table a[href*="region={code}&"]')
    expect(link, f"no ranking link to {code}").to_have_count(1, timeout=WAIT_MS)  # the ranking is its own callback
    link.click()


def _tap_map_largest(page, level_len: int) -> str:
    """Tap the largest region drawn on the tablet's map, at a point inside its outline; returns its code."""
    stable_viewport(page, "#medium-map .js-plotly-plot")
    points = page.evaluate(INSIDE_POINTS_JS, "#medium-map .choroplethlocation")
    target = max((p for p in points if p["x"] is not None), key=lambda p: p["area"])
    assert len(target["code"]) == level_len
    page.mouse.move(target["x"], target["y"])
    # plotly's click reports the region its hover picked: wait until the hover is on the target
    assert js_condition(page, """(c) => { const gd = document.querySelector('#medium-map .js-plotly-plot');
        return !!gd && (gd._hoverdata || []).some((p) => p.location === c); }""", target["code"]), \
        f"hovering the map at {target['x']:.0f},{target['y']:.0f} did not pick {target['code']}"
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("(c) => location.search.includes('region=' + c + '&')", arg=target["code"])
    return target["code"]


def test_medium_drill_down_and_back(browser, watched, published, app, city):
    """Tap the map from the city down to a grid, then the breadcrumb back up one level at a time;
    then down again through the ranking's links."""
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["medium"])
        page = w.page
        page.goto(f"{srv.url}/medium")
        wait_for_data(page, "medium")
        _check_medium(page, app, city, city.code)

        path = [city.code]
        for length in (6, 9, 12, 15):
            code = _tap_map_largest(page, length)
            assert code.startswith(path[-1])
            crumbs = _check_medium(page, app, city, code)
            assert len(crumbs) == len(path) + 1, "the breadcrumb did not grow by one level"
            path.append(code)
        page.wait_for_function(  # at a grid the map shows the grid itself
            "() => document.querySelectorAll('#medium-map .choroplethlocation').length === 1")

        for depth in range(len(path) - 1, 0, -1):  # back up: the crumb before the current one
            page.locator("#medium-breadcrumb a").nth(depth - 1).click()
            _check_medium(page, app, city, path[depth - 1])

        # Down through the ranking links: district -> street -> community -> grid.
        snap = app.server.config["COCKPIT"].snapshot()
        code, depth = city.code, 1
        for length in (6, 9, 12, 15):
            ranked = views.child_ranking(snap, city, code, "today").head(60)["code"].tolist()
            if length < 15:
                ranked = [c for c in ranked if not city.children(c).empty]
            assert ranked, f"{code} has no child to drill into"
            child = ranked[0]
            assert len(child) == length
            _tap_ranking(page, child)
            crumbs = _check_medium(page, app, city, child)
            assert len(crumbs) == depth + 1, "the breadcrumb did not grow by one level"
            code, depth = child, depth + 1

        page.locator("#medium-breadcrumb a").first.click()
        _check_medium(page, app, city, city.code)
        assert region_param(page) == city.code == "3201"
        assert w.non_local() == []
        assert w.errors == []


def test_deep_link(browser, watched, published, app, city):
    snap = app.server.config["COCKPIT"].snapshot()
    streets = city.regions[city.regions["level"] == "street"]["code"]
    reported = {c: shown_for_window(snap, c, "7d").get("reported") or 0 for c in streets}
    street = max(reported, key=reported.get)  # the busiest street: a number worth comparing
    assert reported[street] > 0
    district = street[:6]
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["medium"])
        page = w.page
        page.goto(f"{srv.url}/medium?region={street}&window=7d&measure=overdue")
        wait_for_data(page, "medium")
        crumbs = _check_medium(page, app, city, street, "7d")
        names = city.regions.set_index("code")["name"]
        assert crumbs == [names[city.code], names[district], names[street]]
        assert page.locator('#medium-window input[value="7d"]').is_checked()
        assert not page.locator('#medium-window input[value="today"]').is_checked()
        assert measure_label("overdue") in page.inner_text("#medium-map-title")
        assert kpi_text(page, "medium") == fmt_count(reported[street])
        assert page.locator("#medium-ranking-table a").first.get_attribute("href").endswith("window=7d&measure=overdue")
        assert w.non_local() == []
        assert w.errors == []


def test_medium_event_timeline_and_its_deep_link(browser, watched, published, app, city, sim_engine):
    """Tap an overdue event on the tablet: its whole life opens over the page (every step of the source's
    flow log), closes again, and the same view opens from its link."""
    from sqlalchemy import text

    from queries import window_views

    snap = app.server.config["COCKPIT"].snapshot()
    district = max(city.children(city.code)["code"], key=lambda c: len(window_views.overdue_list(snap, c)))
    assert len(window_views.overdue_list(snap, district)) > 0
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["medium"])
        page = w.page
        page.goto(f"{srv.url}/medium?region={district}&window=7d")
        wait_for_data(page, "medium")
        first = page.locator("#medium-overdue-list a").first
        event_id = parse_qs(urlparse(first.get_attribute("href")).query)["event"][0]
        first.click()
        page.wait_for_selector("#medium-timeline")
        assert region_param(page) == district and f"event={event_id}" in page.url
        with sim_engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM event_steps WHERE event_id = :e"), {"e": event_id}).scalar()
        shown = page.locator("#medium-timeline li.tl-step:not(.tl-due)")
        assert shown.count() == n >= 2
        assert event_id in page.inner_text("#medium-event-head")
        assert "超期" in page.inner_text("#medium-timeline li.tl-due")  # it is on the overdue list
        page.locator("#medium-event-close").click()
        page.wait_for_function("() => !location.search.includes('event=')")
        page.wait_for_function("() => !document.querySelector('#medium-event')")
        _check_medium(page, app, city, district, "7d")

        deep = watched(SCREENS["medium"])
        deep.page.goto(f"{srv.url}/medium?region={district}&window=7d&event={event_id}")
        deep.page.wait_for_selector("#medium-timeline")
        assert deep.page.locator("#medium-timeline li.tl-step:not(.tl-due)").count() == n
        wait_for_data(deep.page, "medium")
        assert w.non_local() == [] and deep.non_local() == []
        assert w.errors == [] and deep.errors == []


def test_medium_custom_window_from_the_date_picker(browser, watched, published, app, city):
    """Choose 自定义 and type a range: the URL holds it and the tiles count that range's events."""
    from queries import window_views

    district = city.children(city.code)["code"].iloc[1]
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["medium"])
        page = w.page
        page.goto(f"{srv.url}/medium?region={district}&window=7d")
        wait_for_data(page, "medium")
        page.locator('#medium-window input[value="custom"]').click()
        page.wait_for_function("() => location.search.includes('window=custom')")
        for sel, day in (("input#medium-range", "2026-11-03"), ("input#medium-range-end-date", "2026-11-09")):
            box = page.locator(sel)
            box.click()
            box.fill(day)
            box.press("Enter")
            # the picker takes the day before the next field is touched (on a loaded machine a click on the end
            # field could land while the start field was still being re-rendered, and the start was lost)
            page.wait_for_function("([s, d]) => document.querySelector(s).value.replaceAll('/', '-').includes(d)",
                                   arg=[sel, day])
        page.wait_for_function("() => location.search.includes('start=2026-11-03') && location.search.includes('end=2026-11-09')")
        snap = app.server.config["COCKPIT"].snapshot()
        expected = window_views.tablet_window_figures(snap, district, window_views.resolve_window(
            "custom", snap.as_of, "2026-11-03", "2026-11-09"))["reported"]
        page.wait_for_function("(v) => { const e = document.querySelector('#medium-kpi-reported .kpi-value');"
                               " return e && e.textContent.trim() === v; }", arg=fmt_count(expected))
        assert "11-03 ~ 11-09" in page.inner_text("#medium-window-text") and expected > 0
        assert w.non_local() == [] and w.errors == []

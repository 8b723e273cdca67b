"""Real-browser tests: the three screens in Chromium (Playwright, sync API) against the app served by
werkzeug on 127.0.0.1. Every figure on screen is checked against the snapshot the app reads, and every
request a page makes must stay on the local server (the cockpit runs on closed networks).

Chromium is required (CI installs it): when it is missing the tests FAIL, they are never skipped.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import NOW, LiveServer  # tests/conftest.py (pytest puts tests/ on sys.path)

from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import source_engine
from queries import views
from snapshots.store import SnapshotStore

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
WAIT_MS = 20_000

SCREENS = {  # page -> viewport (the design sizes of the wall, the tablet and the phone)
    "big": {"width": 1920, "height": 1080},
    "medium": {"width": 1366, "height": 1024},
    "small": {"width": 390, "height": 844},
}


class _NoBrowser:
    """Stands in for the browser when Chromium cannot be started: the first use fails the test."""

    def __init__(self, why: str):
        self.why = why

    def new_context(self, **_kw):
        pytest.fail(self.why, pytrace=False)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        yield _NoBrowser(f"Playwright is not installed ({exc}); the browser tests need it (requirements-dev.txt).")
        return
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        yield _NoBrowser(f"Chromium not found at {CHROMIUM}: the browser tests need it (Debian: apt-get install "
                         "chromium; or set CHROMIUM_PATH). They are not skipped on purpose.")
        return
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - report why, as a test failure
            yield _NoBrowser(f"Chromium at {CHROMIUM} did not start: {exc}")
            return
        yield b
        b.close()


class Watched:
    """A page in its own context, recording every request, console error and uncaught exception."""

    def __init__(self, browser, viewport: dict, session_cookie: str | None = None):
        self.context = browser.new_context(viewport=viewport, device_scale_factor=1)
        if session_cookie:  # signed in (cookies are per host, not per port: valid for any LiveServer)
            self.context.add_cookies([{"name": "cockpit_session", "value": session_cookie, "domain": "127.0.0.1",
                                       "path": "/", "httpOnly": True, "sameSite": "Lax"}])
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def non_local(self) -> list[str]:
        return [u for u in self.requests if not is_local(u)]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser, client_as):
    """watched(viewport, role="city"): a page signed in as that role's test user (role=None: signed out)."""
    opened = []

    def open_(viewport: dict, role: str | None = "city") -> Watched:
        cookie = client_as(role).get_cookie("cockpit_session").value if role else None
        w = Watched(browser, viewport, cookie)
        opened.append(w)
        return w

    yield open_
    for w in opened:
        w.close()


def is_local(url: str) -> bool:
    u = urlparse(url)
    if u.scheme in ("data", "blob"):
        return True
    return u.scheme in ("http", "https", "ws", "wss") and u.hostname in LOCAL_HOSTS


def kpi_text(page, screen: str, key: str = "reported") -> str:
    return page.inner_text(f"#{screen}-kpi-{key} .kpi-value").strip()


def wait_for_data(page, screen: str) -> None:
    """Until the reported tile shows a number and the map has drawn its regions."""
    page.wait_for_function(
        """(s) => { const v = document.querySelector(`#${s}-kpi-reported .kpi-value`);
                    const img = document.querySelector(`img#${s}-map`);  // the phone's map is an SVG image
                    return v && v.textContent.trim() !== '' && v.textContent.trim() !== '—'
                      && (img ? img.complete && img.naturalWidth > 0
                              : document.querySelectorAll(`#${s}-map .choroplethlocation`).length > 0); }""",
        arg=screen, timeout=WAIT_MS)


def map_paths(page, screen: str) -> int:
    if screen == "small":  # an <img> of server-drawn SVG: count the regions in the image itself
        src = page.get_attribute("#small-map", "src")
        return page.evaluate("(u) => fetch(u).then(r => r.text()).then(t => (t.match(/<path /g) || []).length)", src)
    return page.locator(f"#{screen}-map .choroplethlocation").count()


def region_param(page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("region", [None])[0]


def expected_reported(app, code: str, window: str) -> str:
    snap = app.server.config["COCKPIT"].snapshot()
    return views.fmt_count(views.region_kpis(snap, code, window).get("reported"))


# The map's geo viewport: plotly's projection (scale, translate, rotation) and the first region's outline.
VIEWPORT_JS = """(sel) => {
  const gd = document.querySelector(sel);
  const pr = gd._fullLayout.geo._subplot.projection;
  const first = gd.querySelector('.choroplethlocation');
  return {scale: pr.scale(), translate: pr.translate(), rotate: pr.rotate(),
          width: gd._fullLayout.width, height: gd._fullLayout.height,
          paths: gd.querySelectorAll('.choroplethlocation').length, d: first ? first.getAttribute('d') : null};
}"""

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


def stable_viewport(page, sel: str, timeout_s: float = 8) -> dict:
    """The map viewport once it has stopped changing (plotly may resize once after the first draw)."""
    last, heights, deadline = None, [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cur = page.evaluate(VIEWPORT_JS, sel)
        if cur == last:
            return cur
        last = cur
        heights.append(cur["height"])
        page.wait_for_timeout(700)
    pytest.fail(f"the map {sel} never settles: its figure height went {heights} px in {timeout_s:.0f} s "
                "(a resize feedback loop)", pytrace=False)


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
            page.wait_for_timeout(300)  # let late requests (fonts, topojson) show up
            assert w.non_local() == [], f"/{screen} requested non-local URLs"
            assert w.errors == [], f"/{screen} console errors"


def test_wall_updates_live(browser, watched, app, city, redis_client, tmp_path):
    eng = source_engine(f"sqlite:///{tmp_path}/live.db")
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

            page.wait_for_function(
                "(old) => document.querySelector('#big-kpi-reported .kpi-value').textContent.trim() !== old",
                arg=before, timeout=15_000)
            assert kpi_text(page, "big") == after

            # The map got the new values (patched) without moving.
            snap = app.server.config["COCKPIT"].snapshot()
            want = views.child_values(snap, city, city.code, "today", "density")["value"].fillna(0).tolist()
            deadline = time.monotonic() + 10
            while True:
                z = page.evaluate("() => Array.from(document.querySelector('#big-map .js-plotly-plot').data[0].z)")
                if z == pytest.approx(want, rel=1e-9, abs=1e-12) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(300)
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
        pages["small"].wait_for_timeout(1000)  # the first autosize
        first = {screen: page.evaluate(MAP_BOX_JS, screen) for screen, page in pages.items()}
        pages["small"].wait_for_timeout(2500)  # more than one poll period
        for screen, page in pages.items():
            later = page.evaluate(MAP_BOX_JS, screen)
            if later["height"] != first[screen]["height"]:
                problems.append(f"/{screen}: the map's height changed {first[screen]['height']} -> "
                                f"{later['height']} px in 2.5 s with no new data")
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
    crumbs = [t.strip() for t in page.locator("#medium-breadcrumb a").all_inner_texts()]
    assert crumbs == names
    assert kpi_text(page, "medium") == expected_reported(app, code, window), code
    return crumbs


def _tap_ranking(page, code: str) -> None:
    link = page.locator(f'#medium-ranking-table a[href*="region={code}&"]')
    assert link.count() == 1, f"no ranking link to {code}"
    link.click()


def _tap_map_largest(page, level_len: int) -> str:
    """Tap the largest region drawn on the tablet's map, at a point inside its outline; returns its code."""
    stable_viewport(page, "#medium-map .js-plotly-plot")
    points = page.evaluate(INSIDE_POINTS_JS, "#medium-map .choroplethlocation")
    target = max((p for p in points if p["x"] is not None), key=lambda p: p["area"])
    assert len(target["code"]) == level_len
    page.mouse.move(target["x"], target["y"])
    page.wait_for_timeout(200)  # plotly's hover picks the region under the pointer
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
    reported = {c: views.region_kpis(snap, c, "7d").get("reported") or 0 for c in streets}
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
        assert views.MEASURE_LABELS["overdue"] in page.inner_text("#medium-map-title")
        assert kpi_text(page, "medium") == views.fmt_count(reported[street])
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
        page.wait_for_function("() => location.search.includes('start=2026-11-03') && location.search.includes('end=2026-11-09')")
        snap = app.server.config["COCKPIT"].snapshot()
        expected = window_views.window_kpis(snap, district, window_views.resolve_window(
            "custom", snap.as_of, "2026-11-03", "2026-11-09"))["reported"]
        page.wait_for_function("(v) => { const e = document.querySelector('#medium-kpi-reported .kpi-value');"
                               " return e && e.textContent.trim() === v; }", arg=views.fmt_count(expected))
        assert "11-03 ~ 11-09" in page.inner_text("#medium-window-text") and expected > 0
        assert w.non_local() == [] and w.errors == []

"""The wall left running in Chromium while the simulator adds events: numbers change, the map's view does
not move, geometry is fetched once and never travels on a refresh, Redis emptied shows a stale state
and recovers by itself when the ETL republishes, and no request leaves 127.0.0.1. The wall laid out for
every screen shape (issue 29: 1080p to 16K-wide, portrait-ish, LED), tiled walls' seams, the alert panel."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from helpers import SCREENS, LiveServer, expected_reported, kpi_text, settled, stable_viewport, wait_for_data

from components.widgets import KPI_TILES
from config.clock import now_local
from contract import frames as F
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import writable_engine
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser  # Chromium (docs/testing.md: the tiers)

FRESHNESS_JS = "() => { const f = document.querySelector('#big-freshness'); return f ? f.className + '|' + f.textContent : ''; }"


def test_wall_live_flush_and_recover(browser, watched, app, city, redis_client, tmp_path):
    eng = writable_engine(f"sqlite:///{tmp_path}/live.db")
    t0 = now_local(city.timezone)
    midnight = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    if t0 - midnight < timedelta(minutes=5):  # the ticks below must write events reported today (local)
        time.sleep((midnight + timedelta(minutes=5) - t0).total_seconds())
        t0 = now_local(city.timezone)
    # the history up to `start`, then four ticks to now, all within today however soon after midnight this runs
    start = max(t0 - timedelta(minutes=40), midnight)
    sim = Simulator(eng, city, seed=5, events_per_day=600 if start - midnight >= timedelta(hours=2) else 20000)
    sim.backfill(3, start, n_cameras=500, n_iot=200)
    jobs = EtlJobs(eng, city, SnapshotStore(redis_client))
    jobs.run_all()  # at the real clock: the snapshot is fresh
    bodies: list[str] = []
    try:
        with LiveServer(app.server) as srv:
            w = watched(SCREENS["big"])
            page = w.page
            page.on("response", lambda r: bodies.append(r.text()) if "/_dash-update-component" in r.url
                    and r.status == 200 else None)
            page.goto(f"{srv.url}/big?page=overview&interval=3600")
            wait_for_data(page, "big")
            before = kpi_text(page, "big")
            assert before == expected_reported(app, city.code, "today")
            vp_before = stable_viewport(page, "#big-map .js-plotly-plot")
            page.wait_for_function("() => document.querySelector('#big-freshness').classList.contains('fresh')")

            # the simulator writes events; the events job publishes; the wall follows
            for k in range(1, 5):
                sim.tick(start + (t0 - start) * k / 4)
                jobs.run("events")
                if expected_reported(app, city.code, "today") != before:
                    break
            after = expected_reported(app, city.code, "today")
            assert after != before, "the simulator added no event today: the test proves nothing"
            page.wait_for_function(
                "(v) => document.querySelector('#big-kpi-reported .kpi-value').textContent.trim() === v",
                arg=after, timeout=15_000)
            assert stable_viewport(page, "#big-map .js-plotly-plot") == vp_before, "the map moved on an update"

            # Redis emptied: the wall keeps its numbers, marked stale; the ETL republishes; it recovers
            redis_client.flushdb()
            page.wait_for_function(f"() => ({FRESHNESS_JS})().startsWith('freshness stale')", timeout=15_000)
            assert kpi_text(page, "big") == after, "the wall lost its numbers when Redis was emptied"
            sim.tick(t0)
            jobs.run("events")
            page.wait_for_function(f"() => ({FRESHNESS_JS})().startsWith('freshness fresh')", timeout=15_000)
            page.wait_for_function(
                "(v) => document.querySelector('#big-kpi-reported .kpi-value').textContent.trim() === v",
                arg=expected_reported(app, city.code, "today"), timeout=15_000)
            assert stable_viewport(page, "#big-map .js-plotly-plot") == vp_before, "the map moved on recovery"

            geo = [u for u in w.requests if "/geo/" in u]
            assert len(geo) == 1, f"the geometry must be fetched once, got {geo}"
            refreshes = [b for b in bodies if "big-kpi-reported-value" in b]
            assert len(refreshes) >= 3, "the wall did not refresh on each new snapshot"
            for b in bodies:
                assert '"coordinates"' not in b, "geometry travelled in a callback"
                json.loads(b)
            # the shown yesterday change is the one the snapshot holds (checked against SQL elsewhere)
            assert "较昨日同时" in page.inner_text("#big-kpi-overdue-delta")
            assert w.non_local() == [], "the wall requested non-local URLs"
            assert w.errors == [], w.errors
    finally:
        eng.dispose()


def test_wall_survives_server_restart(browser, watched, published, app, city):
    """The server goes away: the wall says so (overlay), keeps polling, and once the server answers
    again it reloads itself and shows the data, without anyone touching it."""
    srv = LiveServer(app.server).__enter__()
    port = srv.port
    w = watched(SCREENS["big"], fake_clock=True)  # the wall's watchdog reads Date.now(): skip ahead, not wait
    page = w.page
    page.goto(f"{srv.url}/big?page=overview")
    wait_for_data(page, "big")
    assert page.locator("#big-offline.hidden").count() == 1
    srv.__exit__(None, None, None)
    page.clock.fast_forward("00:11")  # no answer for longer than the watchdog's 10 s
    page.wait_for_function("() => !document.querySelector('#big-offline').classList.contains('hidden')",
                           timeout=30_000)
    page.clock.fast_forward("00:21")  # down long enough (20 s) that the wall rebuilds itself on reconnect
    with LiveServer(app.server, port):  # the server is back on the same address
        page.wait_for_event("load", timeout=30_000)  # the self-reload
        wait_for_data(page, "big")
        assert kpi_text(page, "big") == expected_reported(app, city.code, "today")
        assert page.locator("#big-offline.hidden").count() == 1
        assert w.non_local() == []


TILES_JS = """() => ({freshness: (document.querySelector('#big-freshness') || {textContent: ''}).textContent,
  tiles: Object.fromEntries([...document.querySelectorAll('#big-kpis .kpi')].map(
    t => [t.id.replace('big-kpi-', ''), t.querySelector('.kpi-value').textContent.trim()]))})"""


def test_wall_opened_at_start_never_shows_a_dash_once_it_has_data(browser, watched, app, city, redis_client,
                                                                   tmp_path, wait_until):
    """The product starts (empty Redis, the ETL scheduler on the default intervals) with a wall already open:
    from the first snapshot on, no tile shows "—" (that only meant "not yet": a job that had not run). A tile
    whose figure the complete snapshot lacks too (say, no event closed yet today) does not count."""
    from components.wall_widgets import kpi_values
    from config.labels import label
    from etl.scheduler import EtlScheduler
    from queries import views

    class Recorded(SnapshotStore):  # the real store, keeping the frames each snapshot it published held
        held: list[set[str]] = []

        def publish(self, frames, as_of, meta=None, drop=()):
            manifest = super().publish(frames, as_of, meta, drop)
            if frames:
                self.held.append(set(manifest["frames"]))
            return manifest

    eng = writable_engine(f"sqlite:///{tmp_path}/start.db")
    t0 = now_local(city.timezone)
    Simulator(eng, city, seed=5, events_per_day=600).backfill(3, t0 - timedelta(minutes=40), n_cameras=500, n_iot=200)
    sched = EtlScheduler(EtlJobs(eng, city, Recorded(redis_client)), redis_client, "cockpit", 15.0,
                         {"events": 3.0, "devices": 60.0, "safety": 3600.0})  # the default settings' intervals
    seen: list[dict[str, str]] = []  # the tiles on every look once the wall had a snapshot
    try:
        with LiveServer(app.server) as srv:
            w = watched(SCREENS["big"])
            page = w.page
            page.goto(f"{srv.url}/big?page=overview")
            page.wait_for_function("(t) => ((document.querySelector('#big-freshness') || {}).textContent || '') === t",
                                   arg=label("waiting"))  # the wall is up, with no snapshot yet
            sched.start()

            def lacking() -> set[str] | None:
                """The tiles the complete snapshot (every job run once) has no figure for, once there is one."""
                if min(sched.runs.values()) < 1:
                    return None
                snap = app.server.config["COCKPIT"].snapshot()
                values = kpi_values(views.region_kpis(snap, city.code), {}, {})[0]
                return {k for k, v in zip(KPI_TILES, values) if v == "—"}

            def caught_up():
                state = page.evaluate(TILES_JS)
                if state["freshness"].startswith(label("as_of")):  # the wall shows a snapshot
                    seen.append(state["tiles"])
                gaps = lacking()
                done = gaps is not None and seen and {k for k, v in seen[-1].items() if v == "—"} == gaps
                return (gaps,) if done else None

            done = wait_until(caught_up, timeout_s=180, every_s=0.2)
            assert done is not None, (sched.runs, seen[-1:] if seen else "the wall never had a snapshot")
            gaps = done[0]
            every_job = {F.EVENT_KPIS.name, F.DEVICE_KPIS.name, F.BLIND_GRIDS.name, F.SAFETY_LATEST.name}
            assert every_job <= Recorded.held[0], f"the first snapshot lacks {every_job - Recorded.held[0]}"
            assert {"camera_online_rate", "safety_index", "public_security"}.isdisjoint(gaps), gaps  # the source has them
            early = [{k: v for k, v in tiles.items() if v == "—" and k not in gaps} for tiles in seen]
            assert not any(early), f"'—' shown after the first snapshot: {[e for e in early if e][:3]}"
            assert w.errors == [], w.errors
    finally:
        if sched.sched.running:
            sched.shutdown()
        eng.dispose()


# ------------------------------------------------------------------ the wall on every screen shape (issue 29)

# The share of the wall no panel, KPI tile or header covers (background), from the element boxes.
EMPTY_JS = """() => {
  const W = innerWidth, H = innerHeight;
  const rs = [...document.querySelectorAll('#big-header, #big-canvas .kpi, #big-canvas .panel')]
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
    .map(r => [Math.max(0, r.left), Math.max(0, r.top), Math.min(W, r.right), Math.min(H, r.bottom)]);
  const xs = [...new Set([0, W, ...rs.flatMap(r => [r[0], r[2]])])].sort((a, b) => a - b);
  const ys = [...new Set([0, H, ...rs.flatMap(r => [r[1], r[3]])])].sort((a, b) => a - b);
  let covered = 0;
  for (let i = 0; i + 1 < xs.length; i++) for (let j = 0; j + 1 < ys.length; j++) {
    const cx = (xs[i] + xs[i + 1]) / 2, cy = (ys[j] + ys[j + 1]) / 2;
    if (rs.some(r => r[0] <= cx && cx <= r[2] && r[1] <= cy && cy <= r[3]))
      covered += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j]);
  }
  return 1 - covered / (W * H);
}"""

# Every shown text on the wall (HTML elements with text of their own, SVG text) with its box on screen.
TEXT_BOXES_JS = """() => {
  const out = [];
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 ? r : null; };
  document.querySelectorAll('#big-canvas *').forEach(e => {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== '');
    const svgText = e instanceof SVGTextElement && e.textContent.trim() !== '';
    if (!own && !svgText) return;
    if (e.closest('.wall-overlay')) return;
    const r = shown(e);
    if (r) out.push({text: e.textContent.trim().slice(0, 30), left: r.left, right: r.right, top: r.top, bottom: r.bottom});
  });
  return out;
}"""

PANELS_SHOWN_JS = "() => [...document.querySelectorAll('#big-canvas .panel')].filter(p => p.offsetParent !== null).length"

WALLS = [(1920, 1080), (3840, 2160), (5760, 1080), (5760, 3240), (7680, 2160), (9600, 2160), (3840, 3240), (6656, 1792)]


def open_wall(wall_watched, wall_site, width: int, height: int, query: str = "", fake_clock: bool = False):
    w = wall_watched({"width": width, "height": height}, fake_clock=fake_clock)
    w.page.goto(f"{wall_site[0]}/big?interval=3600{query}")
    wait_for_data(w.page, "big")
    settled(w.page, "() => [window.__bigWall && window.__bigWall.u, innerWidth, innerHeight]")
    return w


@pytest.mark.parametrize("size", WALLS, ids=[f"{w}x{h}" for w, h in WALLS])
def test_wall_fills_any_screen(wall_watched, wall_site, size):
    """The wall laid out for the screen's shape: at most 5% of it background, KPI values at least 1/12 of a
    1080p screen's height, text and map as vectors, no console error, nothing fetched off the machine."""
    width, height = size
    w = open_wall(wall_watched, wall_site, width, height)
    page = w.page
    empty = page.evaluate(EMPTY_JS)
    assert empty <= 0.05, f"{width}x{height}: {empty:.1%} of the wall is empty"
    rows = max(1, height // 1080)  # the screens the wall is tall (1080p screens; an LED wall: one)
    value_px = page.evaluate("""() => { const e = document.querySelector('#big-kpi-reported .kpi-value');
        return parseFloat(getComputedStyle(e).fontSize) * parseFloat(document.getElementById('big-canvas').style.zoom); }""")
    assert value_px >= height / rows / 12 - 0.5, f"KPI value {value_px:.0f} px on a {height / rows:.0f} px screen"
    assert page.evaluate("() => document.querySelectorAll('#big-canvas canvas, #big-canvas img').length") == 0, \
        "the wall must draw with vectors (SVG, text), no bitmaps"
    assert page.locator("#big-map svg .choroplethlocation").count() > 0
    info = page.evaluate("() => window.__bigWall")
    shown = page.evaluate(PANELS_SHOWN_JS)
    if info["fits"]:  # the map and every panel
        assert shown == info["N"] + 1, (shown, info)
    else:  # the map and the panels that fit (a heavy panel takes two places)
        assert 2 < shown <= info["T"] + 1, (shown, info)
    if not info["fits"]:  # the carousel takes the rest: its page dots are on screen
        assert page.locator("#big-pages .dot").count() > 1
    assert w.non_local() == [], w.non_local()
    assert w.errors == [], w.errors


def test_wall_tiles_keep_text_off_seams(wall_watched, wall_site):
    """?tiles=3x1 on a 5760x1080 wall of three 1080p screens (12 px bezels): no text's box crosses a seam."""
    w = open_wall(wall_watched, wall_site, 5760, 1080, "&tiles=3x1&bezel=12")
    boxes = w.page.evaluate(TEXT_BOXES_JS)
    assert len(boxes) > 100, "too few texts found: the check proves nothing"
    seams = (1920, 3840)
    crossing = [b for b in boxes for s in seams if b["left"] < s + 6 and b["right"] > s - 6]
    assert crossing == [], crossing[:10]
    assert w.page.evaluate(EMPTY_JS) <= 0.05
    assert w.errors == [], w.errors


def test_wall_alert_panel_holds_every_alert(wall_watched, wall_site):
    """The header's count is the number of cards the alert panel holds; the panel pages through them by
    itself until every card has been fully on screen; each card says 始于 before its start time."""
    w = open_wall(wall_watched, wall_site, 1920, 1080, "&page=overview", fake_clock=True)
    page = w.page
    n = page.locator("#big-alerts .alert-item").count()
    assert page.inner_text("#big-alert-count").strip() == f"预警 {n}"
    assert n > 0, "the published snapshot has no alert: the test proves nothing"
    sinces = page.locator("#big-alerts .a-since").all_inner_texts()
    assert len(sinces) == n and all(re.fullmatch(r"始于 \d\d-\d\d \d\d:\d\d", s.strip()) for s in sinces), sinces
    visible_js = """() => { const l = document.getElementById('big-alerts').getBoundingClientRect();
      return [...document.querySelectorAll('#big-alerts .alert-item')].map((c, i) => {
        const r = c.getBoundingClientRect(); return r.top >= l.top - 1 && r.bottom <= l.bottom + 1 ? i : -1; })
        .filter(i => i >= 0); }"""
    seen = set(page.evaluate(visible_js))
    assert len(seen) < n, "all alerts fit at once: paging is not tested"
    for _ in range(n):
        if len(seen) == n:
            break
        page.clock.fast_forward(8_000)  # one page of the alert panel (layouts/big.py ALERT_PAGE_S)
        seen |= set(page.evaluate(visible_js))
    assert seen == set(range(n)), f"cards never shown: {sorted(set(range(n)) - seen)}"
    assert re.fullmatch(r"\d+/\d+", page.inner_text("#big-alerts-page").strip())

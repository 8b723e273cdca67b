"""The wall left running in Chromium while the simulator adds events: numbers change, the map's view does
not move, geometry is fetched once and never travels on a refresh, Redis emptied shows a stale state
and recovers by itself when the ETL republishes, and no request leaves 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from helpers import SCREENS, LiveServer, expected_reported, kpi_text, stable_viewport, wait_for_data

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
    sim = Simulator(eng, city, seed=5, events_per_day=600)
    sim.backfill(3, t0 - timedelta(minutes=40), n_cameras=500, n_iot=200)
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
                sim.tick(t0 - timedelta(minutes=40) + timedelta(minutes=10 * k))
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
                values = kpi_values(views.region_kpis(snap, city.code, "today"), {}, {})[0]
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

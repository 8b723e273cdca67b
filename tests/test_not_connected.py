"""Honest screens for what a source lacks (issue 23): an events-only source (config/sources/examples/
work_orders_us.toml: one work-order table, no flow log, no satisfaction, no devices, no safety index, no
verification time) onboarded and published, then every screen read. What the source cannot give reads 未接入
(not connected), never a number, an "all blind spots" map, a "≈0分钟" stage or a "waiting": the wall's and the
tablet's camera, safety and satisfaction figures, the stages the source does not record (the funnel and the stage
table show the others), the phone's tiles, an event's timeline and the daily briefing. The same figures on the
demo's full mapping still read numbers. Screenshots for the README (docs/screenshots/*-events-only-*.png)."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from helpers import NOW, SCREENS, SHOTS, LiveServer, settled, wait_for_data
from sqlalchemy import create_engine, text

from briefing.data import build_briefing
from briefing.render import render_html
from components.format import fmt_minutes, fmt_rate
from components.widgets import loop_figure, region_map
from config.datums import convert
from config.labels import label
from config.settings import ROOT
from contract.metrics import NOT_CONNECTED
from etl.jobs import EtlJobs
from etl.source.mapping import load_mapping
from etl.source.schema import source_engine
from queries import nearby, views, window_views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

MAPPING = ROOT / "config" / "sources" / "examples" / "work_orders_us.toml"
NC = label("not_connected")
US = "%m/%d/%Y %I:%M:%S %p"
STATUS = ["New", "Assigned", "Resolved", "Closed"]
CATEGORIES = ["Pothole", "Illegal Dumping", "Graffiti", "Streetlight Out", "Water Leak", "Noise Complaint",
              "Blocked Fire Lane", "Neighbor Dispute"]  # the mapping's words
CHANNELS = ["Phone", "Mobile App", "Field Inspection", "Camera AI", "Sensor"]
WEIGHTS = {"on_time_rate": 0.3, "same_day_rate": 0.15, "grid_settled_rate": 0.2, "satisfaction_rate": 0.2,
           "not_overdue_rate": 0.15}
NOT_CONNECTED_TILES = ("satisfaction_rate", "camera_online_rate", "safety_index", "public_security")
DIGIT = re.compile(r"\d")


def work_orders(path, city, n: int, seed: int = 23) -> None:
    """A work-order export in the trial's shape (tests/test_trial_work_orders.py has its recount): US 12-hour text
    times, English words, WGS-84 points, no region code, no flow log, satisfaction, devices or safety."""
    rnd = random.Random(seed)
    grids = city.grids().sample(400, random_state=seed)
    lon, lat = convert(grids["lon"].to_numpy(), grids["lat"].to_numpy(), city.datum, "WGS84")
    rows = []
    for i in range(n):
        k = rnd.randrange(len(grids))
        opened = NOW - timedelta(minutes=rnd.randint(10, 40 * 24 * 60))
        t = [opened]
        for lo, hi in ((2, 240), (60, 90 * 60), (60, 30 * 60)):
            t.append(t[-1] + timedelta(minutes=rnd.randint(lo, hi)))
        reach = rnd.choices([0, 1, 2, 3], [1, 2, 2, 6])[0]
        while reach and t[reach] >= NOW:
            reach -= 1
        due = opened + timedelta(hours=rnd.choice([4, 48, 168]))
        times = [x.strftime(US) if j <= reach else None for j, x in enumerate(t)]
        rows.append({"RecordID": i + 1, "CaseNumber": f"WO-{i + 1:07d}", "Category": rnd.choice(CATEGORIES),
                     "Channel": rnd.choice(CHANNELS), "Priority": "Medium",
                     "AssignedLevel": rnd.choice(["Grid", "Community", "Street"]) if reach else "UNASSIGNED",
                     "Status": STATUS[reach], "Description": "resident report", "Address": "",
                     "OpenedDate": times[0], "AssignedDate": times[1], "ResolvedDate": times[2], "ClosedDate": times[3],
                     "DueDate": due.strftime(US), "LastModified": times[reach], "Latitude": float(lat[k]),
                     "Longitude": float(lon[k])})
    cols = list(rows[0])
    eng = create_engine(f"sqlite:///{path}")  # the city's own writer
    with eng.begin() as c:
        c.execute(text("CREATE TABLE work_orders (RecordID INTEGER PRIMARY KEY, " +
                       ", ".join(f"{x} {'REAL' if x in ('Latitude', 'Longitude') else 'TEXT'}" for x in cols[1:]) + ")"))
        c.execute(text(f"INSERT INTO work_orders VALUES ({', '.join(':' + x for x in cols)})"), rows)
    eng.dispose()


@pytest.fixture
def events_only(tmp_path, city, redis_client):
    """The events-only source run through every ETL job once at NOW, published to this test's Redis."""
    path = tmp_path / "export.db"
    work_orders(path, city, n=4000)
    engine = source_engine(f"sqlite:///{path}")
    EtlJobs(engine, city, SnapshotStore(redis_client), mapping=load_mapping(MAPPING)).run_all(NOW)
    engine.dispose()
    return SnapshotReader(redis_client, min_check_s=0).current()


def no_digit(text_: str) -> bool:
    return DIGIT.search(text_) is None


def test_figures_the_source_lacks_are_not_connected_in_process(events_only, city):
    """The queries put NOT_CONNECTED where the source cannot give a figure, whatever the frames hold (device
    frames of zeros, a verification time copied from the handling time); the formatters say 未接入."""
    snap = events_only
    assert views.provided(snap)["devices"] is False and not views.connected(snap, "stages.verified")
    k = views.region_kpis(snap, "3201")
    for key in (*NOT_CONNECTED_TILES, "blind_grids", "cameras", "reached_verified"):
        assert k[key] is NOT_CONNECTED, key
    assert k["reported"] > 0 and fmt_rate(k["satisfaction_rate"]) == NC
    w = window_views.resolve_window("30d", snap.as_of)
    t = window_views.tablet_window_figures(snap, "3201", w)
    assert t["reached_handled"] > 0 and t["median_handle_min"] > 0  # what the source has stays a number
    for key in ("median_verify_min", "p90_verify_min", "median_close_min", "reached_verified", "satisfaction_rate"):
        assert t[key] is NOT_CONNECTED, key
    assert fmt_minutes(t["median_verify_min"], approx=True) == NC  # not "≈0分钟"
    assert [y.split(" · ")[0] for y in loop_figure(t)["data"][0]["y"]] == \
        [label(f"stage_{s}") for s in ("reported", "dispatched", "handled", "closed")]
    # the cameras: no blind-spot grid, no camera list, the map coloured by nothing
    assert views.blind_grid_names(snap, "3201") == [] and nearby.camera_gaps(snap, "3201", "street") is None
    assert nearby.blind_grid(snap, city.grids()["code"].iloc[0]) is None
    values = views.child_values(snap, city, "3201", "today", "camera_online_rate")
    fig = region_map(values, "/geo/district.json", "camera_online_rate")
    trace = fig["data"][0]
    assert trace["showscale"] is False and len({c for _, c in trace["colorscale"]}) == 1
    assert all(t_.endswith(NC) for t_ in trace["text"])
    # the ranking: no satisfaction, and the score without its weight
    r = window_views.ranking(snap, city, "3201", w, WEIGHTS)
    assert (r["satisfaction_rate"] == NOT_CONNECTED).all() and r["score"].notna().any()
    # the daily briefing: 未接入 for cameras and safety, no camera count, the verify stage left out
    html = render_html(build_briefing(snap, city, "3201", NOW.date() - timedelta(days=1), WEIGHTS))
    cams = html[html.index(label("brief_s_cameras")):]
    assert NC in cams and no_digit(re.sub(r"<[^>]+>", "", cams.split("</section>")[0]).replace(label("brief_s_cameras"), ""))
    assert label("stage_verified") not in html.split(label("brief_s_loop"))[1].split("</section>")[0]


def test_department_figures_the_source_lacks_are_not_connected(events_only):
    """条 (issue 25) through the one mechanism (contract/metrics.py FIGURE_NEEDS, queries/views.py not_connected):
    the work-order export keeps no extension (延期), deferral (缓办) or hung (挂账) facts and no reopened column, so
    on the department ranking and a department's view 延期率, 返工率, 延期, 缓办, 挂账 read 未接入, never 0, while
    what it has (events, 结案率) stays a number."""
    from components.department_panels import RANK_COLUMNS, ranking_table
    from contract.metrics import FIGURE_NEEDS
    from queries import department_views as dv

    snap = events_only
    lacking = {"deferred", "extended", "hung", "extension_rate", "reopened", "rework_rate"}
    gone = {f for f, needs in FIGURE_NEEDS.items() if not all(views.connected(snap, n) for n in needs)}
    assert dv.missing(snap) == gone & dv.SHOWN and lacking <= dv.missing(snap) <= views.not_connected(snap)
    w = window_views.resolve_window("quarter", snap.as_of)
    weights = {"closure_rate": 0.3, "on_time_closure_rate": 0.4, "rework_rate": 0.15, "extension_rate": 0.15}
    table = dv.ranking(snap, "3201", w, weights)
    unassigned = table[table["code"] == "-"].iloc[0]  # no department field: every case 未归属
    assert unassigned["reported"] > 0 and 0 < unassigned["closure_rate"] <= 1
    for key in lacking:
        assert table[key].isna().all(), key  # no value at all, not a 0
    body = ranking_table(table, dv.missing(snap), {"region": "3201"}, lambda **_: "/").children[1].children
    cols = list(RANK_COLUMNS)
    for row in body:
        cells = [td.children for td in row.children]
        for key in ("rework_rate", "extension_rate", "hung"):
            assert cells[cols.index(key)] == NC, (key, cells)
        assert cells[cols.index("reported")] != NC and cells[cols.index("closure_rate")] != NC
    k = dv.department_kpis(snap, "-", "3201", w)
    assert k["reported"] == unassigned["reported"] and set(k["missing"]) == dv.missing(snap)
    for key in lacking:
        assert k[key] is None, key


def test_the_demo_source_still_shows_numbers(published, redis_client, city):
    """No regression: on the demo's full mapping the same figures are numbers and every stage is drawn."""
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    assert views.provided(snap)["devices"] is True and not views.not_connected(snap)
    k = views.region_kpis(snap, "3201")
    for key in (*NOT_CONNECTED_TILES, "blind_grids", "cameras"):
        assert isinstance(k[key], (int, float)) and k[key] == k[key], key
    w = window_views.resolve_window("30d", snap.as_of)
    t = window_views.tablet_window_figures(snap, "3201", w)
    assert len(loop_figure(t)["data"][0]["y"]) == 5 and t["median_verify_min"] > 0
    assert views.blind_grid_names(snap, "3201")


# ------------------------------------------------------------------------------------------- browser

TILE_JS = "(k) => document.querySelector(`#${k} .kpi-value`).textContent.trim()"
MAP_JS = """() => { const gd = document.querySelector('#big-map .js-plotly-plot'); const t = gd.data[0];
  return {scale: t.colorscale.map(c => c[1]), showscale: t.showscale, text: t.text}; }"""
FUNNEL_JS = "(id) => document.querySelector(`#${id} .js-plotly-plot`).data[0].y"


def open_page(watched, url: str, screen: str):
    w = watched(SCREENS[screen])
    w.page.goto(url)
    wait_for_data(w.page, screen)
    return w


@pytest.mark.browser
def test_screens_on_an_events_only_source(events_only, app, watched, wait_until, monkeypatch):
    """Chromium on the wall (1920×1080) and the tablet (1366×1024): what the source lacks reads 未接入 and no
    number; the cameras page's map is not coloured as blind spots; screenshots for the README."""
    monkeypatch.setattr(app.server.config["COCKPIT"], "now", lambda: NOW)  # the snapshot's clock: not stale
    with LiveServer(app.server) as srv:
        w = open_page(watched, f"{srv.url}/big?page=cameras&interval=3600", "big")
        page = w.page
        for key in NOT_CONNECTED_TILES:
            assert page.evaluate(TILE_JS, f"big-kpi-{key}") == NC, key
        assert page.evaluate(TILE_JS, "big-kpi-reported") not in (NC, "—")
        assert wait_until(lambda: page.inner_text("#big-gaps").strip() == NC), page.inner_text("#big-gaps")
        for sel in ("#big-camera-summary", "#big-camera"):
            assert NC in page.inner_text(sel) and no_digit(page.inner_text(sel)), (sel, page.inner_text(sel))
        m = wait_until(lambda: (lambda d: d if d["text"] and all(t.endswith(NC) for t in d["text"]) else None)(
            page.evaluate(MAP_JS)))
        assert m and len(set(m["scale"])) == 1 and m["showscale"] is False, m  # one neutral colour: nothing "blind"
        settled(page, "() => [innerWidth, innerHeight]")
        page.screenshot(path=str(SHOTS / "big-events-only-cameras-1920x1080.png"))
        page.goto(f"{srv.url}/big?page=safety&interval=3600")
        wait_for_data(page, "big")
        for sel in ("#big-safety", "#big-safety-ranking"):
            assert wait_until(lambda s=sel: NC in page.inner_text(s)), sel
            assert no_digit(page.inner_text(sel)), (sel, page.inner_text(sel))
        assert "等待" not in page.inner_text("#big-body")
        page.goto(f"{srv.url}/big?page=overview&interval=3600")
        wait_for_data(page, "big")
        y = wait_until(lambda: page.evaluate(FUNNEL_JS, "big-funnel") or None)
        assert [s.split(" · ")[0] for s in y] == [label(f"stage_{s}") for s in ("reported", "dispatched", "handled", "closed")]
        settled(page, "() => [innerWidth, innerHeight]")
        page.screenshot(path=str(SHOTS / "big-events-only-1920x1080.png"))
        assert w.errors == [] and w.non_local() == [], (w.errors, w.non_local())

        t = open_page(watched, f"{srv.url}/medium?window=30d", "medium")
        tab = t.page
        for key in ("satisfaction_rate", "camera_online_rate", "safety_index"):
            assert tab.evaluate(TILE_JS, f"medium-kpi-{key}") == NC, key
        tab.wait_for_selector("#medium-stage-table")
        rows = tab.locator("#medium-stage-table tbody tr").evaluate_all("rs => rs.map(r => r.id)")
        assert rows == ["medium-stage-dispatch", "medium-stage-handle", "medium-stage-close", "medium-stage-total"]
        assert "≈0" not in tab.inner_text("#medium-stage-table")
        assert tab.inner_text("#medium-stage-close").count(NC) == 2  # 办结 needs the verification time
        y = wait_until(lambda: tab.evaluate(FUNNEL_JS, "medium-funnel") or None)
        assert len(y) == 4 and not any(s.startswith(label("stage_verified")) for s in y)
        settled(tab, "() => [innerWidth, innerHeight]")
        tab.screenshot(path=str(SHOTS / "medium-events-only-1366x1024.png"))
        tab.wait_for_selector("#region-cameras")
        for sel in ("#region-cameras", "#region-safety"):
            body = tab.inner_text(sel)
            assert NC in body and no_digit(body) and label("waiting") not in body, (sel, body)
        assert tab.inner_text("#region-gaps .rp-empty").strip() == NC
        assert tab.locator("#gaps-street").count() == 0
        tab.evaluate("() => document.querySelector('#region-safety').scrollIntoView({block: 'center'})")
        tab.screenshot(path=str(SHOTS / "medium-events-only-panels-1366x1024.png"))
        assert t.errors == [] and t.non_local() == [], (t.errors, t.non_local())

        p = open_page(watched, f"{srv.url}/small", "small")
        assert p.page.evaluate(TILE_JS, "small-kpi-satisfaction_rate") == NC
        # an event's timeline: no satisfaction score to wait for, and no flow log to list (both 未接入)
        event_id = views.work_queue(events_only, "3201")["event_id"].iloc[0]
        p.page.goto(f"{srv.url}/small?event={event_id}")
        p.page.wait_for_selector("#small-timeline-not-connected")
        head = p.page.inner_text("#small-event-head")
        assert label("not_rated") not in head and NC in head, head


@pytest.mark.browser
def test_wall_and_tablet_on_the_demo_show_numbers(published, app, watched):
    """The same places on the demo's full mapping: numbers, five stages, a coloured camera map."""
    with LiveServer(app.server) as srv:
        w = open_page(watched, f"{srv.url}/big?page=cameras&interval=3600", "big")
        page = w.page
        for key in NOT_CONNECTED_TILES:
            assert DIGIT.search(page.evaluate(TILE_JS, f"big-kpi-{key}")), key
        assert DIGIT.search(page.inner_text("#big-camera-summary"))
        t = open_page(watched, f"{srv.url}/medium?window=30d", "medium")
        t.page.wait_for_selector("#medium-stage-verify")
        assert DIGIT.search(t.page.inner_text("#medium-stage-verify"))
        t.page.wait_for_selector("#region-cameras .rp-stats")
        assert DIGIT.search(t.page.inner_text("#region-cameras"))

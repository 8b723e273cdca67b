"""Plain helpers the tests share (fixtures live in conftest.py): the fixed clock of the simulated city,
the SQL backends under test, signing a test client in, the app served on a port for a browser, the
browser tests' page helpers, which wait for what they then read (never for a fixed time), and the SQL
oracles (independent recounts over the source) that more than one test module uses."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from etl.source.schema import Base, writable_engine

# A fixed clock for the simulated history, so figures are reproducible.
NOW = datetime(2026, 11, 20, 15, 30, 0)

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("TEST_POSTGRES_URL") else [])

# Browser tests that take README screenshots write them here: a temporary folder unless COCKPIT_SCREENSHOTS_DIR
# names one (`COCKPIT_SCREENSHOTS_DIR=docs/screenshots python3 cockpit.py test -k browser` refreshes the README's),
# so a test run never rewrites the committed images. Read at import (clean_env clears COCKPIT_* in a test).
SHOTS = Path(os.environ.get("COCKPIT_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "cockpit-screenshots").resolve()
SHOTS.mkdir(parents=True, exist_ok=True)

WAIT_MS = 20_000  # how long a browser test waits for a condition before it fails (generous: a loaded machine)

# `python3 cockpit.py faults` (faults/__main__.py) runs the fault tests with these set: the long variants
# (e.g. the source down for 10 minutes of wall-clock time) and a JSON-lines file each figure is added to.
# Read at import: the autouse clean_env fixture (conftest.py) clears every COCKPIT_* variable inside a test.
FAULTS_LONG = os.environ.get("COCKPIT_FAULTS_LONG") == "1"
FAULTS_REPORT = os.environ.get("COCKPIT_FAULTS_REPORT")


def fault_figure(fault: str, shown: str, recover_s: float | None, lost: int | str = "—", errors: str = "—",
                 **extra) -> None:
    """One measured fault: printed (pytest -s) and, under `cockpit.py faults`, added to its report
    (COCKPIT_FAULTS_REPORT) with the test that measured it; never asserted."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    row = {"fault": fault, "shown": shown, "recover_s": None if recover_s is None else round(recover_s, 1),
           "lost": lost, "errors": errors, "test": test, **extra}
    print("\nFAULT " + json.dumps(row, ensure_ascii=False), flush=True)
    if FAULTS_REPORT:
        with open(FAULTS_REPORT, "a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


SCREENS = {  # page -> viewport (the design sizes of the wall, the tablet and the phone)
    "big": {"width": 1920, "height": 1080},
    "medium": {"width": 1366, "height": 1024},
    "small": {"width": 390, "height": 844},
}


def fresh_engine(backend: str, tmp_path):
    """An empty source database of the backend (PostgreSQL: our tables dropped and recreated)."""
    if backend == "sqlite":
        engine = writable_engine(f"sqlite:///{tmp_path}/source.db")
        Base.metadata.create_all(engine)
        return engine
    engine = writable_engine(os.environ["TEST_POSTGRES_URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS events, event_steps, devices, safety_index, grid_staff CASCADE"))
    Base.metadata.create_all(engine)
    return engine


def sign_in(client, name: str, password: str, next_url: str = "/"):
    """Sign a Flask test client in through the real form (CSRF token included); returns the response."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post(f"/login?next={next_url}", data={"csrf_token": token, "username": name, "password": password})


class LiveServer:
    """The app served by werkzeug in a thread on a free port, or on `port` (the one a wall was talking to
    before the server went away)."""

    def __init__(self, flask_app, port: int | None = None):
        from werkzeug.serving import make_server

        from demo.embedded_redis import free_port

        self.port = port or free_port()
        self.httpd = make_server("127.0.0.1", self.port, flask_app, threaded=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()  # the port is free again at once (a restarted server takes it)


# ------------------------------------------------------------------------- callbacks and scopes

def foreign_region(city, role: str, region: str) -> str:
    """A region of the same level as `region` but another jurisdiction (a sibling)."""
    parent = city.ancestors(region)[-1]
    return next(c for c in city.children(parent)["code"] if c != region)


def medium_payload(region: str, window: str = "7d") -> dict:
    """The tablet's render callback for `region`, as the browser posts it."""
    from layouts.medium_outputs import RENDER_OUTPUTS

    outs, props = zip(*RENDER_OUTPUTS)
    return {"output": ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
            "outputs": [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
            "inputs": [{"id": "medium-version", "property": "data", "value": [1, False]},
                       {"id": "medium-state", "property": "data",
                        "value": {"region": region, "window": window, "measure": "overdue"}}],
            "state": [], "changedPropIds": ["medium-version.data"]}


def page_payload(pathname: str, search: str) -> dict:
    """Dash pages' own callback that renders a page layout from the URL."""
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "state": [], "changedPropIds": ["_pages_location.pathname"]}


def forged_payloads(deps: list[dict], value) -> list[dict]:
    """One payload per registered callback, every input and state set to `value`."""
    out = []
    for dep in deps:
        if dep.get("clientside_function"):
            continue

        def item(x):
            cid = json.loads(x["id"]) if x["id"].startswith("{") else x["id"]
            return {"id": cid, "property": x["property"], "value": value}

        outputs = [{"id": o.split(".")[0], "property": o.split(".")[-1]} for o in dep["output"].strip(".").split("...")]
        out.append({"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
                    "inputs": [item(x) for x in dep["inputs"]], "state": [item(x) for x in dep["state"]],
                    "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]})
    return out


# ------------------------------------------------------------------------------------ literal events

G1, G2, G3 = "320102001001001", "320102001001002", "320104002003001"  # G1, G2 share a community; G3 elsewhere


def ev(row_id, grid, reported, dispatched=None, handled=None, verified=None, closed=None, due=None,
       level=None, sat=None, reopened=0, category="城市管理", channel="12345热线"):
    """One source event row for the transforms' literal frames (missing stage times are NaT)."""
    T = pd.Timestamp
    return {"row_id": row_id, "event_id": f"E{row_id}", "grid_code": grid, "category": category, "channel": channel,
            "reported_at": T(reported), "dispatched_at": T(dispatched) if dispatched else pd.NaT,
            "handled_at": T(handled) if handled else pd.NaT, "verified_at": T(verified) if verified else pd.NaT,
            "closed_at": T(closed) if closed else pd.NaT, "due_at": T(due), "handling_level": level,
            "satisfaction": sat, "reopened": reopened}


# ------------------------------------------------------------------------------------- browser pages

def kpi_text(page, screen: str, key: str = "reported") -> str:
    return page.inner_text(f"#{screen}-kpi-{key} .kpi-value").strip()


def shown_for_window(snap, code: str, window: str) -> dict:
    """A region's figures for a window as the screens show them: the wall's frame (event_kpis) for its window
    (today), the tablet's pieces for every other (queries/window_views.py); the stocks are now's either way."""
    from contract.metrics import WALL_WINDOWS
    from queries import views, window_views

    if window in WALL_WINDOWS:
        return views.region_kpis(snap, code)
    return window_views.tablet_window_figures(snap, code, window_views.resolve_window(window, snap.as_of))


def expected_reported(app, code: str, window: str) -> str:
    from components.format import fmt_count

    snap = app.server.config["COCKPIT"].snapshot()
    return fmt_count(shown_for_window(snap, code, window).get("reported"))


def wait_for_data(page, screen: str) -> None:
    """Until the reported tile shows a number and the map has drawn its regions."""
    page.wait_for_function(
        """(s) => { const v = document.querySelector(`#${s}-kpi-reported .kpi-value`);
                    const img = document.querySelector(`img#${s}-map`);  // the phone's map is an SVG image
                    return v && v.textContent.trim() !== '' && v.textContent.trim() !== '—'
                      && (img ? img.complete && img.naturalWidth > 0
                              : document.querySelectorAll(`#${s}-map .choroplethlocation`).length > 0); }""",
        arg=screen, timeout=WAIT_MS)


def wait_for_kpi(page, screen: str, value: str, key: str = "reported", timeout_ms: int = WAIT_MS) -> None:
    """Until the tile `key` shows `value` (then the caller asserts it, with the text it really shows)."""
    js_condition(page, "([sel, v]) => { const e = document.querySelector(sel); return !!e && e.textContent.trim() === v; }",
                 [f"#{screen}-kpi-{key} .kpi-value", value], timeout_ms)


def js_condition(page, predicate: str, arg=None, timeout_ms: int = WAIT_MS) -> bool:
    """Wait until the page's `predicate(arg)` holds; False on timeout, so the caller's assert says what differs."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(predicate, arg=arg, timeout=timeout_ms)
        return True
    except PlaywrightTimeout:
        return False


def settled(page, measure_js: str, arg=None, poll_ms: int = 700, timeout_ms: int = WAIT_MS):
    """What `measure_js(arg)` returns once two samples `poll_ms` apart agree (plotly may resize once after
    its first draw); None if it never settles within `timeout_ms`. The page polls, the test does not sleep."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    key = json.dumps([measure_js, arg])
    probe = f"""(arg) => {{
      const cur = JSON.stringify(({measure_js})(arg));
      const seen = (window.__settled = window.__settled || {{}});
      const same = seen[{json.dumps(key)}] === cur;
      seen[{json.dumps(key)}] = cur;
      return same && cur !== 'null' ? cur : false;  // null: nothing drawn yet
    }}"""
    try:
        return json.loads(page.wait_for_function(probe, arg=arg, polling=poll_ms, timeout=timeout_ms).json_value())
    except PlaywrightTimeout:
        return None


# The map's geo viewport: plotly's projection (scale, translate, rotation) and the first region's outline.
VIEWPORT_JS = """(sel) => {
  const gd = document.querySelector(sel);
  if (!gd || !gd._fullLayout || !gd._fullLayout.geo) return null;
  const pr = gd._fullLayout.geo._subplot && gd._fullLayout.geo._subplot.projection;
  if (!pr) return null;  // mid-redraw (a resize)
  const first = gd.querySelector('.choroplethlocation');
  return {scale: pr.scale(), translate: pr.translate(), rotate: pr.rotate(),
          width: gd._fullLayout.width, height: gd._fullLayout.height,
          paths: gd.querySelectorAll('.choroplethlocation').length, d: first ? first.getAttribute('d') : null};
}"""


def stable_viewport(page, sel: str, timeout_ms: int = WAIT_MS) -> dict:
    """The map viewport once it has stopped changing (plotly may resize once after the first draw)."""
    vp = settled(page, VIEWPORT_JS, sel, timeout_ms=timeout_ms)
    if not vp:
        now = page.evaluate(VIEWPORT_JS, sel)
        pytest.fail(f"the map {sel} never settles in {timeout_ms / 1000:.0f} s (a resize feedback loop?); "
                    f"now: {now and {k: now[k] for k in ('width', 'height', 'paths')}}", pytrace=False)
    return vp


# ------------------------------------------------------------------------------------- ETL under watch

def watched_jobs(*args, **kwargs):
    """Real EtlJobs that also count their runs: `most` runs at once, `done` names in order, `failed` events
    runs that ended in a source failure (tests of the scheduler and of faults)."""
    from etl.jobs import EtlJobs

    class WatchedJobs(EtlJobs):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.active, self.most, self.failed, self.done = 0, 0, 0, []
            self.guard = threading.Lock()

        def run(self, name, now=None):
            with self.guard:
                self.active += 1
                self.most = max(self.most, self.active)
            try:
                out = super().run(name, now)
                if out is None and name == "events" and self.backoff["events"].failures:
                    self.failed += 1
                return out
            finally:
                with self.guard:
                    self.active -= 1
                    self.done.append(name)

    return WatchedJobs(*args, **kwargs)


# ------------------------------------------------------------------------------------- SQL oracles
# The independent recounts over the source that more than one test module compares the product with, in
# plain SQL (no product code). `{exclude}` takes not_quarantined(): the rows the ETL quarantined, left out.

def not_quarantined(row_ids) -> str:
    """The `{exclude}` of an oracle: the quarantined source rows left out by their row ids ('' for none)."""
    ids = ",".join(map(str, row_ids))
    return f"AND row_id NOT IN ({ids})" if ids else ""


# A region's events reported since :start (the window's cohort; SQLite's date()), by outcome.
WINDOW_SQL = """
SELECT count(*) AS reported,
       sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
       sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
       sum(CASE WHEN closed_at IS NOT NULL AND date(closed_at) = date(reported_at) THEN 1 ELSE 0 END) AS same_day,
       sum(CASE WHEN closed_at IS NOT NULL AND handling_level = 'grid' THEN 1 ELSE 0 END) AS grid_settled,
       sum(CASE WHEN closed_at IS NOT NULL AND satisfaction >= 4 THEN 1 ELSE 0 END) AS satisfied
FROM events WHERE grid_code LIKE :prefix AND reported_at >= :start {exclude}
"""

# A region's events reported in [:start, :stop), by stage reached and outcome (the tablet's and the briefing's
# cohort); count_sql() fills in the backend's day of a timestamp.
COUNT_SQL = """
SELECT count(*) AS reported,
  sum(CASE WHEN dispatched_at IS NOT NULL THEN 1 ELSE 0 END) AS reached_dispatched,
  sum(CASE WHEN handled_at IS NOT NULL THEN 1 ELSE 0 END) AS reached_handled,
  sum(CASE WHEN verified_at IS NOT NULL THEN 1 ELSE 0 END) AS reached_verified,
  sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN closed_at IS NOT NULL AND {closed_day} = {reported_day} THEN 1 ELSE 0 END) AS same_day_cleared,
  sum(CASE WHEN closed_at IS NOT NULL AND handling_level = 'grid' THEN 1 ELSE 0 END) AS grid_settled,
  sum(CASE WHEN closed_at IS NOT NULL AND handling_level <> 'grid' THEN 1 ELSE 0 END) AS escalated,
  sum(CASE WHEN closed_at IS NOT NULL AND satisfaction IS NOT NULL THEN 1 ELSE 0 END) AS rated,
  sum(CASE WHEN closed_at IS NOT NULL AND satisfaction >= 4 THEN 1 ELSE 0 END) AS satisfied,
  sum(CASE WHEN reopened > 0 THEN 1 ELSE 0 END) AS reopened,
  sum(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) AS cohort_open,
  sum(CASE WHEN closed_at IS NULL AND due_at < :now THEN 1 ELSE 0 END) AS cohort_overdue
FROM events WHERE grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop {exclude}
"""


def count_sql(engine, exclude: str) -> str:
    """COUNT_SQL for the engine's backend, `exclude` from not_quarantined()."""
    day = "date({})" if engine.dialect.name == "sqlite" else "CAST({} AS DATE)"
    return COUNT_SQL.format(exclude=exclude, closed_day=day.format("closed_at"), reported_day=day.format("reported_at"))


# A region's open and overdue events now (stocks: whatever the window).
STOCK_SQL = """
SELECT sum(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) AS open,
       sum(CASE WHEN closed_at IS NULL AND due_at < :now THEN 1 ELSE 0 END) AS overdue
FROM events WHERE grid_code LIKE :prefix {exclude}
"""

# A region's cameras: online, untagged, not placed by verified coordinates (approximate, missing).
CAMERA_SQL = """SELECT count(*) AS cameras, sum(CASE WHEN status = 'online' THEN 1 ELSE 0 END) AS online,
       sum(CASE WHEN coalesce(trim(tags), '') = '' THEN 1 ELSE 0 END) AS untagged,
       sum(CASE WHEN coord_quality <> 'verified' THEN 1 ELSE 0 END) AS unplaced,
       sum(CASE WHEN coord_quality = 'approximate' THEN 1 ELSE 0 END) AS approx,
       sum(CASE WHEN coord_quality = 'missing' THEN 1 ELSE 0 END) AS missing
FROM devices WHERE kind = 'camera' AND grid_code LIKE :prefix"""


def timelines(client, prefix: str) -> dict[str, dict]:
    """Every event timeline in Redis under `prefix`, decoded, by event id."""
    from snapshots.timelines import decode

    keys = sorted(client.scan_iter(f"{prefix}:timeline:*", count=5000))
    return {k.decode().split(":", 2)[2]: decode(v) for k, v in zip(keys, client.mget(keys))}

"""The wall's 城市体征 page in Chromium at 1920×1080 (components/vital_signs.py): one tile per indicator of the
city, grouped by theme, each figure as the ETL rolled it up and as an independent recount of the feeds' own
rows gives it; then the opinion API stops and only its two tiles turn stale (with their last time), while
the rest of the wall stays as it was. No request leaves 127.0.0.1."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from helpers import NOW, SCREENS, LiveServer
from indicator_helpers import ORACLE, indicator_rows, recount_indicator, vitals_feeds
from sqlalchemy import create_engine

from components.vital_signs import fmt_value
from contract import frames as F
from demo.vital_signs import VitalSignsSimulator
from etl.jobs import EtlJobs
from etl.source.schema import writable_engine
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser

TILES_JS = """() => Array.from(document.querySelectorAll('#big-vitals .vs-tile')).map(t => ({
  id: JSON.parse(t.id).id, cls: t.className, value: t.querySelector('.vs-num').textContent,
  foot: t.querySelector('.vs-foot').textContent, visible: t.getBoundingClientRect().bottom <= window.innerHeight + 1
    && t.getBoundingClientRect().right <= window.innerWidth + 1 && t.getBoundingClientRect().width > 100}))"""


def test_vital_signs_page_and_a_stopped_feed(browser, watched, published, app, city, redis_client, vitals_db,
                                            opinion_api, tmp_path, wait_until):
    source = f"sqlite:///{tmp_path}/vitals.db"  # a copy: this test lets the SQL feeds go on past NOW
    with sqlite3.connect(vitals_db.removeprefix("sqlite:///")) as a, sqlite3.connect(source.removeprefix("sqlite:///")) as b:
        a.backup(b)
    feeds = vitals_feeds(city, source, opinion_api.url)
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", NOW) is not None  # on top of the published events snapshot
    latest = SnapshotReader(redis_client).refresh(force=True).frame(F.INDICATORS)
    mine = latest[latest["code"] == city.code].set_index("indicator")
    with LiveServer(app.server) as srv:
        w = watched(SCREENS["big"])
        page = w.page
        page.goto(f"{srv.url}/big?page=vitals")
        page.wait_for_function("() => document.querySelectorAll('#big-vitals .vs-tile').length > 0")
        assert "page-vitals" in page.get_attribute("#big-canvas", "class")
        assert page.is_visible("#big-panel-vitals"), "the wall's layout gives the vital signs a place on their page"
        tiles = {t["id"]: t for t in page.evaluate(TILES_JS)}
        assert list(tiles) == list(mine.index), "one tile per indicator, in the catalogue's order"
        assert all(t["visible"] for t in tiles.values()), [k for k, t in tiles.items() if not t["visible"]]
        themes = page.eval_on_selector_all("#big-vitals .vs-theme", "els => els.map(e => e.textContent)")
        assert themes == mine["theme"].tolist(), "each tile names its theme, tiles in the catalogue's order"
        cat = {i.id: i for i in feeds.catalogue.indicator}
        for ind_id, (_, rollup) in ORACLE.items():  # the figure on screen = the recount of the feed's rows
            ind = cat[ind_id]
            want = recount_indicator(indicator_rows(vitals_db, ind), rollup, ind.late_after_s, pd.Timestamp(NOW), True)
            assert tiles[ind_id]["value"] == fmt_value(want, ind.decimals, ind.unit), ind_id
            assert f"st-{mine.loc[ind_id, 'status']}" in tiles[ind_id]["cls"]
        assert not any("st-stale" in t["cls"] for t in tiles.values())

        # the public-opinion system goes down; 45 minutes later (the SQL feeds went on) only its tiles are stale
        opinion_api.stop()
        later = pd.Timestamp(NOW) + pd.Timedelta(minutes=45)
        VitalSignsSimulator(writable_engine(source), city).backfill(1, later.to_pydatetime())
        # each feed is read in the background and a run waits at most 2 s for it, so on a loaded machine a read can
        # land in a later run: run the job until the published frame holds what the feeds say, then look
        down = {"opinion_mentions", "opinion_negative"}

        def frame_current() -> bool:
            assert jobs.run("indicators", later) is not None
            f = SnapshotReader(redis_client).refresh(force=True).frame(F.INDICATORS)
            status = f[f["code"] == city.code].set_index("indicator")["status"]
            return set(status[status == "stale"].index) == down

        assert wait_until(frame_current, timeout_s=120)
        page.wait_for_function("() => document.querySelectorAll('#big-vitals .vs-tile.st-stale').length >= 2")
        after = {t["id"]: t for t in page.evaluate(TILES_JS)}
        stale = {k for k, t in after.items() if "st-stale" in t["cls"]}
        assert {"opinion_mentions", "opinion_negative"} <= stale
        assert stale == {"opinion_mentions", "opinion_negative"}, f"a feed that still answers went stale: {stale}"
        last = mine.loc["opinion_mentions", "time"]
        assert f"{last:%H:%M}" in after["opinion_mentions"]["foot"], "a stale tile shows its last time"
        assert after["opinion_mentions"]["value"] == tiles["opinion_mentions"]["value"], "its last value stays"
        assert w.non_local() == [], "the wall requested non-local URLs"
        assert w.errors == [], w.errors


@pytest.mark.parametrize("size,query", [({"width": 3840, "height": 2160}, "?page=vitals"),
                                        ({"width": 7680, "height": 2160}, "?canvas=32:9")])
def test_vital_signs_on_large_walls(browser, watched, published, app, city, redis_client, vitals_db, opinion_api,
                                    size, query):
    """4K with the 城市体征 page pinned, and a 32:9 wall where every panel fits (no carousel): every indicator of
    the city has its tile, inside the screen, with the figure the snapshot holds."""
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", NOW) is not None
    mine = SnapshotReader(redis_client).refresh(force=True).frame(F.INDICATORS)
    mine = mine[mine["code"] == city.code].set_index("indicator")
    with LiveServer(app.server) as srv:
        w = watched(size)
        page = w.page
        page.goto(f"{srv.url}/big{query}")
        page.wait_for_function("() => document.querySelectorAll('#big-vitals .vs-tile').length > 0")
        page.wait_for_function("() => window.__bigWall !== undefined")
        assert page.is_visible("#big-panel-vitals")
        tiles = {t["id"]: t for t in page.evaluate(TILES_JS)}
        assert list(tiles) == list(mine.index)
        assert all(t["visible"] for t in tiles.values()), [k for k, t in tiles.items() if not t["visible"]]
        for ind_id, t in tiles.items():
            r = mine.loc[ind_id]
            assert t["value"] == fmt_value(r["value"], int(r["decimals"]), r["unit"]), ind_id
        assert w.non_local() == [] and w.errors == [], w.errors

"""The vital signs' expected band and crossing warnings in Chromium (components/vital_signs.py over
queries/vital_forecast.py): on the wall's 城市体征 page at 1920×1080 every forecast tile carries the band the
published frame holds (its data-band attribute, read from the page, recounted from the frame), the alert panel
says which indicator will pass which line and when, and the phone of a district's user lists its district's
warning. Screenshots for the README."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import NOW, SHOTS, LiveServer, settled, wait_for_data
from indicator_helpers import vitals_feeds
from sqlalchemy import create_engine

from contract import frames as F
from etl.jobs import EtlJobs
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser
AHEAD_H = 6.0  # COCKPIT_VITALS_FORECAST_HOURS' default (the test settings keep it)
BANDS_JS = """() => Array.from(document.querySelectorAll('#big-vitals .vs-tile')).map(t => ({
  id: JSON.parse(t.id).id, band: (t.querySelector('.vs-spark') || {}).dataset ? t.querySelector('.vs-spark').dataset.band || '' : ''}))"""


def test_bands_and_crossing_warnings_on_the_wall_and_the_phone(browser, watched, published, app, city, redis_client,
                                                               vitals_db, opinion_api, wait_until):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    # the events' forecast is the published one (fitted today): this job fits the vital signs only
    jobs.forecast_day = pd.Timestamp(NOW).normalize()
    jobs.last_frames[F.FORECAST_DAYS.name] = SnapshotReader(redis_client).refresh(force=True).frame(F.FORECAST_DAYS)
    assert jobs.run("indicators", NOW) is not None and jobs.run("forecast", NOW) is not None
    snap = SnapshotReader(redis_client).refresh(force=True)
    band = snap.frame(F.INDICATOR_FORECAST)
    last = pd.Timestamp(snap.frame(F.INDICATOR_HOURLY)["hour"].max())
    alerts = snap.frame(F.ALERTS)
    soon = alerts[alerts["kind"].str.startswith("vs_forecast")]
    assert len(soon), "the demo's feeds at 15:30 foresee no crossing (the evening rush): the test proves nothing"
    with LiveServer(app.server) as srv:
        w = watched({"width": 1920, "height": 1080})
        page = w.page
        page.goto(f"{srv.url}/big?page=vitals&interval=3600")
        page.wait_for_function("() => document.querySelectorAll('#big-vitals .vs-tile').length > 0")
        tiles = page.evaluate(BANDS_JS)
        forecast = {i.id for i in feeds.catalogue.indicator if i.forecast_enabled}
        for t in tiles:
            if t["id"] not in forecast:
                assert t["band"] == "", t["id"]
                continue
            f = band[(band["indicator"] == t["id"]) & (band["code"] == city.code) & (band["hour"] >= last.floor("h"))
                     & (band["hour"] <= last + pd.Timedelta(hours=AHEAD_H))].sort_values("hour")
            shown = [p.split("|") for p in t["band"].split(";")]
            assert [(pd.Timestamp(h), float(e), float(a), float(b)) for h, e, a, b in shown] == \
                [(pd.Timestamp(h), float(e), float(a), float(b)) for h, e, a, b in
                 zip(f["hour"], f["expected"], f["lo"], f["hi"])], t["id"]
        # the alert panel pages by itself: wait for a card of a forecast crossing, then look
        page.wait_for_function("""() => Array.from(document.querySelectorAll('.alert-item')).some(
            e => e.offsetParent !== null && e.textContent.includes('小时内超过'))""", timeout=60_000)
        settled(page, "() => [window.__bigWall && window.__bigWall.u, innerWidth, innerHeight]")
        page.screenshot(path=str(SHOTS / "big-vitals-forecast-1920x1080.png"))
        assert w.non_local() == [] and w.errors == [], w.errors

        # the phone of 玄武区's user (320102): its district's traffic warning
        district = soon[soon["code"] == "320102"]
        assert len(district), soon
        p = watched({"width": 390, "height": 844}, "district")
        p.page.goto(f"{srv.url}/small")
        wait_for_data(p.page, "small")
        p.page.wait_for_function("() => document.body.innerText.includes('小时内超过')", timeout=30_000)
        items = p.page.locator(".alert").all_inner_texts()
        name = district.iloc[0]["text"]
        assert any(name in i and "小时内超过" in i for i in items), items
        p.page.screenshot(path=str(SHOTS / "small-vitals-forecast-390x844.png"))
        assert p.non_local() == [] and p.errors == [], p.errors

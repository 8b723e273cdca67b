"""City vital signs over the tablet's windows and on the wall's map (queries/vital_trends.py, frame
`indicator_trend`, components/vital_map.py): each trend point the tablet draws for a random indicator × region
× window is recounted from the feed's own rows by an independent computation (plain SQL rows, pandas: each
site's mean per hour, rolled up over the sites per hour, a day the mean of its hours); the map's value per
district is the published frame's, and a district without a value is drawn as no data, never 0."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from helpers import NOW
from indicator_helpers import ORACLE, indicator_rows, vitals_feeds
from sqlalchemy import create_engine

from components.vital_map import vital_map
from config.labels import label
from contract import frames as F
from etl.jobs import EtlJobs
from queries import vital_trends
from queries.window_views import resolve_window
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

ROLL = {"sum": "sum", "mean": "mean", "max": "max"}


def _published(city, redis_client, feeds, now=NOW):
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", now) is not None
    return SnapshotReader(redis_client).refresh(force=True)


def recount_trend(rows: pd.DataFrame, rollup: str, first: date, last: date, step: int, now) -> list[float | None]:
    """The trend of the rows (ts, site, v) over the days first..last, by brute force: each site's mean per hour,
    rolled up per hour over the sites with a value, a day the mean of its hours' values (the hours with one)."""
    r = rows[rows["ts"] <= pd.Timestamp(now)].assign(hour=lambda d: d["ts"].dt.floor("h"))
    site_hour = r.groupby(["site", "hour"])["v"].mean().reset_index()
    hourly = site_hour.groupby("hour")["v"].agg(ROLL[rollup])
    if step == 24:
        series = hourly.groupby(hourly.index.normalize()).mean()
        starts = pd.date_range(pd.Timestamp(first), pd.Timestamp(min(last, pd.Timestamp(now).date())), freq="D")
    else:
        series = hourly
        end = min(pd.Timestamp(last) + pd.Timedelta(days=1), pd.Timestamp(now) + pd.Timedelta(microseconds=1))
        starts = pd.date_range(pd.Timestamp(first), end, freq="h", inclusive="left")
    out = []
    for s in starts:
        v = series.get(s)
        out.append(None if v is None or v != v else float(v))
    return out


def test_tablet_trends_recounted_from_the_feeds_rows(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    snap = _published(city, redis_client, feeds)
    assert snap.frame(F.INDICATOR_TREND) is not None and len(snap.frame(F.INDICATOR_TREND))
    latest = snap.frame(F.INDICATORS)
    cat = {i.id: i for i in feeds.catalogue.indicator}
    today = NOW.date()
    windows = [resolve_window(w, NOW) for w in ("today", "7d", "30d", "quarter")] + [
        resolve_window("custom", NOW, str(today - timedelta(days=4)), str(today - timedelta(days=2))),
        resolve_window("custom", NOW, str(today - timedelta(days=12)), str(today - timedelta(days=1)))]
    rng = np.random.default_rng(2026)
    checked, points = 0, 0
    for _ in range(24):
        ind_id = str(rng.choice(sorted(ORACLE)))
        rollup = ORACLE[ind_id][1]
        rows = indicator_rows(vitals_db, cat[ind_id])
        codes = [city.code, *[c for c in latest.loc[latest["indicator"] == ind_id, "code"] if len(c) == 6]]
        code = str(rng.choice(codes))
        w = windows[int(rng.integers(len(windows)))]
        part = rows if code == city.code else rows[rows["d"] == code]
        step, starts, tiles = vital_trends.region_trends(snap, code, w.first, w.last, NOW)
        assert step == (1 if w.name in ("today", "7d") or (w.name == "custom" and w.first >= today - timedelta(days=7))
                        else 24), (w, step)
        got = next(t for t in tiles if t["indicator"] == ind_id)["trend"]
        want = recount_trend(part, rollup, w.first, w.last, step, NOW)
        assert len(got) == len(want) == len(starts), (ind_id, code, w)
        nan = float("nan")
        assert [nan if v is None else v for v in got] == pytest.approx([nan if v is None else v for v in want],
                                                                       rel=1e-9, nan_ok=True), (ind_id, code, w)
        assert any(v is not None for v in got), (ind_id, code, w)
        checked += 1
        points += sum(v is not None for v in got)
    assert checked == 24 and points > 500


def test_map_values_are_the_published_frame(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    snap = _published(city, redis_client, feeds)
    frame = snap.frame(F.INDICATORS)
    regional = vital_trends.regional_indicators(snap, city.code)
    assert {"people_present", "traffic_index", "aqi"} <= set(regional), regional
    assert "metro_entries" not in regional, "a city-wide feed cannot colour the map"
    assert vital_trends.map_indicator(snap, city.code, None, "traffic_index") == "traffic_index"
    assert vital_trends.map_indicator(snap, city.code, "aqi", "traffic_index") == "aqi", "a tapped tile wins"
    assert vital_trends.map_indicator(snap, city.code, "metro_entries", "") == regional[0]
    districts = city.children(city.code)
    for ind in regional:
        values, head = vital_trends.map_values(snap, districts, ind, city.code)
        fig = vital_map(values, head, "/geo/district.json", NOW)
        coloured = dict(zip(fig["data"][0]["locations"], fig["data"][0]["z"]))
        mine = frame[(frame["indicator"] == ind) & frame["code"].isin(districts["code"])]
        want = dict(zip(mine["code"], mine["value"]))
        assert coloured == pytest.approx({k: v for k, v in want.items() if v == v}), ind
        no_data = set(fig["data"][2]["locations"])
        assert no_data == set(districts["code"]) - set(coloured), ind
        assert all(label("vs_map_nodata") in t for t in fig["data"][2]["text"]), "no data, not 0"
        title = fig["data"][0]["colorbar"]["title"]["text"]
        assert head["name"] in title and f"{head['time']:%H:%M}" in title, title
        assert (head["unit"] or "") in title
    # the wall's street map: AQI has values in the stations' streets only, the others are no data (not 0)
    streets = city.regions[city.regions["level"] == "street"]
    values, head = vital_trends.map_values(snap, streets, "aqi", city.code)
    fig = vital_map(values, head, "/geo/street.json", NOW, labels=False)
    with_value = frame[(frame["indicator"] == "aqi") & (frame["level"] == "street")]
    assert dict(zip(fig["data"][0]["locations"], fig["data"][0]["z"])) == \
        pytest.approx(dict(zip(with_value["code"], with_value["value"])))
    assert len(fig["data"][2]["locations"]) == len(streets) - len(with_value) > 0


def test_a_late_indicator_says_so_on_the_map(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    _published(city, redis_client, feeds)
    later = pd.Timestamp(NOW) + pd.Timedelta(hours=3)  # the source stops at NOW: 5-minute feeds are late by then
    snap = _published(city, redis_client, feeds, later.to_pydatetime())
    values, head = vital_trends.map_values(snap, city.children(city.code), "traffic_index", city.code)
    assert head["status"] == "stale"
    fig = vital_map(values, head, "/geo/district.json", later.to_pydatetime())
    note = label("vs_map_stale", t=f"{head['time']:%H:%M}")
    assert [a["text"] for a in fig["layout"]["annotations"]] == [note]
    assert note in fig["data"][0]["colorbar"]["title"]["text"]


def test_a_slow_feed_never_holds_the_etl_run_lock(city, redis_client, wait_until):
    """The indicators job takes its feeds' reads in and builds its frames before the scheduler's run lock
    (EtlJobs.indicators_prepare): while it waits for a feed that hangs, the lock is free for the events job."""
    import threading

    from config.indicators import parse_catalogue
    from etl.scheduler import EtlScheduler
    from etl.state.indicator_series import IndicatorFeeds

    gate, reading = threading.Event(), threading.Event()

    class HangingFeed:
        def read(self, since):
            reading.set()
            gate.wait(120)
            return pd.DataFrame({"time": [pd.Timestamp(NOW)], "value": [42.0]})

    cat = parse_catalogue({"connections": {"db": {"url": "sqlite://"}}, "indicator": [
        {"id": "slow", "name": "slow", "theme": "t", "cadence": "5m",
         "source": {"connection": "db", "sql": "select 1 as time, 1 as value"}}]}, "<test>")
    feeds = IndicatorFeeds(cat, city, {"slow": HangingFeed()}, wait_s=120)
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    jobs.clock = lambda: NOW
    sched = EtlScheduler(jobs, redis_client, "vitals-lock", 30, {"indicators": 60})  # not started: run by hand
    try:
        assert sched.leader.hold()
        job = threading.Thread(target=sched._run, args=("indicators",))
        job.start()
        assert reading.wait(60), "the feed was never read"
        assert wait_until(lambda: sched.run_lock.acquire(blocking=False), timeout_s=30)
        assert job.is_alive(), "the job is still waiting for its feed while the lock is free"
        sched.run_lock.release()
        gate.set()
        job.join(120)
        assert not job.is_alive()
        frame = SnapshotReader(redis_client).refresh(force=True).frame(F.INDICATORS)
        assert frame.loc[frame["code"] == city.code, "value"].tolist() == [42.0]
    finally:
        gate.set()
        feeds.close()
        sched.leader.release()

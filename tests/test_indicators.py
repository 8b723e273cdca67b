"""City vital signs (城市体征, config/indicators.py → etl/source/indicator_feeds.py → etl/state/indicator_series.py
→ etl/transforms/indicators.py): the catalogue's errors name the file and the key; every rolled-up figure
the ETL publishes is recounted from the feeds' own rows by an independent computation; a feed that stops
leaves only its own indicators stale; values outside the declared range are quarantined and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import NOW
from indicator_helpers import ORACLE, demo_catalogue, indicator_rows, recount_indicator, vitals_feeds
from sqlalchemy import create_engine, text

from config.indicators import IndicatorError, load_catalogue, parse_catalogue
from contract import frames as F
from etl.jobs import EtlJobs
from etl.source.schema import source_engine
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

GOOD = {"connections": {"db": {"url": "sqlite:///x.db"}},
        "indicator": [{"id": "tpi", "name": "拥堵", "theme": "交通", "cadence": "5m",
                       "source": {"connection": "db", "sql": "select ts as time, v as value from t"}}]}


def _with(path: tuple, value) -> dict:
    import copy

    data = copy.deepcopy(GOOD)
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize("path,value,key", [
    (("indicator", 0, "rollup"), "median", "indicator[tpi].rollup"),
    (("indicator", 0, "cadence"), "often", "indicator[tpi].cadence"),
    (("indicator", 0, "source", "connection"), "nowhere", "indicator[tpi].source.connection"),
    (("indicator", 0, "source", "sql"), "delete from t", "indicator[tpi].source.sql"),
    (("indicator", 0, "thresholds"), {"warn": 5, "alarm": 3}, "indicator[tpi].thresholds"),
    (("indicator", 0, "colour"), "red", "indicator[tpi].colour"),
    (("indicator", 0, "range"), [5, 1], "indicator[tpi]"),
    (("connections", "db"), {"url": "postgresql://u:secret@db/x"}, "connections.db"),
    (("connections", "db"), {"url": "postgresql://u@db/x", "password_env": "NO_SUCH_VAR_26"}, "connections.db"),
])
def test_catalogue_errors_name_file_and_key(path, value, key):
    with pytest.raises(IndicatorError) as err:
        parse_catalogue(_with(path, value), "city/indicators.toml")
    assert str(err.value).startswith(f"city/indicators.toml: {key}"), str(err.value)


def test_catalogue_file_errors(tmp_path):
    bad = tmp_path / "ind.toml"
    bad.write_text("[[indicator]]\nid = 'x'\nname = ", encoding="utf-8")
    with pytest.raises(IndicatorError, match=str(bad)):
        load_catalogue(bad)
    assert load_catalogue("").indicator == []
    assert len(demo_catalogue("http://127.0.0.1:1").indicator) >= 10


def _published(city, redis_client, feeds, now=NOW):
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", now) is not None
    return SnapshotReader(redis_client).refresh(force=True)


def test_every_figure_recounted_from_the_feeds_rows(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    snap = _published(city, redis_client, feeds)
    latest, hourly = snap.frame(F.INDICATORS), snap.frame(F.INDICATOR_HOURLY)
    cat = {i.id: i for i in feeds.catalogue.indicator}
    rng = np.random.default_rng(26)
    checked = 0
    for ind_id, (_, rollup) in ORACLE.items():
        rows = indicator_rows(vitals_db, cat[ind_id])
        late = cat[ind_id].late_after_s
        mine = latest[latest["indicator"] == ind_id]
        codes = [city.code, *[c for c in mine["code"] if len(c) == 6]]
        for code in rng.choice(codes, size=min(3, len(codes)), replace=False):
            part = rows if code == city.code else rows[rows["d"] == code]
            row = mine[mine["code"] == code].iloc[0]
            assert row["value"] == pytest.approx(recount_indicator(part, rollup, late, pd.Timestamp(NOW), True), rel=1e-9)
            for col, days in (("value_day", 1), ("value_week", 7)):
                want = recount_indicator(part, rollup, late, pd.Timestamp(NOW) - pd.Timedelta(days=days), False)
                assert row[col] == pytest.approx(want, rel=1e-9, nan_ok=True), (ind_id, code, col)
            h = hourly[(hourly["indicator"] == ind_id) & (hourly["code"] == code)]
            assert len(h) == 24 and h["hour"].max() == pd.Timestamp(NOW)
            for mark in rng.choice(h["hour"].to_numpy(), size=3, replace=False):
                got = h.loc[h["hour"] == mark, "value"].iloc[0]
                want = recount_indicator(part, rollup, late, pd.Timestamp(mark), False)
                assert got == pytest.approx(want, rel=1e-9, nan_ok=True), (ind_id, code, mark)
            checked += 1
    assert checked >= 12
    city_rows = latest[latest["code"] == city.code].set_index("indicator")
    assert (city_rows["status"] != "none").all(), city_rows["status"].to_dict()


def test_a_stopped_feed_leaves_only_its_tiles_stale(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    first = _published(city, redis_client, feeds).frame(F.INDICATORS)
    city_first = first[first["code"] == city.code].set_index("indicator")
    assert (city_first["status"] != "stale").all(), city_first["status"].to_dict()
    opinion_api.stop()  # the public-opinion system goes down
    later = pd.Timestamp(NOW) + pd.Timedelta(minutes=45)
    snap = _published(city, redis_client, feeds, later)
    rows = snap.frame(F.INDICATORS)
    status = rows[rows["code"] == city.code].set_index("indicator")["status"]
    http = {"opinion_mentions", "opinion_negative"}
    assert set(status[status == "stale"].index) >= http
    # the SQL feeds were read at the later time too: a feed whose cadence is shorter than 45 min would be
    # stale only if its read had failed; their last values are those of NOW (the source stops at NOW)
    assert snap.meta["indicators"]["failing"] == sorted(http)
    assert all(snap.meta["indicators"]["feeds"][i]["ok"] for i in status.index if i not in http)
    stopped = rows[rows["indicator"].isin(http) & (rows["code"] == city.code)]
    assert (stopped["time"] == city_first.loc[list(http), "time"].to_numpy()).all(), "the last time is kept"
    assert not snap.source_errors(), "one feed down must not mark the whole snapshot stale"


def test_out_of_range_values_are_quarantined_and_counted(city, redis_client, vitals_db, opinion_api):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    snap = _published(city, redis_client, feeds)
    with source_engine(vitals_db).connect() as c:
        dead = c.execute(text("select count(*) from vs_air where aqi < 0 and ts > :t"),
                         {"t": f"{pd.Timestamp(NOW) - pd.Timedelta(days=90):%Y-%m-%d %H:%M:%S}"}).scalar()
        outside = c.execute(text("select count(*) from vs_rain where gauge = '镇江界'")).scalar()
    assert dead > 0, "the demo wrote no out-of-range value: the test proves nothing"
    meta = snap.meta["indicators"]
    assert meta["feeds"]["aqi"]["reasons"] == {"out_of_range": dead}
    assert meta["feeds"]["pm25"]["quarantined"] == dead
    assert meta["quarantined"] == 2 * dead
    assert meta["feeds"]["rainfall"]["unknown_regions"] == outside > 0  # counted, and kept in the city's value
    q = snap.frame(F.INDICATOR_QUARANTINE)
    assert set(q["reason"]) == {"out_of_range"} and (q["value"] < 0).all()

"""The city vital signs' expected band and threshold-crossing warnings (issue 27, third bullet;
etl/transforms/indicator_forecast.py, queries/vital_forecast.py, components/vital_signs.py):

- the band the wall's tiles and the tablet's trends carry equals the published `indicator_forecast` frame,
  recounted from the frame's own rows (hours, expected, lo, hi), and the drawn polygon has its points;
- a planted series that rises toward its warn line raises the "预计N小时内超过预警阈值" warning (which line,
  when), shown to the users of that district on the phone and not to another district's; a flat one does not;
- an indicator with too little history gets no band and the screens say so (no made-up band)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from helpers import NOW
from indicator_helpers import vitals_feeds
from sqlalchemy import create_engine, text

from components.format import alert_text
from components.vital_signs import region_panel, wall_tiles
from config.indicators import IndicatorError, parse_catalogue
from contract import frames as F
from etl.jobs import EtlJobs
from etl.source.indicator_feeds import make_readers
from etl.state.indicator_series import IndicatorFeeds
from queries import views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

AHEAD_H = 6.0  # COCKPIT_VITALS_FORECAST_HOURS' default, which the components use outside an app
ONLY = {"traffic_index", "metro_entries", "water_pressure"}  # forecast in the demo-feeds test (the fit's cost)


def _run(city, redis_client, feeds, now=NOW):
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", now) is not None
    assert jobs.run("forecast", now) is not None
    return jobs, SnapshotReader(redis_client).refresh(force=True)


def _walk(node):
    yield node
    kids = getattr(node, "children", None)
    for k in kids if isinstance(kids, list) else [kids] if kids is not None and not isinstance(kids, str) else []:
        yield from _walk(k)


def _bands_on_screen(tree) -> dict[int, tuple[list[tuple], str]]:
    """Each image with a band, in the order shown: ([(hour, expected, lo, hi)] its data-band attribute carries, its SVG)."""
    out: dict[int, tuple[list[tuple], str]] = {}
    for n in _walk(tree):
        data = getattr(n, "data-band", None) if hasattr(n, "src") else None
        if data:
            rows = [tuple(p.split("|")) for p in data.split(";")]
            out[len(out)] = ([(pd.Timestamp(h), float(e), float(a), float(b)) for h, e, a, b in rows], unquote(n.src))
    return out


def _recount(frame: pd.DataFrame, indicator: str, code: str, marks: pd.Series) -> list[tuple]:
    """The frame's rows of (indicator, code) from the last mark's hour to AHEAD_H hours after the last mark."""
    last = pd.Timestamp(marks.max())
    f = frame[(frame["indicator"] == indicator) & (frame["code"] == code) & (frame["hour"] >= last.floor("h"))
              & (frame["hour"] <= last + pd.Timedelta(hours=AHEAD_H))].sort_values("hour")
    return [(pd.Timestamp(h), float(e), float(a), float(b)) for h, e, a, b in
            zip(f["hour"], f["expected"], f["lo"], f["hi"])]


def test_the_band_on_screen_is_the_published_frame(city, redis_client, vitals_db, opinion_api):
    overrides = {i: {"forecast": False} for i in ("people_present", "power_load", "aqi", "pm25", "hotline_calls",
                                                  "opinion_mentions", "opinion_negative")}
    feeds = vitals_feeds(city, vitals_db, opinion_api.url, **overrides)
    jobs, snap = _run(city, redis_client, feeds)
    band, series = snap.frame(F.INDICATOR_FORECAST), snap.frame(F.INDICATOR_FORECAST_SERIES)
    assert set(series["indicator"]) == ONLY and (series["state"] == "fitted").all(), series
    assert snap.meta["vitals_forecast"]["fitted"] == len(series)
    # 15 days of history: daily and weekly seasons; the band runs from the hour after the fit's
    assert set(series["seasons"]) == {"24,168"}
    assert band["hour"].min() == pd.Timestamp(NOW).floor("h") + pd.Timedelta(hours=1)
    assert (band["lo"] <= band["expected"]).all() and (band["expected"] <= band["hi"]).all()
    marks = snap.frame(F.INDICATOR_HOURLY)["hour"]
    # the wall's tiles (the city)
    shown = _bands_on_screen(wall_tiles(snap, city.code, NOW))
    assert len(shown) == len(ONLY)
    order = [i.id for i in feeds.catalogue.indicator if i.id in ONLY]
    for (rows, svg), ind in zip(shown.values(), order):
        want = _recount(band, ind, city.code, marks)
        assert len(want) == int(AHEAD_H) and rows == want, ind
        polygon = re.search(r"<polygon points='([^']+)'", svg).group(1).split()
        assert len(polygon) == 2 * len(want)
    # the tablet's trends of a district (traffic by district; metro and water are the city's only)
    shown = _bands_on_screen(region_panel(snap, "320102", NOW))
    assert len(shown) == 1
    rows, _ = shown[0]
    assert rows == _recount(band, "traffic_index", "320102", marks)
    # an indicator not forecast carries no band
    assert not band["indicator"].isin(["aqi", "rainfall"]).any()


def _planted(path, days_by_site: dict[str, tuple[int, str]]) -> str:
    """A SQLite feed table `planted` (ts, region, site, value), hourly up to NOW, per site (days, shape): a daily
    shape around 60; "rising": up 3 an hour for the last 12 h (77 at NOW: warn at 100 is passed in ~5 h);
    "flat": the daily shape alone."""
    url = f"sqlite:///{path}"
    eng = create_engine(url)
    rows = []
    for site, (days, shape) in days_by_site.items():
        ts = pd.date_range(end=pd.Timestamp(NOW).floor("h"), periods=days * 24, freq="h")
        h = ts.hour.to_numpy()
        rng = np.random.default_rng(len(site))
        v = 60 + 6 * np.sin(2 * np.pi * (h - 9) / 24) + rng.normal(0, 0.4, len(ts))
        if shape == "rising":
            k = np.arange(len(ts)) - (len(ts) - 12)
            v = v + 3.0 * np.clip(k, 0, None)
        rows += [{"ts": f"{t:%Y-%m-%d %H:%M:%S}", "region": site.split("_")[0], "site": site, "value": float(x)}
                 for t, x in zip(ts, v)]
    with eng.begin() as c:
        c.execute(text("create table planted (ts varchar(19), region varchar(12), site varchar(40), value float)"))
        c.execute(text("insert into planted values (:ts, :region, :site, :value)"), rows)
    eng.dispose()
    return url


def _planted_catalogue(url: str):
    def ind(iid, sites, **kw):
        where = " or ".join(f"site = '{s}'" for s in sites)
        return {"id": iid, "name": f"plant {iid}", "theme": "T", "cadence": "1h", "rollup": "mean", "forecast": True,
                "thresholds": {"warn": 100, "alarm": 130}, **kw,
                "source": {"connection": "db", "region": "region", "site": "site",
                           "sql": f"select ts as time, region, site, value from planted where {where}"}}
    return parse_catalogue({"connections": {"db": {"url": url}}, "indicator": [
        ind("by_district", ["320102_a", "320104_b"]),  # 320102 rises, 320104 stays flat
        ind("flat", ["320105_c"]),
        ind("young", ["320106_d"]),  # two days of history: no band
    ]}, "planted.toml")


def test_a_rising_series_warns_before_its_threshold_and_a_flat_one_does_not(city, redis_client, tmp_path):
    url = _planted(tmp_path / "planted.db", {"320102_a": (10, "rising"), "320104_b": (10, "flat"),
                                             "320105_c": (10, "flat"), "320106_d": (2, "flat")})
    cat = _planted_catalogue(url)
    feeds = IndicatorFeeds(cat, city, make_readers(cat, city, url), wait_s=60)
    _, snap = _run(city, redis_client, feeds)
    series = snap.frame(F.INDICATOR_FORECAST_SERIES).set_index(["indicator", "code"])
    assert series.loc[("by_district", "320102"), "state"] == "fitted"
    assert series.loc[("by_district", "320102"), "seasons"] == "24"  # 10 days: a daily season only
    alerts = snap.frame(F.ALERTS)
    soon = alerts[alerts["kind"].str.startswith("vs_forecast")]
    hit = soon[(soon["code"] == "320102")]
    assert len(hit) == 1, soon
    row = hit.iloc[0].to_dict()
    assert row["kind"] == "vs_forecast_warn" and row["threshold"] == 100.0 and row["value"] >= 100.0
    now = pd.Timestamp(NOW)
    assert now < row["at"] <= now + pd.Timedelta(hours=AHEAD_H)
    # the expected value at that hour is the published band's, and the hour is its first past the line
    b = snap.frame(F.INDICATOR_FORECAST)
    mine = b[(b["indicator"] == "by_district") & (b["code"] == "320102") & (b["hour"] > now)].sort_values("hour")
    first = mine[mine["expected"] >= 100].iloc[0]
    assert first["hour"] == row["at"] and first["expected"] == pytest.approx(row["value"])
    hours = int(np.ceil((row["at"] - now).total_seconds() / 3600))
    said = alert_text(row)
    assert f"预计{hours}小时内超过预警阈值 100" in said and f"{row['at']:%H:%M}" in said and "plant by_district" in said, said
    # the flat ones (another district of the same indicator, and a flat indicator) raise nothing
    assert not soon["code"].isin(["320104", "320105"]).any(), soon
    assert not (soon["text"] == "plant flat").any()
    # the phone: the users of 玄武区 (320102) see it, those of 秦淮区 (320104) do not
    assert any(a["kind"] == "vs_forecast_warn" for a in views.area_alerts(snap, "320102"))
    assert not any(a["kind"].startswith("vs_forecast") for a in views.area_alerts(snap, "320104"))
    # too little history: no band, and the screens say so
    assert series.loc[("young", "320106"), "state"] == "short"
    assert series.loc[("young", "320106"), "history_h"] == 48 < series.loc[("young", "320106"), "needs_h"]
    assert not (b["indicator"] == "young").any()
    panel = region_panel(snap, "320106", NOW)
    texts = [n for n in _walk(panel) if isinstance(n, str)] + \
        [getattr(n, "children", "") for n in _walk(panel) if isinstance(getattr(n, "children", None), str)]
    assert any("历史不足3天，暂无预测区间" in t for t in texts), texts
    assert not _bands_on_screen(panel)


def test_the_forecast_key_is_checked():
    good = {"connections": {"db": {"url": "sqlite:///x.db"}},
            "indicator": [{"id": "tpi", "name": "n", "theme": "t", "cadence": "1d", "forecast": "sometimes",
                           "source": {"connection": "db", "sql": "select ts as time, v as value from t"}}]}
    with pytest.raises(IndicatorError, match="planted.toml: indicator\\[tpi\\].forecast"):
        parse_catalogue(good, "planted.toml")
    good["indicator"][0]["forecast"] = "auto"
    assert not parse_catalogue(good).indicator[0].forecast_enabled  # a daily feed: no hourly shape
    good["indicator"][0]["cadence"] = "15m"
    assert parse_catalogue(good).indicator[0].forecast_enabled
    good["indicator"][0]["forecast"] = False
    assert not parse_catalogue(good).indicator[0].forecast_enabled

"""Plain helpers of the city vital-sign tests (tests/test_indicators.py, tests/test_vital_signs_browser.py): the
demo's catalogue with the opinion API where a test started it, the feeds read with every read waited for, and
the independent recount of a rolled-up figure from the demo feeds' own rows (plain SQL, no product code)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from demo.vital_signs import STATIONS


def demo_catalogue(api_url: str, **indicator_overrides):
    """The demo's indicator catalogue (config/indicators/demo.toml) with the opinion API at `api_url`."""
    import tomllib

    from config.indicators import DEMO_INDICATORS, parse_catalogue

    data = tomllib.loads(DEMO_INDICATORS.read_text(encoding="utf-8"))
    data["connections"]["opinion"]["base_url"] = api_url
    for ind in data["indicator"]:
        ind.update(indicator_overrides.get(ind["id"], {}))
    return parse_catalogue(data, str(DEMO_INDICATORS))


def vitals_feeds(city, source_url: str, api_url: str, **overrides):
    """The demo's feeds over `source_url` and the opinion API, reads waited for (tests see every read's outcome)."""
    from etl.source.indicator_feeds import make_readers
    from etl.state.indicator_series import IndicatorFeeds

    cat = demo_catalogue(api_url, **overrides)
    return IndicatorFeeds(cat, city, make_readers(cat, city, source_url), wait_s=60)


ORACLE = {  # indicator -> (SQL giving time, site, district or None, value; rollup)
    "people_present": ("select ts, district_code as site, district_code as d, people as v from vs_population", "sum"),
    "traffic_index": ("select ts, district_code as site, district_code as d, tpi as v from vs_traffic", "mean"),
    "metro_entries": ("select ts, 'city' as site, null as d, entries as v from vs_metro", "sum"),
    "aqi": ("select ts, station as site, null as d, aqi as v from vs_air", "mean"),
    "hotline_calls": ("select ts, 'city' as site, null as d, calls as v from vs_hotline", "sum"),
    "rainfall": ("select ts, gauge as site, null as d, rain_mm as v from vs_rain", "max"),
}
STATION_DISTRICT = {name: d for name, (d, _, _) in STATIONS.items()}  # where the demo put each station


def recount_indicator(rows: pd.DataFrame, rollup: str, late_s: float, at: pd.Timestamp, newest_rule: bool) -> float:
    """The rolled-up value at `at`: each site's newest value at or before it (within late_s of `at`, or at
    "now" within late_s of the region's newest), then sum / mean / max."""
    r = rows[rows["ts"] <= at].sort_values("ts").groupby("site").tail(1)
    if newest_rule:
        r = r[r["ts"] > r["ts"].max() - pd.Timedelta(seconds=late_s)] if len(r) else r
    else:
        r = r[r["ts"] > at - pd.Timedelta(seconds=late_s)]
    if r.empty:
        return float("nan")
    return float({"sum": r["v"].sum(), "mean": r["v"].mean(), "max": r["v"].max()}[rollup])


def indicator_rows(source_url: str, ind) -> pd.DataFrame:
    """An indicator's rows (ts, site, d: its district or None, v) as its feed holds them, values outside the
    declared range left out (quarantined by the ETL), stations put in the district the demo placed them in."""
    from etl.source.schema import source_engine

    sql, _ = ORACLE[ind.id]
    eng = source_engine(source_url)
    with eng.connect() as c:
        rows = pd.DataFrame(c.execute(text(sql)).fetchall(), columns=["ts", "site", "d", "v"])
    eng.dispose()
    rows["ts"] = pd.to_datetime(rows["ts"])
    lo, hi = ind.range
    rows = rows[(rows["v"] >= lo) & (rows["v"] <= hi)]
    if ind.id in ("aqi", "rainfall"):
        rows["d"] = rows["site"].map(STATION_DISTRICT)  # a gauge outside the city: the city's value only
    return rows

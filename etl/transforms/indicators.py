"""City vital signs (城市体征): the published frames from the sites' as-of samples
(etl/state/indicator_series.py `samples`), pure functions.

Roll-up over regions: a site counts in the region it was placed in (a district code, a street, a grid
for a point) and in every region above it (a prefix of its code), up to the city; a site whose region
the city does not know, and a city-wide feed, count in the city only. At "now" a region's value is
rolled up over its sites whose newest value is within the indicator's late_after of the region's newest
(a dead station stops counting; a wholly late region keeps its last value and is stale). A day and a
week ago and at each hour mark, the value is rolled up over the sites that had a value within
late_after before that time. Roll-ups: sum, mean, weighted_mean (by the site's weight), max.

Status: none (no value), stale (newest value older than late_after), alarm / warn (past the thresholds:
the value itself, or for basis last_week the value ÷ the value a week ago; direction above or below), ok."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from config.indicators import Catalogue
from config.region_codes import CODE_LENGTH

ROLLED_LEVELS = ("district", "street")  # levels published below the city
LATEST_COLUMNS = ["indicator", "code", "level", "name", "theme", "unit", "value", "time", "value_day", "value_week",
                  "change_day", "change_week", "status", "warn", "alarm", "direction", "basis", "decimals", "order",
                  "sites", "wall"]


def indicator_info(cat: Catalogue) -> pd.DataFrame:
    """One row per indicator: what the frames carry besides values (name, theme, unit, thresholds, order)."""
    rows = [{"indicator": i.id, "name": i.name, "theme": i.theme, "unit": i.unit, "rollup": i.rollup,
             "warn": np.nan if i.thresholds.warn is None else i.thresholds.warn,
             "alarm": np.nan if i.thresholds.alarm is None else i.thresholds.alarm,
             "direction": i.thresholds.direction, "basis": i.thresholds.basis, "decimals": i.decimals,
             "order": k, "late_after_s": i.late_after_s, "wall": int(i.wall)} for k, i in enumerate(cat.indicator)]
    return pd.DataFrame(rows, columns=["indicator", "name", "theme", "unit", "rollup", "warn", "alarm", "direction",
                                       "basis", "decimals", "order", "late_after_s", "wall"])


def _codes_up(region: pd.Series, city_code: str, levels: dict[str, str]) -> pd.DataFrame:
    """Each row's region and every published region above it: (row, code) pairs (the city always)."""
    rows, codes = [], []
    for i, r in enumerate(region.tolist()):
        rows.append(i)
        codes.append(city_code)
        if r is None or r != r or not str(r).startswith(city_code):
            continue
        for level in ROLLED_LEVELS:
            n = CODE_LENGTH[level]
            if len(r) >= n and levels.get(r[:n]) == level:
                rows.append(i)
                codes.append(r[:n])
    return pd.DataFrame({"row": rows, "code": codes})


def _rolled(df: pd.DataFrame, value_cols: list[str], rollup: pd.Series,
            keys: tuple[str, ...] = ("indicator", "code")) -> pd.DataFrame:
    """Roll each value column up per key (indicator first) by the indicator's method (rollup: indicator -> method)."""
    out = []
    for col in value_cols:
        v = df[col]
        has = v.notna()
        w = df["weight"].where(has, 0.0)
        parts = pd.DataFrame({**{k: df[k] for k in keys}, "v": v, "has": has, "wv": (v.fillna(0.0) * w), "w": w})
        g = parts.groupby(list(keys), sort=False)
        agg = pd.DataFrame({"sum": g["v"].sum(min_count=1), "mean": g["v"].mean(), "max": g["v"].max(),
                            "wsum": g["wv"].sum(), "w": g["w"].sum(), "n": g["has"].sum()})
        wmean = agg["wsum"] / agg["w"].where(agg["w"] > 0)
        method = agg.index.get_level_values("indicator").map(rollup.to_dict())
        pick = np.select([method == "sum", method == "mean", method == "max", method == "weighted_mean"],
                         [agg["sum"], agg["mean"], agg["max"], wmean], np.nan)
        out.append(pd.Series(np.where(agg["n"] > 0, pick, np.nan), index=agg.index, name=col))
    return pd.concat(out, axis=1)


def _status(value: pd.Series, last_week: pd.Series, time: pd.Series, info: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    x = np.where(info["basis"] == "last_week", value / last_week.where(last_week != 0), value)
    above = info["direction"].to_numpy() == "above"
    warn, alarm = info["warn"].to_numpy(float), info["alarm"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        past_alarm = np.where(above, x >= alarm, x <= alarm)
        past_warn = np.where(above, x >= warn, x <= warn)
    late = (now - time).dt.total_seconds().to_numpy() > info["late_after_s"].to_numpy(float)
    return np.select([value.isna().to_numpy(), late, past_alarm, past_warn], ["none", "stale", "alarm", "warn"], "ok")


def indicator_latest(latest: pd.DataFrame, info: pd.DataFrame, regions: pd.DataFrame, city_code: str,
                     now) -> pd.DataFrame:
    """Frame `indicators`: per indicator × region (the city, districts and streets with sites): the rolled-up
    value now and its time, a day and a week ago, the changes, the status and the indicator's description."""
    now = pd.Timestamp(now).tz_localize(None)
    levels = dict(zip(regions["code"], regions["level"]))
    names = dict(zip(regions["code"], regions["name"]))
    if latest.empty:
        return _empty_latest()
    up = _codes_up(latest["region"], city_code, levels)
    x = latest.iloc[up["row"].to_numpy()].reset_index(drop=True).assign(code=up["code"].to_numpy())
    late = x["indicator"].map(info.set_index("indicator")["late_after_s"]).to_numpy(float)
    newest = x.groupby(["indicator", "code"], sort=False)["time"].transform("max")
    x["value"] = x["value"].where((newest - x["time"]).dt.total_seconds().to_numpy() <= late)
    rollup = info.set_index("indicator")["rollup"]
    r = _rolled(x, ["value", "value_day", "value_week"], rollup)
    g = x.groupby(["indicator", "code"], sort=False)
    r["time"] = g["time"].max()
    r["sites"] = g["site"].nunique()
    r = r.reset_index()
    r = r.merge(info, on="indicator", how="left")
    r["level"] = r["code"].map(levels).fillna("city")
    r["region_name"] = r["code"].map(names)  # `name` is the indicator's
    r["change_day"] = r["value"] / r["value_day"].where(r["value_day"] != 0) - 1
    r["change_week"] = r["value"] / r["value_week"].where(r["value_week"] != 0) - 1
    r["status"] = _status(r["value"], r["value_week"], r["time"], r, now)
    out = r[LATEST_COLUMNS + ["region_name"]].sort_values(["order", "code"], kind="stable").reset_index(drop=True)
    return out.astype({"decimals": "int64", "order": "int64", "sites": "int64", "wall": "int64", "value": float, "value_day": float,
                       "value_week": float, "change_day": float, "change_week": float})


def _empty_latest() -> pd.DataFrame:
    kinds: dict[str, object] = {"value": float, "value_day": float, "value_week": float, "change_day": float, "change_week": float,
             "warn": float, "alarm": float, "decimals": "int64", "order": "int64", "sites": "int64", "wall": "int64",
             "time": "datetime64[ns]"}
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, object)) for c in [*LATEST_COLUMNS, "region_name"]})  # type: ignore[call-overload]


def indicator_hourly(hourly: pd.DataFrame, info: pd.DataFrame, regions: pd.DataFrame, city_code: str) -> pd.DataFrame:
    """Frame `indicator_hourly`: per indicator × region × hour mark of the last 24 h (the last mark is now),
    the value rolled up over the sites that had one within late_after before that mark."""
    if hourly.empty:
        return pd.DataFrame({"indicator": pd.Series(dtype=object), "code": pd.Series(dtype=object),
                             "hour": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float)})
    levels = dict(zip(regions["code"], regions["level"]))
    sites = hourly.drop_duplicates(["indicator", "site"])[["indicator", "site", "region"]].reset_index(drop=True)
    up = _codes_up(sites["region"], city_code, levels)
    pairs = sites.iloc[up["row"].to_numpy()].reset_index(drop=True).assign(code=up["code"].to_numpy())
    x = hourly.merge(pairs[["indicator", "site", "code"]], on=["indicator", "site"])
    r = _rolled(x, ["value"], info.set_index("indicator")["rollup"], ("indicator", "code", "hour")).reset_index()
    out = pd.DataFrame({"indicator": r["indicator"], "code": r["code"], "hour": pd.to_datetime(r["hour"]),
                        "value": r["value"].astype(float)})
    order = info.set_index("indicator")["order"]
    return out.assign(o=out["indicator"].map(order)).sort_values(["o", "code", "hour"]).drop(columns="o")\
        .reset_index(drop=True)


def indicator_alerts(indicators: pd.DataFrame) -> pd.DataFrame:
    """The city's and districts' indicators past warn / alarm, as rows of the wall's alert frame
    (etl/transforms/alerts.py): kind indicator, the indicator's name in `text`, the line crossed as threshold."""
    d = indicators[indicators["status"].isin(["warn", "alarm"]) & indicators["level"].isin(["city", "district"])]
    threshold = np.where(d["status"] == "alarm", d["alarm"], d["warn"]).astype(float)
    basis_week = (d["basis"] == "last_week").to_numpy()
    return pd.DataFrame({
        "kind": "indicator", "code": d["code"], "name": d["region_name"],
        "level": np.where(d["status"] == "alarm", "red", "amber"),
        "value": d["value"].astype(float),
        "threshold": np.where(basis_week, threshold * d["value_week"], threshold).astype(float),
        "since": d["time"], "text": d["name"],
    })


TREND_HOURLY_DAYS = 8  # today and the 7 days before it: hourly points (the tablet's today and 近7日); before: daily


def _roll_matrix(m: np.ndarray, w: np.ndarray, member: np.ndarray, method: str) -> np.ndarray:
    """Roll the sites' rows of m (sites × buckets, NaN: no value) up per region: member is regions × sites (1: the
    site counts in the region); NaN where no site of the region has a value."""
    has = ~np.isnan(m)
    v = np.where(has, m, 0.0)
    n = member @ has.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "sum":
            r = member @ v
        elif method == "max":
            r = np.vstack([np.max(np.where(has[row > 0], m[row > 0], -np.inf), axis=0) for row in member])
        elif method == "weighted_mean":
            ww = has * w[:, None]
            r = (member @ (v * ww)) / np.where(member @ ww > 0, member @ ww, np.nan)
        else:
            r = (member @ v) / np.maximum(n, 1)
    return np.where(n > 0, r, np.nan)


def indicator_trend(first: pd.Timestamp, means: dict, info: pd.DataFrame, regions: pd.DataFrame, city_code: str,
                    now) -> pd.DataFrame:
    """Frame `indicator_trend`: the tablet's trends, per indicator × region (the city, districts, streets with sites).
    An hour's value rolls up (by the indicator's method) the means of the sites that had a value in that hour;
    a day's value is the mean of its hours' values (the hours with one). Hourly points (`hours` 1) for today and
    the 7 days before, daily points (`hours` 24) for every day from `first` to today; today's point and the
    current hour's are partial (up to now). Rows only where there is a value. `means`:
    IndicatorFeeds.hour_means."""
    now = pd.Timestamp(now).tz_localize(None)
    levels = dict(zip(regions["code"], regions["level"]))
    rollup = info.set_index("indicator")["rollup"].to_dict()
    order = info.set_index("indicator")["order"].to_dict()
    hour0 = first.value
    hourly_from = (now.normalize() - pd.Timedelta(days=TREND_HOURLY_DAYS - 1) - first) // pd.Timedelta(hours=1)
    parts: list[pd.DataFrame] = []
    for ind in sorted(means, key=lambda i: order.get(i, 0)):
        region, w, m = means[ind]
        up = _codes_up(pd.Series(region, dtype=object), city_code, levels)
        codes = sorted(set(up["code"]))
        member = np.zeros((len(codes), m.shape[0]))
        member[up["code"].map({c: k for k, c in enumerate(codes)}).to_numpy(), up["row"].to_numpy()] = 1.0
        n = m.shape[1]
        days = -(-n // 24)
        r = _roll_matrix(m, w, member, rollup.get(ind, "mean"))  # codes × hours
        padded = np.full((len(codes), days * 24), np.nan)
        padded[:, :n] = r
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            daily = np.nanmean(padded.reshape(len(codes), days, 24), axis=2)  # codes × days
        hv = r[:, hourly_from:]
        hstarts = hour0 + np.arange(hourly_from, n, dtype="int64") * 3_600_000_000_000
        dstarts = hour0 + np.arange(days, dtype="int64") * 86_400_000_000_000
        ci, hi = np.nonzero(~np.isnan(hv))
        cd, di = np.nonzero(~np.isnan(daily))
        code_arr = np.array(codes, dtype=object)
        parts.append(pd.DataFrame({
            "indicator": ind, "code": np.concatenate([code_arr[ci], code_arr[cd]]),
            "start": np.concatenate([hstarts[hi], dstarts[di]]),
            "hours": np.concatenate([np.ones(len(ci), "int64"), np.full(len(cd), 24, "int64")]),
            "value": np.concatenate([hv[ci, hi], daily[cd, di]])}))
    if not parts:
        return pd.DataFrame({"indicator": pd.Series(dtype="category"), "code": pd.Series(dtype="category"),
                             "start": pd.Series(dtype="datetime64[ns]"), "hours": pd.Series(dtype="int64"),
                             "value": pd.Series(dtype=float)})
    out = pd.concat(parts, ignore_index=True)
    return out.assign(indicator=out["indicator"].astype("category"), code=out["code"].astype("category"),
                      start=pd.to_datetime(out["start"], unit="ns"))

"""The forecast (预警预测): tomorrow's and the next days' events per region and category, and today's expected
events by hour, as pure functions (frames and arrays in, frames out; the fit is statsforecast's).

- `daily_counts`: events per day of report for the city, every district and street, in total and per category
  (a dense matrix: series × days), from the kept facts (etl/state/week_facts.py).
- `event_forecast`: per series, MSTL (statsforecast; weekly seasonality, an AutoETS trend) fitted on the history
  up to yesterday after the calendar adjustment below, then today and the next 7 days with an 80 % interval
  (the `forecast_days` frame, with the last weeks actually seen beside it).
- Holidays: public holidays and make-up working days (调休) from config/workdays.py. A day that is not of its
  weekday's ordinary kind (a holiday on a weekday, a 调休 Saturday) is scaled to what its weekday would have
  been before the fit, and the forecast of such a day scaled back; the factors are measured on the city's total
  (`calendar_factors`: events on holidays / on make-up days against the same weeks' level), the same for every
  series. A day past the calendar's years is typed by its weekday alone and flagged (`known` = 0).
- `hourly_profile` / `expected_by_hour`: the share of a day's events by hour (last 28 days, per district; a
  street takes its district's) times today's forecast: the wall's expected-so-far band (`forecast_hourly`).
- `expected_alerts`: a district or street whose events so far today are far outside that band."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from config.labels import label
from config.region_codes import CODE_LENGTH, grid_key_at
from config.workdays import HOLIDAY, REST, WORK, day_kinds
from contract.domain import CATEGORIES

LEVELS = ("city", "district", "street")
TOTAL = ""  # the category of a region's all-category series
HORIZON = 8  # today and the next 7 days
LEVEL_PCT = 80  # the interval
SEASON = 7
MIN_DAYS = 2 * SEASON + 1  # fewer days of history: the mean of the same weekdays, no model
SHOWN_DAYS = 28  # days actually seen published beside the forecast
PROFILE_DAYS = 28


def daily_counts(facts: pd.DataFrame, first_day: pd.Timestamp, last_day: pd.Timestamp,
                 categories=CATEGORIES, category_levels=("city", "district")
                 ) -> tuple[pd.DataFrame, pd.DatetimeIndex, np.ndarray]:
    """(series, days, counts): `series` (code, category) for the city, every district and street in total
    (category '') and, at `category_levels`, per category; `days` from first_day to last_day; counts (series × days, float) of the
    events reported on each day (facts: grid_no, day, category)."""
    days = pd.date_range(pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize(), freq="D")
    d = (facts["day"].to_numpy("datetime64[D]") - days[0].to_datetime64().astype("datetime64[D]")).astype(np.int64)
    keep = (d >= 0) & (d < len(days))
    d = d[keep]
    grid = facts["grid_no"].to_numpy(np.int64)[keep]
    cat = pd.Categorical(facts["category"].to_numpy(object)[keep], categories=list(categories)).codes.astype(np.int64)
    ncat = len(categories) + 1  # 0: total, 1..: the categories
    keys, counts = [], []
    for level in LEVELS:
        region = grid_key_at(grid, level)
        split = ((cat + 1, cat >= 0),) if level in category_levels else ()
        for c, ok in ((np.zeros(len(d), np.int64), np.ones(len(d), bool)), *split):
            k = (region[ok] * ncat + c[ok]) * len(days) + d[ok]
            u, n = np.unique(k, return_counts=True)
            keys.append(u)
            counts.append(n)
    k = np.concatenate(keys)
    n = np.concatenate(counts)
    series_key, row = np.unique(k // len(days), return_inverse=True)
    y = np.zeros((len(series_key), len(days)))
    np.add.at(y, (row, k % len(days)), n)
    series = pd.DataFrame({"code": (series_key // ncat).astype(str).astype(object),
                           "category": np.array([TOTAL, *categories], dtype=object)[series_key % ncat]})
    return series, days, y


def calendar_factors(total: np.ndarray, kinds: pd.DataFrame) -> dict[str, float]:
    """How a day off and a make-up working day compare with the level of their weeks, measured on one series
    (the city's total): {"holiday": events on a public holiday / the local level, "makeup": a 调休 working day's,
    "dow0".."dow6": an ordinary weekday's}. Missing (no such day in the history): the ordinary Sunday's for a
    holiday, the mean ordinary working day's for a make-up day."""
    kind, dow = kinds["kind"].to_numpy(), kinds["dow"].to_numpy()
    ordinary = ((kind == WORK) & (dow < 5)) | ((kind == REST) & (dow >= 5))
    y = pd.Series(np.where(ordinary, total, np.nan))
    level = y.rolling(15, center=True, min_periods=5).mean().bfill().ffill().to_numpy()
    r = total / np.where(level > 0, level, np.nan)
    def mean(mask: np.ndarray) -> float:
        v = r[mask]
        return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
    out = {f"dow{i}": mean(ordinary & (dow == i)) for i in range(SEASON)}
    work = float(np.mean([out[f"dow{i}"] for i in range(5)]))
    hol = (kind == HOLIDAY)
    mk = (kind == WORK) & (dow >= 5)
    out["holiday"] = mean(hol) if np.isfinite(r[hol]).any() else out["dow6"]
    out["makeup"] = mean(mk) if np.isfinite(r[mk]).any() else work
    return {k: v if np.isfinite(v) and v > 0 else 1.0 for k, v in out.items()}  # no events at all: no adjustment


def day_adjustment(kinds: pd.DataFrame, factors: dict[str, float]) -> np.ndarray:
    """Per day: what its events are against an ordinary day of its weekday (1 for an ordinary day)."""
    kind, dow = kinds["kind"].to_numpy(), kinds["dow"].to_numpy()
    usual = np.array([factors[f"dow{i}"] for i in dow])
    actual = np.where(kind == HOLIDAY, factors["holiday"],
                      np.where((kind == WORK) & (dow >= 5), factors["makeup"],
                               np.where((kind == REST) & (dow < 5), factors["dow6"], usual)))
    return np.where(usual > 0, actual / usual, 1.0)


def _fit_one(y: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) of the next h days: statsforecast MSTL (weekly season, AutoETS trend); a short or flat series
    gets the mean of its same weekdays with a Poisson interval."""
    if len(y) >= MIN_DAYS and y[-SEASON * 2:].sum() > 0 and np.std(y) > 0:
        from statsforecast.models import MSTL, AutoETS

        try:
            f = MSTL(season_length=SEASON, trend_forecaster=AutoETS(model="ZZN")).forecast(y=y, h=h, level=[LEVEL_PCT])
            return f["mean"], f[f"lo-{LEVEL_PCT}"], f[f"hi-{LEVEL_PCT}"]
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            pass
    return _weekday_mean(y, h)


def _weekday_mean(y: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    recent = y[-4 * SEASON:]
    pos = (np.arange(len(recent)) - len(recent)) % SEASON
    m = np.array([recent[pos == (i % SEASON)].mean() if (pos == (i % SEASON)).any() else recent.mean()
                  for i in range(h)]) if len(recent) else np.zeros(h)
    z = 1.2816  # the 80 % interval of a normal approximation to Poisson counts
    return m, np.maximum(m - z * np.sqrt(m), 0), m + z * np.sqrt(m)


def event_forecast(series: pd.DataFrame, days: pd.DatetimeIndex, y: np.ndarray, horizon: int = HORIZON,
                   shown_days: int = SHOWN_DAYS) -> pd.DataFrame:
    """The `forecast_days` frame: per series (code, category) the last `shown_days` days actually seen (actual)
    and the `horizon` days after `days` (expected, lo, hi: the 80 % interval, never below 0), each day with its
    calendar kind (work, rest, holiday) and whether the calendar knows it (known)."""
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    k_past, k_future = day_kinds(days), day_kinds(future)
    total = (series["category"] == TOTAL) & (series["code"].str.len() == CODE_LENGTH["city"])
    factors = calendar_factors(y[np.flatnonzero(total.to_numpy())[0]] if total.any() else y.sum(axis=0), k_past)
    a_past, a_future = day_adjustment(k_past, factors), day_adjustment(k_future, factors)
    mean = np.zeros((len(series), horizon))
    lo, hi = np.zeros_like(mean), np.zeros_like(mean)
    for i in range(len(series)):
        m, lo_i, hi_i = _fit_one(y[i] / a_past, horizon)
        mean[i], lo[i], hi[i] = (np.maximum(np.asarray(v, float) * a_future, 0) for v in (m, lo_i, hi_i))
    shown = days[-shown_days:]
    n_s, n_f = len(shown), horizon
    code = series["code"].to_numpy(object)
    cat = series["category"].to_numpy(object)
    past = pd.DataFrame({"code": np.repeat(code, n_s), "category": np.repeat(cat, n_s),
                         "day": np.tile(shown.to_numpy(), len(series)),
                         "actual": y[:, -n_s:].ravel(), "expected": np.nan, "lo": np.nan, "hi": np.nan,
                         "day_kind": np.tile(k_past["kind"].to_numpy()[-n_s:], len(series)),
                         "known": np.tile(k_past["known"].to_numpy()[-n_s:].astype(np.int64), len(series))})
    ahead = pd.DataFrame({"code": np.repeat(code, n_f), "category": np.repeat(cat, n_f),
                          "day": np.tile(future.to_numpy(), len(series)), "actual": np.nan,
                          "expected": mean.ravel(), "lo": np.minimum(lo, mean).ravel(), "hi": np.maximum(hi, mean).ravel(),
                          "day_kind": np.tile(k_future["kind"].to_numpy(), len(series)),
                          "known": np.tile(k_future["known"].to_numpy().astype(np.int64), len(series))})
    out = pd.concat([past, ahead], ignore_index=True)
    out["day"] = pd.to_datetime(out["day"]).astype("datetime64[us]")
    return out.sort_values(["code", "category", "day"], kind="stable").reset_index(drop=True)


def hourly_profile(facts: pd.DataFrame) -> pd.DataFrame:
    """Per city and district code: the share of a day's events reported in each hour (facts: grid_no,
    reported_at; the last PROFILE_DAYS days, whatever the caller passes)."""
    hour = facts["reported_at"].dt.hour.to_numpy(np.int64)
    grid = facts["grid_no"].to_numpy(np.int64)
    rows = []
    for level in ("city", "district"):
        key = grid_key_at(grid, level) * 24 + hour
        u, n = np.unique(key, return_counts=True)
        rows.append(pd.DataFrame({"code": (u // 24).astype(str), "hour": u % 24, "n": n}))
    p = pd.concat(rows, ignore_index=True)
    full = pd.MultiIndex.from_product([p["code"].unique(), range(24)], names=["code", "hour"])
    p = p.set_index(["code", "hour"])["n"].reindex(full, fill_value=0).reset_index()
    p["share"] = (p["n"] + 0.5) / (p.groupby("code")["n"].transform("sum") + 12.0)  # a little smoothing
    return p[["code", "hour", "share"]]


def expected_by_hour(forecast: pd.DataFrame, profile: pd.DataFrame, today: pd.Timestamp) -> pd.DataFrame:
    """The `forecast_hourly` frame: per city, district and street code and hour of today, the events expected in
    that hour (expected, lo, hi: today's forecast and its 80 % interval × the hour's share of the day, the street's
    share being its district's) and so far by the end of that hour (cum_expected, cum_lo, cum_hi)."""
    f = forecast[(forecast["category"] == TOTAL) & (forecast["day"] == pd.Timestamp(today).normalize())]
    f = f[["code", "expected", "lo", "hi"]]
    share = profile.pivot(index="code", columns="hour", values="share").reindex(columns=range(24))
    prof_code = np.where(f["code"].str.len() > CODE_LENGTH["district"], f["code"].str.slice(0, CODE_LENGTH["district"]),
                         f["code"])
    city = share.index[share.index.str.len() == CODE_LENGTH["city"]]
    flat = np.full(24, 1 / 24)
    s = np.stack([share.loc[c].to_numpy() if c in share.index else
                  (share.loc[city[0]].to_numpy() if len(city) else flat) for c in prof_code]) if len(f) else \
        np.zeros((0, 24))
    s = s / s.sum(axis=1, keepdims=True) if len(s) else s
    cols = {}
    for c in ("expected", "lo", "hi"):
        per = f[c].to_numpy()[:, None] * s
        cols[c] = per.ravel()
        cols[f"cum_{c}"] = np.cumsum(per, axis=1).ravel()
    return pd.DataFrame({"code": np.repeat(f["code"].to_numpy(object), 24), "hour": np.tile(np.arange(24), len(f)),
                         **cols, "day": pd.Timestamp(today).normalize()})


def expected_alerts(by_hour: pd.DataFrame, hourly: pd.DataFrame, as_of: datetime, names: pd.Series,
                    factor: float = 2.0, min_events: int = 8, z: float = 3.0) -> pd.DataFrame:
    """Districts and streets far outside today's expected band (the `expected` alert rule): so far today at
    least `factor` × expected, with at least `min_events` events, and past the band's top by `z` × √expected (the
    spread of a count: a street expecting 4 by now seeing 8 is chance, not a surge) (高于预期); or at most
    expected / `factor` and under the band's bottom by as much, when `min_events` × factor were expected (低于预期).
    value = events so far, threshold = expected so far; the text says how far (config/labels.py)."""
    cols = ["kind", "code", "name", "level", "value", "threshold", "since", "text"]
    hour = pd.Timestamp(as_of).hour
    if hourly is None or hourly.empty or by_hour is None:
        return pd.DataFrame(columns=cols)
    exp = hourly[(hourly["hour"] == hour) & (hourly["code"].str.len() > CODE_LENGTH["city"])]
    if "day" in exp:  # a band of another day (the night's fit not done yet) warns of nothing
        exp = exp[exp["day"] == pd.Timestamp(as_of).normalize()]
    seen = by_hour[by_hour["hour"] <= hour].groupby("code")["today"].sum()
    e = exp.assign(so_far=exp["code"].map(seen).fillna(0).to_numpy())
    margin = z * np.sqrt(e["cum_expected"].clip(lower=0))
    above = (e["so_far"] >= min_events) & (e["so_far"] > e["cum_hi"] + margin) & \
        (e["so_far"] >= factor * e["cum_expected"])
    below = (e["cum_expected"] >= min_events * factor) & (e["so_far"] < e["cum_lo"] - margin) & \
        (e["so_far"] * factor <= e["cum_expected"])
    hit = e[above | below]
    ratio = hit["so_far"] / hit["cum_expected"].where(hit["cum_expected"] > 0)
    up = (hit["so_far"] > hit["cum_expected"]).to_numpy()
    texts = [label("alert_text_expected_above" if u else "alert_text_expected_below", ratio=r, value=v, threshold=t)
             for r, u, v, t in zip(ratio.fillna(0), up, hit["so_far"], hit["cum_expected"])]
    return pd.DataFrame({
        "kind": np.where(up, "expected_above", "expected_below"), "code": hit["code"].to_numpy(object),
        "name": hit["code"].map(names).to_numpy(object),
        "level": ["red" if (u and r >= 2 * factor) else "amber" for r, u in zip(ratio.fillna(np.inf), up)],
        "value": hit["so_far"].astype(float).to_numpy(), "threshold": hit["cum_expected"].astype(float).to_numpy(),
        "since": pd.Timestamp(as_of).normalize(), "text": texts}, columns=cols)

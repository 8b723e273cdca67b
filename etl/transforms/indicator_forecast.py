"""The city vital signs' expected band (预警预测 for 城市体征): per indicator × region (the city and the districts
with values) the next hours expected with an 80 % interval, and the "will cross its threshold within N hours"
warnings, as pure functions (frames in, frames out; the fit is statsforecast's, all series in one call per
season set).

- Which indicators: the catalogue's `forecast` key (config/indicators.py `Indicator.forecast_enabled`: true, or
  "auto" = fed at least hourly). The history decides the rest: an indicator × region with fewer than
  MIN_DAYS days of hourly values gets no band (state `short`, said on the screens), never a made-up one.
- Series: the value rolled up over the region's sites at each hour mark of the last FIT_DAYS days up to the
  fit's hour, exactly as the sparkline's marks are (etl/transforms/indicators.py `indicator_hourly` over
  etl/state/indicator_series.py `IndicatorFeeds.history`). Gaps inside are interpolated linearly.
- Model: statsforecast `MSTL` with a daily season (24 h) and, from WEEKLY_DAYS days of history, a weekly one
  (168 h), its trend by `AutoETS` (error and trend types chosen per series by AIC); STL with jumps (interpolated
  smoothing: ~10 × faster, same forecasts to the docs' backtest's precision). A series the model fails on gets
  the seasonal naive forecast (statsforecast's fallback_model). The model's 95 % interval, which held 80 % in the backtest, clipped to the declared range.
- Threshold lines per hour (`warn_line`, `alarm_line`): the absolute lines, or for basis last_week the line ×
  the value at the same hour a week before (NaN where that is not known).
- `forecast_crossings`: the city's and districts' indicators whose expected value passes a line (warn, or
  alarm) within the next N hours while the value now has not: a warning in the wall's alert frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH

FIT_DAYS = 28  # days of hourly history fitted
MIN_DAYS = 3  # fewer days of hourly values: no band (state short)
WEEKLY_DAYS = 14  # from this many days of history: a weekly season besides the daily one
HORIZON_H = 48  # hours after the fit's hour (the next fit is at most a day later; the band looks N hours ahead)
# The model's 95 % interval is the band the screens call 80 %: measured, it held the value 79.8 % of the hours in the
# backtest (bench/indicator_backtest.py, docs/forecast.md); MSTL's own 80 % interval held only 60 % (it leaves out the
# uncertainty of the daily shape), so a band labelled by the model's level would overstate itself.
LEVEL_PCT = 95
DAY_H, WEEK_H = 24, 168
STL_KWARGS = {"trend_jump": 10, "low_pass_jump": 10, "seasonal_jump": 2}
BAND_COLUMNS = ["indicator", "code", "hour", "expected", "lo", "hi", "warn_line", "alarm_line"]
SERIES_COLUMNS = ["indicator", "code", "state", "history_h", "needs_h", "seasons", "last_hour", "fitted_at"]


def forecast_ids(catalogue) -> set[str]:
    """The indicators the catalogue has forecast (config/indicators.py `forecast`)."""
    return {i.id for i in catalogue.indicator if i.forecast_enabled}


def region_series(rolled: pd.DataFrame) -> pd.DataFrame:
    """The rolled-up hourly values (indicator, code, hour, value) of the city and the districts only (streets'
    forecasts are not shown anywhere)."""
    return rolled[rolled["code"].str.len() <= CODE_LENGTH["district"]].reset_index(drop=True)


def _matrix(history: pd.DataFrame, hours: pd.DatetimeIndex) -> tuple[pd.DataFrame, np.ndarray]:
    """(keys: indicator, code; values: keys × hours, NaN where no value)."""
    h = history[history["hour"].isin(hours)] if not history.empty else history
    pairs = h[["indicator", "code"]].drop_duplicates().sort_values(["indicator", "code"]).reset_index(drop=True)
    y = np.full((len(pairs), len(hours)), np.nan)
    if len(pairs):
        row = pd.MultiIndex.from_frame(pairs).get_indexer(pd.MultiIndex.from_frame(h[["indicator", "code"]]))
        col = ((h["hour"].to_numpy("datetime64[ns]") - hours[0].to_datetime64().astype("datetime64[ns]"))
               // np.timedelta64(1, "h")).astype(np.int64)
        y[row, col] = h["value"].to_numpy(float)
    return pairs.astype(object), y


def _fit(groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]], horizon: int, start: pd.Timestamp
         ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Series index -> (mean, lo, hi) of the `horizon` hours after `start`: one StatsForecast call per season set."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for seasons, members in groups.items():
        frames = []
        for i, y in members:
            ds = pd.date_range(end=start, periods=len(y), freq="h")
            frames.append(pd.DataFrame({"unique_id": str(i), "ds": ds, "y": y}))
        model = MSTL(season_length=list(seasons), trend_forecaster=AutoETS(model="ZZN"), stl_kwargs=dict(STL_KWARGS),
                     alias="m")
        sf = StatsForecast(models=[model], freq="h", n_jobs=1, fallback_model=SeasonalNaive(season_length=DAY_H))
        f = sf.forecast(df=pd.concat(frames, ignore_index=True), h=horizon, level=[LEVEL_PCT])
        for uid, part in f.groupby("unique_id", sort=False):
            part = part.sort_values("ds")
            out[int(str(uid))] = (part["m"].to_numpy(float), part[f"m-lo-{LEVEL_PCT}"].to_numpy(float),
                             part[f"m-hi-{LEVEL_PCT}"].to_numpy(float))
    return out


def indicator_forecast(history: pd.DataFrame, info: pd.DataFrame, last_hour, ranges: dict | None = None,
                       horizon_h: int = HORIZON_H, min_days: int = MIN_DAYS, fit_days: int = FIT_DAYS,
                       fitted_at=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(band, series): the frames `indicator_forecast` (per indicator × region × hour after `last_hour`: expected,
    lo, hi, and the threshold lines at that hour) and `indicator_forecast_series` (per indicator × region: state
    fitted or short, hours of history with a value, the seasons fitted). `history`: indicator, code, hour, value
    (the hourly roll-ups up to last_hour); `ranges`: indicator -> (low, high), the declared range."""
    last = pd.Timestamp(last_hour).floor("h")
    hours = pd.date_range(end=last, periods=fit_days * DAY_H, freq="h")
    keys, y = _matrix(history, hours)
    ranges = ranges or {}
    groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    state, seen_h, seasons_of = [], [], []
    for i in range(len(keys)):
        row = y[i]
        have = np.isfinite(row)
        seen_h.append(int(have.sum()))
        if have.sum() < min_days * DAY_H:
            state.append("short")
            seasons_of.append("")
            continue
        first = int(np.argmax(have))
        filled = pd.Series(row[first:]).interpolate(limit_direction="both").to_numpy(float)
        seasons = (DAY_H, WEEK_H) if len(filled) >= WEEKLY_DAYS * DAY_H else (DAY_H,)
        groups.setdefault(seasons, []).append((i, filled))
        state.append("fitted")
        seasons_of.append(",".join(map(str, seasons)))
    fits = _fit(groups, horizon_h, last) if groups else {}
    future = pd.date_range(last + pd.Timedelta(hours=1), periods=horizon_h, freq="h")
    by_ind = info.set_index("indicator")
    desc: dict = by_ind[["warn", "alarm", "basis"]].to_dict("index")
    parts = []
    for i, (mean, lo, hi) in fits.items():
        ind, code = keys.at[i, "indicator"], keys.at[i, "code"]
        low, high = ranges.get(ind) or (-np.inf, np.inf)
        mean = np.clip(mean, low, high)
        lo, hi = np.clip(np.minimum(lo, mean), low, high), np.clip(np.maximum(hi, mean), low, high)
        lines = []
        for which in ("warn", "alarm"):
            d = desc.get(ind, {})
            v = float(d.get(which, np.nan))
            if d.get("basis") == "last_week":  # the line × the value a week before
                k = np.arange(horizon_h) + len(hours) - WEEK_H  # the hour's index in the history, a week before
                ok = (k >= 0) & (k < len(hours))
                lines.append(np.where(ok, v * y[i][np.clip(k, 0, len(hours) - 1)], np.nan))
            else:
                lines.append(np.full(horizon_h, v))
        parts.append(pd.DataFrame({"indicator": ind, "code": code, "hour": future, "expected": mean, "lo": lo,
                                   "hi": hi, "warn_line": lines[0], "alarm_line": lines[1]}))
    band = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: pd.Series(dtype="datetime64[us]" if c == "hour" else object if c in ("indicator", "code") else float)
         for c in BAND_COLUMNS})
    band["hour"] = pd.to_datetime(band["hour"]).astype("datetime64[us]")
    order = by_ind["order"].to_dict() if "order" in by_ind else {}
    band = band.assign(o=band["indicator"].map(order)).sort_values(["o", "code", "hour"], kind="stable")\
        .drop(columns="o").reset_index(drop=True)[BAND_COLUMNS]
    series = pd.DataFrame({"indicator": keys["indicator"].to_numpy(object), "code": keys["code"].to_numpy(object),
                           "state": np.array(state, dtype=object), "history_h": np.array(seen_h, dtype="int64"),
                           "needs_h": np.full(len(keys), min_days * DAY_H, dtype="int64"),
                           "seasons": np.array(seasons_of, dtype=object)})
    series["last_hour"] = pd.Series(last, index=series.index, dtype="datetime64[us]")
    series["fitted_at"] = pd.Series(pd.Timestamp(fitted_at if fitted_at is not None else last).tz_localize(None),
                                    index=series.index, dtype="datetime64[us]")
    return band, series[SERIES_COLUMNS]


def forecast_crossings(band: pd.DataFrame | None, latest: pd.DataFrame | None, as_of, hours: float) -> pd.DataFrame:
    """Rows of the wall's alert frame (etl/transforms/alerts.py): the city's and districts' indicators whose expected
    value passes the alarm line (kind vs_forecast_alarm) or else the warn line (vs_forecast_warn) at an hour in
    (as_of, as_of + hours], while their status now is below that line (ok, or warn for the alarm line).
    value = the expected value at that hour, threshold = the line there, since = as_of (when it was foreseen),
    at = the hour it is expected to pass the line, text = the indicator's name."""
    cols = ["kind", "code", "name", "level", "value", "threshold", "since", "text", "at"]
    if band is None or band.empty or latest is None or latest.empty:
        return pd.DataFrame(columns=cols)
    now = pd.Timestamp(as_of).tz_localize(None)
    ahead = band[(band["hour"] > now) & (band["hour"] <= now + pd.Timedelta(hours=hours))]
    cur = {(r["indicator"], r["code"]): r for r in latest[latest["level"].isin(["city", "district"])].to_dict("records")}
    rows = []
    for (ind, code), part in ahead.groupby(["indicator", "code"], sort=False):
        now_row = cur.get((ind, code))
        if now_row is None:
            continue
        status = now_row["status"]
        if status not in ("ok", "warn"):  # none / stale: nothing seen now to warn from; alarm: already alarmed
            continue
        above = now_row["direction"] == "above"
        for which, kind, need in (("alarm_line", "vs_forecast_alarm", ("ok", "warn")),
                                  ("warn_line", "vs_forecast_warn", ("ok",))):
            if status not in need:
                continue
            line = part[which].to_numpy(float)
            e = part["expected"].to_numpy(float)
            with np.errstate(invalid="ignore"):
                past = (e >= line) if above else (e <= line)
            past &= np.isfinite(line)
            if past.any():
                k = int(np.argmax(past))
                rows.append({"kind": kind, "code": code, "name": now_row["region_name"], "level": "amber",
                             "value": float(e[k]), "threshold": float(line[k]), "since": now, "text": now_row["name"],
                             "at": pd.Timestamp(part["hour"].iloc[k])})
                break
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"value": float, "threshold": float})

"""The city vital signs' expected band as the screens ask for it, as plain data: the frames `indicator_forecast`
(per indicator × region × hour: expected, lo, hi, the threshold lines) and `indicator_forecast_series` (per
indicator × region: fitted, or short of history), both written by etl/transforms/indicator_forecast.py
`indicator_forecast`. Numbers and None only; components/vital_signs.py draws them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contract import frames as F
from snapshots.reader import Snapshot


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _by_key(snap: Snapshot) -> dict:
    """(indicator, code) -> (hours as datetime64[ns], expected, lo, hi), built once per frame."""
    def build(df: pd.DataFrame) -> dict:
        out = {}
        d = df.sort_values(["indicator", "code", "hour"], kind="stable")
        for (ind, code), part in d.groupby(["indicator", "code"], sort=False):
            out[(str(ind), str(code))] = (part["hour"].to_numpy("datetime64[ns]"), part["expected"].to_numpy(float),
                                          part["lo"].to_numpy(float), part["hi"].to_numpy(float))
        return out

    if snap.frame(F.INDICATOR_FORECAST) is None:
        return {}
    return snap.frame_memo(F.INDICATOR_FORECAST, "by_key", build)


def _states(snap: Snapshot) -> dict:
    def build(df: pd.DataFrame) -> dict:
        return {(str(r["indicator"]), str(r["code"])): (str(r["state"]), int(r["history_h"]), int(r["needs_h"]))
                for r in df.to_dict("records")}

    if snap.frame(F.INDICATOR_FORECAST_SERIES) is None:
        return {}
    return snap.frame_memo(F.INDICATOR_FORECAST_SERIES, "states", build)


def vital_band(snap: Snapshot, indicator: str, code: str, start, end) -> dict | None:
    """The expected band of an indicator at a region for the hours in [start, end]: {"state": "fitted", "hours":
    [Timestamp], "expected", "lo", "hi": [float]} (hours may be empty: a fit older than the window), or {"state":
    "short", "history_h": n, "needs_h": m} (too little history: n hours of values, m needed: no band), or None (the indicator is not forecast, or no forecast
    has been published yet)."""
    st = _states(snap).get((indicator, code))
    if st is None:
        return None
    state, history_h, needs_h = st
    if state != "fitted":
        return {"state": state, "history_h": history_h, "needs_h": needs_h}
    hours, e, lo, hi = _by_key(snap).get((indicator, code), (np.empty(0, "datetime64[ns]"), *(np.empty(0),) * 3))
    a, b = np.datetime64(pd.Timestamp(start).as_unit("ns")), np.datetime64(pd.Timestamp(end).as_unit("ns"))
    keep = (hours >= a) & (hours <= b)
    return {"state": "fitted", "hours": [pd.Timestamp(h) for h in hours[keep]],
            "expected": [_num(v) for v in e[keep]], "lo": [_num(v) for v in lo[keep]], "hi": [_num(v) for v in hi[keep]]}


def spark_marks(snap: Snapshot) -> list[pd.Timestamp]:
    """The sparklines' hour marks, oldest first (indicator_hourly's: 23 on the hour and the last one at the build's
    now), to place the band beside them."""
    df = snap.frame(F.INDICATOR_HOURLY)
    if df is None or df.empty:
        return []
    return snap.frame_memo(F.INDICATOR_HOURLY, "marks",
                           lambda d: [pd.Timestamp(h) for h in np.sort(d["hour"].unique())])

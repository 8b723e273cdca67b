"""The city vital signs (城市体征) over a window and on a map, as plain data:

- `region_trends`: the tablet's region view, each indicator with a value at the region and its trend over the
  tablet's window (frame `indicator_trend`, etl/transforms/indicators.py indicator_trend): hourly points for a
  window of at most 8 days within today and the 7 days before (today, 近7日, a short custom range), daily points
  otherwise (近30日, 本季度, longer ranges); None where the feed gave nothing.
- `map_values`: one indicator's value per region under a region (frame `indicators`), for the wall's map; a
  region without a value is NaN (no data), never 0.

Numbers and None only; components/vital_map.py and components/vital_signs.py draw them."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from contract import frames as F
from queries import vital_signs as vs
from snapshots.reader import Snapshot

HOURLY_MAX_DAYS = 8  # etl/transforms/indicators.py TREND_HOURLY_DAYS


def trend_step(first: date, last: date, today: date) -> int:
    """1 (hourly points) when the window lies within today and the 7 days before and spans at most 8 days; else 24."""
    return 1 if (today - first).days < HOURLY_MAX_DAYS and (last - first).days < HOURLY_MAX_DAYS else 24


def trend_starts(first: date, last: date, now: datetime, step: int) -> pd.DatetimeIndex:
    """The buckets' starts of a window: every hour (step 1) or day (24) from the first day to the last, not past now."""
    end = min(pd.Timestamp(last) + pd.Timedelta(days=1), pd.Timestamp(now).tz_localize(None) + pd.Timedelta(microseconds=1))
    return pd.date_range(pd.Timestamp(first), end, freq="h" if step == 1 else "D", inclusive="left")


def _trend_index(snap: Snapshot) -> dict[tuple[str, str, int], pd.Series]:
    """(indicator, code, hours) -> values by start, built once per frame version."""
    def build(df: pd.DataFrame) -> dict:
        out = {}
        d = df.assign(indicator=df["indicator"].astype(str), code=df["code"].astype(str))
        for (ind, code, hours), part in d.groupby(["indicator", "code", "hours"], sort=False):
            out[(str(ind), str(code), int(str(hours)))] = pd.Series(part["value"].to_numpy(float),
                                                                    index=pd.DatetimeIndex(part["start"]))
        return out

    if snap.frame(F.INDICATOR_TREND) is None:
        return {}
    return snap.frame_memo(F.INDICATOR_TREND, "by_key", build)


def trend_values(snap: Snapshot, indicator: str, code: str, starts: pd.DatetimeIndex, step: int) -> list[float | None]:
    """The values at `starts` (None where there is none)."""
    s = _trend_index(snap).get((indicator, code, step))
    if s is None:
        return [None] * len(starts)
    v = s.reindex(starts).to_numpy(float)
    return [None if np.isnan(x) else float(x) for x in v]


def region_trends(snap: Snapshot, code: str, first: date, last: date, now: datetime) -> tuple[int, list[datetime], list[dict]]:
    """(step in hours, the buckets' starts, every indicator with a value at `code`, each with `trend`: its values at
    the starts) over the days first..last."""
    today = pd.Timestamp(now).date()
    step = trend_step(first, last, today)
    starts = trend_starts(first, last, now, step)
    tiles = vs.region_vital_signs(snap, code)
    for t in tiles:
        t["trend"] = trend_values(snap, t["indicator"], code, starts, step)
    return step, [s.to_pydatetime() for s in starts], tiles


def regional_indicators(snap: Snapshot, code: str) -> list[str]:
    """The indicators with a value in at least one region right under `code` (in the catalogue's order): those
    that can colour the map."""
    df = snap.frame(F.INDICATORS)
    if df is None or df.empty:
        return []
    codes = df["code"].astype(str)
    under = df[codes.str.startswith(code) & (codes.str.len() > len(code))]
    return under.sort_values("order")["indicator"].drop_duplicates().tolist()


def map_indicator(snap: Snapshot, code: str, chosen: str | None, default: str | None) -> str | None:
    """Which indicator the map shows: the one chosen (a tile clicked) if it has regional values, else the
    setting's default if it has, else the first that has; None when none has."""
    have = regional_indicators(snap, code)
    for i in (chosen, default):
        if i and i in have:
            return i
    return have[0] if have else None


def map_values(snap: Snapshot, regions: pd.DataFrame, indicator: str, code: str) -> tuple[pd.DataFrame, dict | None]:
    """(regions with value, status and time of the indicator: NaN / 'none' where it has no value; the indicator's
    row at `code` (name, unit, time, status) or None). `regions`: the regions the map draws (code, name, lon, lat)."""
    df = snap.frame(F.INDICATORS)
    mine = df[df["indicator"] == indicator] if df is not None else pd.DataFrame(columns=["code"])
    by_code = mine.set_index(mine["code"].astype(str))
    out = regions.reset_index(drop=True).copy()
    idx = by_code.reindex(out["code"].astype(str))
    out["value"] = idx["value"].to_numpy(float) if "value" in idx else np.nan
    out["status"] = idx["status"].fillna("none").to_numpy() if "status" in idx else "none"
    out["time"] = idx["time"].to_numpy() if "time" in idx else pd.NaT
    top = vs.region_vital_signs(snap, code)
    head = next((t for t in top if t["indicator"] == indicator), None)
    if head is None and not mine.empty:  # the indicator has no value at the scope itself: describe it by a region's row
        head = vs._record(mine.iloc[0].to_dict(), None) | {"value": None, "status": "none", "time": None}
        t = mine["time"].max()
        head["time"] = None if pd.isna(t) else pd.Timestamp(t).to_pydatetime()
    return out, head

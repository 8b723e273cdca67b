"""What the screens ask of the forecast (预警预测), as plain data: a region's expected events tomorrow and over the
next 7 days (total and per category, with the 80 % interval) beside the days actually seen, and its children
ranked by tomorrow against their usual. Every figure is a row of the `forecast_days` frame (contract/frames.py,
written by etl/transforms/forecast.py event_forecast), not computed again here; the wall's band is
queries/views.py `hourly` (the `forecast_hourly` frame)."""

from __future__ import annotations

import pandas as pd

from config.region_codes import child_prefix_length
from contract import frames as F
from queries.views import frame_or_empty
from snapshots.reader import Snapshot

TOTAL = ""


def _ahead(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["expected"].notna()].sort_values("day")


def region_forecast(snap: Snapshot, code: str) -> dict | None:
    """None without a forecast for this region; else {today, tomorrow: {expected, lo, hi, day_kind, known},
    week: {expected, lo, hi, first, last} (tomorrow and the 6 days after: the sums of the days' figures; the interval
    is the sum of the days' bounds, wider than an 80 % interval of the sum), by_category: rows (category, expected,
    lo, hi) for tomorrow, series: the total's days (day, actual, expected, lo, hi, day_kind, known),
    calendar_unknown: whether a day ahead is past the holiday calendar's years}."""
    df = frame_or_empty(snap, F.FORECAST_DAYS)
    mine = df[df["code"] == code]
    total = mine[mine["category"] == TOTAL].sort_values("day")
    ahead = _ahead(total)
    if len(ahead) < 2:
        return None
    today, tomorrow = ahead.iloc[0], ahead.iloc[1]
    week = ahead.iloc[1:8]
    cats = _ahead(mine[mine["category"] != TOTAL])
    cats = cats[cats["day"] == tomorrow["day"]].sort_values("expected", ascending=False)

    def one(r) -> dict:
        return {"day": r["day"], "expected": float(r["expected"]), "lo": float(r["lo"]), "hi": float(r["hi"]),
                "day_kind": r["day_kind"], "known": bool(r["known"])}
    return {"today": one(today), "tomorrow": one(tomorrow),
            "week": {"expected": float(week["expected"].sum()), "lo": float(week["lo"].sum()),
                     "hi": float(week["hi"].sum()), "first": week["day"].iloc[0], "last": week["day"].iloc[-1]},
            "by_category": cats[["category", "expected", "lo", "hi"]].reset_index(drop=True),
            "series": total[["day", "actual", "expected", "lo", "hi", "day_kind", "known"]].reset_index(drop=True),
            "calendar_unknown": bool((ahead["known"] == 0).any())}


def busiest_children(snap: Snapshot, code: str, n: int = 8) -> pd.DataFrame:
    """The region's children (districts of the city, streets of a district) by tomorrow's expected events against
    their usual (the mean of the same weekday over the last 4 weeks seen): code, expected, lo, hi, usual, ratio;
    highest ratio first. No rows below the street level (the forecast stops at streets)."""
    width = child_prefix_length(code)
    cols = ["code", "expected", "lo", "hi", "usual", "ratio"]
    if width is None:
        return pd.DataFrame(columns=cols)
    df = frame_or_empty(snap, F.FORECAST_DAYS)
    kids = df[(df["category"] == TOTAL) & (df["code"].str.len() == width) & df["code"].str.startswith(code)]
    if kids.empty:
        return pd.DataFrame(columns=cols)
    ahead = kids[kids["expected"].notna()]
    tomorrow_day = sorted(ahead["day"].unique())[1] if ahead["day"].nunique() > 1 else None
    if tomorrow_day is None:
        return pd.DataFrame(columns=cols)
    t = ahead[ahead["day"] == tomorrow_day].set_index("code")[["expected", "lo", "hi"]]
    seen = kids[kids["actual"].notna()]
    same = seen[pd.to_datetime(seen["day"]).dt.day_of_week == pd.Timestamp(tomorrow_day).day_of_week]
    t["usual"] = same.groupby("code")["actual"].mean().reindex(t.index)
    t["ratio"] = t["expected"] / t["usual"].where(t["usual"] > 0)
    return t.reset_index().sort_values("ratio", ascending=False, na_position="last").head(n)[cols]

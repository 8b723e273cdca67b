"""The demo's week, holidays and surges: how many events a day brings beside the hour of the day.

- A week: Mondays busiest, Saturdays and Sundays quiet; public holidays quieter still; a make-up working day
  (调休 Saturday or Sunday) is a working day (config/workdays.py, the chinesecalendar package).
- Surges, planted from the seed so a backtest knows where they are (`planted_surges`): a storm day (the whole
  city, from the morning on) and district incidents (one district, from some hour to midnight).
Everything here is a function of the seed and the day: the same seed plants the same surges, whatever the
order in which days are simulated."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from config.workdays import HOLIDAY, WORK, day_kind

# events of an ordinary day of the week (Monday first) against the week's mean; a holiday, a 调休 working day
DOW_FACTOR = np.array([1.14, 1.06, 1.03, 1.01, 0.98, 0.72, 0.66])
DOW_FACTOR = DOW_FACTOR / DOW_FACTOR.mean()
HOLIDAY_FACTOR = 0.55 / 0.934
MAKEUP_WORKDAY_FACTOR = 1.0
STORM_P, INCIDENT_P = 0.03, 0.12  # chance of a storm day / a district incident on a day
STORM = (1.9, 7, 22)  # factor, first hour, last hour + 1
INCIDENT_FACTOR = (2.4, 3.4)  # a district incident multiplies its district's events by a factor in this range


def day_factor(day: date) -> float:
    """The events of `day` against an average day, by the calendar alone (no surge)."""
    kind, _ = day_kind(day)
    if kind == HOLIDAY:
        return float(HOLIDAY_FACTOR)
    if kind == WORK and day.weekday() >= 5:
        return float(MAKEUP_WORKDAY_FACTOR * DOW_FACTOR[:5].mean())  # 调休: an ordinary working day
    return float(DOW_FACTOR[day.weekday()])


def surges_of_day(seed: int, day: date, districts: list[str]) -> list[dict]:
    """The surges planted on `day` (none on most days): kind storm (code = '' : the whole city) or incident."""
    r = np.random.default_rng([seed, 27, day.toordinal()])
    u = r.random(4)
    out = []
    if u[0] < STORM_P:
        out.append({"day": pd.Timestamp(day), "kind": "storm", "code": "", "factor": STORM[0],
                    "first_hour": STORM[1], "end_hour": STORM[2]})
    if u[1] < INCIDENT_P and districts:
        code = districts[int(u[2] * len(districts))]
        first = 8 + int(u[3] * 7)
        out.append({"day": pd.Timestamp(day), "kind": "incident", "code": code,
                    "factor": float(INCIDENT_FACTOR[0] + (INCIDENT_FACTOR[1] - INCIDENT_FACTOR[0]) * u[3]),
                    "first_hour": first, "end_hour": 24})
    return out


def planted_surges(seed: int, first: date, last: date, districts: list[str]) -> pd.DataFrame:
    """Every surge planted from `first` to `last` (inclusive): day, kind, code, factor, first_hour, end_hour."""
    rows = [s for d in pd.date_range(first, last, freq="D") for s in surges_of_day(seed, d.date(), districts)]
    return pd.DataFrame(rows, columns=["day", "kind", "code", "factor", "first_hour", "end_hour"])

"""Which days are working days in China: public holidays and the make-up working days (调休: a Saturday or
Sunday announced as a working day), from the `chinesecalendar` package (the State Council's yearly notices,
maintained upstream; not a list of our own).

The package knows the years its release was built with (1.11.0: 2004-2026). The State Council announces a year's
holidays late in the year before, so no package can know them earlier: a day past the package's years is typed
by its weekday alone (Monday-Friday work, Saturday-Sunday rest) and flagged `known = False`, so the forecast and
the screens can say the calendar does not reach it (label `forecast_calendar_unknown`), never invent holidays."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import chinese_calendar
import numpy as np
import pandas as pd

WORK, REST, HOLIDAY = "work", "rest", "holiday"  # a working day (incl. 调休), a weekend day, a public holiday


def calendar_years() -> tuple[int, int]:
    """The first and last year the installed calendar knows."""
    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return years[0], years[-1]


@lru_cache(maxsize=4096)
def day_kind(day: date) -> tuple[str, bool]:
    """(kind, known) of one day: kind WORK, REST or HOLIDAY; known False past the calendar's years."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # past the years the package knows: weekday alone, flagged
        return (REST if day.weekday() >= 5 else WORK), False
    if not on_holiday:
        return WORK, True  # a weekday, or a 调休 weekend day announced as a working day
    return (HOLIDAY if name is not None else REST), True  # name None: an ordinary weekend


def day_kinds(days) -> pd.DataFrame:
    """Per day (anything pd.DatetimeIndex takes): kind, known, and `dow` (Monday 0) as a frame indexed like `days`."""
    idx = pd.DatetimeIndex(days).normalize()
    kinds = [day_kind(d.date()) for d in idx]
    return pd.DataFrame({"kind": [k for k, _ in kinds], "known": np.array([ok for _, ok in kinds], bool),
                         "dow": idx.day_of_week.to_numpy()}, index=idx)

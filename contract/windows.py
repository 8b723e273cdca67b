"""The one rule for where a window of local days starts: every window, the kept history and the
30-day looks (recurring problems, the tablet's presets) begin at the local midnight this returns."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from contract.metrics import WINDOWS


def first_midnight(as_of: datetime | date | pd.Timestamp, days: int) -> pd.Timestamp:
    """The first local midnight of the `days` local days ending on as_of's day (days=1: as_of's midnight)."""
    return pd.Timestamp(as_of).normalize() - pd.Timedelta(days=days - 1)


def window_start(as_of: datetime | date | pd.Timestamp, window: str) -> pd.Timestamp:
    """First local midnight that belongs to a named window (contract/metrics.py WINDOWS)."""
    return first_midnight(as_of, WINDOWS[window])

"""The city's clock: naive local wall-clock time, as the source systems store it."""

from __future__ import annotations

from datetime import datetime

import pandas as pd


def now_local(tz: str) -> datetime:
    """The city's wall-clock time, naive (the source stores naive local times)."""
    return pd.Timestamp.now(tz=tz).tz_localize(None).to_pydatetime()

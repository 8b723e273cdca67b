"""The one rule for a rate (and any ratio of two figures, such as events per km²): num / den as a float,
missing (NaN) where the denominator is 0 or missing. No events is no rate, not a rate of 0
(contract/metrics.py RATES, WINDOW_RATES, DEVICE_RATES, SUPERVISION)."""

from __future__ import annotations

from typing import overload

import pandas as pd


@overload
def rate(num: pd.Series, den: pd.Series) -> pd.Series: ...
@overload
def rate(num: float | None, den: float | None) -> float: ...
def rate(num, den):
    """num / den; NaN where den is 0, negative or missing (element-wise for Series)."""
    if isinstance(den, pd.Series):
        return (num / den.where(den > 0)).astype("float64")
    if num is None or den is None or not den > 0:  # NaN > 0 is False
        return float("nan")
    return float(num / den)

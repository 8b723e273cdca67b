"""Rolling grid-level rows up the hierarchy by code prefix."""

from __future__ import annotations

import pandas as pd

CODE_LENGTH = {"city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}


def with_region_codes(frame: pd.DataFrame, grid_col: str = "grid_code") -> pd.DataFrame:
    """The frame with one column per level holding the region code that contains each row's grid."""
    g = frame[grid_col].astype(str)
    return frame.assign(**{level: g.str.slice(0, n) for level, n in CODE_LENGTH.items()})


def rolled_up_sums(per_grid: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """Sums of value_cols for every region at every level (code, level, *value_cols), from grid rows."""
    parts = []
    for level, n in CODE_LENGTH.items():
        s = per_grid.groupby(per_grid["grid_code"].str.slice(0, n), sort=False)[value_cols].sum()
        parts.append(s.rename_axis("code").reset_index().assign(level=level))
    return pd.concat(parts, ignore_index=True)


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num/den as float, missing where den is 0 (no events is no rate, not a rate of 0)."""
    return (num / den.where(den > 0)).astype("float64")

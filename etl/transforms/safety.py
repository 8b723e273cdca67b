"""Safety index (平安指数) per region: latest month with its change, and the monthly trend."""

from __future__ import annotations

import pandas as pd

from contract.domain import SAFETY_COMPONENTS


def safety_trend(safety: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    """The last `months` months of index and public sense of security per region."""
    s = safety.sort_values(["region_code", "month"])
    last = s.groupby("region_code").tail(months)
    return last[["region_code", "month", "index_value", "public_security", *SAFETY_COMPONENTS]] \
        .rename(columns={"region_code": "code"}).reset_index(drop=True)


def latest_safety(safety: pd.DataFrame) -> pd.DataFrame:
    """Each region's latest month with the change of index and security against the month before."""
    s = safety.sort_values(["region_code", "month"])
    g = s.groupby("region_code")
    prev = g[["index_value", "public_security"]].shift(1)
    s = s.assign(index_change=s["index_value"] - prev["index_value"],
                 security_change=s["public_security"] - prev["public_security"])
    latest = s.groupby("region_code").tail(1)
    return latest.rename(columns={"region_code": "code", "index_value": "safety_index"})[
        ["code", "month", "safety_index", "public_security", "index_change", "security_change", *SAFETY_COMPONENTS]
    ].reset_index(drop=True)

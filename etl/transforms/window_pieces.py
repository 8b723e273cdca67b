"""The tablet's window pieces: one compact row per event of the kept history (piece_rows), published sorted
by grid code (as an integer) and report day (sorted_pieces). etl/state/week_facts.py keeps the rows per week
beside the facts and publishes each week's frame (WeekFacts.pieces). Encoding: contract/pieces.py; the
screens merge them with queries/pieces.py; definitions in contract/metrics.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.factorize import factorize
from contract.metrics import PIECE_FLAGS, QUANTILES
from contract.pieces import EPOCH, duration_bin

TEXT = ("category", "channel", "handling_level")


def piece_rows(facts: pd.DataFrame) -> pd.DataFrame:
    """One piece row per fact row, in the facts' order, unsorted, its text columns as Python strings (the
    events job keeps these per week beside the facts and rebuilds only the changed rows: etl/state/week_facts.py)."""
    f = facts
    def text(values: np.ndarray) -> pd.Series:  # kept as Python strings (pandas would infer its string dtype)
        return pd.Series(values, index=f.index, dtype=object)

    out = pd.DataFrame({
        "grid": f["grid_no"].to_numpy(dtype=np.int64),  # 15 digits: a prefix is an int range
        "day": ((f["day"].to_numpy(dtype="datetime64[D]") - EPOCH).astype(np.int32)),
        "category": text(as_text(f["category"])),
        "channel": text(as_text(f["channel"])),
        "handling_level": text(f["handling_level"].astype(object).where(f["handling_level"].notna(), "").to_numpy()),
        "dept": f["dept_no"].to_numpy(dtype=np.uint16),  # the department's number (config/departments.py; 0 = 未归属)
    }, index=f.index)
    for flag, col in PIECE_FLAGS.items():
        out[flag] = f[col].to_numpy(dtype=np.uint8)
    for stage in QUANTILES:
        out[f"bin_{stage}"] = duration_bin(f[f"{stage}_min"])
    return out


def as_text(col: pd.Series) -> np.ndarray:
    """`col.astype(str).to_numpy()`: the values as Python strings; a column that holds only strings (the ledger's
    shared ones) is passed as it is, not through pandas' string dtype and back (two conversions per row)."""
    v = col.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(v, skipna=False) == "string":
        return v
    return col.astype(str).to_numpy()


def sorted_pieces(rows: pd.DataFrame) -> pd.DataFrame:
    """Piece rows (piece_rows) sorted by grid and day (stable), text columns as categories: the frame."""
    order = np.lexsort((rows["day"].to_numpy(), rows["grid"].to_numpy()))  # stable, like sort_values
    # the text columns' codes taken in that order, not their Python strings (a take boxes each one again)
    text = {col: as_category(rows[col].to_numpy(dtype=object)) for col in TEXT}
    out = rows.drop(columns=list(TEXT)).iloc[order].reset_index(drop=True)
    for col, cat in text.items():
        out[col] = pd.Categorical.from_codes(cat.codes[order], categories=cat.categories)
    return out[rows.columns]


def as_category(values: np.ndarray) -> pd.Categorical:
    """`astype("category")` of Python strings (sorted categories), from their codes: pandas' own way makes every
    value its string dtype first (a third of sorted_pieces' time at a year's scale)."""
    codes, uniq = factorize(values, sort=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniq))

"""How the `event_pieces@<week>` frames encode an event (written by etl/transforms/window_pieces.py,
merged by queries/pieces.py): report days as day numbers since 1970-01-01, stage durations as log bins."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from contract.metrics import DURATION_BIN_BASE_MIN, DURATION_BINS, DURATION_BINS_PER_OCTAVE

NO_BIN = 255  # the stage was not reached
EPOCH = np.datetime64("1970-01-01", "D")


def duration_bin(minutes: pd.Series) -> np.ndarray:
    """Log bin of each duration (bin k covers [base·2^(k/p), base·2^((k+1)/p)) minutes); NO_BIN if missing."""
    m = minutes.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log2(np.maximum(m, 1e-9) / DURATION_BIN_BASE_MIN) * DURATION_BINS_PER_OCTAVE)
    k = np.clip(k, 0, DURATION_BINS - 1)
    return np.where(np.isnan(m), NO_BIN, k).astype(np.uint8)


def bin_edges() -> np.ndarray:
    """DURATION_BINS + 1 edges in minutes."""
    return DURATION_BIN_BASE_MIN * 2.0 ** (np.arange(DURATION_BINS + 1) / DURATION_BINS_PER_OCTAVE)


def day_number(d: date | pd.Timestamp) -> int:
    return int((np.datetime64(pd.Timestamp(d).date(), "D") - EPOCH).astype(np.int64))

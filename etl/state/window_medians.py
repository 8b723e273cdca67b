"""The exact stage medians of every region, wall window (contract/metrics.py WALL_WINDOWS) and level (contract/metrics.py MEDIANS), kept between
ticks and updated by the rows that changed.

For each window, level and stage the cohort's durations are one sorted int64 array of keys: the region's
rank among its level's regions in the high bits, the duration in milliseconds (offset to stay positive)
in the low 40. A region's durations are then one contiguous sorted run, so its median is the middle of
its run (the mean of the two middles for an even count, as pandas' median) for every region at once.
A tick takes the changed rows' old durations out and puts their new ones in (WeekFacts.update calls
`apply` beside the window cubes): O(the kept durations) in memory moves and O(the change) in sorting,
instead of a group-by of the whole 30-day cohort at five levels. The state is built again from the
cohort on the first run, on a new day (the windows move) and when the regions change.

Exact to the millisecond: a source whose times carry sub-millisecond parts gets the median of the durations
rounded to the millisecond (every shape we know stores seconds; durations beyond ±17 years are clipped)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH, grid_key_at
from contract.metrics import MEDIANS, WALL_WINDOWS, WINDOWS

SHIFT = 40
LOW = (1 << SHIFT) - 1
OFFSET = 1 << (SHIFT - 1)  # ms: durations from -17.4 to +17.4 years
MS_PER_MIN = 60_000.0
COLUMNS = ["grid_no", "day", *MEDIANS.values()]


class WindowMedians:
    def __init__(self, windows: tuple[str, ...] = WALL_WINDOWS):
        self.windows = windows  # names in contract/metrics.py WINDOWS
        self.day: np.datetime64 | None = None  # the local day the windows are fixed for; None: build again
        self.regions_id: int | None = None
        self.starts: dict[str, np.datetime64] = {}
        self.level_codes: dict[str, np.ndarray] = {}  # level -> its regions' integer codes, sorted
        self.level_rows: dict[str, np.ndarray] = {}  # level -> those regions' rows in `regions`
        self.keys: dict[tuple[str, str, str], np.ndarray] = {}  # (window, level, stage column) -> sorted keys
        self.pending: list[tuple[pd.DataFrame, int]] = []
        self.rebuilds = 0

    def invalidate(self) -> None:
        self.day = None
        self.pending = []

    def apply(self, facts: pd.DataFrame, sign: int) -> None:
        """Take these fact rows out (sign -1: their facts as they were) or put them in (1), at the next `medians`."""
        if self.day is not None and len(facts):
            self.pending.append((facts[COLUMNS], sign))

    def medians(self, as_of: datetime, regions: pd.DataFrame, cohort) -> np.ndarray:
        """regions × windows (in self.windows' order) × MEDIANS, NaN where a region has no duration; `cohort()` gives
        the facts (COLUMNS) of the events reported in the longest window, read only when the state is built."""
        day = np.datetime64(pd.Timestamp(as_of).date(), "D")
        if self.day == day and self.regions_id == id(regions) and self.pending:
            self._patch()  # may find the state wrong (self.day None): then built again below
        if self.day != day or self.regions_id != id(regions):
            self._build(day, regions, cohort())
        windows = list(self.windows)
        out = np.full((len(regions), len(windows), len(MEDIANS)), np.nan)
        bounds = {level: np.arange(len(rows) + 1, dtype=np.int64) << SHIFT for level, rows in self.level_rows.items()}
        for wi, w in enumerate(windows):
            for level, rows in self.level_rows.items():
                for mi, col in enumerate(MEDIANS.values()):
                    keys = self.keys[(w, level, col)]
                    at = np.searchsorted(keys, bounds[level])
                    n = np.diff(at)
                    has = n > 0
                    lo, hi = (at[:-1] + (n - 1) // 2)[has], (at[:-1] + n // 2)[has]
                    out[rows[has], wi, mi] = (_minutes(keys[lo]) + _minutes(keys[hi])) / 2
        return out

    # --- state ---------------------------------------------------------------------------------------
    def _build(self, day: np.datetime64, regions: pd.DataFrame, cohort: pd.DataFrame) -> None:
        self.day, self.regions_id, self.pending = day, id(regions), []
        self.starts = {w: day - np.timedelta64(WINDOWS[w] - 1, "D") for w in self.windows}
        codes = regions["code"].to_numpy(dtype=object)
        levels = regions["level"].to_numpy(dtype=object)
        self.level_codes, self.level_rows = {}, {}
        for level in CODE_LENGTH:
            rows = np.flatnonzero(levels == level)
            ints = codes[rows].astype(np.int64)
            order = np.argsort(ints, kind="stable")
            self.level_codes[level], self.level_rows[level] = ints[order], rows[order]
        self.keys = self._keys(cohort)
        for keys in self.keys.values():
            keys.sort()  # in place: no second copy of the ~160 MB (a year's scale) at the peak of the backfill
        self.rebuilds += 1

    def _keys(self, facts: pd.DataFrame) -> dict[tuple[str, str, str], np.ndarray]:
        """The keys of these fact rows for every (window, level, stage column), unsorted."""
        day = facts["day"].to_numpy(dtype="datetime64[D]")
        grid = facts["grid_no"].to_numpy(dtype=np.int64)
        ms = {col: facts[col].to_numpy(dtype=float) * MS_PER_MIN for col in MEDIANS.values()}
        out = {}
        for level, known in self.level_codes.items():
            region = grid_key_at(grid, level)
            rank = np.searchsorted(known, region)
            ok = rank < len(known)
            ok[ok] = known[rank[ok]] == region[ok]  # events outside the city's regions have no median row
            for w, start in self.starts.items():
                inw = ok & (day >= start)
                for col, v in ms.items():
                    take = inw & ~np.isnan(v)
                    dur = np.clip(np.rint(v[take]), -OFFSET, OFFSET - 1).astype(np.int64) + OFFSET
                    out[(w, level, col)] = (rank[take].astype(np.int64) << SHIFT) | dur
        return out

    def _patch(self) -> None:
        gone = [f for f, s in self.pending if s < 0]
        come = [f for f, s in self.pending if s > 0]
        self.pending = []
        out_keys = self._keys(pd.concat(gone, ignore_index=True)) if gone else {}
        in_keys = self._keys(pd.concat(come, ignore_index=True)) if come else {}
        for k, keys in self.keys.items():
            drop, add = out_keys.get(k), in_keys.get(k)
            if drop is not None and len(drop):
                kept = _remove(keys, np.sort(drop))
                if kept is None:  # a row to take out that is not in: never expected; build again, stay right
                    self.day = None
                    return
                keys = kept
            if add is not None and len(add):
                add = np.sort(add)
                keys = np.insert(keys, np.searchsorted(keys, add), add)
            self.keys[k] = keys


def _minutes(keys: np.ndarray) -> np.ndarray:
    return ((keys & LOW) - OFFSET) / MS_PER_MIN


def _remove(keys: np.ndarray, drop: np.ndarray) -> np.ndarray | None:
    """`keys` without one occurrence of each of `drop` (sorted), or None when one is missing."""
    at = np.searchsorted(keys, drop)
    run = np.r_[True, drop[1:] != drop[:-1]]  # equal keys: the 2nd taken one place after the 1st, …
    i = np.arange(len(drop))
    at = at + i - np.maximum.accumulate(np.where(run, i, 0))
    if (at >= len(keys)).any() or (keys[np.minimum(at, len(keys) - 1)] != drop).any():
        return None
    keep = np.ones(len(keys), dtype=bool)
    keep[at] = False
    return keys[keep]

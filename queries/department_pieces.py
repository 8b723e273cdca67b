"""Departments (条) over the same `event_pieces@<week>` frames as regions (queries/pieces.py): a piece's `dept` is
its department's number (config/departments.py; a department with its sub-units is one range of numbers, 0 is
未归属). For each week frame, once per frame version, a second order of its rows by (department, day, grid) and
the week's flag sums per (department, day): a department's window is then a few contiguous slices, the
department ranking a sum over a table of departments × 7 days, whatever the rows. Figures as contract/metrics.py
DEPARTMENT_RATES defines them (queries/department_views.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH, GRID_DIGITS, grid_range, level_of
from contract.metrics import DURATION_BINS, PIECE_FLAGS, QUANTILES
from contract.pieces import NO_BIN
from queries.pieces import PieceIndex, PieceSet, totals_from_sums

DAY_SPAN = 1 << 20  # a (department, day) key is number · DAY_SPAN + day number
STREET_DIV = 10 ** (GRID_DIGITS - CODE_LENGTH["street"])  # a grid number // STREET_DIV: its street's number
STREET_LEVELS = ("district", "street")  # regions whose sums the (department, day, street) table gives whole


class DepartmentOrder:
    """A week's rows in (department, day, grid) order, its flag sums per (department, day, street) and per
    (department, day): a department's figures in a district or street, by district or by street, and the ranking of
    a district or street, are sums over the street table (~50k rows a week at 10M events a year), not over rows."""

    def __init__(self, ix: PieceIndex):
        self.ix = ix
        dept = ix.pieces["dept"].to_numpy(dtype=np.int64) if len(ix.pieces) else np.zeros(0, np.int64)
        self.order = np.lexsort((ix.grids, ix.days, dept))  # rows by department, then day, then grid
        self.key = dept[self.order] * DAY_SPAN + ix.days[self.order].astype(np.int64)
        n_flags = len(PIECE_FLAGS)
        if len(self.key):
            street = ix.grids[self.order] // STREET_DIV
            cut = np.r_[True, (self.key[1:] != self.key[:-1]) | (street[1:] != street[:-1])]
            s_starts = np.flatnonzero(cut)
            sums = np.add.reduceat(ix.flags[self.order].astype(np.int64), s_starts, axis=0)
            self.street_key, self.street = self.key[s_starts], street[s_starts]
            g_starts = np.flatnonzero(np.r_[True, self.street_key[1:] != self.street_key[:-1]])
            self.group_key = self.street_key[g_starts]
            self.group_sums = np.add.reduceat(sums, g_starts, axis=0)
            self.street_sums = sums.astype(np.int32)  # a street's day of one department: far below 2^31
        else:
            self.street_key = self.street = self.group_key = np.zeros(0, np.int64)
            self.group_sums = np.zeros((0, n_flags), np.int64)
            self.street_sums = np.zeros((0, n_flags), np.int32)

    def street_rows(self, numbers: tuple[int, int], first_day: int, last_day: int) -> np.ndarray:
        """Positions in the street table of the departments numbered [lo, hi) in the window."""
        lo, hi = numbers
        a, b = np.searchsorted(self.street_key, [lo * DAY_SPAN, hi * DAY_SPAN], "left")
        day = self.street_key[a:b] % DAY_SPAN
        return a + np.flatnonzero((day >= first_day) & (day <= last_day))

    def sums_by_number(self, first_day: int, last_day: int, n_numbers: int) -> np.ndarray:
        """Flag sums per department number (0 .. n_numbers - 1) of the events reported in the window."""
        day = self.group_key % DAY_SPAN
        pick = (day >= first_day) & (day <= last_day)
        out = np.zeros((n_numbers, len(PIECE_FLAGS)), np.int64)
        np.add.at(out, self.group_key[pick] // DAY_SPAN, self.group_sums[pick])
        return out

    def positions(self, numbers: tuple[int, int], first_day: int, last_day: int, code: str | None = None) -> np.ndarray:
        """Row positions (in the frame's own order) of the departments numbered [lo, hi) reported in the window,
        under region `code` when given."""
        lo, hi = numbers
        if hi <= lo or not len(self.key):
            return np.zeros(0, np.int64)
        d = np.arange(lo, hi, dtype=np.int64) * DAY_SPAN
        a = np.searchsorted(self.key, d + first_day, "left")
        b = np.searchsorted(self.key, d + last_day, "right")
        pos = self.order[np.concatenate([np.arange(x, y) for x, y in zip(a, b) if y > x] or [np.zeros(0, np.int64)])]
        if code is not None and pos.size:
            g_lo, g_hi = grid_range(code)
            g = self.ix.grids[pos]
            pos = pos[(g >= g_lo) & (g < g_hi)]
        return pos


def department_order(ix: PieceIndex) -> DepartmentOrder:
    """The week's DepartmentOrder, built on first use and kept with its index (so once per frame version)."""
    cached = ix.__dict__.get("_department_order")
    if cached is None:
        cached = ix.__dict__["_department_order"] = DepartmentOrder(ix)
    return cached


def sums_by_number(pieces: PieceSet, first_day: int, last_day: int, n_numbers: int, code: str | None = None
                   ) -> np.ndarray:
    """Flag sums (PIECE_FLAGS order) per department number over a window, of the whole city or a region's events."""
    out = np.zeros((n_numbers, len(PIECE_FLAGS)), np.int64)
    streets = code is not None and level_of(code) in STREET_LEVELS
    for ix in pieces._over(first_day, last_day):
        if code is None:
            out += department_order(ix).sums_by_number(first_day, last_day, n_numbers)
        elif streets:  # a district's or street's departments from the street table
            o = department_order(ix)
            g_lo, g_hi = grid_range(str(code))
            day = o.street_key % DAY_SPAN
            pick = np.flatnonzero((o.street >= g_lo // STREET_DIV) & (o.street < g_hi // STREET_DIV)
                                  & (day >= first_day) & (day <= last_day))
            dept = np.minimum(o.street_key[pick] // DAY_SPAN, n_numbers - 1)
            f = o.street_sums[pick]
            for j in range(f.shape[1]):
                out[:, j] += np.bincount(dept, weights=f[:, j], minlength=n_numbers)[:n_numbers].astype(np.int64)
        else:  # a region's rows are one run: its departments by one pass over it
            pos = ix.positions(code, first_day, last_day)
            dept = np.minimum(ix.pieces["dept"].to_numpy(dtype=np.int64)[pos], n_numbers - 1)
            f = ix.flags[pos]
            for j in range(f.shape[1]):  # a bincount per flag: much cheaper than np.add.at over rows × flags
                out[:, j] += np.bincount(dept, weights=f[:, j], minlength=n_numbers)[:n_numbers].astype(np.int64)
    return out


def totals(pieces: PieceSet, numbers: tuple[int, int], first_day: int, last_day: int, code: str | None = None) -> dict:
    """Counts, rates and stage quantiles of a department (numbers [lo, hi)) over a window, optionally in a region."""
    sums = np.zeros(len(PIECE_FLAGS), dtype=np.int64)
    hists = {stage: np.zeros(DURATION_BINS, dtype=np.int64) for stage in QUANTILES}
    for ix in pieces._over(first_day, last_day):
        pos = department_order(ix).positions(numbers, first_day, last_day, code)
        if not pos.size:
            continue
        sums += ix.flags[pos].sum(axis=0, dtype=np.int64)
        for stage in QUANTILES:
            hists[stage] += np.bincount(ix.bins[stage][pos], minlength=NO_BIN + 1)[:DURATION_BINS]
    return totals_from_sums(sums, hists)


def child_region_block(pieces: PieceSet, numbers: tuple[int, int], first_day: int, last_day: int,
                       children: list[str]) -> tuple[list[str], np.ndarray]:
    """Flag sums (children × PIECE_FLAGS) per child region (codes of one length, returned sorted) of a department's
    window."""
    cols = list(PIECE_FLAGS)
    order = sorted(children)
    total = np.zeros((len(order), len(cols)), np.int64)
    if not order:
        return order, total
    ranges = np.array([grid_range(c) for c in order], dtype=np.int64)
    if level_of(order[0]) in STREET_LEVELS:  # districts or streets: from the street table, no row touched
        lo = ranges[:, 0] // STREET_DIV
        hi = ranges[:, 1] // STREET_DIV
        for ix in pieces._over(first_day, last_day):
            o = department_order(ix)
            pos = o.street_rows(numbers, first_day, last_day)
            st = o.street[pos]
            k = np.searchsorted(lo, st, "right") - 1  # the child whose range may hold the street
            ok = (k >= 0) & (st < hi[np.maximum(k, 0)])
            k, f = k[ok], o.street_sums[pos[ok]]
            for j in range(len(cols)):
                total[:, j] += np.bincount(k, weights=f[:, j], minlength=len(order)).astype(np.int64)
        return order, total
    for ix in pieces._over(first_day, last_day):
        pos = department_order(ix).positions(numbers, first_day, last_day)
        if not pos.size:
            continue
        g = ix.grids[pos]
        s = np.argsort(g, kind="stable")
        g, f = g[s], ix.flags[pos[s]]
        cum = np.vstack([np.zeros((1, len(cols)), np.int64), np.cumsum(f, axis=0, dtype=np.int64)])
        total += cum[np.searchsorted(g, ranges[:, 1], "left")] - cum[np.searchsorted(g, ranges[:, 0], "left")]
    return order, total


def breakdown(pieces: PieceSet, numbers: tuple[int, int], first_day: int, last_day: int, column: str,
              code: str | None = None) -> pd.DataFrame:
    """Per value of a category column: a department's window events, closed, closed on time, overdue now (of the
    window's), due to close; values sorted, one frame built at the end."""
    flags = ("reported", "closed", "closed_on_time", "cohort_overdue", "due_to_close")
    total: dict[str, np.ndarray] = {}
    for ix in pieces._over(first_day, last_day):
        pos = department_order(ix).positions(numbers, first_day, last_day, code)
        if not pos.size:
            continue
        cat = ix.pieces[column].cat
        codes, names = cat.codes.to_numpy()[pos], [str(c) for c in cat.categories]
        cols = [ix.flag_col[f] for f in flags]
        per = np.stack([np.bincount(codes, weights=ix.flags[pos, c], minlength=len(names)) for c in cols], axis=1)
        for k in np.flatnonzero(per[:, 0] > 0):
            total[names[k]] = total.get(names[k], 0) + per[k].astype(np.int64)
    keys = sorted(total)
    block = np.vstack([total[k] for k in keys]) if keys else np.zeros((0, len(flags)), np.int64)
    return pd.DataFrame({column: pd.Series(keys, dtype=str), **{f: block[:, i] for i, f in enumerate(flags)}})


def daily_block(pieces: PieceSet, numbers: tuple[int, int], first_day: int, last_day: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The window's day numbers and the flag sums (days × PIECE_FLAGS) per day of report of a department (its
    trend), from the per-(department, day) tables."""
    days = np.arange(first_day, last_day + 1)
    out = np.zeros((len(days), len(PIECE_FLAGS)), np.int64)
    lo, hi = numbers
    for ix in pieces._over(first_day, last_day):
        o = department_order(ix)
        a, b = np.searchsorted(o.group_key, [lo * DAY_SPAN, hi * DAY_SPAN], "left")  # the departments' rows
        day = o.group_key[a:b] % DAY_SPAN
        pick = np.flatnonzero((day >= first_day) & (day <= last_day))
        np.add.at(out, day[pick] - first_day, o.group_sums[a + pick])
    return days, out


def daily(pieces: PieceSet, numbers: tuple[int, int], first_day: int, last_day: int) -> pd.DataFrame:
    """daily_block as a frame: one row per day, a column per flag and `day`."""
    days, out = daily_block(pieces, numbers, first_day, last_day)
    return pd.DataFrame(out, columns=list(PIECE_FLAGS)).assign(day=days)

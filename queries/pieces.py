"""The tablet's query engine over the `event_pieces@<week>` frames (encoding: contract/pieces.py):
any region is one contiguous run of rows (its grid codes are an integer range) and any window a day
range inside it; counts are sums of 0/1 flags, medians and p90 come from merged duration histograms."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from config.region_codes import grid_range, parent_of
from contract.frames import piece_frame_week
from contract.metrics import DURATION_BINS, PIECE_FLAGS, QUANTILES, WINDOW_RATES, WINDOWS
from contract.pieces import NO_BIN, bin_edges
from contract.rates import rate
from contract.windows import window_start
from snapshots.reader import Snapshot


def window_dates(window: str, as_of: datetime, start: date | None = None, end: date | None = None,
                 history_days: int | None = None) -> tuple[date, date]:
    """First and last local day of a window (contract/metrics.py): today, 7d, 30d, quarter (this calendar
    quarter to today), week / month (this ISO week / calendar month to today, for the ranking) or
    custom (start..end, clipped to today and to the kept history)."""
    today = pd.Timestamp(as_of).normalize()
    if window in WINDOWS:
        first = window_start(today, window)
    elif window == "week":
        first = today - pd.Timedelta(days=today.weekday())
    elif window == "month":
        first = today.replace(day=1)
    elif window == "quarter":
        first = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
    elif window == "custom" and start is not None and end is not None:
        first, last = sorted((pd.Timestamp(start).normalize(), min(pd.Timestamp(end).normalize(), today)))
        if history_days:
            first = max(first, today - pd.Timedelta(days=history_days - 1))
        return first.date(), max(first, last).date()
    else:
        raise ValueError(f"unknown window {window!r}")
    return first.date(), today.date()


class PieceIndex:
    """Positions of each region's run of rows in a pieces frame, and its flags as one matrix
    (built once per snapshot version; every window query after that is a slice and a sum)."""

    def __init__(self, pieces: pd.DataFrame):
        self.pieces = pieces
        self.grids = pieces["grid"].to_numpy(dtype=np.int64) if len(pieces) else np.array([], dtype=np.int64)
        self.days = pieces["day"].to_numpy(dtype=np.int32) if len(pieces) else np.array([], dtype=np.int32)
        self.flags = pieces[list(PIECE_FLAGS)].to_numpy(dtype=np.uint8) if len(pieces) else \
            np.zeros((0, len(PIECE_FLAGS)), dtype=np.uint8)  # 0/1; summed as int64
        self.bins = {s: pieces[f"bin_{s}"].to_numpy() for s in QUANTILES} if len(pieces) else {}
        self.flag_col = {flag: i for i, flag in enumerate(PIECE_FLAGS)}

    def run(self, code: str) -> tuple[int, int]:
        """[start, stop) of the rows whose grid code starts with `code`."""
        lo, hi = grid_range(code)
        return int(np.searchsorted(self.grids, lo, "left")), int(np.searchsorted(self.grids, hi, "left"))

    def positions(self, code: str, first_day: int, last_day: int) -> np.ndarray:
        """Row positions of a region's events reported from first_day to last_day (day numbers, inclusive)."""
        a, b = self.run(code)
        d = self.days[a:b]
        return a + np.flatnonzero((d >= first_day) & (d <= last_day))

    def rows(self, code: str, first_day: int, last_day: int) -> pd.DataFrame:
        return self.pieces.iloc[self.positions(code, first_day, last_day)]

    def sums(self, code: str, first_day: int, last_day: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Flag sums (PIECE_FLAGS order) and a duration histogram per stage of a region's window."""
        pos = self.positions(code, first_day, last_day)
        sums = self.flags[pos].sum(axis=0, dtype=np.int64)
        hists = {stage: np.bincount(self.bins[stage][pos], minlength=NO_BIN + 1)[:DURATION_BINS] if len(pos) else
                 np.zeros(DURATION_BINS, dtype=np.int64) for stage in QUANTILES}
        return sums, hists

    def totals(self, code: str, first_day: int, last_day: int) -> dict:
        """Counts, rates and stage quantiles (median, p90) of a region's window."""
        return totals_from_sums(*self.sums(code, first_day, last_day))

    def child_totals(self, children: list[str], first_day: int, last_day: int) -> pd.DataFrame:
        """Flag sums and rates per child region for a window (children: codes of one length): one pass
        over the parent's rows, then a difference of prefix sums per child."""
        cols = list(PIECE_FLAGS)
        if not children:
            return pd.DataFrame(columns=["code", *cols])
        order = sorted(children)
        parent = parent_of(order[0])
        assert parent is not None, "children always have a parent (the city is no one's child)"
        pos = self.positions(parent, first_day, last_day)
        cum = np.vstack([np.zeros((1, len(cols)), dtype=np.int64), np.cumsum(self.flags[pos], axis=0, dtype=np.int64)])
        ranges = np.array([grid_range(c) for c in order], dtype=np.int64)
        lo = np.searchsorted(self.grids[pos], ranges[:, 0], "left")
        hi = np.searchsorted(self.grids[pos], ranges[:, 1], "left")
        return with_rates(pd.DataFrame(cum[hi] - cum[lo], columns=cols).assign(code=order))

    def breakdown(self, code: str, first_day: int, last_day: int, column: str) -> pd.DataFrame:
        """Per value of a category column (category, channel, handling_level): the window's events,
        closed and closed on time."""
        pos = self.positions(code, first_day, last_day)
        cat = self.pieces[column].cat
        codes = cat.codes.to_numpy()[pos]
        n = len(cat.categories)
        out = pd.DataFrame({column: cat.categories.astype(str)})
        for flag in ("reported", "closed", "closed_on_time"):
            out[flag] = np.bincount(codes, weights=self.flags[pos, self.flag_col[flag]], minlength=n)[:n].astype(np.int64)
        return out


def with_rates(sums: pd.DataFrame) -> pd.DataFrame:
    """Flag sums per row plus every WINDOW_RATES rate (missing where the denominator is 0)."""
    for name, (num, den) in WINDOW_RATES.items():
        sums[name] = rate(sums[num], sums[den])
    return sums


def totals_from_sums(sums: np.ndarray, hists: dict[str, np.ndarray]) -> dict:
    """Counts, rates and stage quantiles from merged flag sums and duration histograms."""
    out: dict[str, float] = {flag: int(v) for flag, v in zip(PIECE_FLAGS, sums)}
    for name, (num, den) in WINDOW_RATES.items():
        out[name] = rate(out[num], out[den])
    for stage in QUANTILES:
        out[f"median_{stage}_min"], out[f"p90_{stage}_min"] = quantiles_from_histogram(hists[stage], (0.5, 0.9))
    return out


class PieceSet:
    """The pieces of the whole history as one frame per week of report (`event_pieces@<Monday>`, each
    with its PieceIndex): the ETL republishes only the weeks that changed, and a window merges just the
    weeks it overlaps. Same questions as PieceIndex, answered by summing the weeks' answers."""

    WEEK_DAYS = 7

    def __init__(self, weeks: dict[int, PieceIndex]):
        self.weeks = dict(sorted(weeks.items()))  # first day number of the week -> its index

    def _over(self, first_day: int, last_day: int) -> list[PieceIndex]:
        return [ix for start, ix in self.weeks.items() if start <= last_day and start + self.WEEK_DAYS > first_day]

    def totals(self, code: str, first_day: int, last_day: int) -> dict:
        sums = np.zeros(len(PIECE_FLAGS), dtype=np.int64)
        hists = {stage: np.zeros(DURATION_BINS, dtype=np.int64) for stage in QUANTILES}
        for ix in self._over(first_day, last_day):
            s, h = ix.sums(code, first_day, last_day)
            sums += s
            for stage in QUANTILES:
                hists[stage] += h[stage]
        return totals_from_sums(sums, hists)

    def child_totals(self, children: list[str], first_day: int, last_day: int) -> pd.DataFrame:
        cols = list(PIECE_FLAGS)
        order = sorted(children)
        total = pd.DataFrame(0, index=order, columns=cols, dtype="int64")
        for ix in self._over(first_day, last_day):
            total += ix.child_totals(order, first_day, last_day).set_index("code")[cols]
        return with_rates(total.rename_axis("code").reset_index()[["code", *cols]])

    def breakdown(self, code: str, first_day: int, last_day: int, column: str) -> pd.DataFrame:
        parts = [ix.breakdown(code, first_day, last_day, column) for ix in self._over(first_day, last_day)]
        if not parts:
            return pd.DataFrame({column: pd.Series(dtype=str), "reported": [], "closed": [], "closed_on_time": []})
        return pd.concat(parts).groupby(column, as_index=False, sort=True)[["reported", "closed", "closed_on_time"]].sum()


def piece_index(snap: Snapshot) -> PieceSet | None:
    """The week frames of event_pieces as one PieceSet (each week's index built once per frame); None
    when the snapshot has none."""
    def build() -> PieceSet | None:
        weeks = {day: snap.frame_memo(name, "piece_index", PieceIndex) for name in snap.frames
                 if (day := piece_frame_week(name)) is not None}
        return PieceSet(weeks) if weeks else None
    return snap.memo("piece_index", build)


def quantiles_from_histogram(hist: np.ndarray, qs=(0.5, 0.9)) -> list[float]:
    """Quantiles of durations from a log-binned histogram, interpolating geometrically inside the bin."""
    n = hist.sum()
    if n == 0:
        return [float("nan")] * len(qs)
    edges = bin_edges()
    cum = np.cumsum(hist)
    out = []
    for q in qs:
        target = q * n
        k = min(int(np.searchsorted(cum, target, "left")), len(hist) - 1)
        before = cum[k - 1] if k else 0
        frac = (target - before) / hist[k] if hist[k] else 0.5
        out.append(float(edges[k] * (edges[k + 1] / edges[k]) ** min(max(frac, 0.0), 1.0)))
    return out

"""Mergeable pieces for any time window: one compact row per event of the kept history, sorted by
grid code (as a 15-digit integer) and report day, so that any region (a code prefix) is one contiguous run of rows and any
window a day range inside it. Every count of a window is a sum of 0/1 flags; every median and 90th
percentile comes from merged log-binned duration histograms (etl/metrics.py says how exact).

The web tier never queries the source for a window: `window_totals` and `child_totals` below merge
the pieces of the region (or of each child) for the days asked."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from etl.metrics import (
    DURATION_BIN_BASE_MIN,
    DURATION_BINS,
    DURATION_BINS_PER_OCTAVE,
    PIECE_FLAGS,
    QUANTILES,
    WINDOW_RATES,
    WINDOWS,
)

GRID_CODE_DIGITS = 15
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


def event_pieces(facts: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """One row per event reported on or after `since`: grid_code, day (days since 1970-01-01), category,
    channel, handling level, 0/1 flags (PIECE_FLAGS) and a duration bin per stage; sorted by grid and day."""
    f = facts[facts["reported_at"] >= since]
    out = pd.DataFrame({
        "grid": f["grid_no"].to_numpy(dtype=np.int64),  # 15 digits: a prefix is an int range
        "day": ((f["day"].to_numpy(dtype="datetime64[D]") - EPOCH).astype(np.int32)),
        "category": f["category"].astype(str).to_numpy(),
        "channel": f["channel"].astype(str).to_numpy(),
        "handling_level": f["handling_level"].astype(object).where(f["handling_level"].notna(), "").to_numpy(),
    })
    for flag, col in PIECE_FLAGS.items():
        out[flag] = f[col].to_numpy(dtype=np.uint8)
    for stage in QUANTILES:
        out[f"bin_{stage}"] = duration_bin(f[f"{stage}_min"])
    out = out.sort_values(["grid", "day"], kind="stable").reset_index(drop=True)
    for col in ("category", "channel", "handling_level"):
        out[col] = out[col].astype("category")
    return out


def window_dates(window: str, as_of: datetime, start: date | None = None, end: date | None = None,
                 history_days: int | None = None) -> tuple[date, date]:
    """First and last local day of a window (etl/metrics.py): today, 7d, 30d, quarter (this calendar
    quarter to today), week / month (this ISO week / calendar month to today, for the ranking) or
    custom (start..end, clipped to today and to the kept history)."""
    today = pd.Timestamp(as_of).normalize()
    if window in WINDOWS:
        first = today - pd.Timedelta(days=WINDOWS[window] - 1)
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


def prefix_range(code: str) -> tuple[int, int]:
    """The 15-digit grid codes under a region code, as the integer range [lo, hi)."""
    scale = 10 ** (GRID_CODE_DIGITS - len(code))
    return int(code) * scale, (int(code) + 1) * scale


def day_number(d: date | pd.Timestamp) -> int:
    return int((np.datetime64(pd.Timestamp(d).date(), "D") - EPOCH).astype(np.int64))


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
        lo, hi = prefix_range(code)
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
        parent = order[0][:len(order[0]) - (3 if len(order[0]) > 6 else 2)]
        pos = self.positions(parent, first_day, last_day)
        cum = np.vstack([np.zeros((1, len(cols)), dtype=np.int64), np.cumsum(self.flags[pos], axis=0, dtype=np.int64)])
        ranges = np.array([prefix_range(c) for c in order], dtype=np.int64)
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
        sums[name] = (sums[num] / sums[den].where(sums[den] > 0)).astype("float64")
    return sums


def totals_from_sums(sums: np.ndarray, hists: dict[str, np.ndarray]) -> dict:
    """Counts, rates and stage quantiles from merged flag sums and duration histograms."""
    out = {flag: int(v) for flag, v in zip(PIECE_FLAGS, sums)}
    for name, (num, den) in WINDOW_RATES.items():
        out[name] = out[num] / out[den] if out[den] else float("nan")
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


def piece_frame_name(week: np.datetime64) -> str:
    return f"event_pieces@{np.datetime64(week, 'D')}"


def piece_frame_week(name: str) -> int | None:
    """The first day number of a piece frame's week, or None for another frame."""
    if not name.startswith("event_pieces@"):
        return None
    return day_number(date.fromisoformat(name.split("@", 1)[1]))


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


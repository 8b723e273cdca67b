"""Event facts (etl/transforms/events.event_facts) kept per week of report, next to the ledger's
weeks (etl/state/event_ledger.py), with the tablet's piece rows of the same events beside them
(etl/transforms/window_pieces.py piece_rows, row for row). A run rebuilds, in the weeks whose rows
changed, only the rows the pulls read since the last run and the open events whose deadline passed
since then (the one fact that moves with the clock); every other row is kept as it was. So a tick costs
the rows it changed, not the weeks they fall in, whatever the history's size. Each week's facts are those
`event_facts(week's rows, now)` would give, up to row order (bench/reference_windows.py rebuilds whole weeks
that way; tests/test_incremental_equals_full.py holds the two together)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from contract.metrics import COUNTS
from etl.state.event_ledger import LedgerChange, empty_events, week_of
from etl.state.window_medians import WindowMedians
from etl.transforms.events import event_facts
from etl.transforms.window_pieces import piece_rows, sorted_pieces

COUNT_COLS = [col for col, _ in COUNTS.values()]
# a backfill's facts are computed this many ledger rows at a time (WeekFacts._new_facts): the copy of the rows
# and the intermediate columns stay this size, whatever the history's
FACT_CHUNK_ROWS = 400_000


class WeekFacts:
    def __init__(self):
        self.facts: dict[np.datetime64, pd.DataFrame] = {}
        self.rows: dict[np.datetime64, pd.DataFrame] = {}  # piece rows, aligned with facts row for row
        self.open_due: dict[np.datetime64, np.ndarray] = {}  # deadlines of each week's open events
        self.open_facts: dict[np.datetime64, pd.DataFrame] = {}  # each week's facts of open events
        self.as_of: datetime | None = None
        self.cubes = WindowCubes()  # per-day window sums of the recent weeks, patched with the changed rows
        self.medians = WindowMedians()  # the windows' exact stage medians, patched with the changed rows
        self.rebuilt_rows = 0  # fact rows the last update computed (the rest were kept)

    def update(self, parts: dict[np.datetime64, pd.DataFrame], change: LedgerChange, now: datetime) -> set[np.datetime64]:
        """Bring every week's facts to `now`, given the ledger's weeks (`parts`) and what changed in them since the
        last update (EventLedger.take_changes); returns the weeks that changed (removed ones included)."""
        dirty = set(change.weeks) | (set(parts) ^ set(self.facts))
        due_lo = due_hi = None
        if self.as_of is not None:
            prev, cur = np.datetime64(self.as_of, "us"), np.datetime64(now, "us")
            due_lo, due_hi = min(prev, cur), max(prev, cur)
            dirty |= {w for w, due in self.open_due.items() if ((due >= due_lo) & (due < due_hi)).any()}
        touched = change.rows
        self.rebuilt_rows = 0
        patches: list[tuple[np.datetime64, np.ndarray]] = []  # (week, kept rows of its facts)
        redo: list[tuple[np.datetime64, pd.DataFrame]] = []  # (week, its ledger rows whose facts are computed now)
        for week in sorted(dirty):
            part = parts.get(week)
            if part is None:
                if week in self.facts:
                    self.medians.apply(self.facts[week], -1)
                for d in (self.facts, self.rows, self.open_due, self.open_facts):
                    d.pop(week, None)
                self.cubes.drop(week)
                continue
            old = self.facts.get(week)
            if old is None:
                keep = np.zeros(0 if old is None else len(old), dtype=bool)
                new = part
            else:
                keep, new = self._changed(part, old, touched, due_lo, due_hi)
            patches.append((week, keep))
            redo.append((week, new))
            self.open_due[week] = part.loc[part["closed_at"].isna(), "due_at"].to_numpy(dtype="datetime64[us]")
        added = self._new_facts([(w, r) for w, r in redo if len(r)], now)
        del redo
        for week, keep in patches:
            old = self.facts.get(week)
            pieces = [] if old is None else [(old, self.rows[week]) if keep.all() else (old[keep], self.rows[week][keep])]
            if old is None:
                self.cubes.drop(week)  # built again from the week's facts (sync)
            elif not keep.all():
                gone = old[~keep]
                self.cubes.apply(week, gone, -1)
                self.medians.apply(gone, -1)
            if week in added:
                new_facts, new_rows = added.pop(week)
                pieces.append((new_facts, new_rows))
                self.cubes.apply(week, new_facts, 1)
                self.medians.apply(new_facts, 1)
                self.rebuilt_rows += len(new_facts)
            if len(pieces) == 1:
                facts, rows = pieces[0]
            else:
                facts = pd.concat([f for f, _ in pieces], ignore_index=True)
                rows = pd.concat([r for _, r in pieces], ignore_index=True)
            self.facts[week], self.rows[week] = facts, rows
            self.open_facts[week] = facts[facts["is_open"].to_numpy() == 1]
        self.as_of = now
        return dirty

    @staticmethod
    def _new_facts(redo: list[tuple[np.datetime64, pd.DataFrame]], now: datetime
                   ) -> dict[np.datetime64, tuple[pd.DataFrame, pd.DataFrame]]:
        """The facts and piece rows of these ledger rows, by week: computed over several weeks at a time (one call
        costs its rows, not its weeks) but at most about FACT_CHUNK_ROWS rows at once, so a backfill never holds a
        copy of the whole history beside the facts; each week's rows are a slice of its chunk (a week's rows are
        contiguous, every one of them in that week), not a boolean mask over all of them."""
        out: dict[np.datetime64, tuple[pd.DataFrame, pd.DataFrame]] = {}
        start = 0
        while start < len(redo):
            end, n = start, 0
            while end < len(redo) and (end == start or n + len(redo[end][1]) <= FACT_CHUNK_ROWS):
                n += len(redo[end][1])
                end += 1
            chunk = redo[start:end]
            rows = chunk[0][1] if len(chunk) == 1 else pd.concat([r for _, r in chunk])
            nf = event_facts(rows, now)
            del rows
            nr = piece_rows(nf)
            at = 0
            for week, r in chunk:
                out[week] = (nf.iloc[at:at + len(r)], nr.iloc[at:at + len(r)])
                at += len(r)
            start = end
        return out

    @staticmethod
    def _changed(part: pd.DataFrame, old: pd.DataFrame, touched: np.ndarray, due_lo, due_hi
                 ) -> tuple[np.ndarray, pd.DataFrame]:
        """Which of the week's kept fact rows stay (a mask), and the ledger rows to compute again: those the
        pulls read, the open ones whose deadline passed between the last run and now, any the facts lack."""
        redo = touched
        if due_lo is not None:
            due = part["due_at"].to_numpy(dtype="datetime64[us]")
            passed = part["closed_at"].isna().to_numpy() & (due >= due_lo) & (due < due_hi)
            if passed.any():
                redo = np.concatenate([redo, part.index.to_numpy(dtype=np.int64)[passed]])
        ids = old["row_id"].to_numpy(dtype=np.int64)
        keep = np.isin(ids, part.index.to_numpy(dtype=np.int64)) & ~np.isin(ids, redo)
        return keep, part[~part.index.isin(ids[keep])]

    def pieces(self, week, since: pd.Timestamp) -> pd.DataFrame:
        """The week's `event_pieces@<Monday>` frame: its events reported on or after `since`
        (etl/transforms/window_pieces.py event_pieces, from the kept rows)."""
        rows, facts = self.rows[week], self.facts[week]
        cut = facts["reported_at"].to_numpy() >= np.datetime64(pd.Timestamp(since).to_datetime64())
        return sorted_pieces(rows if cut.all() else rows[cut])

    def reported_since(self, first_day: pd.Timestamp, columns: list[str] | None = None) -> pd.DataFrame:
        """Facts (or these columns of them) of the events reported from first_day on (the weeks before it untouched)."""
        cut = np.datetime64(pd.Timestamp(first_day).date(), "D")
        first_week = week_of(pd.Series([pd.Timestamp(first_day)]))[0]
        frames = []
        for week, f in sorted(self.facts.items()):
            if week < first_week:
                continue
            f = f if columns is None else f[columns]
            if week < cut:
                f = f[f["day"].to_numpy() >= np.datetime64(pd.Timestamp(first_day).to_datetime64())]
            if len(f):
                frames.append(f)
        if not frames:
            empty = event_facts(empty_events(), datetime.now())
            return empty if columns is None else empty[columns]
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def newest_weeks(self, n: int, first_day: pd.Timestamp) -> pd.DataFrame | None:
        """The facts of the newest weeks that together hold at least n events, all reported from first_day on
        (what nlargest(n, "reported_at") of since(first_day) looks at); None when those are too few."""
        frames: list[pd.DataFrame] = []
        rows = 0
        for week, f in sorted(self.facts.items(), reverse=True):
            if week < np.datetime64(pd.Timestamp(first_day).date(), "D"):
                return None
            frames.insert(0, f)
            rows += len(f)
            if rows >= n:
                return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return None

    def open(self) -> pd.DataFrame:
        """Facts of every open event, whatever its week."""
        frames = [f for _, f in sorted(self.open_facts.items()) if len(f)]
        if not frames:
            return event_facts(empty_events(), datetime.now())
        return pd.concat(frames, ignore_index=True)

    def since(self, first_day: pd.Timestamp) -> pd.DataFrame:
        """Facts of the events reported from first_day on, and of every open event."""
        cut = np.datetime64(first_day.date(), "D")
        frames = []
        for week, f in sorted(self.facts.items()):
            if week + np.timedelta64(7, "D") <= cut:
                frames.append(self.open_facts[week])
            elif week >= cut:
                frames.append(f)
            else:
                frames.append(f[(f["day"] >= first_day) | (f["is_open"] == 1)])
        frames = [f for f in frames if len(f)]
        if not frames:
            return event_facts(empty_events(), datetime.now())
        return pd.concat(frames, ignore_index=True)


BY_COLUMNS = ("category", "channel")
GROW = 1024  # grids of room a week's arrays get when a new grid appears
CELL = np.int32  # a grid's events of one day: int32 halves the arrays (~80 MB for the 5-6 weeks at a year's scale)


class WindowCubes:
    """For the weeks the 30-day windows reach, per day of report and grid: the sums of the window counts
    (COUNTS' fact columns) and the events per category and per channel, as dense arrays (7 days × grids ×
    values). A week's arrays are built once from its facts, then patched with the rows a tick rebuilt (their
    old facts subtracted, the new ones added: WeekFacts.update), so a window's counts per grid are a few
    array sums, whatever the window holds (etl/transforms/events.py window_kpis, counts_by_cubes)."""

    def __init__(self):
        self.grid_nos = np.zeros(0, dtype=np.int64)  # grid number of each grid id, in order of first sight
        self._grid_pos: pd.Index = pd.Index(self.grid_nos)
        self.values: dict[str, list[str]] = {c: [] for c in BY_COLUMNS}
        self._value_pos: dict[str, dict[str, int]] = {c: {} for c in BY_COLUMNS}
        self.counts: dict[np.datetime64, np.ndarray] = {}  # week -> (7, grids, count columns) int64
        self.by: dict[str, dict[np.datetime64, np.ndarray]] = {c: {} for c in BY_COLUMNS}  # (7, grids, values)

    @property
    def n_grids(self) -> int:
        return len(self.grid_nos)

    def _grid_ids(self, grid_nos: np.ndarray) -> np.ndarray:
        gid = self._grid_pos.get_indexer(pd.Index(grid_nos))
        if (gid < 0).any():
            self.grid_nos = np.concatenate([self.grid_nos, pd.unique(grid_nos[gid < 0])])
            self._grid_pos = pd.Index(self.grid_nos)
            self._grow()
            gid = self._grid_pos.get_indexer(pd.Index(grid_nos))
        return gid

    def _value_ids(self, column: str, values: np.ndarray) -> np.ndarray:
        pos = self._value_pos[column]
        codes, uniq = pd.factorize(values)
        new = [v for v in uniq if v not in pos]
        if new:
            for v in new:
                pos[v] = len(self.values[column])
                self.values[column].append(v)
            self._grow()
        return np.asarray([pos[v] for v in uniq], dtype=np.int64)[codes] if len(uniq) else codes.astype(np.int64)

    def _grow(self) -> None:
        """Pad every week's arrays to the grids and values known now, with room for more (new grids and values
        are rare after the first weeks, so this seldom copies)."""
        g = self.n_grids
        for week, a in self.counts.items():
            if a.shape[1] < g:
                self.counts[week] = np.concatenate([a, np.zeros((7, g - a.shape[1] + GROW, a.shape[2]), a.dtype)], axis=1)
        for c in BY_COLUMNS:
            k = len(self.values[c])
            for week, a in self.by[c].items():
                if a.shape[1] < g or a.shape[2] < k:
                    b = np.zeros((7, max(g + GROW, a.shape[1]), max(k + 4, a.shape[2])), a.dtype)
                    b[:, :a.shape[1], :a.shape[2]] = a
                    self.by[c][week] = b

    def apply(self, week, facts: pd.DataFrame, sign: int) -> None:
        """Add (sign 1) or take away (-1) these fact rows of `week` (a week with arrays; others are ignored)."""
        if week not in self.counts or not len(facts):
            return
        gid = self._grid_ids(facts["grid_no"].to_numpy(dtype=np.int64))
        vids = {}
        for c in BY_COLUMNS:
            v = facts[c].to_numpy(dtype=object)
            ok = pd.notna(v)
            vids[c] = (ok, self._value_ids(c, v[ok]))
        dow = (facts["day"].to_numpy(dtype="datetime64[D]") - week).astype(np.int64)
        np.add.at(self.counts[week], (dow, gid), (sign * facts[COUNT_COLS].to_numpy(dtype=np.int64)).astype(CELL))
        for c, (ok, vid) in vids.items():
            np.add.at(self.by[c][week], (dow[ok], gid[ok], vid), CELL(sign))

    def drop(self, week) -> None:
        self.counts.pop(week, None)
        for c in BY_COLUMNS:
            self.by[c].pop(week, None)

    def sync(self, facts: dict[np.datetime64, pd.DataFrame], first_week: np.datetime64) -> None:
        """Arrays for exactly the weeks from `first_week` on: built for those that lack them, dropped for the rest."""
        for week in [w for w in self.counts if w < first_week or w not in facts]:
            self.drop(week)
        for week in sorted(w for w in facts if w >= first_week and w not in self.counts):
            f = facts[week]
            self._grid_ids(f["grid_no"].to_numpy(dtype=np.int64))
            for c in BY_COLUMNS:
                v = f[c].to_numpy(dtype=object)
                self._value_ids(c, v[pd.notna(v)])
            self.counts[week] = np.zeros((7, self.n_grids + GROW, len(COUNT_COLS)), CELL)
            for c in BY_COLUMNS:
                self.by[c][week] = np.zeros((7, self.n_grids + GROW, len(self.values[c]) + 4), CELL)
            self.apply(week, f, 1)

    def window(self, start: pd.Timestamp, column: str | None = None) -> np.ndarray:
        """Per grid id, the sums over the events reported on or after `start` (a local midnight): the count
        columns (grids × COUNT_COLS), or with `column` the events per value (grids × values of the column)."""
        arrays = self.counts if column is None else self.by[column]
        first = np.datetime64(pd.Timestamp(start).date(), "D")
        first_week = week_of(pd.Series([pd.Timestamp(start)]))[0]
        width = len(COUNT_COLS) if column is None else len(self.values[column])
        out = np.zeros((self.n_grids, width), np.int64)
        for week, a in arrays.items():
            if week < first_week:
                continue
            lo = int((first - week).astype(np.int64)) if week == first_week else 0
            g, k = min(a.shape[1], out.shape[0]), min(a.shape[2], out.shape[1])
            out[:g, :k] += a[lo:, :g, :k].sum(axis=0, dtype=np.int64)
        return out

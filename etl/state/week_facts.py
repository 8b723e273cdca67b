"""Event facts (etl/transforms/events.event_facts) kept per week of report, next to the ledger's
weeks (etl/state/event_ledger.py), with the tablet's piece rows of the same events beside them
(etl/transforms/window_pieces.py piece_rows, row for row). A run rebuilds, in the weeks whose rows
changed, only the rows the pulls read since the last run and the open events whose deadline passed
since then (the one fact that moves with the clock); every other row is kept as it was. So a tick costs
the rows it changed, not the weeks they fall in, whatever the history's size.

`incremental=False` rebuilds every changed week whole (as before issue 16: the bench's reference path).
Either way each week's facts are those `event_facts(week's rows, now)` would give, up to row order."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from etl.state.event_ledger import EventLedger, empty_events, week_of
from etl.transforms.events import event_facts
from etl.transforms.window_pieces import piece_rows, sorted_pieces


class WeekFacts:
    def __init__(self, incremental: bool = True):
        self.incremental = incremental
        self.facts: dict[np.datetime64, pd.DataFrame] = {}
        self.rows: dict[np.datetime64, pd.DataFrame] = {}  # piece rows, aligned with facts row for row
        self.open_due: dict[np.datetime64, np.ndarray] = {}  # deadlines of each week's open events
        self.open_facts: dict[np.datetime64, pd.DataFrame] = {}  # each week's facts of open events
        self.as_of: datetime | None = None
        self.rebuilt_rows = 0  # fact rows the last update computed (the rest were kept)

    def update(self, ledger: EventLedger, now: datetime) -> set[np.datetime64]:
        """Bring every week's facts to `now`; returns the weeks that changed (removed ones included)."""
        dirty = set(ledger.changed_weeks) | (set(ledger.parts) ^ set(self.facts))
        due_lo = due_hi = None
        if self.as_of is not None:
            prev, cur = np.datetime64(self.as_of, "us"), np.datetime64(now, "us")
            due_lo, due_hi = min(prev, cur), max(prev, cur)
            dirty |= {w for w, due in self.open_due.items() if ((due >= due_lo) & (due < due_hi)).any()}
        touched = ledger.touched_rows
        self.rebuilt_rows = 0
        patches: list[tuple[np.datetime64, np.ndarray]] = []  # (week, kept rows of its facts)
        redo: list[pd.DataFrame] = []  # ledger rows whose facts are computed now, every week in one call
        for week in sorted(dirty):
            part = ledger.parts.get(week)
            if part is None:
                for d in (self.facts, self.rows, self.open_due, self.open_facts):
                    d.pop(week, None)
                continue
            old = self.facts.get(week)
            if not self.incremental or old is None:
                keep = np.zeros(0 if old is None else len(old), dtype=bool)
                new = part
            else:
                keep, new = self._changed(part, old, touched, due_lo, due_hi)
            patches.append((week, keep))
            redo.append(new)
            self.open_due[week] = part.loc[part["closed_at"].isna(), "due_at"].to_numpy(dtype="datetime64[us]")
        redo = [r for r in redo if len(r)]
        if self.incremental and redo:
            nf = event_facts(redo[0] if len(redo) == 1 else pd.concat(redo), now)
            nr = piece_rows(nf)
            new_week = week_of(nf["day"])
        for week, keep in patches:
            old = self.facts.get(week)
            if not self.incremental:  # the reference path builds its pieces from the facts (etl/jobs.py)
                facts = rows = event_facts(ledger.parts[week], now)
                self.rebuilt_rows += len(facts)
            else:
                mine = (new_week == week) if redo else np.zeros(0, dtype=bool)
                parts = [] if old is None else [(old, self.rows[week]) if keep.all() else (old[keep], self.rows[week][keep])]
                if mine.any():
                    parts.append((nf[mine], nr[mine]))
                    self.rebuilt_rows += int(mine.sum())
                if len(parts) == 1:
                    facts, rows = parts[0]
                else:
                    facts = pd.concat([f for f, _ in parts], ignore_index=True)
                    rows = pd.concat([r for _, r in parts], ignore_index=True)
            self.facts[week], self.rows[week] = facts, rows
            self.open_facts[week] = facts[facts["is_open"].to_numpy() == 1]
        ledger.changed_weeks = set()
        ledger.touched_rows = np.array([], dtype=np.int64)
        self.as_of = now
        return dirty

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

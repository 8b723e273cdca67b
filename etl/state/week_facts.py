"""Event facts (etl/transforms/events.event_facts) kept per week of report, next to the ledger's
weeks (etl/state/event_ledger.py): a run recomputes only the weeks whose rows changed and those where an
open event passed its deadline since the last run (the one fact that moves with the clock), so the
weeks of a long history that nothing touched cost a tick nothing."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from etl.state.event_ledger import EventLedger, empty_events
from etl.transforms.events import event_facts


class WeekFacts:
    def __init__(self):
        self.facts: dict[np.datetime64, pd.DataFrame] = {}
        self.open_due: dict[np.datetime64, np.ndarray] = {}  # deadlines of each week's open events
        self.as_of: datetime | None = None

    def update(self, ledger: EventLedger, now: datetime) -> set[np.datetime64]:
        """Bring every week's facts to `now`; returns the weeks that changed (removed ones included)."""
        dirty = set(ledger.changed_weeks) | (set(ledger.parts) ^ set(self.facts))
        if self.as_of is not None:
            prev, cur = np.datetime64(self.as_of, "us"), np.datetime64(now, "us")
            dirty |= {w for w, due in self.open_due.items() if ((due >= prev) & (due < cur)).any()}
        for week in dirty:
            part = ledger.parts.get(week)
            if part is None:
                self.facts.pop(week, None)
                self.open_due.pop(week, None)
                continue
            self.facts[week] = event_facts(part, now)
            self.open_due[week] = part.loc[part["closed_at"].isna(), "due_at"].to_numpy(dtype="datetime64[us]")
        self.as_of = now
        return dirty

    def since(self, first_day: pd.Timestamp) -> pd.DataFrame:
        """Facts of the events reported from first_day on, and of every open event."""
        cut = np.datetime64(first_day.date(), "D")
        frames = []
        for week, f in sorted(self.facts.items()):
            if week + np.timedelta64(7, "D") <= cut:
                frames.append(f[f["is_open"] == 1])
            elif week >= cut:
                frames.append(f)
            else:
                frames.append(f[(f["day"] >= first_day) | (f["is_open"] == 1)])
        frames = [f for f in frames if len(f)]
        if not frames:
            return event_facts(empty_events(), datetime.now())
        return pd.concat(frames, ignore_index=True)


"""The staff work queue: every open event with its deadline and the stage times it has reached, for
the phone screen's "my pending and overdue events" and its event timeline. No personal data."""

from __future__ import annotations

import pandas as pd

from contract.domain import STAGES

QUEUE_COLUMNS = ["event_id", "grid_code", "category", "channel", "status", "is_overdue", "due_at",
                 *(f"{s}_at" for s in STAGES[:-1])]


def open_events(facts: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Open events (not closed) sorted by deadline, earliest first, with their stage times."""
    mine = facts.loc[facts["is_open"] == 1, ["row_id", "event_id", "grid_code", "category", "channel", "status",
                                              "is_overdue"]]
    times = events.set_index("row_id")[["due_at", *(f"{s}_at" for s in STAGES[:-1])]]
    out = mine.join(times, on="row_id").sort_values(["due_at", "event_id"], kind="stable")
    return out[QUEUE_COLUMNS].reset_index(drop=True)

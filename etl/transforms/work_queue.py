"""The staff work queue: every open event with its deadline and the stage times it has reached, for
the phone screen's "my pending and overdue events" and its event timeline. No personal data."""

from __future__ import annotations

import pandas as pd

from contract.domain import STAGES

QUEUE_COLUMNS = ["event_id", "grid_code", "category", "channel", "status", "is_overdue", "due_at",
                 *(f"{s}_at" for s in STAGES[:-1]), "department"]


def department_codes(rows: pd.DataFrame) -> pd.Series:
    """Each ledger row's department code in the city's catalogue, '' for 未归属 (a unit the catalogue does not know,
    or none): what the lists carry so a screen can keep a department's cases by code prefix."""
    if "dept_no" not in rows:
        return pd.Series("", index=rows.index, dtype=object)
    return rows["department"].where(rows["dept_no"].to_numpy() > 0, "").fillna("").astype(object)


def open_events(facts: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Open events (not closed) sorted by deadline, earliest first, with their stage times."""
    mine = facts.loc[facts["is_open"] == 1, ["row_id", "event_id", "grid_code", "category", "channel", "status",
                                              "is_overdue"]]
    times = events.set_index("row_id")[["due_at", *(f"{s}_at" for s in STAGES[:-1])]]
    times = times.assign(department=department_codes(events).to_numpy())
    out = mine.join(times, on="row_id").sort_values(["due_at", "event_id"], kind="stable")
    return out[QUEUE_COLUMNS].reset_index(drop=True)

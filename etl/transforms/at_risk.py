"""The at-risk list (将超期): open events not yet past their deadline whose deadline falls within the
horizon (AT_RISK in contract/metrics.py), soonest first, with the minutes left. Computed from the open
events at every tick, so an event enters the list as the clock reaches it, not when its row changes."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from contract.metrics import AT_RISK_HOURS
from etl.transforms.events import event_status
from etl.transforms.work_queue import department_codes

COLUMNS = ["event_id", "grid_code", "category", "channel", "status", "due_at", "minutes_left", "department"]


def at_risk_events(open_rows: pd.DataFrame, as_of: datetime, horizon_h: float = AT_RISK_HOURS) -> pd.DataFrame:
    """Open events with as_of <= due_at < as_of + horizon (no personal data), soonest deadline first."""
    now = pd.Timestamp(as_of)
    due = open_rows["due_at"]
    e = open_rows[open_rows["closed_at"].isna() & (due >= now) & (due < now + pd.Timedelta(hours=horizon_h))]
    out = e.assign(status=event_status(e), minutes_left=(e["due_at"] - now).dt.total_seconds() / 60.0,
                   department=department_codes(e))
    out = out.sort_values(["due_at", "event_id"], kind="stable")
    return out[COLUMNS].astype({"minutes_left": "float64"}).reset_index(drop=True)

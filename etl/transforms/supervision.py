"""Supervisions (督办) with the outcome of their case: closed or not, and closed by the new deadline the
leader set (a supervision's own on-time rate, SUPERVISION in contract/metrics.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.transforms.work_queue import department_codes

COLUMNS = ["supervision_id", "event_id", "grid_code", "level", "note", "new_due_at", "state", "created_at",
           "closed_at", "is_open", "closed_in_time", "department"]


def supervision_outcomes(supervisions: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each supervision with its event's closed_at (from the kept events), is_open and closed_in_time (0/1:
    closed at or before the supervision's new deadline); newest first. A supervision of an event the ETL
    no longer keeps counts as closed at an unknown time, not in time."""
    closed = events.drop_duplicates("event_id")
    closed = closed.assign(department=department_codes(closed))[["event_id", "closed_at", "department"]]
    known = supervisions["event_id"].isin(closed["event_id"])
    out = supervisions.merge(closed, on="event_id", how="left").set_index(supervisions.index)
    is_open = known & out["closed_at"].isna()
    in_time = out["closed_at"].notna() & (out["closed_at"] <= out["new_due_at"])
    out = out.assign(is_open=is_open.astype(np.int64), closed_in_time=in_time.astype(np.int64))
    out["closed_at"] = pd.to_datetime(out["closed_at"])
    out["department"] = out["department"].fillna("").astype(object)  # 条: the case's department code ('' 未归属)
    return out.sort_values("created_at", ascending=False, kind="stable")[COLUMNS].reset_index(drop=True)

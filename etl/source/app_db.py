"""What the ETL reads from the app database: the supervisions leaders made (督办; the table belongs to
dashboard/supervision.py, which creates and delivers them). Read as a plain source, so the published
frames and every screen count supervisions the same way."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

SUPERVISIONS_TABLE = "cockpit_supervisions"
COLUMNS = ["supervision_id", "event_id", "grid_code", "level", "note", "new_due_at", "state", "created_at"]


def read_supervisions(app_engine: Engine | None) -> pd.DataFrame:
    """Every supervision (empty before the first one: the table may not exist yet)."""
    empty = pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c in ("new_due_at", "created_at") else object)
                          for c in COLUMNS})
    if app_engine is None or not inspect(app_engine).has_table(SUPERVISIONS_TABLE):
        return empty
    with app_engine.connect() as conn:
        df = pd.read_sql(text(f"SELECT id AS supervision_id, event_id, grid_code, level, note, new_due_at, state, "
                              f"created_at FROM {SUPERVISIONS_TABLE}"), conn)
    if df.empty:
        return empty
    df["new_due_at"] = pd.to_datetime(df["new_due_at"])
    # created_at is stored in UTC; shown as it is (a time of the record, not of the city's clock)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="mixed").dt.tz_localize(None)
    return df[COLUMNS]

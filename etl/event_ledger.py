"""The ETL's copy of the source's events, kept current incrementally by an update-time watermark."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.city import City
from etl.source_schema import Event
from etl.validate import REASONS, STAGE_COLS, event_problems

TIME_COLS = (*STAGE_COLS, "due_at", "updated_at")
# Rows committed late with an older update time are still seen: each pull re-reads this much before the watermark.
WATERMARK_OVERLAP = timedelta(seconds=30)


def read_events(engine: Engine, since: datetime | None) -> pd.DataFrame:
    """Source event rows updated at or after `since` (all rows when None)."""
    q = select(Event)
    if since is not None:
        q = q.where(Event.updated_at >= since)
    with engine.connect() as conn:
        df = pd.read_sql(q, conn)
    for col in TIME_COLS:
        df[col] = pd.to_datetime(df[col], errors="coerce")
    for col in ("grid_code", "event_id", "category", "channel", "handling_level"):
        df[col] = df[col].astype("object")
    return df


class EventLedger:
    """Valid events by row id, the quarantined rows with their reasons, and the watermark."""

    def __init__(self, city: City, future_tolerance: timedelta = timedelta(minutes=5), keep_quarantined: int = 1000):
        self.city = city
        self.known_grids = set(city.grids()["code"])
        self.future_tolerance = future_tolerance
        self.keep_quarantined = keep_quarantined
        self.events = pd.DataFrame()
        self.quarantine = pd.DataFrame(columns=["row_id", "event_id", "reason", "seen_at"])
        self.id_owner: dict[str, int] = {}
        self.watermark: datetime | None = None
        self.changed_ids: list[str] = []  # event ids of the rows the last pull read (accepted or not)

    def pull(self, engine: Engine, now: datetime) -> dict:
        """Read what changed since the watermark, quarantine bad rows, merge the rest; returns counts."""
        since = None if self.watermark is None else self.watermark - WATERMARK_OVERLAP
        batch = read_events(engine, since)
        return self.merge(batch, now)

    def merge(self, batch: pd.DataFrame, now: datetime) -> dict:
        self.changed_ids = batch["event_id"].dropna().unique().tolist() if not batch.empty else []
        if batch.empty:
            return {"read": 0, "accepted": 0, "quarantined": 0}
        batch = batch.set_index("row_id", drop=False).rename_axis(None)
        reason = event_problems(batch, self.known_grids, self.city.contains, now, self.future_tolerance, self.id_owner)
        bad = batch[reason.notna()]
        good = batch[reason.isna()]
        touched = batch.index
        # a row that changed leaves whichever side it was on, then joins the side it belongs to now
        if not self.events.empty:
            left = self.events.index.intersection(bad.index)
            for rid in left:
                if self.id_owner.get(self.events.at[rid, "event_id"]) == rid:
                    del self.id_owner[self.events.at[rid, "event_id"]]
            self.events = self.events.drop(index=touched, errors="ignore")
        self.events = good if self.events.empty else pd.concat([self.events, good])
        self.id_owner.update(dict(zip(good["event_id"], good["row_id"])))
        q = self.quarantine.set_index("row_id", drop=False).rename_axis(None).drop(index=touched, errors="ignore")
        new_q = pd.DataFrame({"row_id": bad["row_id"], "event_id": bad["event_id"], "reason": reason[bad.index],
                              "seen_at": now})
        self.quarantine = pd.concat([q, new_q], ignore_index=True) if not q.empty else new_q.reset_index(drop=True)
        self.watermark = max(self.watermark or batch["updated_at"].max(), batch["updated_at"].max())
        return {"read": len(batch), "accepted": len(good), "quarantined": len(bad)}

    def quarantine_counts(self) -> dict[str, int]:
        """Quarantined rows per reason (every reason listed, zero included)."""
        counts = self.quarantine["reason"].value_counts()
        return {key: int(counts.get(key, 0)) for key in REASONS}

    def quarantine_rows(self) -> pd.DataFrame:
        """The most recent quarantined rows with their reasons (capped)."""
        return self.quarantine.tail(self.keep_quarantined).reset_index(drop=True).astype(
            {"row_id": "int64", "event_id": "string", "reason": "string"})

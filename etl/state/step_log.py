"""The ETL's side of the source's flow log (event_steps): new and changed rows by an update-time
watermark (same overlap as the event ledger), each row checked (etl/source/validate.py step_problems) and a
bad one quarantined with its reason. A step whose event the ETL does not know (not arrived yet, or
quarantined) is held as pending; still unknown after ORPHAN_AFTER it counts as step_orphan. Both
leave by themselves when the source corrects them. Step rows are not kept in memory: timelines are
built from the source rows of the events a pull touched."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from etl.source.mapped_read import Page, StepSource
from etl.source.validate import step_problems
from etl.state.event_ledger import WATERMARK_OVERLAP
from etl.state.id_owner import contains_many

COLUMNS = ["step_id", "event_id", "step_no", "action", "at", "level", "unit", "actor", "note", "updated_at"]
ORPHAN_AFTER = timedelta(seconds=60)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c in ("at", "updated_at") else object) for c in COLUMNS})


class StepLog:
    def __init__(self, future_tolerance: timedelta = timedelta(minutes=5), keep_quarantined: int = 1000,
                 orphan_after: timedelta = ORPHAN_AFTER, source: StepSource | None = None):
        self.source = source  # the flow log through the source mapping; None: the source has none
        self.future_tolerance, self.keep_quarantined, self.orphan_after = future_tolerance, keep_quarantined, orphan_after
        self.watermark: datetime | None = None
        self.bad: dict[int, tuple[str, str, datetime]] = {}  # step_id -> (event_id, reason, seen_at)
        self.pending: dict[int, tuple[str, datetime]] = {}  # step_id -> (event_id, first seen)

    # --- checking -------------------------------------------------------------------------------
    def classify(self, batch: pd.DataFrame, known: Container[str], now: datetime) -> pd.DataFrame:
        """Record bad and pending rows of `batch`; returns the usable rows (shape fine, event known)."""
        if batch.empty:
            return batch
        reason = step_problems(batch, now, self.future_tolerance)
        ids, events = batch["step_id"].tolist(), batch["event_id"].tolist()
        first_seen = {}
        if self.bad or self.pending:  # a row read again leaves whichever side it was on
            for sid in ids:
                self.bad.pop(sid, None)
                old = self.pending.pop(sid, None)
                if old is not None:
                    first_seen[sid] = old[1]
        ok = reason.isna().to_numpy()
        is_known = contains_many(known, events)
        for i in (~ok).nonzero()[0]:
            self.bad[ids[i]] = (events[i], str(reason.iat[int(i)]), now)
        for i in (ok & ~is_known).nonzero()[0]:
            self.pending[ids[i]] = (events[i], first_seen.get(ids[i], now))
        return batch[ok & is_known]

    def usable(self, batch: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """Rows whose shape is fine (no bookkeeping): for re-reading the steps of known events."""
        return batch[step_problems(batch, now, self.future_tolerance).isna().to_numpy()]

    def resolve(self, known: Container[str]) -> set[str]:
        """Pending steps whose event is known now leave the pending set; returns those events."""
        if not self.pending:
            return set()
        sids, eids = list(self.pending), [eid for eid, _ in self.pending.values()]
        found = {sid: eid for sid, eid, hit in zip(sids, eids, contains_many(known, eids)) if hit}
        for sid in found:
            del self.pending[sid]
        return set(found.values())

    def quarantine_counts(self, now: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, reason, _ in self.bad.values():
            counts[reason] = counts.get(reason, 0) + 1
        counts["step_orphan"] = sum(now - first >= self.orphan_after for _, first in self.pending.values())
        return counts

    def quarantine_rows(self, now: datetime) -> pd.DataFrame:
        """The quarantined flow-log rows with their reasons (the most recent, capped)."""
        rows = [(sid, eid, reason, seen) for sid, (eid, reason, seen) in self.bad.items()]
        rows += [(sid, eid, "step_orphan", first) for sid, (eid, first) in self.pending.items()
                 if now - first >= self.orphan_after]
        df = pd.DataFrame(rows, columns=["step_id", "event_id", "reason", "seen_at"])
        df = df.sort_values(["seen_at", "step_id"]).tail(self.keep_quarantined).reset_index(drop=True)
        return df.astype({"step_id": "int64", "event_id": "string", "reason": "string",
                          "seen_at": "datetime64[us]"})

    # --- reading --------------------------------------------------------------------------------
    def pull(self, engine: Engine, known: Container[str], now: datetime) -> tuple[pd.DataFrame, int]:
        """Rows changed since the watermark (less the overlap), checked; returns (usable rows, rows read)."""
        if self.source is None:
            return _empty(), 0
        since = None if self.watermark is None else self.watermark - WATERMARK_OVERLAP
        batch = self.source.read(engine, since=since)
        if not batch.empty:
            self.watermark = max(self.watermark or batch["updated_at"].max(), batch["updated_at"].max())
        return self.classify(batch, known, now), len(batch)

    def scan(self, engine: Engine, known: Container[str], now: datetime, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The whole log, checked, in chunks (a page of `chunk_rows` rows read each) that each hold all the usable steps
        of their events, by event id, the newest first (mapped_read.Page: each page its own statement; the rows
        without an event id go with the first); a log of fewer rows is one chunk. Sets the watermark to the newest
        update time before reading."""
        if self.source is None:
            return
        newest = self.source.newest(engine)
        no_event = self.source.page(engine, Page(None, missing=True))[0]
        page = Page(chunk_rows)
        while True:
            rows, last = self.source.page(engine, page)
            final = len(rows) < chunk_rows
            if not final:
                cut = (rows["event_id"] == rows["event_id"].iat[-1]).to_numpy()
                if cut.all():  # one event of chunk_rows steps or more: all of it, then the ids below it
                    rows = self.source.page(engine, Page(None, last, "="))[0]
                    page = Page(chunk_rows, last, "<")
                else:  # its last event may go on past the page: read again with the next page
                    rows, page = rows[~cut], Page(chunk_rows, last)
            if not no_event.empty:
                rows, no_event = pd.concat([no_event, rows], ignore_index=True), no_event.iloc[:0]
            yield self.classify(rows, known, now)
            if final:
                break
        self.watermark = newest

    def orphan_steps_of(self, engine: Engine, event_ids: Iterable[str], known: Container[str], now: datetime) -> None:
        """The steps of events that left the ledger (quarantined) are checked again: pending (then orphan)
        as a full read of the log would find them, not usable rows of an event we no longer know."""
        ids = list(event_ids)
        if self.source is not None and ids:
            self.classify(self.source.read(engine, event_ids=ids), known, now)

    def steps_of(self, engine: Engine, event_ids: Iterable[str], now: datetime) -> pd.DataFrame:
        """All usable source rows of these events."""
        ids = list(event_ids)
        if self.source is None or not ids:
            return _empty()
        return self.usable(self.source.read(engine, event_ids=ids), now)

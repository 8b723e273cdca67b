"""Keeps the event timelines in Redis current: each run writes the timeline of every event the pull
touched (its row or one of its steps changed), or of all events on a full run (the first, or after
Redis was emptied). Every write runs after the events job has published its snapshot, so the screens do
not wait for it; a full write goes a slice a tick (`fill_slice_s`), the newest events first, so that the ticks
and their snapshots go on while it runs (the demo's 90 days: under a minute; a year's: minutes), and the tick
after its last slice rewrites what changed meanwhile, as a takeover's resume does. A key expires `keep_days`
(COCKPIT_TIMELINE_DAYS) after the event's report; an event still open keeps its key at least `keep_days` past its last change. An event that left the
ledger (quarantined) loses its key. The header's text (title, reporter, address) is read from the
source by row id for just the events written: the ledger does not hold it.

After every successful write a sync marker goes to Redis (`Keys.timelines_synced`): the source watermarks
the timelines are written up to, and the flow log's quarantine state at that point. A run that would be
full (a new leader, one that lost the lead and got it back, a write that failed) resumes from it instead:
it rewrites only the events whose rows or steps changed since (`resume`), so a takeover costs what
changed since the previous leader's last write, not every timeline kept (34 s at a year's scale). A
flushed Redis has no marker: then every timeline is written again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Generator, Iterable
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from etl.source.mapped_read import EventSource
from etl.state.event_ledger import TEXT_COLS, WATERMARK_OVERLAP, EventLedger
from etl.state.id_owner import contains_many
from etl.state.step_log import COLUMNS, StepLog
from etl.transforms.timelines import build_timelines
from snapshots.store import Fenced
from snapshots.timelines import TimelineStore

log = logging.getLogger(__name__)


def with_text(engine: Engine, events: pd.DataFrame, source: EventSource) -> pd.DataFrame:
    """The events with their header text columns (TEXT_COLS) read from the source by row id (through the mapping)."""
    if all(c in events for c in TEXT_COLS):
        return events
    text = source.text_of(engine, events).set_index("row_id")
    return events.drop(columns=[c for c in TEXT_COLS if c in events]).join(text, on="row_id")


FULL_CHUNK_EVENTS = 20_000
# A full write's slice: after each tick's snapshot, chunks of the flow log (FILL_CHUNK rows: 0.2-0.6 s each on 2 cores)
# until FILL_SLICE_S has passed, at least one; a full write that fits in one chunk is done in the tick that began it
FILL_SLICE_S = 1.0
FILL_CHUNK = 25_000
# Past this many quarantined or pending flow-log rows the marker does not carry them (it is rewritten on every
# tick): a new leader then writes every timeline, as it must re-check every step row anyway.
MARKER_STATE_MAX = 20_000


def _iso(t) -> str | None:
    return None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat()


def _time(text: str | None):
    return None if text is None else pd.Timestamp(text).to_pydatetime()


class TimelineSync:
    def __init__(self, store: TimelineStore, steps: StepLog, keep_days: int, timezone: str, events: EventSource,
                 fill_slice_s: float = FILL_SLICE_S, fill_chunk: int = FILL_CHUNK):
        self.store, self.steps, self.keep_days, self.timezone = store, steps, keep_days, timezone
        self.events, self.fill_slice_s, self.fill_chunk = events, fill_slice_s, fill_chunk
        self.dirty = True  # a run that failed half-way (source or Redis down) makes the next one full (or resumed)
        self.deferred: tuple | None = None
        self.filling: tuple[Generator[None, None, dict], datetime | None] | None = None  # a full write under way, its watermark
        self.caught_up_to: datetime | None = None  # a full write done: the events watermark its rows were taken at (the next plan resumes)
        self.resumed_from: str | None = None  # the marker's events watermark the last resume started from
        self.last_stats: dict | None = None  # the counts of the last write (an incremental one's go out with the next snapshot)

    # --- the sync marker -------------------------------------------------------------------------
    def marker(self, events_watermark) -> dict:
        """What the timelines in Redis are written up to: the events' and the flow log's watermarks, and
        the flow log's quarantined and pending rows then (so a new leader's counts go on from them)."""
        steps = self.steps
        m: dict[str, object] = {"keep_days": self.keep_days, "events_watermark": _iso(events_watermark),
             "steps_watermark": _iso(steps.watermark)}
        if len(steps.bad) + len(steps.pending) <= MARKER_STATE_MAX:
            m["bad"] = [[int(sid), eid, reason, _iso(seen)] for sid, (eid, reason, seen) in steps.bad.items()]
            m["pending"] = [[int(sid), eid, _iso(first)] for sid, (eid, first) in steps.pending.items()]
        return m

    def resume(self) -> pd.Timestamp | None:
        """Take up the marker in Redis, if it is usable: the flow log's watermark and quarantine state become
        the marker's, and the run is no longer due to be full. Returns the update time from which event
        rows must be rewritten (the marker's watermark less the pull's overlap), or None (write them all)."""
        try:
            m = self.store.read_marker()
        except Exception as exc:  # noqa: BLE001 - Redis down or a foreign value: the full write is always right
            log.warning("event timelines: sync marker unreadable (%s); writing them all", exc)
            return None
        if not m or m.get("keep_days") != self.keep_days or "bad" not in m or m.get("events_watermark") is None:
            return None
        self.steps.watermark = _time(m["steps_watermark"])
        self.steps.bad = {sid: (eid, reason, _time(seen)) for sid, eid, reason, seen in m["bad"]}
        self.steps.pending = {sid: (eid, _time(first)) for sid, eid, first in m["pending"]}
        self.dirty, self.resumed_from = False, m["events_watermark"]
        return pd.Timestamp(m["events_watermark"]) - WATERMARK_OVERLAP

    def plan(self, engine: Engine, ledger: EventLedger, now: datetime, snapshot_lost: bool,
             all_rows: Callable[[datetime], pd.DataFrame]) -> dict:
        """After the events pull, the one place that decides what the next write does, and defers it: full (every
        timeline kept, `all_rows(now)`) on a first run, after a failed write or when Redis lost our last snapshot,
        unless the sync marker in Redis lets it resume (a takeover: rewrite what changed since the previous
        leader's last write); otherwise incremental (the events the pull and the flow log touched)."""
        if self.filling is not None:
            if not snapshot_lost:  # a full write under way: it goes on after this tick's snapshot
                return {"mode": "full", "after_publish": True, "filling": True}
            self.drop_fill()  # Redis lost our snapshot (and perhaps the timelines written so far): start again
        full, cut = snapshot_lost or self.dirty, None
        if full:
            cut = self.resume()
            full = cut is None
        elif self.caught_up_to is not None:  # the tick after a full write: what changed while it ran
            cut = pd.Timestamp(self.caught_up_to) - WATERMARK_OVERLAP
        self.caught_up_to = None
        if full:  # the pull's ids are not needed (a backfill's are millions)
            return self.defer(all_rows(now), now, known=ledger.id_owner, events_watermark=ledger.watermark)
        changed: list[str] | set[str] = ledger.changed_ids if cut is None else ledger.updated_since(cut)
        touched, steps_read = self.touched(engine, ledger.id_owner, changed, now)
        return {**self.defer(ledger.rows_of(touched), now, touched, ledger.id_owner, steps_read,
                             events_watermark=ledger.watermark), "previous": self.last_stats}

    def ttl(self, events: pd.DataFrame, now: datetime) -> np.ndarray:
        """Seconds each event's key lives from `now` (0: already past, do not write). Relative to the
        ETL's clock, not Redis's, so a run with another `now` (a replay, a test) keeps the same keys."""
        keep = pd.Timedelta(days=self.keep_days)
        until = pd.to_datetime(events["reported_at"]) + keep
        until = until.where(events["closed_at"].notna(), np.maximum(until, pd.Timestamp(now) + keep))  # type: ignore[call-overload]
        secs = (until - pd.Timestamp(now)) // pd.Timedelta(seconds=1)
        return secs.where(secs > 0).fillna(0).astype("int64").to_numpy()

    def _write(self, engine: Engine, events: pd.DataFrame, steps: pd.DataFrame, now: datetime) -> int:
        if events.empty:
            return 0
        events = events[self.ttl(events, now) > 0]
        if events.empty:
            return 0
        events = with_text(engine, events, self.events)
        expire = dict(zip(events["event_id"], self.ttl(events, now)))
        items = ((eid, tl, expire[eid]) for eid, tl in build_timelines(events, steps) if expire[eid] > 0)
        return self.store.write_many(items)

    def defer(self, events: pd.DataFrame, now: datetime, changed_ids: Iterable[str] | None = None,
              known: Container[str] | None = None, steps_read: int | None = None, events_watermark=None) -> dict:
        """Ask for a write at the next catch_up (the events job runs it after publishing, so the screens
        need not wait): of all timelines (`events`: every event to keep), or with `changed_ids` of the
        touched events only (`events`: at least their rows). `events_watermark`: the ledger's after the
        pull these rows come from (the marker written after the write says the timelines are current to it)."""
        full = changed_ids is None
        self.dirty = self.dirty or full
        self.deferred = (events, now, list(changed_ids or []), full, known, steps_read, events_watermark)
        # filling: the snapshot's meta says so until the write's counts replace it (the screens say "being written")
        return {"mode": "full", "after_publish": True, "filling": True} if full else \
            {"mode": "incremental", "after_publish": True}

    def catch_up(self, engine: Engine) -> dict | None:
        """The deferred write, if one is due, or the next slice of a full write; the counts of a write done, or
        None (none due, a full write not done yet, or it failed: then the next run is a full one)."""
        if self.deferred is not None:
            (events, now, changed, full, known, steps_read, watermark), self.deferred = self.deferred, None
            if full:
                self.drop_fill()
                self.filling = (self.fill(engine, events, now, known), watermark)
            else:
                return self._write_touched(engine, events, changed, now, known, steps_read, watermark)
        if self.filling is None:
            return None
        fill, watermark = self.filling
        try:
            until = time.perf_counter() + self.fill_slice_s
            while True:
                next(fill)
                if time.perf_counter() >= until:
                    return None  # more at the next tick
        except StopIteration as done:
            self.filling = None
            self.store.write_marker(self.marker(watermark))
            self.dirty, self.caught_up_to = False, watermark
            self.last_stats = done.value
            return done.value
        except Fenced:  # another process leads now: ours is not to write; it (or we, leading again) rewrites all
            self.drop_fill()
            raise
        except Exception as exc:  # noqa: BLE001 - source or Redis down: the snapshot is out, start again next run
            log.warning("event timelines: full write failed (%s); the next run writes them all", exc)
            self.drop_fill()
            return None

    def drop_fill(self) -> None:
        """Abandon a full write under way (its read's connection closed); the next run is full (or resumed)."""
        if self.filling is not None:
            self.filling[0].close()
            self.filling, self.dirty = None, True

    def _write_touched(self, engine: Engine, events: pd.DataFrame, changed: list[str], now: datetime,
                       known: Container[str] | None, steps_read: int | None, watermark) -> dict | None:
        try:
            stats = self.run(engine, events, changed, now, known, steps_read)
            self.store.write_marker(self.marker(watermark))
            if self.resumed_from is not None:
                stats["resumed_from"], self.resumed_from = self.resumed_from, None
            self.last_stats = stats
            return stats
        except Fenced:  # another process leads now: ours is not to write; it (or we, leading again) rewrites all
            self.dirty = True
            raise
        except Exception as exc:  # noqa: BLE001 - source or Redis down: the snapshot is out, retry next run
            log.warning("event timelines: write failed (%s); the next run writes them all", exc)
            self.dirty = True
            return None

    def touched(self, engine: Engine, known: Container[str], changed_ids: Iterable[str], now: datetime) -> tuple[set[str], int]:
        """What an incremental run rewrites: the events whose rows the pull changed, those with new or
        changed steps (pulled and checked here, so the snapshot's quarantine counts are current) and
        those whose pending steps found their event; and how many step rows were read."""
        changed, read = self.steps.pull(engine, known, now)
        return set(changed_ids) | set(changed["event_id"]) | self.steps.resolve(known), read

    def _begin(self, events: pd.DataFrame, known: Container[str] | None) -> tuple[pd.DataFrame, pd.DataFrame, Container[str]]:
        """A write begins: dirty until it is done; the events (an empty frame with the columns a write reads), by id,
        and the ids the ETL holds (default: those of `events`)."""
        self.dirty = True
        if events.empty:
            events = pd.DataFrame(columns=["event_id", "reported_at", "closed_at"])
        return events, events.set_index("event_id", drop=False), pd.Index(events["event_id"]) if known is None else known

    def fill(self, engine: Engine, events: pd.DataFrame, now: datetime,
             known: Container[str] | None = None) -> Generator[None, None, dict]:
        """A full write: every timeline of `events` (every event to keep), the whole flow log read in chunks, each
        row checked against `known` (the ids the ETL holds, default those of `events`: a step of an event kept
        but too old for a timeline is neither pending nor orphan). Yields between two chunks (where a slice may
        end: catch_up; never when the log is one page and its events without steps one chunk: FULL_CHUNK_EVENTS);
        returns the counts, `slices` the chunks."""
        t0 = time.perf_counter()
        events, by_id, known = self._begin(events, known)
        kept, with_steps = set(events["event_id"]), set()
        written = read = slices = 0
        for chunk in self.steps.scan(engine, known, now, self.fill_chunk):
            if slices:
                yield
            slices += 1
            read += len(chunk)
            ids = [e for e in chunk["event_id"].unique() if e in kept]
            with_steps.update(ids)
            written += self._write(engine, by_id.loc[ids], chunk, now)
        rest = events[[e not in with_steps for e in events["event_id"]]]
        for i in range(0, len(rest), FULL_CHUNK_EVENTS):  # events without any step: header only
            if i:  # the first chunk of them goes with the log's last page: a small source's write is one slice
                yield
            slices += 1
            written += self._write(engine, rest.iloc[i:i + FULL_CHUNK_EVENTS], pd.DataFrame(columns=COLUMNS), now)
        self.dirty = False
        return {"mode": "full", "steps_read": read, "written": written, "deleted": 0, "slices": slices,
                "seconds": round(time.perf_counter() - t0, 3)}

    def run(self, engine: Engine, events: pd.DataFrame, changed_ids: Iterable[str], now: datetime,
            known: Container[str] | None = None, steps_read: int | None = None) -> dict:
        """Write the timelines of the touched events; returns counts for the manifest's meta. `events`: at least
        the touched ones; `known`: the ids the ETL holds (default: those of `events`); `steps_read` given:
        `changed_ids` is already every touched event (see touched), else the steps are pulled here."""
        t0 = time.perf_counter()
        events, by_id, known = self._begin(events, known)
        if steps_read is None:
            touched, read = self.touched(engine, known, changed_ids, now)
        else:
            touched, read = set(changed_ids), steps_read
        order = list(touched)
        held = contains_many(known, order)  # one lookup of them all (the ledger's ids: etl/state/id_owner.py)
        gone = [e for e, k in zip(order, held) if not k]
        deleted = self.store.delete_many(gone)
        self.steps.orphan_steps_of(engine, gone, known, now)  # an event that left: its steps wait for it again
        live = [e for e, k in zip(order, held) if k and e in by_id.index]
        written = self._write(engine, by_id.loc[live], self.steps.steps_of(engine, live, now), now)
        self.dirty = False
        return {"mode": "incremental", "steps_read": read, "written": written, "deleted": deleted,
                "seconds": round(time.perf_counter() - t0, 3)}

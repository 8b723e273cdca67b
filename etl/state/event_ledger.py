"""The ETL's copy of the source's events, kept current incrementally by an update-time watermark.

It holds what the metrics need (no title, reporter or address: those are read by event id when a
timeline is written) and only the kept history: events reported in the last `history_days` local
days, and every open event whatever its age. A closed event older than that counts on no screen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from config.city import City
from contract.windows import first_midnight
from etl.source.mapped_read import EventSource
from etl.source.schema import Event
from etl.source.validate import REASONS, STAGE_COLS, event_problems
from etl.state.id_owner import IdOwner, id_hashes, id_text

TIME_COLS = (*STAGE_COLS, "due_at", "updated_at")
# Shown only on an event's timeline, read by event id when it is written (etl/state/timeline_sync.py).
TEXT_COLS = ("title", "reporter_name", "reporter_phone", "address")
# dept_no: the department's number in the city's catalogue (config/departments.py; 0 = 未归属), set at the boundary
LEDGER_COLS = [c for c in Event.__table__.columns.keys() if c not in TEXT_COLS] + ["dept_no"]
# Codes and categories: object columns sharing one Python string per distinct value (etl/source/arrow_read.py).
OBJECT_COLS = ("grid_code", "category", "channel", "handling_level", "department")
# What the source mapping adds to a row (etl/source/mapped_read.py): why it could not be read, where it was placed.
MAP_COLS = ("map_reason", "map_detail", "placed_level", "reached")
# Rows committed late with an older update time are still seen: each pull re-reads this much before the watermark.
WATERMARK_OVERLAP = timedelta(seconds=30)


def history_start(now: datetime, history_days: int) -> pd.Timestamp:
    """The first local midnight of the kept history."""
    return first_midnight(now, history_days)


def read_events(engine: Engine, source: EventSource, since: datetime | None, first_day: datetime | None = None,
                now: datetime | None = None) -> pd.DataFrame:
    """Source event rows as our columns (LEDGER_COLS, then MAP_COLS) through the source mapping (the
    demo's by default) updated at or after `since`; with no `since`, all rows, or those reported from
    `first_day` on plus every open one."""
    return ledger_frame(source.read(engine, since, first_day, now or datetime.now()))


def ledger_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A canonical read's columns the ledger keeps (LEDGER_COLS, then MAP_COLS)."""
    return df[[*LEDGER_COLS, *(c for c in MAP_COLS if c in df)]]


def empty_events() -> pd.DataFrame:
    """A ledger frame with no rows and the columns' types."""
    df = pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c in TIME_COLS else "float64") for c in LEDGER_COLS})
    df["event_id"] = df["event_id"].astype("str")
    return df.astype({"row_id": "int64", "dept_no": "int64", **{c: "object" for c in OBJECT_COLS}})


@dataclass(frozen=True)
class LedgerChange:
    """What changed in the ledger since it last handed its changes over: the weeks whose rows changed or were
    dropped, and the row ids read (accepted or not; within a changed week only these rows changed)."""

    weeks: frozenset
    rows: np.ndarray


def week_of(times: pd.Series) -> np.ndarray:
    """The Monday (datetime64[D]) of the local week of each time."""
    d = times.to_numpy(dtype="datetime64[D]")
    return d - ((d.astype(np.int64) + 3) % 7).astype("timedelta64[D]")  # 1970-01-01 was a Thursday


class EventLedger:
    """Valid events by row id, the quarantined rows with their reasons, and the watermark.

    The events are kept in one frame per week of report (`parts`, Monday -> rows indexed by row id),
    so a pull rewrites only the weeks it touched (`changed_weeks`), whatever the history's size; the
    transforms and the tablet's pieces are then recomputed for those weeks only (etl/jobs.py)."""

    def __init__(self, city: City, source: EventSource, future_tolerance: timedelta = timedelta(minutes=5),
                 keep_quarantined: int = 1000, history_days: int = 120):
        self.city, self.history_days = city, history_days
        self.source = source
        self.known_grids = self.source.placer.known_keys()  # grids, and streets/communities placed at their level
        self.future_tolerance = future_tolerance
        self.keep_quarantined = keep_quarantined
        self.parts: dict[np.datetime64, pd.DataFrame] = {}
        # weeks whose rows changed or were dropped since the ledger last handed its changes over (take_changes; a
        # run that failed half-way gives them back, so the next run sees them)
        self.changed_weeks: set[np.datetime64] = set()
        self.quarantine = pd.DataFrame(columns=["row_id", "event_id", "reason", "detail", "seen_at"])
        self.id_owner = IdOwner()  # event id -> the row id holding it (etl/state/id_owner.py)
        self.watermark: datetime | None = None
        # event ids of the rows the last pull read (accepted or not): kept as the batch's column, made a list of
        # Python strings only when asked for (a backfill's millions are never asked for: its timelines are full)
        self._changed: pd.Series | None = None
        self._changed_list: list[str] | None = []
        # row ids read since then (accepted or not): within a changed week only these rows changed, so the
        # week's facts and pieces are rebuilt for them alone (etl/state/week_facts.py)
        self.touched_rows: np.ndarray = np.array([], dtype=np.int64)
        self._open: dict[np.datetime64, pd.DataFrame] = {}  # each week's open rows, kept until the week changes
        self._last_close: dict[np.datetime64, np.datetime64] = {}  # each week's latest closed_at, likewise
        self._unknown_units: dict[np.datetime64, pd.Series] = {}  # each week's raw units no catalogue knows, likewise
        self._rid_range: dict[np.datetime64, tuple[int, int]] = {}  # each week's least and greatest row id, likewise

    @property
    def changed_ids(self) -> list[str]:
        """Event ids of the rows the last pull read (accepted or not), each once."""
        if self._changed_list is None:
            col = self._changed
            self._changed_list = col.dropna().unique().tolist() if col is not None and len(col) else []
            self._changed = None
        return self._changed_list

    def take_changes(self) -> LedgerChange:
        """What changed since the last hand-over (weeks and row ids), cleared here: the state is handed it."""
        change = LedgerChange(frozenset(self.changed_weeks), self.touched_rows)
        self.changed_weeks, self.touched_rows = set(), np.array([], dtype=np.int64)
        return change

    def give_back(self, change: LedgerChange) -> None:
        """A state update that failed: its change is pending again, with whatever was read since."""
        self.changed_weeks |= change.weeks
        self.touched_rows = np.concatenate([change.rows, self.touched_rows])

    def rows_of(self, event_ids) -> pd.DataFrame:
        """The kept rows holding these event ids (each week's row index is hashed once, while the week is
        unchanged: a lookup costs the ids asked for, not the rows kept)."""
        rids = pd.Index(np.asarray([self.id_owner[e] for e in event_ids if e in self.id_owner], dtype=np.int64))
        if not len(rids):
            return empty_events()
        frames = []
        for _, part in sorted(self.parts.items()):
            at = part.index.get_indexer(rids)
            if (at >= 0).any():
                frames.append(part.iloc[np.sort(at[at >= 0])])
        if not frames:
            return empty_events()
        return frames[0] if len(frames) == 1 else pd.concat(frames)

    def updated_since(self, cut) -> set[str]:
        """Event ids of the kept rows updated at or after `cut`, and of every quarantined row (so that a
        resumed timeline write drops their keys): what changed since a timeline sync marker."""
        t = pd.Timestamp(cut).to_datetime64().astype("datetime64[us]")
        ids = {e for part in self.parts.values()
               for e in part["event_id"].to_numpy(object)[part["updated_at"].to_numpy("datetime64[us]") >= t]}
        return ids | set(self.quarantine["event_id"].dropna())

    @property
    def events(self) -> pd.DataFrame:
        """All kept events in one frame (a copy: for tests and one-off use, not for every tick)."""
        return self.rows(lambda part: slice(None))

    def rows(self, pick, weeks=None) -> pd.DataFrame:
        """The rows `pick(part)` selects (a boolean mask or slice) from each week (all, or `weeks`)."""
        frames = [part[pick(part)] for w, part in sorted(self.parts.items()) if weeks is None or w in weeks]
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_events()
        return frames[0] if len(frames) == 1 else pd.concat(frames)

    def pull(self, engine: Engine, now: datetime, on_part: Callable[[], None] | None = None) -> dict:
        """Read what changed since the watermark, quarantine bad rows, merge the rest; returns counts. A first read
        is taken in part by part as each is read (EventSource.history_parts), `on_part` called after each (the
        events job brings the week facts up to date with it while the next part is read)."""
        since = None if self.watermark is None else self.watermark - WATERMARK_OVERLAP
        first_day = history_start(now, self.history_days)
        parts = self.source.history_parts(engine, first_day.to_pydatetime(), now) if since is None else None
        if parts is not None:
            stats = {"read": 0, "accepted": 0, "quarantined": 0}
            ids = []
            try:
                for part in parts:
                    batch = ledger_frame(part)
                    del part
                    for key, n in self.merge(batch, now).items():
                        stats[key] += n
                    ids.append(batch["event_id"])
                    del batch
                    if on_part is not None:
                        on_part()
            except BaseException:
                self._forget_all()  # no half-history kept: the next pull is a first read again
                raise
            ids = [i for i in ids if len(i)]
            self._changed, self._changed_list = (pd.concat(ids, ignore_index=True), None) if ids else (None, [])
            self.forget_before(first_day)
            return stats
        batch = read_events(engine, self.source, since, first_day.to_pydatetime(), now)
        steps_changed = self.source.changed_by_steps(engine, since)  # stages derived from the flow log
        if steps_changed:
            again = self.source.read(engine, None, None, now, ids=steps_changed)
            batch = pd.concat([batch, again[batch.columns]], ignore_index=True).drop_duplicates("row_id", keep="last")
        stats = self.merge(batch, now)
        self.forget_before(first_day)
        return stats

    def _forget_all(self) -> None:
        """Back to the state before any pull (each week dropped is a change: the week facts drop theirs)."""
        for week in list(self.parts):
            self._set(week, self.parts[week].iloc[:0])
        self.quarantine = self.quarantine.iloc[:0]
        self.id_owner = IdOwner()
        self.watermark = None
        self._changed, self._changed_list = None, []

    def forget_before(self, first_day: pd.Timestamp) -> None:
        """Drop closed events reported before the kept history (the day rolled over, or a late update
        of an old event was read); their ids stay owned, so a copy of one is still a duplicate."""
        for week in [w for w in self.parts if w < np.datetime64(first_day.date(), "D")]:
            part = self.parts[week]
            old = (part["reported_at"] < first_day) & part["closed_at"].notna()
            if old.any():
                self._set(week, part[~old])

    def open_rows(self) -> pd.DataFrame:
        """The open events (closed_at missing) of every week: what `rows(closed_at isna)` gives, with each
        week's selection kept until the week changes (a tick then scans only the weeks it touched)."""
        frames = []
        for w in sorted(self.parts):
            o = self.open_rows_of(w)
            if len(o):
                frames.append(o)
        if not frames:
            return empty_events()
        return frames[0] if len(frames) == 1 else pd.concat(frames)

    def reported_or_open(self, first_day: pd.Timestamp, at: pd.Timestamp) -> pd.DataFrame:
        """rows(reported from first_day on, or not closed at `at`): a week wholly before first_day whose last close
        is at or before `at` gives just its open rows (kept per week), so only the recent weeks and those with a
        later close are scanned."""
        first, t = np.datetime64(pd.Timestamp(first_day).to_datetime64()), np.datetime64(pd.Timestamp(at).to_datetime64())
        frames = []
        for w, part in sorted(self.parts.items()):
            last = self._last_close.get(w)
            if last is None:
                c = part["closed_at"].to_numpy(dtype="datetime64[us]")
                last = self._last_close[w] = c[~np.isnat(c)].max() if (~np.isnat(c)).any() else np.datetime64("NaT")
            if w + np.timedelta64(7, "D") <= first.astype("datetime64[D]") and (np.isnat(last) or last <= t):
                o = self.open_rows_of(w)
            else:  # numpy masks, one take: a pandas mask per week cost more than the rows it picks
                rep = part["reported_at"].to_numpy(dtype="datetime64[us]")
                clo = part["closed_at"].to_numpy(dtype="datetime64[us]")
                pick = np.flatnonzero((rep >= first) | ~(clo <= t))
                o = part if len(pick) == len(part) else part.take(pick)
            if len(o):
                frames.append(o)
        if not frames:
            return empty_events()
        return frames[0] if len(frames) == 1 else pd.concat(frames)

    def open_rows_of(self, week) -> pd.DataFrame:
        o = self._open.get(week)
        if o is None:
            part = self.parts[week]
            o = self._open[week] = part[part["closed_at"].isna()]
        return o

    def _set(self, week, part: pd.DataFrame) -> None:
        self.changed_weeks.add(week)
        self._open.pop(week, None)
        self._last_close.pop(week, None)
        self._unknown_units.pop(week, None)
        self._rid_range.pop(week, None)
        if part.empty:
            self.parts.pop(week, None)
        else:
            self.parts[week] = part

    def merge(self, batch: pd.DataFrame, now: datetime) -> dict:
        self._changed, self._changed_list = (None, []) if batch.empty else (batch["event_id"], None)
        if batch.empty:
            return {"read": 0, "accepted": 0, "quarantined": 0}
        batch = batch.set_index("row_id", drop=False).rename_axis(None)
        self.touched_rows = np.concatenate([self.touched_rows, batch.index.to_numpy(dtype=np.int64)])
        ids = id_text(batch["event_id"])
        hashes = id_hashes(ids)  # hashed once: for the duplicate check and for id_owner
        # the ids looked up once: their owners for the duplicate check, their positions again for add_many below
        at, version = self.id_owner.positions(ids, hashes), self.id_owner.version
        reason = event_problems(batch, self.known_grids, self.city.contains, now, self.future_tolerance, self.id_owner,
                                id_hashes=hashes, known_rows=self.id_owner.owners(ids, hashes, at=at))
        detail = pd.Series(None, index=batch.index, dtype=object)
        if "map_reason" in batch:  # what the mapping could not read comes first, with its detail
            mapped_bad = batch["map_reason"].notna()
            reason = reason.astype(object).where(~mapped_bad, batch["map_reason"])
            detail = batch["map_detail"].where(mapped_bad, None)
            batch = batch.drop(columns=[c for c in MAP_COLS if c in batch])
        bad = batch[reason.notna()]
        ok = np.flatnonzero(reason.isna().to_numpy())  # the good rows' positions: taken week by week below, never
        # copied whole first (a backfill's batch is the history: one copy less at its peak)
        touched = batch.index
        lo, hi = int(touched.min()), int(touched.max())
        # a row that changed leaves whichever side it was on, then joins the side it belongs to now
        for week, part in list(self.parts.items()):
            least, greatest = self._rid_range.get(week) or self._rid_range.setdefault(
                week, (int(part.index.min()), int(part.index.max())))
            if greatest < lo or least > hi:  # none of the rows read can be here (a part of a first read, mostly)
                continue
            if not (part.index.get_indexer(touched) >= 0).any():  # the week's index hashed once while unchanged
                continue
            hit = part.index.isin(touched)
            for rid, eid in part.loc[part.index.isin(bad.index), "event_id"].items():
                if self.id_owner.get(eid) == rid:
                    del self.id_owner[eid]
            self._set(week, part[~hit])
        if len(ok):
            weeks = week_of(batch["reported_at"].take(ok))
            codes, uniq = pd.factorize(weeks)
            for k, week in enumerate(np.asarray(uniq, dtype="datetime64[D]")):
                rows, part = batch.take(ok[codes == k]), self.parts.get(week)  # type: ignore[assignment]
                self._set(week, rows if part is None else pd.concat([part, rows]))
        self.id_owner.add_many(ids.take(pa.array(ok)), batch["row_id"].to_numpy(dtype=np.int64)[ok], hashes[ok],
                               at=(at[ok], version))
        q = self.quarantine.set_index("row_id", drop=False).rename_axis(None).drop(index=touched, errors="ignore")
        new_q = pd.DataFrame({"row_id": bad["row_id"], "event_id": bad["event_id"], "reason": reason[bad.index],
                              "detail": detail[bad.index], "seen_at": now})
        self.quarantine = pd.concat([q, new_q], ignore_index=True) if not q.empty else new_q.reset_index(drop=True)
        self.watermark = max(self.watermark or batch["updated_at"].max(), batch["updated_at"].max())
        return {"read": len(batch), "accepted": len(ok), "quarantined": len(bad)}

    def unknown_departments(self, n: int = 20) -> list[dict]:
        """The department values the source wrote that the city's catalogue does not know (counted under 未归属),
        most rows first: [{value, rows}] (for /health and `source check`; each week's tally kept until it changes)."""
        total: pd.Series | None = None
        for w, part in self.parts.items():
            s = self._unknown_units.get(w)
            if s is None:
                unknown = part["department"][(part["dept_no"].to_numpy() == 0) & part["department"].notna().to_numpy()]
                s = self._unknown_units[w] = unknown.astype(str).value_counts()
            total = s if total is None else total.add(s, fill_value=0)
        if total is None or total.empty:
            return []
        total = total.sort_values(ascending=False, kind="stable").head(n)
        return [{"value": str(v), "rows": int(c)} for v, c in total.items()]

    def quarantine_counts(self) -> dict[str, int]:
        """Quarantined rows per reason (every reason listed, zero included)."""
        counts = self.quarantine["reason"].value_counts()
        return {key: int(counts.get(key, 0)) for key in REASONS}

    def quarantine_rows(self) -> pd.DataFrame:
        """The most recent quarantined rows with their reasons (capped)."""
        return self.quarantine.tail(self.keep_quarantined).reset_index(drop=True).astype(
            {"row_id": "int64", "event_id": "string", "reason": "string", "detail": "string"})

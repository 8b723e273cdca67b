"""Reading a city's source through its mapping into our canonical frames: the one code path for every
source, the demo's included (config/sources/demo.toml). A feed's rows come from its table or SELECT
(wrapped as a subquery); only the columns the mapping names are read, through the columnar path
(etl/source/arrow_read.py) for events; then each of our fields is built (etl/source/mapped_values.py),
stage times come from columns or from the flow log, the deadline from a column or rules, the place from
a code or coordinates (etl/source/placement.py). What follows the boundary (ledger, validation,
transforms) sees the columns it always saw, plus `map_reason`/`map_detail` for a row the mapping could
not read (quarantined by the ledger) and `placed_level`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, String, column, or_, select, table, text
from sqlalchemy.engine import Engine

from config.city import City
from config.departments import UNASSIGNED, load_departments
from contract.domain import DEPARTMENT_FACTS, STAGES
from contract.factorize import factorize
from etl.source.arrow_read import read_frame, read_frames
from etl.source.mapped_values import (
    Problems,
    key_text,
    mapped,
    raw,
    row_ids,
    satisfaction,
    text_field,
    time_field,
    zone,
)
from etl.source.mapping import EventFeed, FieldSpec, SourceMapping, StepFeed
from etl.source.placement import Placer

STAGE_COLS = tuple(f"{s}_at" for s in STAGES)
TEXT_FIELDS = ("title", "reporter_name", "reporter_phone", "address")
IN_CHUNK = 5000
# fields whose source values are only read as numbers (etl/source/mapped_read.py EventSource.canonical)
NUMERIC_FIELDS = ("priority", "reopened", "satisfaction", *DEPARTMENT_FACTS)


def _specs(model) -> dict[str, FieldSpec]:
    return {k: v for k, v in model if isinstance(v, FieldSpec)}


class FeedSource:
    """A feed's table or SELECT and the source columns its fields name (times typed or text)."""

    def __init__(self, feed, key: str, city: City):
        self.feed, self.key, self.city = feed, key, city
        self.zone = zone(feed.timezone, city.timezone)

    def columns(self) -> dict[str, object]:
        """Source column -> SQL type (DateTime for a typed time, String for text times, None otherwise)."""
        raise NotImplementedError

    def from_(self, cols: dict[str, object]):
        items: list = [column(c, t) if t is not None else column(c) for c, t in cols.items()]  # type: ignore[arg-type]
        if self.feed.table is not None:
            schema, _, name = self.feed.table.rpartition(".")
            return table(name, *items, schema=schema or None)
        return text(self.feed.select).columns(*items).subquery("src")

    def since_literal(self, spec: FieldSpec, since: datetime):
        """A local time as the source column holds it (its zone; its text format for a text column)."""
        t = pd.Timestamp(since)
        z = zone(spec.timezone or self.feed.timezone, self.city.timezone)
        if z is not None:
            t = t.tz_localize(self.city.timezone).tz_convert(z).tz_localize(None)
        return t.strftime(spec.format) if spec.format and spec.format.upper() != "ISO8601" else t.to_pydatetime()


def _time_cols(specs: dict[str, FieldSpec], cols: dict[str, object], names: Iterable[str]) -> None:
    for name in names:
        spec = specs.get(name)
        if spec is not None and spec.column is not None:
            cols[spec.column] = String if spec.format else DateTime


class EventSource(FeedSource):
    def __init__(self, mapping: SourceMapping, city: City, placer: Placer | None = None):
        super().__init__(mapping.spec.events, "events", city)
        self.mapping, self.placer = mapping, placer or Placer(city)
        self.departments = load_departments(city.folder)  # 条: the city's catalogue (config/departments.py)
        feed: EventFeed = self.feed
        self.fields, self.times = _specs(feed.fields), _specs(feed.times)
        self.steps = StepSource(mapping, city) if mapping.spec.steps is not None else None
        self.last_id = None  # increasing_id and open_set watermarks: the largest id read
        self.id_floor = None  # ... and the largest as of the read before: new rows are read from there, so a row
        # committed a tick late with a smaller id is still seen (a row read twice is merged once)
        self.hashes: pd.Series | None = None  # full and open_set reads: a hash per row id, to pass on only changed rows
        self.full_read_at: datetime | None = None
        self.open_ids: set[str] = set()  # open_set: ids of the events whose last row read was not closed
        self.open_read_at: datetime | None = None
        self.open_stats: dict = {}  # the last open_set read: open events, ids re-read, rows passed on, seconds

    def columns(self) -> dict[str, object]:
        cols: dict[str, object] = {}
        if self.feed.row_id:
            cols[self.feed.row_id] = None
        for spec in self.fields.values():
            if spec.column is not None:
                cols[spec.column] = None
        _time_cols(self.times, cols, self.times)
        for spec in (self.feed.grid.code, self.feed.grid.lon, self.feed.grid.lat):
            if spec is not None and spec.column is not None:
                cols[spec.column] = None
        if self.feed.watermark.column:
            cols.setdefault(self.feed.watermark.column, None)
        return cols

    def ledger_columns(self) -> dict[str, object]:
        """The columns the ledger needs: not the display texts (read by id when a timeline is written)."""
        f, g = self.fields, self.feed.grid
        used = {s.column for n, s in f.items() if n not in TEXT_FIELDS and s.column}
        used |= {s.column for s in (*self.times.values(), g.code, g.lon, g.lat) if s is not None and s.column}
        used |= {self.feed.row_id, self.feed.watermark.column}
        return {c: t for c, t in self.columns().items() if c in used}

    # --- reading --------------------------------------------------------------------------------
    def read(self, engine: Engine, since: datetime | None, first_day: datetime | None, now: datetime,
             ids: list[str] | None = None) -> pd.DataFrame:
        """Canonical event rows: changed since `since` (by the feed's watermark kind), or all (with
        `first_day`: those reported from then on plus the open ones, where the filter can be said in
        SQL), or those of `ids`."""
        wm = self.feed.watermark
        if (wm.kind == "full" and ids is None and self.full_read_at is not None and since is not None
                and (now - self.full_read_at).total_seconds() < wm.every_s):
            return self.canonical(pd.DataFrame({c: pd.Series(dtype=object) for c in self.ledger_columns()}), now)
        q, times, objects = self.query(since, first_day, ids, now)
        as_is = self.as_is()
        df = read_frame(engine, q, times=times, objects=objects, bulk=since is None and ids is None,
                        numeric=as_is["numeric"], unique_text=as_is["unique_text"])
        if wm.kind in ("increasing_id", "open_set") and ids is None:
            self.id_floor = self.last_id
            if len(df):
                top = df[wm.column].max()
                top = top.item() if hasattr(top, "item") else top  # a Python value: SQL renders it as a literal (bulk read)
                self.last_id = top if self.last_id is None else max(self.last_id, top)
        reread = wm.kind == "open_set" and ids is None and since is not None and (
            self.open_read_at is None or (now - self.open_read_at).total_seconds() >= wm.open_every_s)
        if reread:
            df = self._with_open_rows(engine, df, times, objects, now)
        out = self.canonical(df, now)
        if self.steps is not None and self.feed.stages_from_flow_log is not None:
            out = self.with_flow_stages(engine, out, all_steps=since is None and ids is None)
        if wm.kind == "open_set":
            self._track_open(out)
            if ids is None:  # the first read passes every row on and keeps the open rows' hashes
                out = self._open_changed(out, first=since is None)
                self.open_stats["passed_on"] = int(len(out))
        if wm.kind == "full" and ids is None:
            out = self._changed_only(out, now)
        return out

    def _with_open_rows(self, engine: Engine, df: pd.DataFrame, times, objects, now: datetime) -> pd.DataFrame:
        """open_set: the new rows and the rows of every event still open, re-read by id: on PostgreSQL in one
        select through ADBC (the SQL carries its values), else IN_CHUNK ids a select (bound parameters have a
        limit). Not through a SQLite file's child process: its start alone (an interpreter and pyarrow, 1-3 s,
        12 s on a loaded machine) is the whole cost of a re-read of a few thousand rows by their index (measured
        at 10M events, 6,739 open: docs/benchmarks.md)."""
        import time

        t0 = time.perf_counter()
        self.open_read_at = now
        key = self.fields["event_id"].column
        have = set(df[key].astype(str)) if len(df) else set()
        want = sorted(self.open_ids - have)
        columnar = engine.url.get_backend_name() == "postgresql"
        size = max(len(want), 1) if columnar else IN_CHUNK
        as_is = self.as_is()
        parts = [df] + [read_frame(engine, self.query(None, None, want[i:i + size])[0], times=times, objects=objects,
                                   bulk=columnar, one_batch=True, numeric=as_is["numeric"], unique_text=as_is["unique_text"])
                        for i in range(0, len(want), size)]
        parts = [p for p in parts if len(p)] or parts[:1]
        self.open_stats = {"open": len(self.open_ids), "reread": len(want), "chunks": -(-len(want) // size),
                           "seconds": round(time.perf_counter() - t0, 3)}
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _track_open(self, out: pd.DataFrame) -> None:
        """open_set: an event is open while its last row read has no close time (quarantined rows included, so
        a fixed one is read again)."""
        closed = out["closed_at"].notna().to_numpy()
        ids = out["event_id"].to_numpy(object)
        self.open_ids.difference_update(ids[closed].tolist())
        self.open_ids.update(ids[~closed].tolist())

    def query(self, since: datetime | None, first_day: datetime | None = None, ids: list[str] | None = None,
              now: datetime | None = None):
        """(the select, its typed time columns, its code/category columns) for a read (see read); the first
        read of a history (`first_day`, until `now`) is a list of selects whose rows together are the read's."""
        cols = self.ledger_columns()
        src = self.from_(cols)
        q = select(*(src.c[c] for c in cols))
        wm = self.feed.watermark
        if ids is not None:
            q = q.where(src.c[self.fields["event_id"].column].in_(ids))
        elif wm.kind == "update_time" and since is not None:
            spec = self.times["updated_at"]
            q = q.where(src.c[spec.column] >= self.since_literal(spec, since))
        elif wm.kind in ("increasing_id", "open_set") and self.last_id is not None:
            floor = self.last_id if self.id_floor is None else self.id_floor
            q = q.where(src.c[wm.column] > floor)
        elif since is None and first_day is not None and self._sql_history_filter():
            # reported since first_day, or open: selects an index each can serve (an OR of the two makes SQLite
            # scan the whole table), in parts read side by side and handed on one by one (arrow_read.read_parts):
            # the open events reported before the history first, then the history in runs of whole weeks
            rep, clo = src.c[self.times["reported_at"].column], src.c[self.times["closed_at"].column]
            spec = self.times["reported_at"]
            start = self.since_literal(spec, first_day)
            bounds = history_bounds(first_day, now or first_day)
            q = [q.where(clo.is_(None), or_(rep < start, rep.is_(None))),  # type: ignore[assignment]
                 *(q.where(rep >= self.since_literal(spec, lo), *([rep < self.since_literal(spec, hi)] if hi else []))
                   for lo, hi in zip(bounds, [*bounds[1:], None]))]
        return q, [c for c, t in cols.items() if t is DateTime], [c for c, t in cols.items() if t is None]

    def history_parts(self, engine: Engine, first_day: datetime, now: datetime) -> Iterator[pd.DataFrame] | None:
        """A first read of the history (read(engine, None, first_day, now)) as canonical frames, one per part of
        the query (the open events reported before the history, then runs of weeks), each handed on as soon as it
        is read, so the ledger takes in one while the next ones are read; None where the read cannot be split
        (the history not selectable in SQL, or a watermark whose first read must see every row: ids, hashes)."""
        if self.feed.watermark.kind != "update_time":
            return None
        q, times, objects = self.query(None, first_day, None, now)
        if not isinstance(q, list):
            return None
        as_is = self.as_is()
        frames = read_frames(engine, q, times=times, objects=objects, bulk=True, numeric=as_is["numeric"],
                             unique_text=as_is["unique_text"])
        return (self.canonical(df, now) for df in frames)

    def as_is(self) -> dict[str, set[str]]:
        """read_frame's `numeric` and `unique_text` columns: those only read as numbers (the row id, priority,
        flags, satisfaction, coordinates: pd.to_numeric or a map's key text, which give the same for a number
        as for the same number boxed) and the event id (unique: made text by astype(str) either way)."""
        f, g = self.fields, self.feed.grid
        numbers = {s.column for n, s in f.items() if n in NUMERIC_FIELDS and s.column}
        numbers |= {s.column for s in (g.lon, g.lat) if s is not None and s.column}
        numbers |= {self.feed.row_id} if self.feed.row_id else set()
        others = {s.column for n, s in f.items() if n not in NUMERIC_FIELDS and s.column}
        others |= {s.column for s in (*self.times.values(), g.code) if s is not None and s.column}
        ids = {f["event_id"].column} if f["event_id"].column else set()
        return {"numeric": numbers - others, "unique_text": ids - (others - ids) - numbers}

    def _sql_history_filter(self) -> bool:
        rep, clo = self.times.get("reported_at"), self.times.get("closed_at")
        return bool(rep is not None and clo is not None and rep.column and clo.column and not rep.format
                    and not clo.format and "status" not in self.fields and self.feed.stages_from_flow_log is None)

    def _changed_only(self, out: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """A full read: pass on only the rows new or changed since the last one."""
        self.full_read_at = now
        body = out.drop(columns=["updated_at"])
        h = pd.Series(pd.util.hash_pandas_object(body.astype(str), index=False).to_numpy(), index=out["row_id"].to_numpy())
        changed = h.ne(self.hashes.reindex(h.index)) if self.hashes is not None else pd.Series(True, index=h.index)
        self.hashes = h
        return out[changed.to_numpy()]

    def _open_changed(self, out: pd.DataFrame, first: bool) -> pd.DataFrame:
        """open_set: the rows new or changed since they were last read (all on the `first` read). A hash is
        kept per open row only: a closed row is not read again (but for the id overlap, passed on once more)."""
        is_open = out["closed_at"].isna().to_numpy()
        rows = out[is_open]
        body = rows.drop(columns=["updated_at"])
        try:
            hashed = pd.util.hash_pandas_object(body, index=False)
        except TypeError:  # an object column of mixed types
            hashed = pd.util.hash_pandas_object(body.astype(str), index=False)
        h = pd.Series(hashed.to_numpy(), index=rows["row_id"].to_numpy())
        h = h[~h.index.duplicated(keep="last")]
        old = self.hashes if self.hashes is not None else pd.Series(dtype="uint64")
        changed = np.ones(len(out), bool)
        changed[is_open] = (rows["row_id"].map(h) != rows["row_id"].map(old)).to_numpy()
        gone = h.index.union(pd.Index(out.loc[~is_open, "row_id"].to_numpy()))
        self.hashes = pd.concat([old.drop(gone, errors="ignore"), h]) if len(old) else h
        return out if first else out[changed]

    def changed_by_steps(self, engine: Engine, since: datetime | None) -> list[str]:
        """Event ids whose flow-log rows changed since `since` (their stages are derived from them)."""
        if since is None or self.steps is None or self.feed.stages_from_flow_log is None:
            return []
        steps = self.steps.read(engine, since=since)
        return steps["event_id"].dropna().unique().tolist()

    def canonical(self, df: pd.DataFrame, now: datetime) -> pd.DataFrame:
        """Our ledger columns (and map_reason, map_detail, placed_level) from the source columns."""
        f, t, tz = self.fields, self.times, self.city.timezone
        p = Problems(df.index)
        out = pd.DataFrame(index=df.index)
        out["event_id"] = raw(df, f["event_id"]).astype(str)
        out["row_id"] = (pd.to_numeric(df[self.feed.row_id]).astype("int64").to_numpy() if self.feed.row_id
                         else row_ids(out["event_id"]))
        for name in ("category", "channel", "handling_level"):
            out[name] = mapped(df, f.get(name), name, p)
        out["priority"] = pd.to_numeric(mapped(df, f.get("priority"), "priority", p, 2), errors="coerce").fillna(2)
        out["priority"] = out["priority"].astype("int64")
        reopened = pd.to_numeric(mapped(df, f.get("reopened"), "reopened", p, 0), errors="coerce").fillna(0)
        out["reopened"] = (reopened > 0).astype("int8")  # 0/1: a byte a row in the ledger
        out["satisfaction"] = satisfaction(df, f.get("satisfaction"), p)
        for name in (*STAGE_COLS, "due_at", "updated_at"):
            out[name] = time_field(df, t.get(name), name, self.feed.timezone, tz, p)
        if "updated_at" not in t:
            out["updated_at"] = pd.Timestamp(now).floor("us")
        if "status" in f:
            out["reached"] = mapped(df, f["status"], "status", p).map({s: i for i, s in enumerate(STAGES)})
            out = cap_stages(out, out["reached"])
        for name in DEPARTMENT_FACTS:
            flag = pd.to_numeric(mapped(df, f.get(name), name, p, 0), errors="coerce").fillna(0)
            out[name] = (flag > 0).astype("int8")
        out = self.with_department(out, department_text(df, f.get("department")))
        out = self._deadline(out)
        out = self._place(df, out)
        out["map_reason"], out["map_detail"] = p.reason, p.detail
        return out

    def with_department(self, out: pd.DataFrame, raw_department: pd.Series) -> pd.DataFrame:
        """`department` (the catalogue's code of the unit, or the raw value when the catalogue does not know it,
        None when the source gave none) and `dept_no` (its number, 0 = 未归属: config/departments.py)."""
        no = self.departments.numbers(raw_department)
        out["dept_no"] = no
        department = self.departments.codes[no]  # the catalogue's code objects, shared between rows
        unknown = np.flatnonzero(no == UNASSIGNED)  # the raw value, or None (only these rows made Python objects)
        given = raw_department.iloc[unknown].to_numpy(dtype=object).copy()
        given[pd.isna(given)] = None  # missing: None (a categorical gives NaN)
        department[unknown] = given
        out["department"] = pd.Series(department, index=out.index, dtype=object)
        return out

    def _deadline(self, out: pd.DataFrame) -> pd.DataFrame:
        d = self.feed.deadline
        if d is None:
            return out
        hours = pd.Series(np.nan, index=out.index)
        if d.default_hours is not None:
            hours[:] = d.default_hours
        for rule in reversed(d.rules):  # the first rule that matches wins
            m = pd.Series(True, index=out.index)
            if rule.category is not None:
                m &= out["category"] == rule.category
            if rule.priority is not None:
                m &= out["priority"] == rule.priority
            hours[m.fillna(False)] = rule.hours
        due = out["reported_at"] + pd.to_timedelta(hours, unit="h")
        out["due_at"] = out["due_at"].where(out["due_at"].notna(), due).astype("datetime64[us]")
        return out

    def _place(self, df: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
        g, placer = self.feed.grid, self.placer
        n = len(df)
        lon = pd.to_numeric(raw(df, g.lon, np.nan), errors="coerce").to_numpy(float) if g.lon else np.full(n, np.nan)
        lat = pd.to_numeric(raw(df, g.lat, np.nan), errors="coerce").to_numpy(float) if g.lat else np.full(n, np.nan)
        if g.lon is not None:
            lon, lat = placer.to_city(lon, lat, g.datum)
        if g.code is not None:
            key, level = placer.by_code(raw(df, g.code), g.codes)
        else:
            key, level = pd.Series(None, index=df.index, dtype=object), pd.Series(None, index=df.index, dtype=object)
        if g.lon is not None:
            need = key.isna().to_numpy()
            if need.any():
                by_point = placer.by_point(lon[need], lat[need])
                key[need], level[need] = by_point, np.where(pd.isna(by_point), None, "grid")  # type: ignore[index, call-overload]
        no_point = ~(np.isfinite(lon) & np.isfinite(lat))
        if no_point.any():  # placed by code alone: the region's centre
            centre = key[no_point].map(placer.centres)
            lon[no_point] = [c[0] if isinstance(c, tuple) else np.nan for c in centre]
            lat[no_point] = [c[1] if isinstance(c, tuple) else np.nan for c in centre]
        out["grid_code"], out["placed_level"], out["lon"], out["lat"] = key, level, lon, lat
        return out

    def with_flow_stages(self, engine: Engine, events: pd.DataFrame, all_steps: bool) -> pd.DataFrame:
        """Stage times (and reopened) from the flow log: per stage the first or last step of its action."""
        if events.empty:
            return events
        ids = events["event_id"].unique().tolist()
        assert self.steps is not None, "stages from the flow log need a flow-log feed (checked by the mapping)"
        steps = self.steps.read(engine) if all_steps else self.steps.read(engine, event_ids=ids)
        steps = steps[steps["at"].notna()]
        want = self.feed.stages_from_flow_log
        for stage in ("dispatched", "handled", "verified", "closed"):
            which = getattr(want, stage)
            if which is None:
                continue
            s = steps[steps["action"] == stage].groupby("event_id")["at"]
            t = s.min() if which == "first" else s.max()
            events[f"{stage}_at"] = events["event_id"].map(t).astype("datetime64[us]")
        again = set(steps.loc[steps["action"] == "reopened", "event_id"])
        events["reopened"] = events["event_id"].isin(again).astype("int8")
        from_log = self.mapping.spec.department_facts()
        for name in DEPARTMENT_FACTS:  # a flow-log action the mapping names sets the flag
            if from_log[name] and self.fields.get(name) is None:
                events[name] = events["event_id"].isin(set(steps.loc[steps["action"] == name, "event_id"])).astype("int64")
        if (unit_of := self.feed.department_from_flow_log) is not None:
            acted = steps[steps["action"] == unit_of].sort_values("at", kind="stable")
            unit = acted.groupby("event_id")["unit"].agg("first" if unit_of == "dispatched" else "last")
            raw_dept = events["event_id"].map(unit)
            raw_dept = raw_dept.where(raw_dept.notna() & (raw_dept != ""), events["department"])
            events = self.with_department(events, raw_dept)
        return cap_stages(events, events["reached"]) if "reached" in events else events

    def text_of(self, engine: Engine, events: pd.DataFrame) -> pd.DataFrame:
        """The display texts (title, reporter, address) of these events, by row id: [row_id, *TEXT_FIELDS]."""
        specs = {n: self.fields.get(n) for n in TEXT_FIELDS}
        cols: dict[str, object] = {s.column: None for s in specs.values() if s is not None and s.column}
        key = str(self.feed.row_id or self.fields["event_id"].column)
        cols[key] = None
        src = self.from_(cols)
        ids = (events["row_id"] if self.feed.row_id else events["event_id"]).tolist()
        parts = [read_frame(engine, select(*(src.c[c] for c in cols)).where(src.c[key].in_(ids[i:i + IN_CHUNK])))
                 for i in range(0, len(ids), IN_CHUNK)]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(cols))
        out = pd.DataFrame({"row_id": pd.to_numeric(df[key]).astype("int64") if self.feed.row_id
                            else row_ids(df[key].astype(str))})
        for name in TEXT_FIELDS:
            out[name] = text_field(df, specs[name]).to_numpy()
        return out.drop_duplicates("row_id")


# a first read's history is read in runs of whole weeks of these lengths (the last repeated): short first, so that
# the ledger starts on the first while the next, longer ones are read (etl/source/arrow_read.py read_parts)
HISTORY_RUN_WEEKS = (2, 2, 3)  # the first: the partial week of first_day and the next


def history_bounds(first_day: datetime, now: datetime) -> list[datetime]:
    """Where a first read's parts start: first_day, then Mondays (local midnight) HISTORY_RUN_WEEKS apart, so that
    a week's rows come in one part and its facts are computed once (etl/state/week_facts.py)."""
    first = pd.Timestamp(first_day)
    mondays = list(pd.date_range(first.normalize() + pd.Timedelta(days=7 - first.weekday()), pd.Timestamp(now),
                                 freq="7D"))
    bounds, at, k = [first.to_pydatetime()], -1, 0
    while True:
        at += HISTORY_RUN_WEEKS[min(k, len(HISTORY_RUN_WEEKS) - 1)]
        k += 1
        if at >= len(mondays):
            return bounds
        bounds.append(mondays[at].to_pydatetime())


def department_text(frame: pd.DataFrame, spec: FieldSpec | None) -> pd.Series:
    """The department a row names, through the spec's map where it has one; a value the map does not cover is
    kept as it is (it counts under 未归属 unless the catalogue knows it, and is listed: never quarantined)."""
    values = raw(frame, spec)
    codes, uniq = factorize(values)  # each distinct value made text and mapped once; rows share its object
    text = key_text(pd.Series(uniq, dtype=object))
    if spec is not None and spec.map:
        text = text.map({str(k): str(v) for k, v in spec.map.items()}).where(lambda s: s.notna(), text)
    given = text.where(text.notna() & (text != ""), None)
    # categorical: the catalogue's lookup (Departments.numbers) then factorizes the codes, not every row's text again
    text_codes, texts = pd.factorize(given)  # a value the map gives twice is one category
    codes = np.append(text_codes, -1)[codes]  # the last: missing
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(texts, dtype=object)), index=values.index)


def cap_stages(out: pd.DataFrame, reached: pd.Series) -> pd.DataFrame:
    """A status says the stage an event reached: later stages are cleared; a reached stage without a
    time takes the time of the stage before it (the source keeps no time for it)."""
    known = reached.notna()
    for k, col in enumerate(STAGE_COLS):
        if k == 0:
            continue
        later = known & (reached < k)
        fill = known & (reached >= k) & out[col].isna()
        out.loc[later, col] = pd.NaT
        out.loc[fill, col] = out.loc[fill, STAGE_COLS[k - 1]]
    return out


STEP_TEXT = ("unit", "actor", "note")


class Page:
    """A page of the flow log by event id, the newest first: `rows` rows at most (None: all), of the events whose id
    compares with `start` by `op` ("<=", "<" or "=") or from the top (start None); `start` is the source's own value
    (its type, its order). Each page is its own short statement: a full read of the log across ticks holds no cursor or
    transaction open on the source (a statement timeout, a held-back vacuum). `missing`: the rows without an event id."""

    def __init__(self, rows: int | None, start=None, op: str = "<=", missing: bool = False):
        assert op in ("<=", "<", "="), op
        self.rows, self.start, self.op, self.missing = rows, start, op, missing

    def where(self, q, event_id):
        if self.missing:
            return q.where(event_id.is_(None))
        q = q.where(event_id.is_not(None))
        if self.start is not None:
            q = q.where({"<=": event_id <= self.start, "<": event_id < self.start, "=": event_id == self.start}[self.op])
        q = q.order_by(event_id.desc())
        return q if self.rows is None else q.limit(self.rows)


class StepSource(FeedSource):
    """The flow log (流转记录) through the mapping: our step columns (etl/state/step_log.py COLUMNS)."""

    def __init__(self, mapping: SourceMapping, city: City):
        super().__init__(mapping.spec.steps, "steps", city)
        feed: StepFeed = self.feed
        self.fields = _specs(feed.fields)
        self.updated = self.fields.get("updated_at") or self.fields["at"]

    def columns(self) -> dict[str, object]:
        cols: dict[str, object] = {s.column: None for s in self.fields.values() if s.column}
        for name in ("at", "updated_at"):  # read as text and parsed in one go by pandas (faster than per row)
            if name in self.fields and self.fields[name].column:
                cols[str(self.fields[name].column)] = String
        return cols

    def select(self, since: datetime | None = None, event_ids: list[str] | None = None, page: Page | None = None):
        """The flow log's rows: changed since, of these events, or a `page` (Page) of the whole log."""
        cols = self.columns()
        src = self.from_(cols)
        q = select(*(src.c[c] for c in cols))
        if since is not None:
            q = q.where(src.c[self.updated.column] >= self.since_literal(self.updated, since))
        if event_ids is not None:
            q = q.where(src.c[self.fields["event_id"].column].in_(event_ids))
        if page is not None:
            q = page.where(q, src.c[self.fields["event_id"].column])
        return q

    def page(self, engine: Engine, page: Page) -> tuple[pd.DataFrame, object]:
        """One page of the whole log (Page), our columns, in the source's order; with the source's own event id of its
        last row (None when empty), which the next page starts from."""
        with engine.connect() as conn:
            raw = pd.read_sql(self.select(page=page), conn)
        last: object = raw[self.fields["event_id"].column].iat[-1] if len(raw) else None
        return self.canonical(raw), (last.item() if isinstance(last, np.generic) else last)  # numpy's int: a Python one

    def read(self, engine: Engine, since: datetime | None = None, event_ids: list[str] | None = None) -> pd.DataFrame:
        if event_ids is not None:
            parts = [self.read_sql(engine, self.select(event_ids=event_ids[i:i + IN_CHUNK]))
                     for i in range(0, len(event_ids), IN_CHUNK)]
            return pd.concat(parts, ignore_index=True) if parts else self.canonical(pd.DataFrame(columns=list(self.columns())))
        return self.read_sql(engine, self.select(since=since))

    def read_sql(self, engine: Engine, q) -> pd.DataFrame:
        with engine.connect() as conn:
            return self.canonical(pd.read_sql(q, conn))

    def newest(self, engine: Engine) -> datetime | None:
        """The newest update time of the log, as a local time."""
        from sqlalchemy import func

        src = self.from_({str(self.updated.column): String if self.updated.format else DateTime})
        with engine.connect() as conn:
            v = conn.execute(select(func.max(src.c[self.updated.column]))).scalar()
        if v is None:
            return None
        t = time_field(pd.DataFrame({self.updated.column: [v]}), self.updated, "updated_at", self.feed.timezone,
                       self.city.timezone, Problems(pd.RangeIndex(1))).iloc[0]
        return None if pd.isna(t) else t.to_pydatetime()

    def canonical(self, df: pd.DataFrame) -> pd.DataFrame:
        f, tz = self.fields, self.city.timezone
        p = Problems(df.index)
        out = pd.DataFrame(index=df.index)
        out["event_id"] = raw(df, f["event_id"]).astype(object).where(lambda s: s.isna(), lambda s: s.astype(str))
        out["at"] = time_field(df, f["at"], "at", self.feed.timezone, tz, p)
        if "step_no" in f:
            out["step_no"] = pd.to_numeric(raw(df, f["step_no"]), errors="coerce").fillna(0).astype("int64")
        else:  # the order of the steps in time
            out["step_no"] = out.groupby("event_id")["at"].rank(method="first").fillna(0).astype("int64")
        if "step_id" in f:
            out["step_id"] = pd.to_numeric(raw(df, f["step_id"])).astype("int64")
        else:
            out["step_id"] = row_ids(out["event_id"].astype(str) + "#" + out["step_no"].astype(str))
        action = mapped(df, f["action"], "action", p)
        raw_action = raw(df, f["action"]).astype(object)
        out["action"] = action.where(action.notna(), raw_action.where(raw_action.isna(), raw_action.astype(str)))
        out["level"] = mapped(df, f.get("level"), "level", p)
        for name in STEP_TEXT:
            out[name] = text_field(df, f.get(name))
        out["updated_at"] = time_field(df, f["updated_at"], "updated_at", self.feed.timezone, tz, p) \
            if "updated_at" in f else out["at"]
        for col in ("event_id", "action", "level"):
            out[col] = out[col].astype("object")
        return out


"""Bulk source generator for the benchmarks: a year of a large city in minutes.

Same distributions as the demo simulator (demo/simulator.py: uneven grids weighted to the core, the
daily rhythm, categories/channels/priorities, stage delays and reopen/satisfaction from the event id),
but vectorised with numpy and written in large batches: executemany in one transaction per chunk for
SQLite, COPY via psycopg for PostgreSQL. Devices, safety index and staff come from the simulator."""

from __future__ import annotations

import io
import time
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from config.city import City
from contract.domain import CATEGORIES, CHANNELS
from demo.sim_departments import with_departments
from demo.simulator import (
    CATEGORY_P,
    CHANNEL_P,
    DUE_HOURS,
    GIVEN,
    HOUR_WEIGHTS,
    STREET_WORDS,
    SURNAMES,
    TITLES,
    Simulator,
    _hash_uniform,
    planned_timeline,
    reveal,
)
from etl.source.schema import Base, Device, GridStaff, SafetyIndex

EVENT_COLS = ["row_id", "event_id", "grid_code", "lon", "lat", "category", "channel", "priority", "title",
              "reporter_name", "reporter_phone", "address", "handling_level", "reported_at", "dispatched_at",
              "handled_at", "verified_at", "closed_at", "due_at", "reopened", "satisfaction", "department", "extended",
              "deferred", "hung", "updated_at"]
TIME_COLS = ["reported_at", "dispatched_at", "handled_at", "verified_at", "closed_at", "due_at", "updated_at"]
BAD_ROW_RATE = 0.0005


class EventFactory:
    """Vectorised events for a span of time, numbered from a given row id."""

    def __init__(self, city: City, seed: int):
        self.sim = Simulator.__new__(Simulator)  # its grid weights without touching a database
        self.sim.city, self.sim.seed = city, seed
        Simulator.__post_init__(self.sim)
        self.rng = np.random.default_rng(seed + 100)
        self.grid_codes = self.sim.grids["code"].to_numpy()
        self.grid_lon = self.sim.grids["lon"].to_numpy()
        self.grid_lat = self.sim.grids["lat"].to_numpy()
        width = max(len(v) for v in TITLES.values())
        self.titles = np.array([[TITLES[c][k % len(TITLES[c])] for k in range(width)] for c in CATEGORIES], object)

    def times(self, n: int, start: datetime, end: datetime) -> np.ndarray:
        """n report times in [start, end): a day uniformly, the hour by the daily rhythm, sorted."""
        days = max(1, int((end - start).total_seconds() // 86400))
        day = self.rng.integers(0, days, n)
        hour = self.rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
        sec = day.astype(np.int64) * 86400 + hour * 3600 + self.rng.integers(0, 3600, n)
        t = np.datetime64(pd.Timestamp(start).floor("D")) + sec.astype("timedelta64[s]")
        t = t[t < np.datetime64(end)]
        return np.sort(t)

    def events(self, reported: np.ndarray, first_row_id: int, now: datetime) -> pd.DataFrame:
        """Source rows as they stand at `now` for the given report times."""
        r, n = self.rng, len(reported)
        no = np.arange(first_row_id, first_row_id + n)
        gi = r.choice(len(self.grid_codes), n, p=self.sim.grid_p)
        ci = r.choice(len(CATEGORIES), n, p=CATEGORY_P)
        prio = r.choice([1, 2, 3], n, p=[0.1, 0.6, 0.3])
        t = pd.DatetimeIndex(reported.astype("datetime64[ns]"))
        ev = pd.DataFrame({
            "row_id": no,
            "event_id": np.char.add("NJ", np.char.zfill(no.astype(str), 10)).astype(object),
            "grid_code": self.grid_codes[gi],
            "lon": np.round(self.grid_lon[gi] + r.normal(0, 0.0003, n), 6),
            "lat": np.round(self.grid_lat[gi] + r.normal(0, 0.0003, n), 6),
            "category": np.array(CATEGORIES, object)[ci],
            "channel": np.array(CHANNELS, object)[r.choice(len(CHANNELS), n, p=CHANNEL_P)],
            "priority": prio,
            "title": self.titles[ci, r.integers(0, self.titles.shape[1], n)],
            "reporter_name": np.char.add(np.array(SURNAMES)[r.integers(0, len(SURNAMES), n)],
                                         np.array(GIVEN)[r.integers(0, len(GIVEN), n)]).astype(object),
            "reporter_phone": np.char.add("13", np.char.zfill(r.integers(0, 10**9, n).astype(str), 9)).astype(object),
            "address": np.char.add(np.array(STREET_WORDS)[r.integers(0, len(STREET_WORDS), n)],
                                   np.char.add(r.integers(1, 400, n).astype(str), "号")).astype(object),
            "reported_at": t,
            "due_at": t + pd.to_timedelta(pd.Series(prio).map(DUE_HOURS).to_numpy(), unit="h"),
        })
        inside = self.sim.city.contains(ev["lon"].to_numpy(), ev["lat"].to_numpy())
        ev.loc[~inside, "lon"] = self.grid_lon[gi][~inside]
        ev.loc[~inside, "lat"] = self.grid_lat[gi][~inside]
        bad = np.flatnonzero(r.random(n) < BAD_ROW_RATE)  # a few malformed rows, as real sources have
        ev.loc[bad[0::2], "grid_code"] = "999999999999999"
        ev.loc[bad[1::2], "category"] = None
        ev = with_departments(ev, _hash_uniform)  # 条: ~66 departments by category (demo/sim_departments.py)
        return reveal(ev, planned_timeline(ev), now)[EVENT_COLS]


def _as_sql_values(ev: pd.DataFrame) -> list[tuple]:
    """Rows as tuples the drivers take: times as 'YYYY-MM-DD HH:MM:SS', missing values as None."""
    cols = []
    for col in EVENT_COLS:
        s = ev[col]
        if col in TIME_COLS:
            v = s.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
        elif col in ("handling_level", "satisfaction", "category", "department"):
            v = s.astype(object).to_numpy()
        else:
            v = s.to_numpy(dtype=object) if s.dtype == object else s.tolist()
        v = np.array(v, dtype=object)
        v[pd.isna(s).to_numpy()] = None
        cols.append(v)
    return list(zip(*cols))


def write_events(engine: Engine, ev: pd.DataFrame) -> None:
    """Append event rows in one transaction (COPY on PostgreSQL, executemany on SQLite)."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            buf = io.StringIO()
            out = ev.copy()
            for col in TIME_COLS:
                out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S")
            out["satisfaction"] = out["satisfaction"].astype("Int64")
            out.to_csv(buf, sep="\t", header=False, index=False, na_rep="\\N")
            with raw.driver_connection.cursor() as cur:
                with cur.copy(f"COPY events ({', '.join(EVENT_COLS)}) FROM STDIN") as copy:
                    copy.write(buf.getvalue())
        else:
            cur = raw.cursor()
            cur.execute("PRAGMA synchronous=OFF")
            cur.executemany(f"INSERT INTO events ({', '.join(EVENT_COLS)}) VALUES ({', '.join('?' * len(EVENT_COLS))})",
                            _as_sql_values(ev))
        raw.commit()
    finally:
        raw.close()


def reset_source(engine: Engine) -> None:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)


def generate(engine: Engine, city: City, n_events: int, now: datetime, seed: int = 20261122,
             days: int = 365, chunk: int = 500_000, n_cameras: int = 15000, n_iot: int = 20000) -> dict:
    """Fill an emptied source with n_events over `days` up to `now`, plus devices, 12 months of safety
    index and staff. Returns the count and seconds."""
    t0 = time.perf_counter()
    reset_source(engine)
    factory = EventFactory(city, seed)
    start = pd.Timestamp(now).floor("D") - pd.Timedelta(days=days - 1)
    times = factory.times(int(n_events * 1.002) + 10, start.to_pydatetime(), now)[:n_events]
    written = 0
    for i in range(0, len(times), chunk):
        ev = factory.events(times[i:i + chunk], written + 1, now)
        write_events(engine, ev)
        written += len(ev)
    sim = factory.sim
    with engine.begin() as c:
        c.execute(insert(Device), sim._devices(now, n_cameras, n_iot).astype(object)
                  .where(lambda d: d.notna(), None).to_dict("records"))
        months = [(pd.Timestamp(date(now.year, now.month, 1)) - pd.DateOffset(months=k)).date() for k in range(11, -1, -1)]
        c.execute(insert(SafetyIndex), sim._safety_rows(months, now))
        c.execute(insert(GridStaff), sim._staff())
    if engine.dialect.name == "postgresql":
        # a live database has statistics (autovacuum gathers them): without them PostgreSQL plans the watermark
        # read `updated_at >= …` as a scan of every row (its default selectivity of a third for a range)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE")
    return {"events": written, "seconds": time.perf_counter() - t0}


def touch_events(engine: Engine, city: City, n_new: int, n_updated: int, now: datetime, seed: int,
                 oldest: bool = False) -> None:
    """A burst of source changes: n_new new events reported just now and n_updated open events closed now (the
    newest open ones, or with `oldest` the oldest: events open for months, in many weeks of the history)."""
    factory = EventFactory(city, seed)
    with engine.connect() as c:
        top = c.exec_driver_sql("SELECT max(row_id) FROM events").scalar() or 0
        open_ids = [r[0] for r in c.exec_driver_sql(
            f"SELECT row_id FROM events WHERE closed_at IS NULL ORDER BY row_id {'ASC' if oldest else 'DESC'} "
            f"LIMIT {int(n_updated)}")]
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    times = np.sort(np.datetime64(now - timedelta(minutes=30)) +
                    factory.rng.integers(0, 1800, n_new).astype("timedelta64[s]"))
    if n_new:
        ev = factory.events(times, top + 1, now)
        ev["updated_at"] = pd.Timestamp(now)
        write_events(engine, ev)
    if open_ids:
        with engine.begin() as c:
            t = f"'{stamp}'"
            c.exec_driver_sql(
                f"UPDATE events SET dispatched_at = coalesce(dispatched_at, {t}), handled_at = coalesce(handled_at, {t}), "
                f"verified_at = coalesce(verified_at, {t}), closed_at = {t}, handling_level = coalesce(handling_level, "
                f"'community'), updated_at = {t} WHERE row_id IN ({','.join(map(str, open_ids))})")


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.generate URL [--events N]`: a source generated once, for the benches that take one
    (bench/freshness.py, bench/backfill.py, bench/takeover.py); a PostgreSQL database is created if missing."""
    import argparse
    from pathlib import Path

    from config.city import load_city
    from config.clock import now_local
    from config.settings import load_settings
    from etl.source.schema import writable_engine

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("url", help="sqlite:////path/source.db or postgresql+psycopg://user@host:5432/database")
    ap.add_argument("--events", type=int, default=1_000_000)
    a = ap.parse_args(argv)
    if a.url.startswith("postgresql"):
        from bench.run import ensure_database

        ensure_database(a.url)
    elif a.url.startswith("sqlite:///"):
        Path(a.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    city = load_city(load_settings().city_dir)
    out = generate(writable_engine(a.url), city, a.events, now_local(city.timezone).replace(microsecond=0))
    print(f"{out['events']:,} events in {out['seconds']:.1f} s into {a.url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

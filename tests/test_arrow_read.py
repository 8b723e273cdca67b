"""The ETL's columnar source reads (etl/source/arrow_read.py) against SQLAlchemy + pandas on the same rows,
on SQLite (in-process and the bulk child process) and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from helpers import BACKENDS, fresh_engine
from sqlalchemy import func, insert, select, text

from etl.source.mapped_read import EventSource
from etl.source.mapping import load_mapping
from etl.source.schema import Event
from etl.state.event_ledger import LEDGER_COLS, TIME_COLS, EventLedger, read_events

NOW = datetime(2026, 11, 20, 12, 0)


def rows(city, n=40):
    grids = city.grids()
    out = []
    for i in range(n):
        g = grids.iloc[i % len(grids)]
        t = NOW - timedelta(hours=i, microseconds=1234 * (i % 3))  # some with microseconds, most without
        closed = t + timedelta(minutes=30) if i % 4 else None
        out.append(dict(event_id=f"E{i:04d}", grid_code=g["code"], lon=float(g["lon"]), lat=float(g["lat"]),
                        category=["民生服务", "城市管理"][i % 2], channel="12345", priority=2, title="t",
                        reporter_name="r", reporter_phone="13800000000", address="a",
                        handling_level=None if closed is None else "grid", reported_at=t,
                        dispatched_at=t + timedelta(minutes=1), handled_at=closed, verified_at=closed,
                        closed_at=closed, due_at=t + timedelta(days=1), reopened=0,
                        satisfaction=None if i % 5 else 5, updated_at=t + timedelta(minutes=31)))
    return out


SOURCE_COLS = [c for c in LEDGER_COLS if c in Event.__table__.columns]  # not what the mapping derives (dept_no)


def reference(engine) -> pd.DataFrame:
    """The same rows the plain way: SQLAlchemy and pandas, times parsed by pandas."""
    with engine.connect() as c:
        df = pd.read_sql(select(*(getattr(Event, col) for col in SOURCE_COLS)), c)
    for col in TIME_COLS:
        df[col] = pd.to_datetime(df[col], format="ISO8601").astype("datetime64[us]")
    return df.sort_values("row_id").reset_index(drop=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bulk", [True, False])
def test_columnar_read_equals_sqlalchemy_and_pandas(backend, bulk, tmp_path, city):
    engine = fresh_engine(backend, tmp_path)
    with engine.begin() as c:
        c.execute(insert(Event), rows(city))
    source = EventSource(load_mapping(), city)
    got = read_events(engine, source, None, None) if bulk else read_events(engine, source, NOW - timedelta(days=30))
    got = got.sort_values("row_id").reset_index(drop=True)
    want = reference(engine)
    assert len(got) == len(want) == 40
    for col in SOURCE_COLS:
        a, b = got[col], want[col]
        if col in TIME_COLS:
            assert a.dtype == "datetime64[us]", col
            assert (a.isna() == b.isna()).all() and (a[a.notna()] == b[b.notna()]).all(), col
        else:
            assert [None if pd.isna(x) else x for x in a] == [None if pd.isna(x) else x for x in b], col
    assert got["grid_code"].dtype == object and got["category"].dtype == object


def test_bulk_read_leaves_this_process_sqlite_writers_working(tmp_path, city):
    """The bulk read runs ADBC's own SQLite in a child: in this process a second SQLite copy would drop
    the first one's locks on a WAL database (then: 'disk I/O error')."""
    engine = fresh_engine("sqlite", tmp_path)
    with engine.begin() as c:
        c.execute(insert(Event), rows(city))
    writer = engine.connect()  # held open across the reads, as the demo's simulator holds its connection
    try:
        for k in range(3):
            assert len(read_events(engine, EventSource(load_mapping(), city), None, None)) == 40 + k
            with writer.begin():
                writer.execute(insert(Event), [{**rows(city, 1)[0], "event_id": f"W{k}"}])
                assert writer.execute(text("SELECT count(*) FROM events")).scalar() == 41 + k
    finally:
        writer.close()


def test_unreadable_time_text_is_quarantined_not_a_crash(tmp_path, city):
    engine = fresh_engine("sqlite", tmp_path)
    with engine.begin() as c:
        c.execute(insert(Event), rows(city, 3))
        c.execute(text("UPDATE events SET reported_at = 'yesterday-ish' WHERE event_id = 'E0001'"))
    ledger = EventLedger(city, EventSource(load_mapping(), city))
    stats = ledger.pull(engine, NOW)
    assert stats == {"read": 3, "accepted": 2, "quarantined": 1}
    assert ledger.quarantine_rows()["event_id"].tolist() == ["E0001"]
    assert ledger.quarantine_counts()["stage_order"] == 1  # no readable report time


@pytest.mark.slow
def test_the_sqlite_bulk_read_ends_at_the_statement_timeout(tmp_path):
    """The bulk read's child process gets the engine's statement timeout (COCKPIT_SOURCE_TIMEOUT_S), as the
    in-process reads do: a read that would run for minutes (a triple cross join) ends, with a clear error."""
    from sqlalchemy import column, func, table

    from etl.source.arrow_read import read_arrow
    from etl.source.schema import writable_engine

    engine = writable_engine(f"sqlite:///{tmp_path}/slow.db", timeout_s=1.0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE n (i INTEGER)"))
        conn.execute(text("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) "
                          "INSERT INTO n SELECT i FROM c"))
    n = table("n", column("i"))
    a, b, c = n.alias("a"), n.alias("b"), n.alias("c")
    slow = select(func.count()).select_from(a.join(b, text("1 = 1")).join(c, text("1 = 1")))
    # the child killed at the engine's 1 s (+ 10 s for its start), not run to the end (27 billion rows)
    with pytest.raises(RuntimeError, match=r"statement timeout, ended after 1 s"):
        read_arrow(engine, slow, bulk=True)
    assert read_arrow(engine, select(func.count()).select_from(n), bulk=True).column(0)[0].as_py() == 3000


def test_a_failed_sqlite_bulk_read_says_why_first(tmp_path):
    """A child's error is shortened to its exception with the reason first: the SQL, which ADBC appends to its
    message, does not push the reason out of the message (it did: the last 300 characters were the query alone)."""
    from sqlalchemy import column, table

    from etl.source.arrow_read import read_arrow
    from etl.source.schema import writable_engine

    engine = writable_engine(f"sqlite:///{tmp_path}/one.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE n (i INTEGER)"))
    wide = select(*(column(f"no_such_column_{k}") for k in range(40))).select_from(table("n"))
    with pytest.raises(RuntimeError, match=r"failed: \S*Error: .{0,80}no such column") as failed:
        read_arrow(engine, wide, bulk=True)
    assert "Traceback" not in str(failed.value) and len(str(failed.value)) < 500


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgres"])
def test_kept_adbc_connections_hold_no_lock_and_a_dead_one_costs_one_read(backend, tmp_path, city):
    """PostgreSQL reads keep their ADBC connection open between reads (etl/source/arrow_read.py): it must not sit
    in a transaction (a DROP TABLE would wait on it), and when the server ends it, that read fails (the tick
    retries) and the next one opens a new connection."""
    from etl.source import arrow_read

    engine = fresh_engine(backend, tmp_path)
    with engine.begin() as c:
        c.execute(insert(Event), rows(city, 10))
    q = select(func.count()).select_from(Event)
    assert arrow_read.read_arrow(engine, q).column(0)[0].as_py() == 10
    kept = [conn for url, conn, _ in arrow_read._IDLE if url == engine.url.render_as_string(hide_password=False)]
    assert len(kept) == 1
    assert arrow_read.read_arrow(engine, q).column(0)[0].as_py() == 10
    assert [conn for _, conn, _ in arrow_read._IDLE] .count(kept[0]) == 1, "the same connection, reused"
    pid = arrow_read.read_arrow(engine, select(func.pg_backend_pid())).column(0)[0].as_py()  # the kept one's
    with engine.connect() as c:
        state = c.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar()
        assert state == "idle", state  # not 'idle in transaction'
        assert c.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()  # waits till it is gone
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a connection the server ended
        arrow_read.read_arrow(engine, q)
    assert arrow_read.read_arrow(engine, q).column(0)[0].as_py() == 10
    engine.dispose()

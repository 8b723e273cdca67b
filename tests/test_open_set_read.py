"""The open_set watermark's reads. The columnar SQLite read (a child process, ADBC) in one batch: the driver types
a column from its first batch, and open events' later stage times are mostly empty (NULL in the first batch, text
further on), which fails a read in batches (etl/source/arrow_read.py BATCH_ROWS). The pulls by a numeric row id, tick after tick."""

from __future__ import annotations

import pytest
from sqlalchemy import column, create_engine, select, table, text

from etl.source.arrow_read import read_frame
from etl.source.schema import source_engine


def test_a_column_null_in_the_first_batch_then_text_is_read_in_one_batch(tmp_path):
    pytest.importorskip("adbc_driver_sqlite")
    from etl.source.arrow_read import BATCH_ROWS

    path = tmp_path / "open.db"
    n, first_text = BATCH_ROWS + 3000, BATCH_ROWS + 2500  # NULL in all of the first batch, text after it
    with create_engine(f"sqlite:///{path}").begin() as c:
        c.execute(text("CREATE TABLE events (id INTEGER, closed_at TEXT)"))
        c.execute(text(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
                       f"INSERT INTO events SELECT i, CASE WHEN i > {first_text} THEN '2026-11-20 10:00:00' END FROM n"))
    engine = source_engine(f"sqlite:///{path}")
    t = table("events", column("id"), column("closed_at"))
    q = select(t.c.id, t.c.closed_at).order_by(t.c.id)
    with pytest.raises(RuntimeError, match="Type mismatch|expected"):
        read_frame(engine, q, times=["closed_at"], bulk=True)  # batches of BATCH_ROWS
    df = read_frame(engine, q, times=["closed_at"], bulk=True, one_batch=True)
    assert len(df) == n and df["closed_at"].notna().sum() == 500


def test_open_set_by_a_numeric_row_id_pulls_tick_after_tick(sim_engine, city, tmp_path):
    """The demo's source under watermark open_set by row_id, an INTEGER read as a number (not a Python object per
    value): the largest id read is kept as a Python value, so the next pull's `row_id > …` renders in the SQL of the
    columnar read (a numpy integer there failed every pull after the first). New rows and an open event closed in
    the source both reach the ledger."""
    import shutil
    from datetime import timedelta

    from helpers import NOW

    from bench.generate import touch_events
    from bench.open_set import mapping_file
    from etl.source.mapped_read import EventSource
    from etl.source.mapping import load_mapping
    from etl.source.schema import writable_engine
    from etl.state.event_ledger import EventLedger

    src = tmp_path / "source.db"
    shutil.copy(sim_engine.url.database, src)
    source = EventSource(load_mapping(mapping_file(tmp_path, "open_set")), city)
    engine, writer = source_engine(f"sqlite:///{src}"), writable_engine(f"sqlite:///{src}")
    ledger = EventLedger(city, source)
    ledger.pull(engine, NOW)
    assert isinstance(source.last_id, int)
    with writer.connect() as c:
        top, open_before = c.execute(text("SELECT max(row_id), count(*) FILTER (WHERE closed_at IS NULL) FROM events")).one()
    for k in (1, 2):
        touch_events(writer, city, 3, 2, NOW + timedelta(minutes=k), 900 + k)
        stats = ledger.pull(engine, NOW + timedelta(minutes=k, seconds=1))
        assert stats["read"] >= 5, stats  # the 3 new rows and the 2 closes, every tick
    with writer.connect() as c:
        assert c.execute(text("SELECT max(row_id) FROM events")).scalar() == source.last_id == top + 6
        open_now = c.execute(text("SELECT count(*) FROM events WHERE closed_at IS NULL")).scalar()
        closed = {r[0] for r in c.execute(text("SELECT event_id FROM events WHERE closed_at >= :t"), {"t": NOW})}
    assert open_now == open_before + 6 - 4 and len(closed) >= 4
    assert not closed & source.open_ids  # the closes were read: those events left the open set

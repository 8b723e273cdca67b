"""The open_set re-read of open events goes through the columnar SQLite read (a child process, ADBC) in one
batch: the driver types a column from its first batch, and open events' later stage times are mostly empty
(NULL in the first batch, text further on), which fails a read in the driver's default batches."""

from __future__ import annotations

import pytest
from sqlalchemy import column, create_engine, select, table, text

from etl.source.arrow_read import read_frame
from etl.source.schema import source_engine


def test_a_column_null_in_the_first_batch_then_text_is_read_in_one_batch(tmp_path):
    pytest.importorskip("adbc_driver_sqlite")
    path = tmp_path / "open.db"
    with create_engine(f"sqlite:///{path}").begin() as c:
        c.execute(text("CREATE TABLE events (id INTEGER, closed_at TEXT)"))
        c.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                       "INSERT INTO events SELECT i, CASE WHEN i > 2500 THEN '2026-11-20 10:00:00' END FROM n"))
    engine = source_engine(f"sqlite:///{path}")
    t = table("events", column("id"), column("closed_at"))
    q = select(t.c.id, t.c.closed_at).order_by(t.c.id)
    with pytest.raises(RuntimeError, match="Type mismatch|expected"):
        read_frame(engine, q, times=["closed_at"], bulk=True)  # the driver's default batches
    df = read_frame(engine, q, times=["closed_at"], bulk=True, one_batch=True)
    assert len(df) == 3000 and df["closed_at"].notna().sum() == 500

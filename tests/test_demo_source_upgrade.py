"""The demo's source from an older version (a table without a column the schema has now) is written again by
the simulator, so `python3 cockpit.py demo` on an old data/source.db starts instead of failing the mapping."""

from __future__ import annotations

import sqlite3

from helpers import NOW
from sqlalchemy import text

from demo.simulator import Simulator, stale_demo_tables
from etl.source.schema import writable_engine


def test_an_old_demo_source_is_written_again(tmp_path, city):
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as c:  # the events table as an older version wrote it: no department columns
        c.execute("CREATE TABLE events (row_id INTEGER PRIMARY KEY, event_id TEXT, grid_code TEXT)")
        c.execute("INSERT INTO events VALUES (1, 'OLD1', '320102001001001')")
    engine = writable_engine(f"sqlite:///{path}")
    assert stale_demo_tables(engine) == ["events"]
    n = Simulator(engine, city, seed=3, events_per_day=40).backfill(2, NOW, n_cameras=5, n_iot=5)
    assert n > 0 and stale_demo_tables(engine) == []
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM events WHERE event_id = 'OLD1'")).scalar() == 0
    # a current source is left as it is: no second backfill
    assert Simulator(engine, city, seed=3, events_per_day=40).backfill(2, NOW, n_cameras=5, n_iot=5) == 0

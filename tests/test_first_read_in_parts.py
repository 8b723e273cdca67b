"""A first read of the history comes in parts (etl/source/mapped_read.py history_parts: the open events reported
before the history, then runs of whole weeks, read two at a time by etl/source/arrow_read.py read_parts) and the
ledger takes in each as it comes. What it keeps must be what one read of all the rows gives, row for row and
quarantine for quarantine, with a duplicate id across two parts; and a read that fails half-way must leave no
half-history behind (the next pull reads it all again), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from helpers import BACKENDS, fresh_engine
from sqlalchemy import text

from bench.generate import generate
from etl.source import mapped_read
from etl.source.mapped_read import EventSource, history_bounds
from etl.source.mapping import load_mapping
from etl.source.schema import source_engine
from etl.state.event_ledger import EventLedger

NOW = datetime(2026, 11, 20, 12, 0)


def kept(ledger: EventLedger) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = ledger.events.sort_values("row_id").reset_index(drop=True)
    q = ledger.quarantine[["row_id", "event_id", "reason"]].sort_values("row_id").reset_index(drop=True)
    return rows, q


def source(backend, tmp_path, city):
    writer = fresh_engine(backend, tmp_path)
    generate(writer, city, 6000, NOW, days=200, n_cameras=10, n_iot=10)
    with writer.begin() as c:  # an id held twice, by rows in two different parts (weeks apart), and a bad row
        first, later = c.execute(text("SELECT min(row_id), max(row_id) FROM events")).one()
        c.execute(text("UPDATE events SET event_id = (SELECT event_id FROM events WHERE row_id = :a) "
                       "WHERE row_id = :b"), {"a": later - 5, "b": later - 2000})
        c.execute(text("UPDATE events SET grid_code = '320199999999999' WHERE row_id = :r"), {"r": later - 300})
        # events reported long before the history and still open, none with a level: a part whose column is all NULL
        # (typed by the driver as it likes), concatenated with parts where it holds text
        c.execute(text("UPDATE events SET closed_at = NULL, verified_at = NULL, handled_at = NULL, satisfaction = NULL "
                       "WHERE row_id < :r"), {"r": first + 12})
        c.execute(text("UPDATE events SET handling_level = NULL WHERE closed_at IS NULL"))
    return source_engine(writer.url.render_as_string(hide_password=False))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_first_read_in_parts_keeps_what_one_read_keeps(backend, tmp_path, city, monkeypatch):
    engine = source(backend, tmp_path, city)
    first_day = pd.Timestamp(NOW).normalize() - pd.Timedelta(days=119)
    assert len(history_bounds(first_day.to_pydatetime(), NOW)) >= 5  # several parts, read two at a time
    in_parts = EventLedger(city, EventSource(load_mapping(), city))
    parts_seen = []
    in_parts.pull(engine, NOW, on_part=lambda: parts_seen.append(len(in_parts.parts)))
    assert len(parts_seen) >= 6 and parts_seen == sorted(parts_seen)  # taken in part by part, oldest first

    whole = EventLedger(city, EventSource(load_mapping(), city))
    monkeypatch.setattr(EventSource, "history_parts", lambda self, *a: None)  # the one-batch read
    whole.pull(engine, NOW)
    rows, q = kept(in_parts)
    want_rows, want_q = kept(whole)
    assert len(rows) > 2000 and set(q["reason"]) >= {"duplicate_id", "unknown_grid"}
    pd.testing.assert_frame_equal(rows, want_rows)
    pd.testing.assert_frame_equal(q, want_q)
    assert in_parts.watermark == whole.watermark


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_first_read_that_fails_half_way_is_read_again_whole(backend, tmp_path, city, monkeypatch):
    engine = source(backend, tmp_path, city)
    ledger = EventLedger(city, EventSource(load_mapping(), city))
    real = mapped_read.read_frames

    def fails_at_the_third(*args, **kwargs):
        for k, frame in enumerate(real(*args, **kwargs)):
            if k == 3:
                raise RuntimeError("the source went away")
            yield frame

    monkeypatch.setattr(mapped_read, "read_frames", fails_at_the_third)
    with pytest.raises(RuntimeError, match="went away"):
        ledger.pull(engine, NOW)
    assert ledger.watermark is None and not ledger.parts and not ledger.id_owner  # nothing half-read kept
    monkeypatch.setattr(mapped_read, "read_frames", real)
    ledger.pull(engine, NOW + timedelta(seconds=5))
    again = EventLedger(city, EventSource(load_mapping(), city))
    again.pull(engine, NOW + timedelta(seconds=5))
    for got, want in zip(kept(ledger), kept(again)):
        pd.testing.assert_frame_equal(got, want)

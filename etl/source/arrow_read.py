"""Reading a source query into a DataFrame without a Python object per value: through ADBC (Apache
Arrow's database drivers: columnar, straight into Arrow buffers) on PostgreSQL and, for bulk reads,
SQLite; through pandas for small reads and any other SQLAlchemy dialect. At a year of a large city
this is what makes the backfill fit: pandas over SQLAlchemy builds a Python tuple per row (~20 s and
several GB for 3.3M events); ADBC reads the same rows in ~5 s into ~1 GB of Arrow.

ADBC's SQLite driver carries its own copy of the SQLite library. Two copies of SQLite in one process
break each other's file locks (closing a file in one drops the other's POSIX locks: "disk I/O error"
on a WAL database, see sqlite.org/howtocorrupt.html §2.2.1), so on SQLite the bulk read runs in a
child process and comes back as an Arrow IPC stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from etl.source.arrow_prepare import is_text, prepare
from etl.source.schema import sqlite_file, statement_timeout_s

# ADBC connections kept open between reads (PostgreSQL: opening one costs 35-75 ms, several per tick): by
# database URL, at most IDLE_MAX idle in the process, none reused after IDLE_S idle (a tick comes every few
# seconds; after an outage and its backoff they are stale, and closed), all of a URL dropped when a read on
# one fails (one dead means the server went).
IDLE_MAX, IDLE_S = 4, 10.0
_IDLE: list[tuple[str, Any, float]] = []  # (URL, connection, idle since), oldest first
_IDLE_LOCK = threading.Lock()


def _sql(engine: Engine, query: Select) -> str:
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


# The child: only ADBC's SQLite in its process. argv[1] the database file (opened read-only: URI mode=ro, like
# the parent's own connections, etl/source/schema.py source_engine), argv[2] the Arrow IPC file to write, argv[3]
# arrow_prepare's (times, objects) as JSON, argv[4] the rows of a batch (0: the driver's), argv[5] the
# repository's root (for etl/source/arrow_prepare.py, which imports only pyarrow); the SQL on stdin. A file
# (read by the parent in large reads) rather than a pipe: ~1 GB of rows through a pipe costs more than the read.
SQLITE_CHILD = """import sys, json, urllib.parse, pyarrow as pa, adbc_driver_sqlite.dbapi as adbc
sys.path.insert(0, sys.argv[5])
from etl.source.arrow_prepare import prepare
with adbc.connect("file:" + urllib.parse.quote(sys.argv[1], safe="/") + "?mode=ro") as conn, conn.cursor() as cur:
    if sys.argv[4] != "0":  # the rows of one batch: the driver types each column from the first batch's values
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": sys.argv[4]})
    cur.execute(sys.stdin.read())
    table = prepare(cur.fetch_arrow_table(), *json.loads(sys.argv[3])).combine_chunks()  # one batch: one column each
with pa.OSFile(sys.argv[2], "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
    out.write_table(table)
"""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the child imports arrow_prepare


CHILD_START_S = 10.0  # the child's interpreter and imports, not counted against the statement timeout


def _sqlite_bulk(path: str, sql: str, timeout_s: float = 0, one_batch: bool = False,
                 prep: tuple[list[str], list[str]] = ([], [])) -> pa.Table | None:
    """The rows, read by the child; `timeout_s` > 0 (the engine's statement timeout) kills a child that
    reads longer (plus CHILD_START_S to start), as the progress handler ends a statement of the parent's
    own connections. `one_batch`: all rows in one batch, so each column is typed from all its values (the
    driver types a column from its first batch: NULLs there, then text, fail the read; e.g. open events,
    whose later stage times are mostly empty)."""
    try:
        import adbc_driver_sqlite  # noqa: F401 - only to know whether the child can run
    except ImportError:
        return None
    with tempfile.TemporaryDirectory(prefix="cockpit-read-") as tmp:
        out = os.path.join(tmp, "rows.arrow")
        try:
            done = subprocess.run([sys.executable, "-c", SQLITE_CHILD, path, out, json.dumps(prep),
                                   "1000000000" if one_batch else "0", ROOT],
                                  input=sql.encode(),
                                  capture_output=True, timeout=timeout_s + CHILD_START_S if timeout_s else None)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"bulk read of {path}: statement timeout, ended after {timeout_s:g} s "
                               f"(COCKPIT_SOURCE_TIMEOUT_S; + {CHILD_START_S:g} s for the child to start)") from None
        if done.returncode != 0:
            raise RuntimeError(f"bulk read of {path} failed: {done.stderr.decode(errors='replace')[-300:]}")
        # read into memory, not memory-mapped: a column kept as it is (read_frame's unique_text) would keep the
        # whole file's mapping, every page of it counted in the process's RSS, for as long as the ledger holds it
        with pa.OSFile(out) as source:
            return pa.ipc.open_file(source).read_all()


def _adbc_connect(engine: Engine):
    """An ADBC connection to the engine's database (PostgreSQL), or None when there is no driver."""
    url = engine.url
    try:
        if url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql.dbapi as pg_adbc

            # autocommit: a kept connection must not sit idle in a transaction (locks, vacuum)
            return pg_adbc.connect(libpq_uri(url), autocommit=True)
    except ImportError:
        return None
    return None


def libpq_uri(url) -> str:
    """A PostgreSQL URL as libpq reads it: `options` (the source engine's read-only mode and statement timeout,
    etl/source/schema.py) percent-encoded, since libpq reads a '+' as itself, not as a space."""
    from urllib.parse import quote

    options = url.query.get("options")
    options = " ".join(options) if isinstance(options, tuple) else options
    plain = url.set(drivername="postgresql", query={k: v for k, v in url.query.items() if k != "options"})
    out = plain.render_as_string(hide_password=False)
    return out + ("&" if "?" in out else "?") + "options=" + quote(options, safe="") if options else out


def read_arrow(engine: Engine, query: Select | list, bulk: bool = False, one_batch: bool = False,
               prep: tuple[list[str], list[str]] = ([], [])) -> pa.Table:
    """The rows of a SQLAlchemy select as an Arrow table (`bulk`: many rows, worth a child process
    on SQLite); a list of selects is read side by side (a child process or an ADBC connection each,
    one thread each: the drivers read without the GIL) and its rows concatenated. `prep`: the (times,
    objects) etl/source/arrow_prepare.py readies where the rows are read."""
    if isinstance(query, list):
        if len(query) == 1:
            return read_arrow(engine, query[0], bulk, prep=prep)
        with ThreadPoolExecutor(len(query), thread_name_prefix="source-read") as pool:
            parts = list(pool.map(lambda q: read_arrow(engine, q, bulk, prep=prep), query))
        # a driver types a column from its values: an empty part, or one whose values are all NULL, comes back
        # with a type of the driver's choosing (ADBC's SQLite: int64 for no rows, null for all NULL)
        parts = [t for t in parts if t.num_rows] or parts[:1]
        return pa.concat_tables(parts, promote_options="permissive")
    path = sqlite_file(engine.url)
    if bulk and path is not None:
        table = _sqlite_bulk(path, _sql(engine, query), statement_timeout_s(engine), one_batch, prep)
        if table is not None:
            return table
    table = _adbc_read(engine, _sql(engine, query))
    if table is None:
        with engine.connect() as c:
            return pa.Table.from_pandas(pd.read_sql(query, c), preserve_index=False)
    return prepare(table, *prep)


def _adbc_read(engine: Engine, sql: str) -> pa.Table | None:
    """The rows through an ADBC connection (kept, or opened), or None when the engine has no ADBC driver."""
    url = engine.url.render_as_string(hide_password=False)
    now = time.monotonic()
    with _IDLE_LOCK:
        stale = [e for e in _IDLE if now - e[2] >= IDLE_S]
        mine = next((e for e in reversed(_IDLE) if e[0] == url and e not in stale), None)
        for e in stale + ([mine] if mine else []):
            _IDLE.remove(e)
    for _, c, _ in stale:
        _close(c)
    conn = mine[1] if mine else _adbc_connect(engine)
    if conn is None:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
    except Exception:
        _close(conn)
        with _IDLE_LOCK:
            dead = [e for e in _IDLE if e[0] == url]
            for e in dead:
                _IDLE.remove(e)
        for _, c, _ in dead:
            _close(c)
        raise
    with _IDLE_LOCK:
        _IDLE.append((url, conn, time.monotonic()))
        extra = _IDLE[:-IDLE_MAX] if len(_IDLE) > IDLE_MAX else []
        del _IDLE[:len(extra)]
    for _, c, _ in extra:
        _close(c)
    return table


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a connection that died with its server
        pass


def read_frame(engine: Engine, query: Select | list, times: Iterable[str] = (), objects: Iterable[str] = (),
               bulk: bool = False, one_batch: bool = False, numeric: Iterable[str] = (),
               unique_text: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of a select as a DataFrame; the `times` columns as datetime64[us] whatever the driver
    gave (SQLite keeps them as ISO text, with or without microseconds; unreadable text becomes NaT);
    the `objects` columns (text with few distinct values: codes, categories) as object columns whose
    equal values share one Python string. Of those, the `numeric` ones the driver gave as numbers stay
    numeric columns (int64, or float64 with NaN for NULL: the values the object column would box, without
    a Python object per row), and the `unique_text` ones it gave as text (ids: nothing to share) stay
    pandas' Arrow-backed string column."""
    numeric, unique_text, times = set(numeric), set(unique_text), list(times)
    table = read_arrow(engine, query, bulk, one_batch, prep=(times, [c for c in objects if c not in unique_text]))

    def as_is(name: str) -> bool:
        t = table.schema.field(name).type
        return (name in numeric and (pa.types.is_integer(t) or pa.types.is_floating(t))
                or name in unique_text and (pa.types.is_string(t) or pa.types.is_large_string(t)))
    objects = [c for c in objects if c in table.column_names and not as_is(c)]
    for name in unique_text & set(table.column_names) - set(objects):
        # copied out: the driver's buffers are slices of one block per batch, which a kept column would keep whole
        i = table.schema.get_field_index(name)
        col = table.column(i)
        table = table.set_column(i, name, pa.chunked_array([pa.concat_arrays(col.chunks)] if col.num_chunks else [],
                                                           type=col.type))
    for name in times:
        i = table.schema.get_field_index(name)
        col = table.column(i)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us"))
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
            col = _parse_times(col)
        else:  # e.g. an object column from the pandas path
            col = pa.array(pd.to_datetime(col.to_pandas(), errors="coerce").astype("datetime64[us]"))
        table = table.set_column(i, name, col)
    # the object columns made here, not by to_pandas too (which would make them pandas strings, then be replaced)
    frame = table.drop_columns(objects).to_pandas() if objects else table.to_pandas()
    for name in objects:
        frame[name] = pd.Series(shared_objects(table.column(name)), index=frame.index, dtype=object)
    return frame[table.column_names] if objects else frame


def shared_objects(col: pa.ChunkedArray) -> np.ndarray:
    """A text column as an object array through its dictionary: one Python string per distinct value
    (a plain conversion makes one per row: seconds and hundreds of MB for millions of rows)."""
    if pa.types.is_null(col.type):
        return np.full(len(col), None, dtype=object)
    if pa.types.is_dictionary(col.type) and is_text(col.type.value_type):  # arrow_prepare's
        if len({tuple(b.address for b in c.dictionary.buffers() if b is not None) for c in col.chunks}) > 1:
            col = col.unify_dictionaries()  # chunks read apart (parts of a read) have dictionaries of their own
        if not col.num_chunks:
            return np.empty(0, dtype=object)
        d = col.chunks[0].dictionary
        values = np.asarray(d.to_pylist() + [None], dtype=object)
        idx = pa.chunked_array([c.indices for c in col.chunks]).fill_null(len(d)).to_numpy()
        return values[idx]
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return np.asarray(col.to_pandas(), dtype=object)
    enc = pc.dictionary_encode(col.combine_chunks())
    values = np.asarray(enc.dictionary.to_pylist() + [None], dtype=object)
    idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    return values[idx]


def _parse_times(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO text ('YYYY-MM-DD HH:MM:SS[.ffffff]') to timestamps in one vectorised cast; a value the cast
    cannot read becomes NaT (validated downstream like any missing time), never an exception."""
    if pa.types.is_null(col.type):
        return pa.chunked_array([pa.nulls(len(col), pa.timestamp("us"))])
    try:
        return pc.cast(col, pa.timestamp("us"))
    except pa.ArrowInvalid:
        parsed = pd.to_datetime(col.to_pandas(), errors="coerce", format="ISO8601")
        return pa.chunked_array([pa.array(parsed.astype("datetime64[us]"))])

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
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
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


# The child: only ADBC's SQLite in its process, reading a list of selects one after the other (a lane: a long read
# split in parts, etl/source/mapped_read.py, is read by LANES children side by side, each part handed on as soon as it
# is read). argv[1] the database file (opened read-only: URI mode=ro, like the parent's own connections,
# etl/source/schema.py source_engine), argv[2] the folder to write each part's Arrow IPC file in, argv[3]
# arrow_prepare's (times, objects) as JSON, argv[4] the rows of a batch, argv[5] the repository's
# root (for etl/source/arrow_prepare.py, which imports only pyarrow); on stdin [[part number, SQL], ...] as JSON; on
# stdout each part's number once its file is written. At a lower priority (nice 5): the parts come faster than the
# ETL takes them in, and the ETL's thread (and the screens' server) should not wait on them. A file (read by the parent in large reads) rather than a pipe:
# ~1 GB of rows through a pipe costs more than the read.
SQLITE_CHILD = """import sys, os, json, urllib.parse, pyarrow as pa, adbc_driver_manager as adbc, adbc_driver_sqlite
os.nice(5)
sys.path.insert(0, sys.argv[5])
from etl.source.arrow_prepare import prepare
prep = json.loads(sys.argv[3])
# ADBC's own API, not its DB-API module (which imports pandas and pyarrow.dataset: 0.45 s against 0.2 s before the
# first part can be read)
db = adbc_driver_sqlite.connect("file:" + urllib.parse.quote(sys.argv[1], safe="/") + "?mode=ro")
conn = adbc.AdbcConnection(db)
for i, sql in json.load(sys.stdin):
    stmt = adbc.AdbcStatement(conn)
    # the rows of a batch: the driver types each column from the first batch's values; few batches are cheap
    # for the ETL to take in (its columns come as a few chunks, not thousands of 1,024 rows)
    stmt.set_options(**{"adbc.sqlite.query.batch_rows": sys.argv[4]})
    stmt.set_sql_query(sql)
    stream, _ = stmt.execute_query()
    table = prepare(pa.RecordBatchReader._import_from_c(stream.address).read_all(), *prep)
    stmt.close()
    path = os.path.join(sys.argv[2], f"part-{i}")
    with pa.OSFile(path + ".tmp", "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
        out.write_table(table)
    del table
    os.rename(path + ".tmp", path + ".arrow")
    print(i, flush=True)
conn.close()
db.close()
"""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the child imports arrow_prepare
BATCH_ROWS = 131_072  # the rows of a batch of a bulk read
LANES = 2  # the parts of a long read are read this many at a time (a child process or an ADBC connection each)
CHILD_START_S = 10.0  # the child's interpreter and imports, not counted against the statement timeout


def _sqlite_bulk(path: str, sql: str, timeout_s: float = 0, one_batch: bool = False,
                 prep: tuple[list[str], list[str]] = ([], [])) -> pa.Table | None:
    """The rows, read by a child process (None when ADBC's SQLite driver is not installed): _sqlite_parts of one."""
    parts = _sqlite_parts(path, [sql], timeout_s, one_batch, prep)
    return None if parts is None else next(iter(parts))


def _sqlite_parts(path: str, sqls: list[str], timeout_s: float = 0, one_batch: bool = False,
                  prep: tuple[list[str], list[str]] = ([], [])) -> Iterator[pa.Table] | None:
    """The rows of each select, in order, read by LANES child processes (parts i, i + LANES, ... by one), each
    handed on as soon as it and those before it are read; None when ADBC's SQLite driver is not installed.
    `timeout_s` > 0 (the engine's statement timeout) kills the children when a part takes longer to come (plus
    CHILD_START_S to start), as the progress handler ends a statement of the parent's own connections.
    `one_batch`: all rows in one batch, so each column is typed from all its values (the driver types a column
    from its first batch: NULLs there, then text, fail the read; e.g. open events, whose later stage times are
    mostly empty)."""
    try:
        import adbc_driver_sqlite  # noqa: F401 - only to know whether the child can run
    except ImportError:
        return None
    return _lane_tables(path, sqls, timeout_s, one_batch, prep)


def _lane_tables(path: str, sqls: list[str], timeout_s: float, one_batch: bool,
                 prep: tuple[list[str], list[str]]) -> Iterator[pa.Table]:
    ready: queue.Queue = queue.Queue()
    children: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="cockpit-read-") as tmp:
        try:
            for lane in range(min(LANES, len(sqls))):
                err = open(os.path.join(tmp, f"lane-{lane}.err"), "w+b")
                child = subprocess.Popen([sys.executable, "-c", SQLITE_CHILD, path, tmp, json.dumps(prep),
                                          "1000000000" if one_batch else str(BATCH_ROWS), ROOT],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
                children.append(child)
                threading.Thread(target=_watch, args=(child, err, ready), daemon=True,
                                 name="source-read-lane").start()
                assert child.stdin is not None
                child.stdin.write(json.dumps([[i, sqls[i]] for i in range(lane, len(sqls), LANES)]).encode())
                child.stdin.close()
            done: set[int] = set()
            for k in range(len(sqls)):
                while k not in done:
                    try:
                        item = ready.get(timeout=timeout_s + CHILD_START_S if timeout_s else None)
                    except queue.Empty:
                        raise RuntimeError(f"bulk read of {path}: statement timeout, ended after {timeout_s:g} s "
                                           f"(COCKPIT_SOURCE_TIMEOUT_S; + {CHILD_START_S:g} s for the child to start)"
                                           ) from None
                    if isinstance(item, str):
                        raise RuntimeError(f"bulk read of {path} failed: {_exception_of(item)}")
                    done.add(item)
                file = os.path.join(tmp, f"part-{k}.arrow")
                # read into memory, not memory-mapped: a column kept as it is (read_frame's unique_text) would keep
                # the whole file's mapping, every page of it counted in the process's RSS, while the ledger holds it
                with pa.OSFile(file) as source:
                    table = pa.ipc.open_file(source).read_all()
                os.remove(file)
                yield table
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                child.wait()


def _exception_of(stderr: str, limit: int = 300) -> str:
    """A child's error text shortened to its exception's first `limit` characters (the reason first: an ADBC error
    ends with the whole SQL, which the last characters would show alone)."""
    lines = stderr.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  ")]  # a traceback's frames and their code
    text = " ".join(lines[frames[-1] + 1:] if frames and frames[-1] + 1 < len(lines) else lines)
    return text[:limit] + ("…" if len(text) > limit else "")


def _watch(child: subprocess.Popen, err, ready: queue.Queue) -> None:
    """A lane's parts as they are written (their numbers), then its error text if it failed."""
    assert child.stdout is not None
    for line in child.stdout:
        ready.put(int(line))
    if child.wait() != 0:
        err.seek(0)
        ready.put(err.read().decode(errors="replace") or f"exit status {child.returncode}")
    err.close()


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
    on SQLite); a list of selects is read as read_parts reads it and its rows concatenated. `prep`: the
    (times, objects) etl/source/arrow_prepare.py readies where the rows are read."""
    if isinstance(query, list):
        parts = list(read_parts(engine, query, bulk, one_batch, prep))
        # a driver types a column from its values: an empty part, or one whose values are all NULL, comes back
        # with a type of the driver's choosing (ADBC's SQLite: int64 for no rows, int64 or null for all NULL)
        parts = [t for t in parts if t.num_rows] or parts[:1]
        return pa.concat_tables(_typed_alike(parts), promote_options="permissive")
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


def _typed_alike(parts: list[pa.Table]) -> list[pa.Table]:
    """A column all NULL in a part, typed otherwise than in a part with values (the driver's choice), as NULLs of
    that part's type: the parts then concatenate."""
    for name in parts[0].column_names:
        given = [t.column(name).type for t in parts if t.column(name).null_count < t.num_rows]
        if not given:
            continue
        for k, t in enumerate(parts):
            col = t.column(name)
            if col.type != given[0] and col.null_count == t.num_rows:
                parts[k] = t.set_column(t.schema.get_field_index(name), name, pa.nulls(t.num_rows, given[0]))
    return parts


def read_parts(engine: Engine, queries: list, bulk: bool = False, one_batch: bool = False,
               prep: tuple[list[str], list[str]] = ([], [])) -> Iterator[pa.Table]:
    """The rows of each select, in order, each handed on as soon as it and those before it are read: LANES read
    side by side (on SQLite in bulk, child processes; else one thread each: the ADBC drivers read without the
    GIL), so the caller works on one part while the next ones are read."""
    path = sqlite_file(engine.url)
    if bulk and path is not None:
        parts = _sqlite_parts(path, [_sql(engine, q) for q in queries], statement_timeout_s(engine), one_batch, prep)
        if parts is not None:
            yield from parts
            return
    pool = ThreadPoolExecutor(LANES, thread_name_prefix="source-read", initializer=_read_at_lower_priority)
    try:
        futures = [pool.submit(read_arrow, engine, q, bulk, one_batch, prep) for q in queries]
        for f in futures:
            yield f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _read_at_lower_priority() -> None:
    """A read thread at nice 5, like the SQLite read's children (Linux: a thread's own priority), so the ETL's thread
    that takes the parts in comes first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
    except (AttributeError, OSError):  # not Linux, or not allowed: the same read at the same priority
        pass


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
    times, objects, unique_text = list(times), list(objects), set(unique_text)
    table = read_arrow(engine, query, bulk, one_batch, prep=(times, [c for c in objects if c not in unique_text]))
    return frame_of(table, times, objects, numeric, unique_text)


def read_frames(engine: Engine, queries: list, times: Iterable[str] = (), objects: Iterable[str] = (),
                bulk: bool = False, numeric: Iterable[str] = (), unique_text: Iterable[str] = ()
                ) -> Iterator[pd.DataFrame]:
    """read_frame of each select, in order, each handed on as soon as it is read (read_parts)."""
    times, objects, unique_text = list(times), list(objects), set(unique_text)
    prep = (times, [c for c in objects if c not in unique_text])
    for table in read_parts(engine, queries, bulk, prep=prep):
        yield frame_of(table, times, objects, numeric, unique_text)


def frame_of(table: pa.Table, times: Iterable[str] = (), objects: Iterable[str] = (), numeric: Iterable[str] = (),
             unique_text: Iterable[str] = ()) -> pd.DataFrame:
    """A read's Arrow table as read_frame gives it."""
    numeric, unique_text = set(numeric), set(unique_text)

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
    if pa.types.is_null(col.type) or col.null_count == len(col):  # no value: whatever type the driver chose for it
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

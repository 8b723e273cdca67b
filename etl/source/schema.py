"""The source system's tables as SQLAlchemy models (what the city's systems hold; the demo simulator
writes them). Times are naive local times of the city, as the city's systems store them."""

from __future__ import annotations

from datetime import date, datetime
from weakref import WeakKeyDictionary

from sqlalchemy import Date, DateTime, Float, Index, Integer, String, create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One citizen problem and its closed loop. `event_id` is the business id; the source does not
    enforce its uniqueness (exports and merges duplicate it), so the ETL checks it."""

    __tablename__ = "events"
    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), index=True)
    grid_code: Mapped[str] = mapped_column(String(15))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=2)
    title: Mapped[str] = mapped_column(String(128), default="")
    reporter_name: Mapped[str] = mapped_column(String(32), default="")
    reporter_phone: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(128), default="")
    handling_level: Mapped[str | None] = mapped_column(String(12), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(DateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # 条: the department the case is assigned to (a code of the city's departments.csv, or what the source wrote),
    # and its 延期 (extension approved), 缓办 (deferral approved) and 挂账 (hung) flags
    department: Mapped[str | None] = mapped_column(String(32), nullable=True)
    extended: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)
    deferred: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)
    hung: Mapped[int | None] = mapped_column(Integer, nullable=True, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class EventStep(Base):
    """The event's flow log (流转记录): one row per step of its closed loop, written by the unit that
    acted. `level` is the level of that unit; `event_id` refers to events.event_id (not enforced,
    as in the city's systems, so the ETL checks it)."""

    __tablename__ = "event_steps"
    step_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), index=True)
    step_no: Mapped[int] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(12), nullable=True)  # STEP_ACTIONS in contract/domain.py
    at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    level: Mapped[str | None] = mapped_column(String(12), nullable=True)  # city | district | street | community | grid
    unit: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Device(Base):
    """A video camera or IoT sensor."""

    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # camera | iot
    device_type: Mapped[str] = mapped_column(String(24))
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    tags: Mapped[str] = mapped_column(String(64), default="")  # comma separated
    status: Mapped[str] = mapped_column(String(8))  # online | offline
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    coord_quality: Mapped[str] = mapped_column(String(12))  # verified | approximate | missing
    updated_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class SafetyIndex(Base):
    """Monthly safety index of the city, a district or a street (0-100) with its components."""

    __tablename__ = "safety_index"
    region_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    index_value: Mapped[float] = mapped_column(Float)
    public_security: Mapped[float] = mapped_column(Float)  # 安全感, percent
    security: Mapped[float] = mapped_column(Float)
    fire: Mapped[float] = mapped_column(Float)
    traffic: Mapped[float] = mapped_column(Float)
    production: Mapped[float] = mapped_column(Float)
    disputes: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class GridStaff(Base):
    """Grid staffing "1+1+N": a grid leader, a grid worker and volunteers."""

    __tablename__ = "grid_staff"
    staff_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(15), index=True)
    role: Mapped[str] = mapped_column(String(10))  # leader | worker | volunteer
    name: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(20))


Index("ix_events_reported_at", Event.reported_at)
# the open events by report time: the ETL's first read takes those reported before its history window
# through this (etl/source/mapped_read.py EventSource.query); partial, so it holds only the open ones
Index("ix_events_open", Event.reported_at, sqlite_where=Event.closed_at.is_(None),
      postgresql_where=Event.closed_at.is_(None))


_TIMEOUTS: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def statement_timeout_s(engine: Engine) -> float:
    """The statement timeout `engine` was made with (source_engine), 0 for none: for reads that do not go
    through its connections (the SQLite bulk read's child process)."""
    return _TIMEOUTS.get(engine, 0.0)


def source_engine(url: str, timeout_s: float = 0) -> Engine:
    """A READ-ONLY engine for a city's source system (the ETL and `source check` read through nothing else):
    the product changes nothing in a source, and a mapping's `select` that tries to write is refused by the
    database. SQLite: the file opened read-only (URI `mode=ro`; no persistent PRAGMA, so its bytes stay as
    they were), PostgreSQL: `default_transaction_read_only=on` in the connection's options (in the URL, so
    the ADBC reads get it too), MySQL/MariaDB: `SET SESSION TRANSACTION READ ONLY` on connect.
    `timeout_s` > 0 (COCKPIT_SOURCE_TIMEOUT_S) ends any statement that runs longer, so a hanging query
    fails the tick (retried with backoff) instead of holding the ETL: PostgreSQL `statement_timeout`,
    MySQL `max_execution_time` / MariaDB `max_statement_time`, SQLite a progress handler that interrupts
    the statement."""
    return _engine(url, timeout_s, read_only=True)


def writable_engine(url: str, timeout_s: float = 0) -> Engine:
    """A read-write engine: the product's own app database (COCKPIT_APP_DB_URL), the supervision outbox a
    city chose to give (COCKPIT_SUPERVISION_OUTBOX_URL), and the demo's simulator, the one writer of the
    demo's source. A SQLite file's folder is created and the file put in WAL mode (readers never block
    its writer)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
    return _engine(url, timeout_s, read_only=False)


def sqlite_file(url) -> str | None:
    """The file of a SQLite URL (plain `sqlite:///path` or URI `sqlite:///file:path?...&uri=true`), else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    db = parsed.database
    if parsed.query.get("uri") in ("true", "1") and db.startswith("file:"):
        from urllib.parse import unquote

        db = unquote(db.removeprefix("file:"))
        if db.startswith("//"):  # file://host/path: only an empty host or localhost is a local file
            db = "/" + db[2:].partition("/")[2]
    return db


def _read_only_sqlite(parsed):
    """A SQLite URL as a read-only URI (`file:<path>?mode=ro`), whatever form it was given in."""
    from pathlib import Path
    from urllib.parse import quote

    path = sqlite_file(parsed)
    if path is None:
        return parsed
    if not Path(path).is_file():
        from config.settings import SettingsError

        raise SettingsError(f"setting COCKPIT_SOURCE_URL: the SQLite source {path} does not exist (the cockpit opens "
                            f"a source read-only and never creates one)")
    query = {k: v for k, v in parsed.query.items() if k not in ("mode", "uri")}
    return parsed.set(database="file:" + quote(str(Path(path).resolve()), safe="/"),
                      query={**query, "mode": "ro", "uri": "true"})


def _engine(url: str, timeout_s: float, read_only: bool) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    options = []
    if timeout_s > 0 and backend == "postgresql":
        options.append(f"-cstatement_timeout={int(timeout_s * 1000)}")
    if read_only and backend == "postgresql":
        options.append("-cdefault_transaction_read_only=on")
    if options:
        have = parsed.query.get("options")
        have = " ".join(have) if isinstance(have, tuple) else have
        parsed = parsed.update_query_dict({"options": " ".join(([have] if have else []) + options)})
    if read_only and backend == "sqlite":
        parsed = _read_only_sqlite(parsed)
    engine = create_engine(parsed, pool_pre_ping=True)
    _TIMEOUTS[engine] = timeout_s
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_only if read_only else _sqlite_pragmas)
    if timeout_s > 0 and engine.dialect.name == "sqlite":
        _sqlite_timeout(engine, timeout_s)
    elif engine.dialect.name in ("mysql", "mariadb") and (read_only or timeout_s > 0):
        event.listen(engine, "connect", lambda conn, _rec: _mysql_session(conn, timeout_s, read_only))
    return engine


def _mysql_session(dbapi_connection, timeout_s: float, read_only: bool) -> None:
    cur = dbapi_connection.cursor()
    if read_only:  # every transaction of the session read-only: a write fails with error 1792
        cur.execute("SET SESSION TRANSACTION READ ONLY")
    if timeout_s > 0:
        cur.execute("SELECT VERSION()")
        if "mariadb" in str(cur.fetchone()[0]).lower():
            cur.execute(f"SET SESSION max_statement_time = {float(timeout_s)}")
        else:
            cur.execute(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")
    cur.close()


def _sqlite_timeout(engine: Engine, timeout_s: float) -> None:
    """Each statement gets a deadline; SQLite's progress handler interrupts it past the deadline."""
    import time

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        record.info["deadline"] = float("inf")
        dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > record.info["deadline"]), 10_000)

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, *_args):
        conn.info["deadline"] = time.monotonic() + timeout_s  # the DBAPI connection's info: record.info


def _sqlite_read_only(dbapi_connection, _record) -> None:
    """A read-only SQLite connection: settings of this connection only, nothing stored in the file (a reader
    waits up to 30 s for a writer's lock; query_only refuses a write even before the file would)."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA query_only = ON")
    cur.close()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """A writable SQLite file (the app database, the demo's source): readers never block the writer (WAL:
    the ETL's long first read and the live simulator's writes go on side by side), and a writer waits up
    to 30 s for a lock instead of failing at once. WAL is stored in the file: never on a city's source."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    if dbapi_connection.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        cur.execute("PRAGMA journal_mode = WAL")
    cur.close()


def create_source_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine)

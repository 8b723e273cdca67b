"""The app database's schema under Alembic migrations: `upgrade(engine)` brings any app database (users,
display tokens, audit log, supervisions) to the head revision at start-up, instead of create_all. A
database made before migrations existed (tables, no `alembic_version`) is adopted first: stamped at the
newest revision whose tables it already has, then upgraded. Concurrent starters (gunicorn workers, the
ETL) take a lock first (PostgreSQL advisory lock, MySQL GET_LOCK, a lock file beside a SQLite file), so a
fresh database is migrated once. Operators: `python -m dashboard.users migrate` (docs/operations.md)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
# Tables each revision adds; a database without alembic_version is stamped at the last one it has whole.
ADOPT = (("0001_baseline", {"cockpit_users", "cockpit_display_tokens", "cockpit_audit"}),
         ("0002_supervisions", {"cockpit_supervisions"}))
LOCK_ID = 0x636F636B  # 'cock': the advisory lock key of the migration


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _adopt_at(tables: set[str]) -> str | None:
    """The revision an unversioned database already is at (None: a fresh database)."""
    at = None
    for rev, needs in ADOPT:
        if not needs <= tables:
            break
        at = rev
    return at


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    dialect = engine.dialect.name
    if dialect == "sqlite":
        db = engine.url.database
        if not db or db == ":memory:":
            yield
            return
        with open(f"{db}.migrate.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
        return
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_ID})
        elif dialect in ("mysql", "mariadb"):
            conn.execute(text("SELECT GET_LOCK('cockpit_migrate', 120)"))
        conn.commit()
        try:
            yield
        finally:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_ID})
            elif dialect in ("mysql", "mariadb"):
                conn.execute(text("SELECT RELEASE_LOCK('cockpit_migrate')"))
            conn.commit()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the app database to `revision` (adopting an unversioned one first); returns the revision."""
    with _migration_lock(engine):
        with engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            if "alembic_version" not in tables and (at := _adopt_at(tables)):
                command.stamp(alembic_config(conn), at)
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    return current(engine) or ""

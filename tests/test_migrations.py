"""The app database under Alembic (dashboard/migrations): a database made the old way (the ca4461e tables
by their create_all, with rows; and today's, with supervisions too) is adopted and upgraded on start, its
rows kept; a fresh one goes straight to head; head equals the models (no autogenerate diff) on SQLite,
PostgreSQL (TEST_POSTGRES_URL) and MySQL/MariaDB (TEST_MYSQL_URL), each in a database of its own; parallel
starters migrate once; audit retention (COCKPIT_AUDIT_KEEP_DAYS) deletes only old rows, also from the
scheduler the ETL's process starts."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    make_url,
    select,
    text,
)

from config.settings import load_settings
from dashboard import migrations
from dashboard.supervision import SupervisionStore
from dashboard.user_store import AppBase, AuditRow, UserStore

BACKENDS = ["sqlite"] + [k for k, env in (("postgres", "TEST_POSTGRES_URL"), ("mysql", "TEST_MYSQL_URL"))
                         if os.environ.get(env)]
NEW_TABLES = {"cockpit_supervisions", "alembic_version"}


def old_tables(with_supervisions: bool = False) -> MetaData:
    """The app database as commit ca4461e's models made it (dashboard/user_store.py then), frozen here."""
    md = MetaData()
    Table("cockpit_users", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), unique=True, nullable=False), Column("password_hash", String(255), nullable=False),
          Column("role", String(16), nullable=False), Column("region", String(16), nullable=False),
          Column("active", Boolean, nullable=False), Column("created_at", DateTime(timezone=True), nullable=False))
    Table("cockpit_display_tokens", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(64), unique=True, nullable=False),
          Column("token_sha256", String(64), unique=True, nullable=False), Column("region", String(16), nullable=False),
          Column("active", Boolean, nullable=False), Column("created_at", DateTime(timezone=True), nullable=False))
    Table("cockpit_audit", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("at", DateTime(timezone=True), index=True, nullable=False), Column("who", String(80), nullable=False),
          Column("action", String(32), nullable=False), Column("detail", String(500), nullable=False),
          Column("address", String(64), nullable=False),
          Column("user_id", Integer, ForeignKey("cockpit_users.id"), nullable=True))
    if with_supervisions:  # today's: SupervisionStore's create_all added it before migrations
        AppBase.metadata.tables["cockpit_supervisions"].to_metadata(md)
    return md


@pytest.fixture(params=BACKENDS)
def app_url(request, tmp_path):
    """A URL of an empty app database of the backend (server backends: a database made for this test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/app.db"
        return
    server = make_url(os.environ["TEST_POSTGRES_URL" if request.param == "postgres" else "TEST_MYSQL_URL"])
    name = f"cockpit_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        if request.param == "postgres":
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        else:
            conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def fill_old(url: str, with_supervisions: bool = False) -> None:
    engine = create_engine(url)
    md = old_tables(with_supervisions)
    md.create_all(engine)
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(md.tables["cockpit_users"].insert(), [
            {"id": 1, "name": "chen", "password_hash": "x", "role": "city", "region": "3201", "active": True,
             "created_at": t0},
            {"id": 2, "name": "li", "password_hash": "y", "role": "district", "region": "320102", "active": False,
             "created_at": t0}])
        conn.execute(md.tables["cockpit_display_tokens"].insert(), [
            {"name": "wall-1", "token_sha256": "a" * 64, "region": "3201", "active": True, "created_at": t0}])
        conn.execute(md.tables["cockpit_audit"].insert(), [
            {"at": t0 + timedelta(minutes=i), "who": "chen", "action": "signin", "detail": "", "address": "10.0.0.1",
             "user_id": 1} for i in range(3)])
    engine.dispose()


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), AppBase.metadata)


@pytest.mark.parametrize("with_supervisions", [False, True], ids=["ca4461e", "today"])
def test_an_old_database_is_adopted_and_upgraded_with_its_rows(app_url, with_supervisions):
    fill_old(app_url, with_supervisions)
    assert "alembic_version" not in inspect(create_engine(app_url)).get_table_names()
    store = UserStore(app_url)
    assert migrations.current(store.engine) == migrations.head()
    assert NEW_TABLES <= set(inspect(store.engine).get_table_names())
    assert [(u.name, u.role, u.active) for u in store.users()] == [("chen", "city", True), ("li", "district", False)]
    assert [t.name for t in store.tokens()] == ["wall-1"]
    assert len(store.audit_rows("signin")) == 3
    store.audit("chen", "export", "after the upgrade")  # the old tables still take rows
    assert store.check_token("nope") is None and len(store.audit_rows()) == 4
    assert schema_diff(store.engine) == []
    store.engine.dispose()


def test_a_fresh_database_goes_straight_to_head_equal_to_the_models(app_url):
    store = SupervisionStore(create_engine(app_url))  # either store may be the first to open it
    assert migrations.current(store.engine) == migrations.head() == "0003_user_department"
    assert schema_diff(store.engine) == []
    assert UserStore(app_url).users() == []  # a second start: nothing to do, nothing lost
    store.engine.dispose()


def test_parallel_starters_migrate_once(tmp_path):
    url = f"sqlite:///{tmp_path}/app.db"
    errors: list[BaseException] = []

    def start():
        try:
            UserStore(url)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [migrations.head()]


def _aged_rows(store: UserStore, ages_days: list[float]) -> None:
    from sqlalchemy.orm import Session

    now = datetime.now(UTC)
    with Session(store.engine) as s, s.begin():
        s.add_all(AuditRow(at=now - timedelta(days=d), who="chen", action="signin", detail=f"{d}", address="")
                  for d in ages_days)


def test_prune_audit_deletes_only_rows_older_than_the_setting(tmp_path):
    store = UserStore(f"sqlite:///{tmp_path}/app.db")
    _aged_rows(store, [0.1, 30, 364, 366, 800])
    assert store.prune_audit(365) == 2
    assert sorted(float(r.detail) for r in store.audit_rows()) == [0.1, 30, 364]
    assert store.prune_audit(365) == 0


def test_the_etl_process_prunes_the_audit_log(tmp_path, monkeypatch, wait_until):
    from dashboard.service import start_audit_retention

    url = f"sqlite:///{tmp_path}/app.db"
    store = UserStore(url)
    _aged_rows(store, [1, 10, 40])
    monkeypatch.setenv("COCKPIT_APP_DB_URL", url)
    monkeypatch.setenv("COCKPIT_AUDIT_KEEP_DAYS", "7")
    sched = start_audit_retention(load_settings())
    try:
        assert sched.get_job("audit-retention").trigger.interval == timedelta(days=1)
        wait_until(lambda: len(store.audit_rows()) == 1)  # its first run is at start, then daily
        assert [r.detail for r in store.audit_rows()] == ["1"]
    finally:
        sched.shutdown(wait=False)
    with store.engine.connect() as conn:
        assert conn.execute(select(AuditRow.id)).all()  # the young row is still there

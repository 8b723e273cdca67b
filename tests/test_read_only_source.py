"""Read-only by design (issue 23): the product changes nothing in a city's source. A SQLite source's bytes
are the same after `source check`, a start of the product's background work and a run of ETL ticks; a
write through the product's source engine is refused (SQLite, PostgreSQL), also from a mapping's
`select`; a PostgreSQL role with SELECT alone runs `source check` and the ETL; supervisions are written
to a city's system only where COCKPIT_SUPERVISION_CHANNEL says so, shown as 送达未配置 otherwise."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import timedelta

import pytest
from helpers import NOW
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError

from config.settings import ROOT, load_settings
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source import check
from etl.source.mapping import load_mapping
from etl.source.schema import source_engine
from snapshots.store import SnapshotStore


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def city_file(tmp_path, city):
    """A SQLite source as a city would hand it over: written by its own system (rollback journal, not WAL),
    then closed."""
    path = tmp_path / "city" / "source.db"
    path.parent.mkdir()
    eng = create_engine(f"sqlite:///{path}")  # the city's own writer: no pragma of ours
    Simulator(eng, city, seed=3, events_per_day=150, bad_row_rate=0.02).backfill(6, NOW, n_cameras=60, n_iot=40)
    eng.dispose()
    return path


@pytest.mark.slow
def test_a_sqlite_source_is_byte_for_byte_unchanged(city_file, city, redis_client, tmp_path, monkeypatch, wait_until):
    before, files = sha256(city_file), sorted(p.name for p in city_file.parent.iterdir())
    url = f"sqlite:///{city_file}"
    assert check.main(["check", "--source-url", url, "--no-progress", "--json"]) == 0
    jobs = EtlJobs(source_engine(url), city, SnapshotStore(redis_client))
    jobs.run_all(NOW)
    for k in range(1, 31):  # an hour of ticks on the clock (every 2 minutes)
        assert jobs.run("events", NOW + timedelta(minutes=2 * k)) is not None
    jobs.run_all(NOW + timedelta(hours=1))
    # a start as in production, default settings: the ETL scheduler and the supervision delivery
    from dashboard.service import start_etl, start_supervision_delivery

    settings = load_settings(source_url=url, redis_url="redis://unused", app_db_url=f"sqlite:///{tmp_path}/app.db",
                             events_interval_s=0.2)
    sched = start_etl(settings, city, redis_client)
    try:
        start_supervision_delivery(settings)
        store = SnapshotStore(redis_client)
        first = store.manifest()["version"]
        assert wait_until(lambda: store.manifest()["version"] >= first + 3, timeout_s=60)
    finally:
        sched.shutdown()
    jobs.engine.dispose()
    assert sha256(city_file) == before
    assert sorted(p.name for p in city_file.parent.iterdir()) == files  # no -wal, -shm or -journal left either
    assert not inspect(create_engine(url)).has_table("cockpit_supervision_outbox")


def test_a_write_through_the_source_engine_is_refused_sqlite(city_file):
    before = sha256(city_file)
    engine = source_engine(f"sqlite:///{city_file}")
    with pytest.raises(DBAPIError, match="readonly|read-only|query_only"), engine.begin() as conn:
        conn.execute(text("UPDATE events SET title = 'x'"))
    with pytest.raises(DBAPIError, match="readonly"), engine.connect() as conn:  # a persistent PRAGMA too
        conn.exec_driver_sql("PRAGMA journal_mode = WAL")
    engine.dispose()
    assert sha256(city_file) == before


def test_a_mapping_select_that_writes_is_refused_sqlite(city_file, tmp_path, capsys):
    before = sha256(city_file)
    text_ = (ROOT / "config" / "sources" / "demo.toml").read_text(encoding="utf-8")
    mapping = tmp_path / "writes.toml"
    mapping.write_text(text_.replace('table = "events"',
                                     "select = \"UPDATE events SET title = 'x' RETURNING *\"", 1), encoding="utf-8")
    assert load_mapping(mapping).spec.events.select is not None
    assert check.main(["check", "--source-url", f"sqlite:///{city_file}", "--mapping", str(mapping),
                       "--no-progress"]) == 2
    assert "events.select" in capsys.readouterr().err
    assert sha256(city_file) == before


# --- PostgreSQL: a role with SELECT only, in a database of this test's own --------------------------------
pg = pytest.mark.skipif(not os.environ.get("TEST_POSTGRES_URL"), reason="needs TEST_POSTGRES_URL")


@pytest.fixture
def pg_source(city):
    """(admin URL, SELECT-only role URL) of a database `h_source_test_<id>` the simulator filled."""
    server = make_url(os.environ["TEST_POSTGRES_URL"])
    name, role = f"h_source_test_{uuid.uuid4().hex[:8]}", f"h_source_ro_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'ro-pass'"))
    owner_url = server.set(database=name)
    owner = create_engine(owner_url)
    Simulator(owner, city, seed=4, events_per_day=150, bad_row_rate=0.02).backfill(5, NOW, n_cameras=40, n_iot=30)
    with owner.begin() as conn:
        conn.execute(text(f"GRANT CONNECT ON DATABASE {name} TO {role}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
        # a function with a side effect, for a mapping's select that tries to write
        conn.execute(text("CREATE TABLE side_effects (at timestamp DEFAULT now())"))
        conn.execute(text("CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS "
                          "$$ INSERT INTO side_effects DEFAULT VALUES; SELECT 1 $$"))
    owner.dispose()
    yield (owner_url.render_as_string(hide_password=False),
           server.set(database=name, username=role, password="ro-pass").render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        conn.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def _fingerprint(url: str) -> tuple:
    with create_engine(url).connect() as conn:
        return tuple(conn.execute(text(q)).scalar() for q in (
            "SELECT count(*) FROM events", "SELECT max(updated_at) FROM events", "SELECT count(*) FROM side_effects",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"))


@pg
def test_postgres_select_only_role_runs_check_and_etl(pg_source, city, redis_client):
    owner_url, ro_url = pg_source
    before = _fingerprint(owner_url)
    assert check.main(["check", "--source-url", ro_url, "--no-progress", "--json"]) == 0
    jobs = EtlJobs(source_engine(ro_url, timeout_s=60), city, SnapshotStore(redis_client))
    jobs.run_all(NOW)
    meta = jobs.store.manifest()["meta"]
    assert meta["events_status"]["ok"] and meta["devices_status"]["ok"] and meta["safety_status"]["ok"], meta
    assert meta["events_total"] > 500
    for k in range(1, 6):
        assert jobs.run("events", NOW + timedelta(minutes=k)) is not None
    jobs.engine.dispose()
    assert _fingerprint(owner_url) == before


@pg
def test_postgres_session_is_read_only_even_for_the_owner(pg_source, city, redis_client, tmp_path):
    owner_url, _ = pg_source
    before = _fingerprint(owner_url)
    engine = source_engine(owner_url)  # the owner may write; the product's session may not
    with pytest.raises(DBAPIError, match="read-only transaction"), engine.begin() as conn:
        conn.execute(text("UPDATE events SET title = 'x'"))
    with pytest.raises(DBAPIError, match="read-only transaction"), engine.connect() as conn:
        conn.execute(text("SELECT touch()"))
    # a mapping whose select calls a function that writes: the ETL's read (ADBC) is refused, nothing written
    text_ = (ROOT / "config" / "sources" / "demo.toml").read_text(encoding="utf-8")
    mapping = tmp_path / "writes.toml"
    mapping.write_text(text_.replace('table = "events"', 'select = "SELECT e.*, touch() AS t FROM events e"', 1),
                       encoding="utf-8")
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), mapping=load_mapping(mapping))
    assert jobs.run("events", NOW) is None
    error = jobs.store.manifest()["meta"]["events_status"]["error"]
    assert "read-only transaction" in error, error
    engine.dispose()
    assert _fingerprint(owner_url) == before


# --- MySQL/MariaDB: the session is read-only ----------------------------------------------------------------
my = pytest.mark.skipif(not os.environ.get("TEST_MYSQL_URL"), reason="needs TEST_MYSQL_URL")


@my
def test_mysql_session_is_read_only():
    server = make_url(os.environ["TEST_MYSQL_URL"])
    name = f"h_source_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        with create_engine(url).begin() as conn:
            conn.execute(text("CREATE TABLE events (id INT PRIMARY KEY, title VARCHAR(20))"))
            conn.execute(text("INSERT INTO events VALUES (1, 'a'), (2, 'b')"))
        engine = source_engine(url, timeout_s=30)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 2
        with pytest.raises(DBAPIError, match="READ ONLY"), engine.begin() as conn:
            conn.execute(text("UPDATE events SET title = 'x'"))
        with pytest.raises(DBAPIError, match="READ ONLY"), engine.begin() as conn:
            conn.execute(text("CREATE TABLE cockpit_supervision_outbox (x INT)"))
        engine.dispose()
        with create_engine(url).connect() as conn:
            assert conn.execute(text("SELECT group_concat(title ORDER BY id) FROM events")).scalar() == "a,b"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()


def test_a_missing_sqlite_source_is_a_clear_error_not_a_new_file(tmp_path, capsys):
    from config.settings import SettingsError

    missing = tmp_path / "nowhere" / "source.db"
    with pytest.raises(SettingsError, match="COCKPIT_SOURCE_URL.*does not exist"):
        source_engine(f"sqlite:///{missing}")
    assert check.main(["check", "--no-progress", "--source-url", f"sqlite:///{missing}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()

"""Shared fixtures: a real Redis server on a free port, real SQL sources (SQLite; PostgreSQL when
TEST_POSTGRES_URL is set), a small simulated city, and the app."""

from __future__ import annotations

import os
import threading
from datetime import datetime

import pytest
import redis
from sqlalchemy import text

from config.city import load_city
from config.settings import ENV_PREFIX, ROOT, load_settings
from demo.embedded_redis import EmbeddedRedis
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import Base, source_engine
from snapshots.store import SnapshotStore

# A fixed clock for the simulated history, so figures are reproducible.
NOW = datetime(2026, 11, 20, 15, 30, 0)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """A developer's shell cannot change results: drop every COCKPIT_* and REDIS_URL variable."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX) or key == "REDIS_URL":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def redis_server():
    server = EmbeddedRedis().start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def city():
    return load_city(ROOT / "config" / "cities" / "nanjing")


BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("TEST_POSTGRES_URL") else [])


def fresh_engine(backend: str, tmp_path):
    """An empty source database of the backend (PostgreSQL: our tables dropped and recreated)."""
    if backend == "sqlite":
        engine = source_engine(f"sqlite:///{tmp_path}/source.db")
        Base.metadata.create_all(engine)
        return engine
    engine = source_engine(os.environ["TEST_POSTGRES_URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS events, event_steps, devices, safety_index, grid_staff CASCADE"))
    Base.metadata.create_all(engine)
    return engine


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    eng = fresh_engine(request.param, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sim_engine(tmp_path_factory, city):
    """A SQLite source with 35 days of a simulated city (about 600 events a day), built once."""
    eng = source_engine(f"sqlite:///{tmp_path_factory.mktemp('sim')}/source.db")
    Simulator(eng, city, seed=7, events_per_day=600, bad_row_rate=0.01).backfill(35, NOW, n_cameras=3000, n_iot=2000)
    return eng


@pytest.fixture
def published(sim_engine, city, redis_client):
    """The simulated source run through every ETL job once, published to Redis at NOW."""
    jobs = EtlJobs(sim_engine, city, SnapshotStore(redis_client))
    jobs.run_all(NOW)
    return jobs


@pytest.fixture
def settings(redis_server, tmp_path):
    return load_settings(redis_url=redis_server.url, secret_key="test-secret-key-0123456789",
                         cookie_secure=False, app_db_url=f"sqlite:///{tmp_path}/app.db")


@pytest.fixture
def app(settings, city, redis_client):
    from dashboard.app import create_app

    return create_app(settings, city, redis_client)


# One user per role (name, password, region): a district, one of its streets, one of that street's
# communities, and a grid of it; plus "other" users in a neighbouring district for the refusal tests.
TEST_USERS = {
    "city": ("leader", "city-pass-123", "3201"),
    "district": ("xuanwu", "district-pass-123", "320102"),
    "street": ("meiyuan", "street-pass-123", "320102002"),
    "grid": ("meiyuan-1", "grid-pass-123", None),  # the street's first community, set by the fixture
}


@pytest.fixture
def users(app, city):
    """The TEST_USERS in the app database; returns role -> (name, password, region)."""
    store = app.server.config["COCKPIT_USERS"]
    out = {}
    for role, (name, password, region) in TEST_USERS.items():
        region = region or city.children(TEST_USERS["street"][2])["code"].iloc[0]
        store.add_user(name, password, role, region, city)
        out[role] = (name, password, region)
    return out


def sign_in(client, name: str, password: str, next_url: str = "/"):
    """Sign a Flask test client in through the real form (CSRF token included); returns the response."""
    import re

    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post(f"/login?next={next_url}", data={"csrf_token": token, "username": name, "password": password})


@pytest.fixture
def client_as(app, users):
    """client_as(role): a Flask test client signed in as that role's test user."""

    def make(role: str):
        client = app.server.test_client()
        name, password, _ = users[role]
        r = sign_in(client, name, password)
        assert r.status_code == 302, r.get_data(as_text=True)[:300]
        return client

    return make


class LiveServer:
    """The app served by werkzeug in a thread on a free port (for the browser tests)."""

    def __init__(self, flask_app):
        from werkzeug.serving import make_server

        from demo.embedded_redis import free_port

        self.port = free_port()
        self.httpd = make_server("127.0.0.1", self.port, flask_app, threaded=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()

"""The fixtures the test modules share (a fixture only one module uses is defined in that module; no test
module imports another): a real Redis server on a free port, real SQL sources (SQLite; PostgreSQL when
TEST_POSTGRES_URL is set), a small simulated city, the app and signed-in clients, Chromium pages, a
`wait_until` poller, and an opt-in CPU load (COCKPIT_TEST_CPU_LOAD=N busy processes) to show that tests wait
for conditions, not for time. Plain helpers (the fixed clock, the SQL backends, the live server, page helpers,
the shared SQL oracles) are in helpers.py. The markers (browser, faults, slow) are declared in pyproject.toml
and set in the test modules; docs/testing.md has the tiers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis
from helpers import BACKENDS, NOW, WAIT_MS, LiveServer, fresh_engine, sign_in

from config.city import load_city
from config.settings import ENV_PREFIX, ROOT, load_settings
from demo.embedded_redis import EmbeddedRedis
from demo.simulator import Simulator
from demo.vital_signs import OpinionEndpoint, VitalSignsSimulator
from etl.jobs import EtlJobs
from etl.source.schema import writable_engine
from snapshots.store import SnapshotStore

CPU_LOAD_ENV = "COCKPIT_TEST_CPU_LOAD"  # read here only; clean_env drops it before each test


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


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    eng = fresh_engine(request.param, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sim_engine(tmp_path_factory, city):
    """A SQLite source with 35 days of a simulated city (about 600 events a day), built once."""
    eng = writable_engine(f"sqlite:///{tmp_path_factory.mktemp('sim')}/source.db")
    Simulator(eng, city, seed=7, events_per_day=600, bad_row_rate=0.01).backfill(35, NOW, n_cameras=3000, n_iot=2000)
    return eng


@pytest.fixture(scope="session")
def vitals_db(tmp_path_factory, city):
    """A SQLite source with 15 days of the demo's vital-sign feeds up to NOW (demo/vital_signs.py); its URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('vitals')}/source.db"
    VitalSignsSimulator(writable_engine(url), city).backfill(15, NOW)
    return url


@pytest.fixture
def opinion_api():
    """The demo's public-opinion HTTP API on a free localhost port, its clock at NOW; stopped after the test."""
    api = OpinionEndpoint(clock=lambda: NOW).start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def published_once(sim_engine, city, redis_server):
    """Every ETL job run once over the simulated source at NOW (about 20 s), in a Redis database of its own
    (15); returns the jobs and a dump of every key it wrote, for `published` to restore per test."""
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/15")
    client.flushdb()
    jobs = EtlJobs(sim_engine, city, SnapshotStore(client))
    jobs.run_all(NOW)
    while jobs.timelines.filling is not None:  # a full timeline write goes on over the next ticks (a slice each)
        jobs.run("events", NOW)
    return jobs, {key: (client.pttl(key), client.dump(key)) for key in client.scan_iter(count=1000)}


@pytest.fixture
def published(published_once, redis_client):
    """The simulated source run through every ETL job once, published to Redis at NOW: the keys of
    `published_once` restored into this test's Redis (a test that runs jobs itself builds its own EtlJobs;
    treat the returned jobs as read-only)."""
    jobs, keys = published_once
    pipe = redis_client.pipeline(transaction=False)
    for key, (pttl, value) in keys.items():
        pipe.restore(key, max(pttl, 0), value, replace=True)
    pipe.execute()
    return jobs


@pytest.fixture
def settings(redis_server, tmp_path, request):
    """The test settings; `@pytest.mark.parametrize("settings", ["en"], indirect=True)` sets COCKPIT_LANG."""
    return load_settings(redis_url=redis_server.url, secret_key="test-secret-key-0123456789",
                         cookie_secure=False, app_db_url=f"sqlite:///{tmp_path}/app.db",
                         lang=getattr(request, "param", "zh"))


@pytest.fixture
def app(settings, city, redis_client):
    from config.labels import set_language
    from dashboard.app import create_app

    yield create_app(settings, city, redis_client)
    set_language("zh")  # the language is process-wide (set by create_app): the next test starts in the default


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



def _wait_until(pred, timeout_s: float = 10.0, every_s: float = 0.02):
    """Poll `pred` until it returns something truthy (returned) or `timeout_s` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got or time.monotonic() > deadline:
            return got or None
        time.sleep(every_s)


@pytest.fixture
def wait_until():
    """wait_until(pred, timeout_s=10): poll a condition instead of sleeping a fixed time; the caller asserts
    on what it returns (None on timeout), so a slow machine only makes the test slower, never red."""
    return _wait_until


# --------------------------------------------------------------------------------------------- load

def pytest_report_header(config):
    n = os.environ.get(CPU_LOAD_ENV)
    return f"{CPU_LOAD_ENV}={n}: {n} busy-loop process(es) run for the whole session" if n else None


@pytest.fixture(scope="session", autouse=True)
def cpu_load():
    """COCKPIT_TEST_CPU_LOAD=N (opt-in): N processes spin for the whole session, so the tests run while
    cores are busy. Each child also stops by itself when this process goes away (no orphan spinning)."""
    raw = os.environ.get(CPU_LOAD_ENV, "").strip()
    if not raw or raw == "0":
        yield []
        return
    if not raw.isdigit():
        pytest.exit(f"{CPU_LOAD_ENV} must be a number of busy processes, got {raw!r}", returncode=4)
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(int(raw))]
    yield procs
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


# ------------------------------------------------------------------------------------------ browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class _NoBrowser:
    """Stands in for the browser when Chromium cannot be started: the first use fails the test."""

    def __init__(self, why: str):
        self.why = why

    def new_context(self, **_kw):
        pytest.fail(self.why, pytrace=False)


@pytest.fixture(scope="session")
def browser():
    """Chromium (Playwright, sync API). Missing, the browser tests FAIL: they are never skipped."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        yield _NoBrowser(f"Playwright is not installed ({exc}); the browser tests need it (requirements-dev.txt).")
        return
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        yield _NoBrowser(f"Chromium not found at {CHROMIUM}: the browser tests need it (Debian: apt-get install "
                         "chromium; or set CHROMIUM_PATH). They are not skipped on purpose.")
        return
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - report why, as a test failure
            yield _NoBrowser(f"Chromium at {CHROMIUM} did not start: {exc}")
            return
        yield b
        b.close()


def is_local(url: str) -> bool:
    from urllib.parse import urlparse

    u = urlparse(url)
    if u.scheme in ("data", "blob"):
        return True
    return u.scheme in ("http", "https", "ws", "wss") and u.hostname in LOCAL_HOSTS


class Watched:
    """A page in its own context, recording every request, console error and uncaught exception."""

    def __init__(self, browser, viewport: dict, session_cookie: str | None = None, fake_clock: bool = False):
        self.context = browser.new_context(viewport=viewport, device_scale_factor=1)
        if session_cookie:  # signed in (cookies are per host, not per port: valid for any LiveServer)
            self.context.add_cookies([{"name": "cockpit_session", "value": session_cookie, "domain": "127.0.0.1",
                                       "path": "/", "httpOnly": True, "sameSite": "Lax"}])
        self.page = self.context.new_page()
        if fake_clock:  # time flows as usual, and page.clock.fast_forward() can skip ahead
            self.page.clock.install()
        self.page.set_default_timeout(WAIT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def non_local(self) -> list[str]:
        return [u for u in self.requests if not is_local(u)]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser, client_as):
    """watched(viewport, role="city"): a page signed in as that role's test user (role=None: signed out);
    fake_clock=True installs Playwright's clock so a test can skip ahead instead of waiting."""
    opened = []

    def open_(viewport: dict, role: str | None = "city", fake_clock: bool = False) -> Watched:
        cookie = client_as(role).get_cookie("cockpit_session").value if role else None
        w = Watched(browser, viewport, cookie, fake_clock)
        opened.append(w)
        return w

    yield open_
    for w in opened:
        w.close()


@pytest.fixture(scope="module")
def wall_site(redis_server, published_once, city, tmp_path_factory):
    """One app over the published snapshot (a Redis database of its own, 14), served for a whole module of
    wall browser tests: (base URL, app, session cookie of a city user). The wall's layout tests open it at
    many screen sizes without building an app each."""
    from config.labels import set_language
    from contract import frames as F
    from dashboard.app import create_app
    from etl.transforms.alerts import AlertThresholds, wall_alerts

    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/14")
    client.flushdb()
    jobs, keys = published_once
    for key, (pttl, value) in keys.items():
        client.restore(key, max(pttl, 0), value, replace=True)
    # low alert thresholds: more alerts than the wall's alert panel shows at once
    alerts = wall_alerts(jobs.last_frames, city.regions, NOW, AlertThresholds(overdue_min=3, at_risk_min=2),
                         devices_as_of=jobs.devices_as_of)
    SnapshotStore(client).publish({F.ALERTS.name: alerts}, NOW)
    settings = load_settings(redis_url=redis_server.url.rsplit("/", 1)[0] + "/14", secret_key="test-secret-key-0123456789",
                             cookie_secure=False, app_db_url=f"sqlite:///{tmp_path_factory.mktemp('wall')}/app.db")
    app = create_app(settings, city, client)
    name, password, region = TEST_USERS["city"]
    app.server.config["COCKPIT_USERS"].add_user(name, password, "city", region, city)
    test_client = app.server.test_client()
    assert sign_in(test_client, name, password).status_code == 302
    with LiveServer(app.server) as srv:
        yield srv.url, app, test_client.get_cookie("cockpit_session").value
    set_language("zh")
    client.flushdb()


@pytest.fixture
def wall_watched(browser, wall_site):
    """wall_watched(viewport, fake_clock=False): a page signed in to `wall_site`, watched like `watched`."""
    opened = []

    def open_(viewport: dict, fake_clock: bool = False) -> Watched:
        w = Watched(browser, viewport, wall_site[2], fake_clock)
        opened.append(w)
        return w

    yield open_
    for w in opened:
        w.close()

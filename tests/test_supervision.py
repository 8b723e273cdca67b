"""Supervision (督办): kept in the app database across restarts, delivered once through the outbox or a
webhook that is down for a while (retried with backoff until it answers), never sent twice at once."""

import json
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, text, update

from dashboard.supervision import (
    OutboxChannel,
    SupervisionError,
    SupervisionRow,
    SupervisionStore,
    WebhookChannel,
    deliver_due,
)

DUE = datetime(2026, 11, 21, 18, 0)


@pytest.fixture
def app_engine(tmp_path):
    return create_engine(f"sqlite:///{tmp_path}/app.db")


def new(store, event_id="NJ1", grid="320102002001001"):
    return store.create(event_id, grid, "supervise", "请今日内处置并回复", DUE, "district:xuanwu")


def due_now(store):
    """Make every row due (the backoff's wait, skipped instead of slept)."""
    with store.engine.begin() as conn:
        conn.execute(update(SupervisionRow).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_bad_requests_are_refused(app_engine):
    store = SupervisionStore(app_engine)
    with pytest.raises(SupervisionError, match="level"):
        store.create("NJ1", "320102002001001", "shout", "x", DUE, "w")
    with pytest.raises(SupervisionError, match="note"):
        store.create("NJ1", "320102002001001", "urge", "  ", DUE, "w")
    assert store.all() == []


def test_survives_a_restart_and_is_delivered_once_through_the_outbox(app_engine, tmp_path):
    source = create_engine(f"sqlite:///{tmp_path}/source.db")
    sid = new(SupervisionStore(app_engine)).id
    store = SupervisionStore(app_engine)  # a restart: a new store on the same database
    assert [s.state for s in store.all()] == ["pending"]
    outbox = OutboxChannel(source)
    assert deliver_due(store, outbox)["delivered"] == 1
    assert deliver_due(store, outbox)["delivered"] == 0, "delivered rows are not sent again"
    with source.connect() as conn:
        rows = conn.execute(text("SELECT supervision_id, event_id, level FROM cockpit_supervision_outbox")).all()
    assert rows == [(sid, "NJ1", "supervise")]
    assert store.get(sid).state == "delivered"
    with source.begin() as conn:  # the source system reads the row and acknowledges it
        conn.execute(text("UPDATE cockpit_supervision_outbox SET acknowledged_at = CURRENT_TIMESTAMP"))
    assert deliver_due(store, outbox)["acknowledged"] == 1
    assert store.get(sid).state == "acknowledged"


class Receiver(BaseHTTPRequestHandler):
    """A source system's webhook: down (503) for the first `down` requests, then acknowledges."""

    down = 0
    seen: list = []
    bodies: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers["Idempotency-Key"], body["event_id"]))
        type(self).bodies.append(body)
        if len(type(self).seen) <= type(self).down:
            self.send_response(503)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"acknowledged": true}')

    def log_message(self, *args):
        pass


def test_a_webhook_down_for_a_while_gets_it_once_when_back(app_engine):
    Receiver.down, Receiver.seen = 3, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = SupervisionStore(app_engine)
        sid = new(store).id
        hook = WebhookChannel(f"http://127.0.0.1:{server.server_port}/supervision")
        for attempt in range(1, 4):
            assert deliver_due(store, hook)["failed"] == 1
            row = store.get(sid)
            assert row.state == "failed" and "503" in row.last_error and row.attempts == attempt
            assert deliver_due(store, hook) == {"delivered": 0, "acknowledged": 0, "failed": 0}, "waits out the backoff"
            due_now(store)
        assert deliver_due(store, hook)["acknowledged"] == 1
        assert store.get(sid).state == "acknowledged"
        due_now(store)
        deliver_due(store, hook)
        assert [key for key, _ in Receiver.seen] == [sid] * 4, "one id throughout; nothing after the answer"
        assert Receiver.bodies[-1]["new_due_at"] == "2026-11-21T18:00:00+08:00"  # ISO 8601 with its offset
        assert Receiver.bodies[-1]["created_at"].endswith("+00:00")
    finally:
        server.shutdown()


_released_together = None  # the barrier, in each claiming process (passed when the process starts)


def _keep_barrier(barrier) -> None:
    global _released_together
    _released_together = barrier


def claim_until_none_due(url: str) -> list[str]:
    """One process's share of deliver_due: its own store on the database, released at the barrier with the
    other process, claiming until nothing is left; the ids it claimed."""
    store = SupervisionStore(create_engine(url))
    _released_together.wait(timeout=60)
    claimed = []
    while batch := store.claim_due():
        claimed += [s.id for s in batch]
    return claimed


@pytest.mark.slow
def test_two_processes_never_claim_the_same_row(app_engine):
    """Two OS processes on one database, released together at a barrier, each claiming until nothing is due
    (as two workers' deliver_due would): every row is claimed, and by one process once."""
    store = SupervisionStore(app_engine)
    made = {new(store, event_id=f"NJ{i}").id for i in range(60)}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=_keep_barrier, initargs=(ctx.Barrier(2),)) as pool:
        first, second = [f.result(timeout=120) for f in [pool.submit(claim_until_none_due, str(app_engine.url))
                                                         for _ in range(2)]]
    assert not set(first) & set(second), "a row claimed by both processes"
    assert len(first) == len(set(first)) and len(second) == len(set(second)), "a row claimed twice by one process"
    assert set(first) | set(second) == made, "every due row claimed"


def supervise_payload(event_id: str, level="supervise", hours=24, note="请今日处置", page="medium") -> dict:
    """The 督办 form's submit callback (components/supervision_form.py) as the browser sends it."""
    def one(kind, prop, value):
        return [{"id": {"type": f"{page}-supervise-{kind}", "event": event_id}, "property": prop, "value": value}]
    output = json.dumps({"event": ["ALL"], "type": f"{page}-supervise-result"}, separators=(",", ":"))
    return {"output": f"{output}.children",
            "outputs": [{"id": {"type": f"{page}-supervise-result", "event": event_id}, "property": "children"}],
            "inputs": [one("submit", "n_clicks", 1)],
            "state": [one("level", "value", level), one("hours", "value", hours), one("note", "value", note)],
            "changedPropIds": [json.dumps({"event": event_id, "type": f"{page}-supervise-submit"}, separators=(",", ":"))
                               + ".n_clicks"]}


def open_event_in(snap, prefix: str, outside: bool = False) -> str:
    from contract import frames as F

    q = snap.frame(F.OPEN_EVENTS)
    under = q["grid_code"].str.startswith(prefix)
    return q[~under if outside else under]["event_id"].iloc[0]


def test_a_leader_supervises_in_the_area_and_a_forged_request_outside_is_refused(app, published, client_as, users):
    from dashboard.supervision import SupervisionStore

    snap = app.server.config["COCKPIT"].snapshot()
    district = users["district"][2]
    theirs = open_event_in(snap, district, outside=True)
    mine = theirs  # the city leader's area is the whole city
    r = client_as("city").post("/_dash-update-component", json=supervise_payload(mine))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    store: SupervisionStore = app.server.config["COCKPIT_SUPERVISIONS"]
    made = store.all()
    assert [(s.event_id, s.level, s.state) for s in made] == [(mine, "supervise", "pending")]
    assert not made[0].grid_code.startswith(district)
    r = client_as("district").post("/_dash-update-component", json=supervise_payload(theirs, note="越权"))
    assert r.status_code == 403
    assert theirs not in r.get_data(as_text=True)
    assert len(store.all()) == 1, "nothing stored for the refused request"
    audit = app.server.config["COCKPIT_USERS"].audit_rows()
    assert any(a.action == "supervise" and mine in a.detail for a in audit)
    assert any(a.action == "denied" for a in audit)


def test_staff_may_not_supervise(app, published, client_as, users):
    snap = app.server.config["COCKPIT"].snapshot()
    client = client_as("grid")
    event = open_event_in(snap, "3201")
    r = client.post("/_dash-update-component", json=supervise_payload(event, page="small"))
    assert r.status_code == 200
    assert app.server.config["COCKPIT_SUPERVISIONS"].all() == []


def test_outbox_times_are_iso_8601_with_their_offset(app_engine, tmp_path):
    """new_due_at is the city's local time: sent as +08:00, beside created_at in UTC (+00:00)."""
    outbox_db = create_engine(f"sqlite:///{tmp_path}/outbox.db")
    store = SupervisionStore(app_engine)
    sid = new(store).id
    assert deliver_due(store, OutboxChannel(outbox_db, tz="Asia/Shanghai"))["delivered"] == 1
    with outbox_db.connect() as conn:
        payload = json.loads(conn.execute(text("SELECT payload FROM cockpit_supervision_outbox")).scalar())
    assert payload["supervision_id"] == sid
    assert payload["new_due_at"] == "2026-11-21T18:00:00+08:00"
    created = datetime.fromisoformat(payload["created_at"])
    assert created.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - created) < timedelta(hours=1)


def test_no_channel_writes_nothing_and_the_screen_says_not_configured(settings, tmp_path):
    from components.supervision_form import supervision_item
    from config.settings import SettingsError
    from dashboard.service import start_supervision_delivery
    from dashboard.supervision import delivery_channel

    assert settings.supervision_channel == "none" and delivery_channel(settings) is None
    assert start_supervision_delivery(settings) is None  # no delivery job: nothing written anywhere
    with pytest.raises(SettingsError, match="COCKPIT_SUPERVISION_OUTBOX_URL"):
        delivery_channel(settings.model_copy(update={"supervision_channel": "outbox"}))
    outbox = delivery_channel(settings.model_copy(update={
        "supervision_channel": "outbox", "supervision_outbox_url": f"sqlite:///{tmp_path}/outbox.db"}))
    assert isinstance(outbox, OutboxChannel)
    sup = new(SupervisionStore(create_engine(f"sqlite:///{tmp_path}/app2.db")))
    assert "送达未配置" in str(supervision_item(sup, delivery=False))
    assert "待送达" in str(supervision_item(sup, delivery=True))


def test_the_app_says_whether_a_channel_delivers(app):
    assert app.server.config["COCKPIT_SUPERVISION_DELIVERY"] is False

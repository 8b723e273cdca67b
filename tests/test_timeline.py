"""Event timelines: the simulator's flow log agrees with the event rows; after an ETL run each event's
timeline in Redis is what an independent SQL query of events + event_steps says; a tick rewrites the
timelines it touched; an emptied Redis gets them all back; a bad step row is quarantined and counted;
on the phone a street user opens only their own events (403 otherwise) and sees reporter data, a
district user sees it masked. On SQLite and PostgreSQL (when TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pandas as pd
import pytest
from helpers import NOW
from sqlalchemy import DateTime, bindparam, insert, text, update

from config.labels import label
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from etl.source.schema import Event, EventStep
from snapshots.store import SnapshotStore
from snapshots.timelines import TimelineStore

pytestmark = pytest.mark.slow  # most over 5 s: a simulated source per test (docs/testing.md: the tiers)

STAGE_ACTIONS = ("reported", "dispatched", "handled", "verified", "closed")
HEADER_SQL = """SELECT event_id, grid_code, category, channel, title, priority, reported_at, due_at, dispatched_at,
                       handled_at, verified_at, closed_at, handling_level, reopened, satisfaction, reporter_name,
                       reporter_phone, address, lon, lat
                FROM events WHERE event_id = :id"""
STEPS_SQL = "SELECT action, at, level, unit, actor, note FROM event_steps WHERE event_id = :id ORDER BY at, step_no, step_id"
# events whose id is held by one row only (the simulator spoils a few rows into duplicates)
UNIQUE_IDS = "SELECT event_id FROM events GROUP BY event_id HAVING count(*) = 1"


class AT_TIME:  # steps written at one update time (the parameter typed, so SQLite compares stored text)
    @staticmethod
    def format(what: str):
        return text(f"SELECT {what} FROM event_steps WHERE updated_at = :t AND event_id IN ({UNIQUE_IDS})").bindparams(
            bindparam("t", type_=DateTime))


def ts(value) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def fmt(value) -> str | None:
    return None if value is None else f"{pd.Timestamp(value):%Y-%m-%d %H:%M:%S}"


@pytest.fixture
def sim(engine, city):
    """A small simulated source (4 days, ~400 events a day) on the backend."""
    s = Simulator(engine, city, seed=11, events_per_day=400, bad_row_rate=0.005)
    s.backfill(4, NOW, n_cameras=20, n_iot=20)
    return s


def expected_timeline(engine, event_id: str) -> dict:
    """The timeline of one event as the source says, computed here from two plain SQL queries."""
    with engine.connect() as conn:
        e = conn.execute(text(HEADER_SQL), {"id": event_id}).mappings().one()
        steps = conn.execute(text(STEPS_SQL), {"id": event_id}).mappings().all()
    status = [s for s in STAGE_ACTIONS if e[f"{s}_at"] is not None][-1]
    prev, due, out = ts(e["reported_at"]), ts(e["due_at"]), []
    for s in steps:
        at = ts(s["at"])
        out.append({"action": s["action"], "at": fmt(at), "level": s["level"], "unit": s["unit"], "actor": s["actor"],
                    "note": s["note"], "minutes": round((at - prev).total_seconds() / 6) / 10, "late": at > due})
        prev = at
    return {"event_id": e["event_id"], "grid_code": e["grid_code"], "category": e["category"], "channel": e["channel"],
            "title": e["title"], "priority": e["priority"], "reported_at": fmt(e["reported_at"]),
            "due_at": fmt(e["due_at"]), "status": status, "handling_level": e["handling_level"],
            "reopened": bool(e["reopened"]), "satisfaction": e["satisfaction"], "reporter_name": e["reporter_name"],
            "reporter_phone": e["reporter_phone"], "address": e["address"], "lon": round(e["lon"], 6),
            "lat": round(e["lat"], 6), "steps": out}


def sample_ids(engine, where: str, n: int = 4) -> list[str]:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            f"SELECT event_id FROM events WHERE category IS NOT NULL AND {where} "
            f"AND event_id IN ({UNIQUE_IDS}) ORDER BY event_id"))]
    return random.Random(5).sample(ids, min(n, len(ids)))


def test_simulator_steps_agree_with_event_rows(sim, engine):
    def check():
        with engine.connect() as conn:
            # each step's time is its stage's time in the event row
            for action in STAGE_ACTIONS:
                bad = conn.execute(text(f"""SELECT count(*) FROM event_steps s JOIN events e ON e.event_id = s.event_id
                    WHERE s.action = '{action}' AND e.event_id IN ({UNIQUE_IDS})
                      AND (e.{action}_at IS NULL OR s.at <> e.{action}_at)""")).scalar()
                assert bad == 0, action
            # every revealed stage has exactly one step, and a reopened event its reopened step
            n_stages = conn.execute(text(f"""SELECT sum(CASE WHEN reported_at IS NOT NULL THEN 1 ELSE 0 END
                + CASE WHEN dispatched_at IS NOT NULL THEN 1 ELSE 0 END + CASE WHEN handled_at IS NOT NULL THEN 1 ELSE 0 END
                + CASE WHEN verified_at IS NOT NULL THEN 1 ELSE 0 END + CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END
                + reopened) FROM events WHERE event_id IN ({UNIQUE_IDS})""")).scalar()
            n_steps = conn.execute(text(f"SELECT count(*) FROM event_steps WHERE event_id IN ({UNIQUE_IDS})")).scalar()
            assert n_steps == n_stages > 0
            # grid-level handling names the grid's worker, its verification the grid's leader
            for action, role in (("handled", "worker"), ("verified", "leader")):
                rows = conn.execute(text(f"""SELECT s.actor, g.name, s.level, s.unit FROM event_steps s
                    JOIN events e ON e.event_id = s.event_id
                    JOIN grid_staff g ON g.grid_code = e.grid_code AND g.role = '{role}'
                    WHERE s.action = '{action}' AND e.handling_level = 'grid' AND e.event_id IN ({UNIQUE_IDS})""")).all()
                assert rows and all(actor == name and level == "grid" and "网格" in unit
                                    for actor, name, level, unit in rows), action
            reopen_bad = conn.execute(text("""SELECT count(*) FROM events e WHERE e.reopened = 1 AND NOT EXISTS
                (SELECT 1 FROM event_steps s WHERE s.event_id = e.event_id AND s.action = 'reopened'
                 AND s.at > e.verified_at)""")).scalar()
            assert reopen_bad == 0

    check()
    sim.tick(NOW + timedelta(hours=30))  # stages come due: the steps written by advance agree too
    check()
    with engine.connect() as conn:
        assert conn.execute(AT_TIME.format("count(*)"), {"t": NOW + timedelta(hours=30)}).scalar() > 0


def test_timelines_in_redis_equal_sql(sim, engine, city, redis_client):
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    manifest = jobs.run("events", NOW)
    assert manifest["meta"]["timelines"]["mode"] == "full"
    store = TimelineStore(redis_client)
    groups = {"closed": "closed_at IS NOT NULL AND reopened = 0", "open": "closed_at IS NULL",
              "reopened": "reopened = 1"}
    for name, where in groups.items():
        ids = sample_ids(engine, where)
        assert ids, f"no {name} event in the sample city: the test proves nothing"
        for event_id in ids:
            got, want = store.read(event_id), expected_timeline(engine, event_id)
            assert got["steps"] == want["steps"], (name, event_id)
            assert got == want, (name, event_id)
    # an open overdue event has a late step or none after its deadline; a late step is marked
    assert any(s["late"] for e in sample_ids(engine, "closed_at > due_at", 3) for s in store.read(e)["steps"])
    # every accepted event has its key (the sample city is younger than timeline_days), living timeline_days past its report
    assert len(list(redis_client.scan_iter("cockpit:timeline:*", count=5000))) == manifest["meta"]["events_total"]
    event_id = sample_ids(engine, "closed_at IS NOT NULL", 1)[0]
    with engine.connect() as conn:
        reported = ts(conn.execute(text("SELECT reported_at FROM events WHERE event_id = :id"), {"id": event_id}).scalar())
    lives = timedelta(seconds=redis_client.ttl(store.key(event_id)))  # from the ETL's now (NOW), not Redis's clock
    assert abs(NOW + lives - (reported + timedelta(days=jobs.timeline_days))) <= timedelta(seconds=5)


def test_a_tick_rewrites_the_timelines_it_touched(sim, engine, city, redis_client):
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    jobs.run("events", NOW)
    later = NOW + timedelta(hours=2)
    sim.tick(later)
    with engine.connect() as conn:
        moved = [r[0] for r in conn.execute(AT_TIME.format("DISTINCT event_id"), {"t": later})]
    assert moved, "the tick advanced no event: the test proves nothing"
    store = TimelineStore(redis_client)
    before = {e: store.read(e) for e in moved}
    manifest = jobs.run("events", later)
    assert manifest["meta"]["timelines"]["mode"] == "incremental"
    for event_id in random.Random(1).sample(moved, min(10, len(moved))):
        now_tl = store.read(event_id)
        assert now_tl == expected_timeline(engine, event_id)
        assert len(now_tl["steps"]) > len(before[event_id]["steps"])


def test_emptied_redis_gets_every_timeline_back(sim, engine, city, redis_client):
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    total = jobs.run("events", NOW)["meta"]["events_total"]
    assert jobs.run("events", NOW + timedelta(seconds=5))["meta"]["timelines"]["mode"] == "incremental"
    redis_client.flushdb()
    manifest = jobs.run("events", NOW + timedelta(seconds=10))
    assert manifest["meta"]["timelines"]["mode"] == "full"
    assert manifest["meta"]["timelines"]["written"] == total
    assert len(list(redis_client.scan_iter("cockpit:timeline:*", count=5000))) == total


def event(city, event_id, **over):
    grid = city.grids().iloc[0]
    row = dict(event_id=event_id, grid_code=grid["code"], lon=grid["lon"], lat=grid["lat"], category="城市管理",
               channel="12345热线", priority=2, title="井盖破损", reported_at=NOW - timedelta(hours=2),
               dispatched_at=NOW - timedelta(hours=1), handled_at=None, verified_at=None, closed_at=None,
               due_at=NOW + timedelta(hours=20), updated_at=NOW - timedelta(hours=1))
    return {**row, **over}


def step(event_id, step_no, action, at, **over):
    row = dict(event_id=event_id, step_no=step_no, action=action, at=at, level="district", unit="玄武区城运中心",
               actor="值班员", note="", updated_at=at or NOW - timedelta(minutes=30))
    return {**row, **over}


def test_bad_step_rows_are_quarantined_and_counted(engine, city, redis_client):
    with engine.begin() as c:
        c.execute(insert(Event), [event(city, "OK1"), event(city, "BADGRID", grid_code="320199999999999")])
        c.execute(insert(EventStep), [
            step("OK1", 1, "reported", NOW - timedelta(hours=2), level="city", unit="南京市12345热线"),
            step("OK1", 2, "dispatched", NOW - timedelta(hours=1)),
            step("OK1", 3, "handled", None),  # no time
            step("OK1", 3, "teleported", NOW - timedelta(minutes=40)),  # unknown action
            step("NOSUCH", 1, "reported", NOW - timedelta(hours=1)),  # no such event (yet)
            step("BADGRID", 1, "reported", NOW - timedelta(hours=1)),  # its event is quarantined
        ])
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client))
    q = jobs.run("events", NOW)["meta"]["quarantine"]
    assert (q["step_no_time"], q["step_action"], q["step_orphan"]) == (1, 1, 0), "orphans wait a while first"
    store = TimelineStore(redis_client)
    assert [s["action"] for s in store.read("OK1")["steps"]] == ["reported", "dispatched"]
    assert store.read("BADGRID") is None

    manifest = jobs.run("events", NOW + timedelta(minutes=2))
    q = manifest["meta"]["quarantine"]
    assert (q["step_no_time"], q["step_action"], q["step_orphan"]) == (1, 1, 2)
    rows = jobs.store.read_frame(manifest["frames"]["quarantine_steps"]["key"])
    assert sorted(zip(rows["event_id"], rows["reason"])) == [
        ("BADGRID", "step_orphan"), ("NOSUCH", "step_orphan"), ("OK1", "step_action"), ("OK1", "step_no_time")]

    # the source fixes the step and sends the missing event: they leave the quarantine, the timelines follow
    fixed = NOW + timedelta(minutes=3)
    with engine.begin() as c:
        c.execute(update(EventStep).where(EventStep.at.is_(None)).values(at=NOW - timedelta(minutes=20), updated_at=fixed))
        c.execute(insert(Event), [event(city, "NOSUCH", updated_at=fixed)])
    q = jobs.run("events", fixed + timedelta(seconds=5))["meta"]["quarantine"]
    assert (q["step_no_time"], q["step_action"], q["step_orphan"]) == (0, 1, 1)
    assert [s["action"] for s in store.read("OK1")["steps"]] == ["reported", "dispatched", "handled"]
    assert [s["action"] for s in store.read("NOSUCH")["steps"]] == ["reported"]


def test_old_events_get_no_timeline(engine, city, redis_client):
    """Past the retention (timeline_days after the report) a closed event's timeline is not written, though
    the event is still in the kept history (history_days) for the tablet's windows."""
    old = NOW - timedelta(days=40)
    with engine.begin() as c:
        c.execute(insert(Event), [event(city, "OLD", reported_at=old, dispatched_at=old, handled_at=old,
                                        verified_at=old, closed_at=old, due_at=old + timedelta(days=1), updated_at=old),
                                  event(city, "NEW")])
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), history_days=120, timeline_days=30)
    jobs.run("events", NOW)
    store = TimelineStore(redis_client)
    assert set(jobs.ledger.events["event_id"]) == {"OLD", "NEW"}
    assert store.read("OLD") is None and store.read("NEW") is not None
    assert isinstance(datetime.fromisoformat(store.read("NEW")["reported_at"]), datetime)


def page_payload(search: str) -> dict:
    """The Dash pages callback that renders /small for a URL query (what the browser posts)."""
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/small"},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "state": [], "changedPropIds": ["_pages_location.pathname"]}


def reporter_of(sim_engine, where: str, params: dict) -> dict:
    """The first event matching `where` that has a timeline in Redis (reported within timeline_days)."""
    since = (NOW - timedelta(days=29)).strftime("%Y-%m-%d")
    with sim_engine.connect() as conn:
        return dict(conn.execute(text(f"""SELECT event_id, reporter_name, reporter_phone, address FROM events
            WHERE {where} AND category IS NOT NULL AND event_id IN ({UNIQUE_IDS}) AND reported_at >= :since
            ORDER BY event_id LIMIT 1"""), {**params, "since": since}).mappings().one())


def test_phone_timeline_scope_and_personal_data(published, sim_engine, city, users, client_as):
    street = users["street"][2]
    other = next(c for c in city.children(street[:6])["code"] if c != street)
    mine = reporter_of(sim_engine, "grid_code LIKE :p AND closed_at IS NOT NULL AND length(reporter_phone) = 11",
                       {"p": f"{street}%"})
    foreign = reporter_of(sim_engine, "grid_code LIKE :p", {"p": f"{other}%"})

    client = client_as("street")
    assert client.post("/_dash-update-component", json=page_payload(f"?event={foreign['event_id']}")).status_code == 403
    r = client.post("/_dash-update-component", json=page_payload(f"?event={mine['event_id']}"))
    body = json.dumps(r.get_json(), ensure_ascii=False)
    assert r.status_code == 200 and "small-timeline" in body, "a closed event of my street opens"
    assert mine["reporter_name"] in body and mine["reporter_phone"] in body and mine["address"] in body
    with sim_engine.connect() as conn:
        units = [u for (u,) in conn.execute(text("SELECT unit FROM event_steps WHERE event_id = :e"),
                                            {"e": mine["event_id"]})]
    assert units and all(u in body for u in units)

    district = client_as("district")
    r = district.post("/_dash-update-component", json=page_payload(f"?event={mine['event_id']}"))
    body = json.dumps(r.get_json(), ensure_ascii=False)
    assert r.status_code == 200 and "small-timeline" in body
    assert mine["reporter_phone"] not in body and mine["address"] not in body
    assert f"{mine['reporter_phone'][:3]}****{mine['reporter_phone'][-4:]}" in body


def test_an_unknown_event_looks_like_a_foreign_one_to_a_scoped_user(published, sim_engine, city, users, client_as):
    """No existence oracle: for a street user an id that exists in another street and an id that exists
    nowhere get the same 403 with the same text; only a city-wide user is told an event is gone."""
    street = users["street"][2]
    other = next(c for c in city.children(street[:6])["code"] if c != street)
    foreign = reporter_of(sim_engine, "grid_code LIKE :p", {"p": f"{other}%"})
    client = client_as("street")
    refused = [client.post("/_dash-update-component", json=page_payload(f"?event={event_id}"))
               for event_id in (foreign["event_id"], "no-such-event-42", "x" * 65)]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert len({r.get_data() for r in refused}) == 1, "the refusal text must not depend on the id"
    city_user = client_as("city").post("/_dash-update-component", json=page_payload("?event=no-such-event-42"))
    assert city_user.status_code == 200 and label("event_gone") in json.dumps(city_user.get_json(), ensure_ascii=False)


def test_while_the_timelines_are_written_an_event_not_written_yet_says_so(published, sim_engine, city, users, app,
                                                                          client_as, redis_client):
    """Right after a start the full timeline write runs a slice a tick (etl/state/timeline_sync.py): an event of my
    street whose timeline is not written yet says "being written", not 403 or "no record"; so does any other id
    then (the same page whatever the id: no oracle); once the write is done an unknown id is refused again."""
    street = users["street"][2]
    other = next(c for c in city.children(street[:6])["code"] if c != street)
    mine = reporter_of(sim_engine, "grid_code LIKE :p", {"p": f"{street}%"})["event_id"]
    foreign = reporter_of(sim_engine, "grid_code LIKE :p", {"p": f"{other}%"})["event_id"]
    store = SnapshotStore(redis_client)
    redis_client.delete(TimelineStore(redis_client).key(mine))  # not reached yet
    reader = app.server.config["COCKPIT"].reader
    store.update_meta({"timelines": {"mode": "full", "after_publish": True, "filling": True}})
    reader.refresh(force=True)
    client = client_as("street")
    pages = [client.post("/_dash-update-component", json=page_payload(f"?event={e}"))
             for e in (mine, foreign, "no-such-event-42")]
    assert [p.status_code for p in pages[::2]] == [200, 200]
    assert pages[1].status_code == 403, "a foreign event already written is still refused"
    assert label("timeline_writing") in json.dumps(pages[0].get_json(), ensure_ascii=False)
    assert pages[0].get_data() == pages[2].get_data(), "the page must not depend on the id"
    city_user = client_as("city").post("/_dash-update-component", json=page_payload(f"?event={mine}"))
    assert label("timeline_writing") in json.dumps(city_user.get_json(), ensure_ascii=False)

    store.update_meta({"timelines": {"mode": "full", "written": 1}})  # the write is done
    reader.refresh(force=True)
    assert client.post("/_dash-update-component", json=page_payload(f"?event={mine}")).status_code == 403
    city_user = client_as("city").post("/_dash-update-component", json=page_payload(f"?event={mine}"))
    assert label("event_gone") in json.dumps(city_user.get_json(), ensure_ascii=False)

"""The grids' staff on duty (issue 28; 1+1+N): an optional staff feed of the source mapping, read read-only like
the devices (etl/source/mapped_feeds.py StaffSource), rows with an unknown grid or an unmapped role quarantined
with their reason and counted, published as the `grid_staff` frame; shown under an event's timeline (tablet,
phone) and behind an alert's spot, the phone masked by the user's role as a reporter's phone is. Without a staff
feed: no section at all. A forged request for another region's staff: 403, nothing disclosed."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from helpers import NOW, page_payload
from sqlalchemy import create_engine, text

from config.settings import ROOT
from etl.source.mapped_feeds import StaffSource
from etl.source.mapping import load_mapping, provided
from etl.transforms.staff import grid_staff, staff_quarantine
from queries import nearby
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore
from snapshots.timelines import TimelineStore

ROLE_ORDER = {"leader": 0, "worker": 1, "volunteer": 2}


def snapshot(redis_client):
    return SnapshotReader(redis_client, min_check_s=0).current()


def render(client, path: str, search: str):
    return client.post("/_dash-update-component", json=page_payload(path, search))


def texts(node, class_name: str) -> list[str]:
    """The children of every component with that className in a rendered Dash answer, in document order."""
    out: list[str] = []
    if isinstance(node, dict):
        props = node.get("props") if "type" in node and "namespace" in node else None
        if props is not None and props.get("className") == class_name:
            out.append(props.get("children"))
        for v in node.values():
            out += texts(v, class_name)
    elif isinstance(node, list):
        for v in node:
            out += texts(v, class_name)
    return out


def source_staff(sim_engine, grid: str | None = None) -> pd.DataFrame:
    with sim_engine.connect() as conn:
        df = pd.read_sql(text("SELECT grid_code, role, name, phone FROM grid_staff"
                              + (" WHERE grid_code = :g" if grid else "")), conn, params={"g": grid} if grid else {})
    return df.assign(o=df["role"].map(ROLE_ORDER)).sort_values(["grid_code", "o", "name"], kind="stable") \
        .drop(columns="o").reset_index(drop=True)


def an_event_of(sim_engine, redis_client, prefix: str) -> tuple[str, str]:
    """(event id, grid code) of an event under `prefix` whose timeline Redis holds."""
    with sim_engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT event_id FROM events WHERE grid_code LIKE :p AND reported_at >= :since "
            "AND event_id IN (SELECT event_id FROM events GROUP BY event_id HAVING count(*) = 1) "
            "ORDER BY event_id LIMIT 20"), {"p": f"{prefix}%", "since": NOW - timedelta(days=10)})]
    store = TimelineStore(redis_client)
    for event_id in ids:
        tl = store.read(event_id)
        if tl is not None:
            return event_id, tl["grid_code"]
    raise AssertionError(f"no event with a timeline under {prefix}")


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_the_staff_frame_and_each_grids_list_equal_the_source_rows(sim_engine, published, redis_client):
    snap = snapshot(redis_client)
    want = source_staff(sim_engine)
    got = snap.frame("grid_staff")
    assert len(want) > 1000
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.astype(str), check_dtype=False)
    # the 1+1+N model: one 网格长 and at least one 网格员 in every grid of the demo's table
    per = want.groupby("grid_code")["role"].agg(lambda r: (r == "leader").sum() == 1 and (r == "worker").sum() >= 1)
    assert per.all()
    for grid in want["grid_code"].drop_duplicates().sample(25, random_state=28):
        rows = nearby.grid_staff(snap, grid)
        assert [tuple(r.values()) for r in rows] == list(source_staff(sim_engine, grid).itertuples(index=False, name=None))
    assert nearby.grid_staff(snap, "320102999999999") == []  # a grid nobody staffs: an empty list
    assert snap.meta["staff"] == {"rows": len(want), "quarantined": {}}


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
@pytest.mark.parametrize("role,masked", [("city", True), ("district", True), ("street", False), ("grid", False)])
def test_staff_under_an_event_with_the_phone_masked_by_role(app, users, client_as, published, sim_engine,
                                                            redis_client, role, masked):
    region = users[role][2]
    event_id, grid = an_event_of(sim_engine, redis_client, region)
    want = source_staff(sim_engine, grid)
    assert len(want) >= 3
    client = client_as(role)
    for page in ("small", "medium"):
        r = render(client, f"/{page}", f"?event={event_id}")
        assert r.status_code == 200
        body = json.loads(r.get_data(as_text=True))
        assert f"{page}-staff" in r.get_data(as_text=True)
        assert texts(body, "gs-name") == list(want["name"])
        phones = texts(body, "gs-phone")
        if masked:  # as a reporter's phone: the first 3 and last 4 digits
            assert phones == [p[:3] + "****" + p[-4:] for p in want["phone"]]
            assert not any(p in r.get_data(as_text=True) for p in want["phone"])
        else:
            assert phones == list(want["phone"])
            assert f"tel:{want['phone'].iloc[0]}" in r.get_data(as_text=True)


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_staff_behind_an_alerts_spot(app, city, users, client_as, published, sim_engine, redis_client):
    client = client_as("street")
    street = users["street"][2]
    snap = snapshot(redis_client)
    grid, _, _ = nearby.spot_point(snap, city, street, snap.as_of)
    r = render(client, "/small", f"?region={street}&spot={grid}")
    assert r.status_code == 200
    assert texts(json.loads(r.get_data(as_text=True)), "gs-name") == list(source_staff(sim_engine, grid)["name"])


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
@pytest.mark.parametrize("page", ["medium", "small"])
def test_another_regions_staff_is_refused(app, city, users, client_as, published, sim_engine, redis_client, page):
    client = client_as("district")
    mine = users["district"][2]
    other = next(c for c in city.children(city.code)["code"] if c != mine)
    event_id, grid = an_event_of(sim_engine, redis_client, other)
    names = list(source_staff(sim_engine, grid)["name"])
    phones = list(source_staff(sim_engine, grid)["phone"])
    for search in (f"?event={event_id}", f"?spot={grid}", f"?region={mine}&spot={grid}"):
        r = render(client, f"/{page}", search)
        assert r.status_code == 403, (search, r.status_code)
        body = r.get_data(as_text=True)
        assert "gs-name" not in body and not any(n in body for n in names)
        assert not any(p[-4:] in body for p in phones)


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_no_staff_feed_no_section(app, users, client_as, published, sim_engine, redis_client, city):
    """A source without a staff feed: the snapshot has no grid_staff frame and says staff is not provided; the
    event's page then has no staff section at all (no 未接入 line either), the cameras as before."""
    from config.labels import label

    snap = snapshot(redis_client)
    store = SnapshotStore(redis_client)
    store.publish({}, snap.as_of, {"provided": {**snap.meta["provided"], "staff": False}},
                  drop={"grid_staff", "staff_quarantine"})
    event_id, _ = an_event_of(sim_engine, redis_client, users["street"][2])
    for page in ("small", "medium"):
        r = render(client_as("street"), f"/{page}", f"?event={event_id}")
        assert r.status_code == 200
        body = r.get_data(as_text=True)
        assert f"{page}-nearby" in body  # the cameras are there
        assert f"{page}-staff" not in body and "gs-" not in body
        assert label("staff_title", grid="")[:4] not in body
    # and the mapping without [staff]: not provided, no source read, no staff job
    demo = (ROOT / "config" / "sources" / "demo.toml").read_text(encoding="utf-8")
    without = demo.split("\n# the grids' staff on duty")[0]
    assert "[staff]" in demo and "[staff]" not in without


def test_a_mapping_without_staff_provides_none(tmp_path, city):
    from etl.jobs import EtlJobs

    demo = (ROOT / "config" / "sources" / "demo.toml").read_text(encoding="utf-8")
    path = tmp_path / "no_staff.toml"
    path.write_text(demo.split("\n# the grids' staff on duty")[0], encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.spec.staff is None and provided(mapping.spec)["staff"] is False
    assert provided(load_mapping().spec)["staff"] is True

    class NoRedis:  # EtlJobs needs a store only to publish; this test never runs a job
        r, prefix = None, "x"

    jobs = EtlJobs(create_engine("sqlite://"), city, NoRedis(), mapping=mapping)
    assert jobs.staff_source is None and jobs._staff(NOW) == ({}, {}, set())


def test_staff_rows_with_an_unknown_grid_or_role_are_quarantined_and_counted(tmp_path, city):
    """A city's own table in its words: roles mapped, a grid code the city does not have and a role no map
    covers quarantined with their reasons; the usable rows sorted leader, worker, then the N."""
    grids = city.regions[city.regions["level"] == "grid"]["code"].head(2).tolist()
    engine = create_engine(f"sqlite:///{tmp_path}/staff.db")
    rows = [(grids[0], "网格员", "李四", "13900001111"), (grids[0], "网格长", "张三", "13800002222"),
            (grids[0], "兼职网格员", "王五", "13700003333"), (grids[1], "网格长", "赵六", "13600004444"),
            ("320102999999999", "网格长", "钱七", "13500005555"), (grids[1][:12], "网格员", "孙八", "13400006666"),
            (grids[1], "楼栋长", "周九", "13300007777"), (None, "网格员", "吴十", "13200008888")]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE wg_staff (WG_CODE TEXT, ZW TEXT, XM TEXT, LXDH TEXT)"))
        conn.execute(text("INSERT INTO wg_staff VALUES (:g, :r, :n, :p)"),
                     [dict(zip("grnp", r)) for r in rows])
    demo = (ROOT / "config" / "sources" / "demo.toml").read_text(encoding="utf-8").split("\n# the grids' staff")[0]
    path = tmp_path / "m.toml"
    path.write_text(demo + '''
[staff]
table = "wg_staff"

[staff.fields]
grid_code = "WG_CODE"
role = { column = "ZW", map = { "网格长" = "leader", "网格员" = "worker", "兼职网格员" = "volunteer" } }
name = "XM"
phone = "LXDH"
''', encoding="utf-8")
    read = StaffSource(load_mapping(path), city).read(engine)
    ok, bad = grid_staff(read), staff_quarantine(read)
    assert ok.values.tolist() == [[grids[0], "leader", "张三", "13800002222"], [grids[0], "worker", "李四", "13900001111"],
                                  [grids[0], "volunteer", "王五", "13700003333"], [grids[1], "leader", "赵六", "13600004444"]]
    assert bad[["source_code", "reason"]].values.tolist() == [
        ["320102999999999", "unknown_grid"], [grids[1][:12], "unknown_grid"], [grids[1], "unmapped_value"],
        ["", "unknown_grid"]]
    assert bad["detail"].tolist()[2] == "unmapped role '楼栋长'"
    cells = " ".join(bad.astype(str).to_numpy().ravel())
    assert not any(r[3] in cells or r[2] in cells for r in rows)  # no phone nor name in the quarantine list
    # a role map to a word that is not one of ours stops loading, naming the key
    from etl.source.mapping import MappingError

    path.write_text(path.read_text(encoding="utf-8").replace('"兼职网格员" = "volunteer"', '"兼职网格员" = "helper"'),
                    encoding="utf-8")
    with pytest.raises(MappingError, match="staff.fields.role"):
        load_mapping(path)


@pytest.mark.slow  # the published simulated city (docs/testing.md: the tiers)
def test_health_counts_the_staff_feed(client_as, published):
    body = client_as("city").get("/health").get_json()
    assert body["staff"]["rows"] > 1000 and body["staff"]["quarantined"] == {}


@pytest.mark.browser
def test_event_cameras_and_staff_in_chromium(browser, watched, published, app, city, users, sim_engine, redis_client):
    """Chromium: an event's cameras and its grid's staff on the tablet (a district user: phones masked) and the
    phone (a street user: full numbers as tel: links of 44 px, no sideways scroll); screenshots for the README."""
    from helpers import SHOTS, LiveServer

    street = users["street"][2]
    event_id, grid = an_event_of(sim_engine, redis_client, street)
    want = source_staff(sim_engine, grid)
    with LiveServer(app.server) as srv:
        w = watched({"width": 1366, "height": 1024}, "district")
        w.page.goto(f"{srv.url}/medium?region={users['district'][2]}&event={event_id}")
        w.page.wait_for_selector("#medium-staff-list")
        assert w.page.locator("#medium-staff-list .gs-name").all_inner_texts() == list(want["name"])
        assert w.page.locator("#medium-staff-list .gs-phone").all_inner_texts() == \
            [p[:3] + "****" + p[-4:] for p in want["phone"]]
        w.page.evaluate("() => document.querySelector('#medium-nearby').scrollIntoView({block: 'start'})")
        w.page.screenshot(path=str(SHOTS / "medium-event-staff-1366x1024.png"))
        assert w.non_local() == [] and w.errors == []

        p = watched({"width": 390, "height": 844}, "street")
        p.page.goto(f"{srv.url}/small?event={event_id}")
        p.page.wait_for_selector("#small-staff-list")
        assert p.page.locator("#small-staff-list .gs-name").all_inner_texts() == list(want["name"])
        hrefs = p.page.locator("#small-staff-list a.gs-phone").evaluate_all("els => els.map(a => a.href)")
        assert hrefs == [f"tel:{x}" for x in want["phone"]]
        assert p.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        low = p.page.evaluate("""() => [...document.querySelectorAll('#small-staff a')]
            .map(a => a.getBoundingClientRect().height).filter(h => h > 0 && h < 44)""")
        assert low == [], "touch targets of 44 px"
        p.page.evaluate("() => document.querySelector('#small-staff').scrollIntoView({block: 'end'})")
        p.page.screenshot(path=str(SHOTS / "small-event-staff-390x844.png"))
        assert p.non_local() == [] and p.errors == []

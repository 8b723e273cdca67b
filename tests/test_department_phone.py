"""Department users (条, role department) on the phone: a department's staff (城管局 city-wide, 玄武区城管 = 城管
within 玄武区, or a sub-unit) see that department's open, overdue and at-risk cases, the supervisions on them and its
figures, each recounted by an independent SQL count over the source; and a forged-request probe: another
department's case, another region, the parent department, other screens and routes, odd encodings and forged
callback payloads are refused (4xx, never 5xx) without leaking or disclosing anything. The user command takes the
department (an unknown code is named), and an old app database gains the column in place."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pandas as pd
import pytest
from helpers import NOW, forged_payloads, not_quarantined, page_payload, sign_in
from sqlalchemy import create_engine, inspect, text

from components.format import fmt_count, fmt_rate
from config.departments import load_departments
from config.labels import label
from contract import frames as F
from contract.metrics import AT_RISK_HOURS
from queries import window_views

# 住建 (the demo's slow department, so overdue cases everywhere) in 秦淮区; 鼓楼区 another district
QINHUAI, GULOU = "320104", "320106"
# name -> (password, department, region): 住建局 city-wide, 秦淮区住建 (住建 within 秦淮区), the sub-unit 秦淮区住建局
DEPT_USERS = {"zj-city": ("zj-city-pass-1", "ZJ", "3201"), "zj-qinhuai": ("zj-qinhuai-pass-1", "ZJ", QINHUAI),
              "zj-qh-unit": ("zj-unit-pass-1", "ZJ320104", "3201")}
OUTPUTS = [("small-kpis", "children"), ("small-freshness-box", "children"), ("small-alerts", "children"),
           ("small-queue-title", "children"), ("small-queue", "children"), ("small-map", "src"),
           ("small-at-risk", "children")]
OPEN_SQL = """SELECT event_id, due_at FROM events WHERE department LIKE :dept AND grid_code LIKE :prefix
  AND closed_at IS NULL {exclude}"""
MONTH_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN closed_at IS NOT NULL OR due_at < :now THEN 1 ELSE 0 END) AS due_to_close,
  sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN closed_at IS NULL AND due_at < :now AND deferred > 0 THEN 1 ELSE 0 END) AS deferred
FROM events WHERE department LIKE :dept AND grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop
  {exclude}"""


@pytest.fixture
def dept_client(app, city, users):
    """dept_client(name): a test client signed in as that DEPT_USERS department user (created here)."""
    store = app.server.config["COCKPIT_USERS"]
    catalogue = load_departments(city.folder)
    for name, (password, dept, region) in DEPT_USERS.items():
        store.add_user(name, password, "department", region, city, dept, catalogue)

    def make(name: str):
        client = app.server.test_client()
        assert sign_in(client, name, DEPT_USERS[name][0]).status_code == 302
        client.get("/")
        return client

    return make


def small_payload(region) -> dict:
    return {"output": ".." + "...".join(f"{i}.{p}" for i, p in OUTPUTS) + "..",
            "outputs": [{"id": i, "property": p} for i, p in OUTPUTS],
            "inputs": [{"id": "small-version", "property": "data", "value": [1, False]}],
            "state": [{"id": "small-region", "property": "data", "value": region}],
            "changedPropIds": ["small-version.data"]}


def exclude_of(app) -> str:
    return not_quarantined(app.server.config["COCKPIT"].snapshot().frame("quarantine")["row_id"].tolist())


def open_cases(sim_engine, exclude: str, dept: str, prefix: str) -> pd.DataFrame:
    with sim_engine.connect() as c:
        rows = c.execute(text(OPEN_SQL.format(exclude=exclude)), {"dept": f"{dept}%", "prefix": f"{prefix}%"}).all()
    df = pd.DataFrame(rows, columns=["event_id", "due_at"])
    df["due_at"] = pd.to_datetime(df["due_at"])
    return df


def shown_ids(children) -> list[str]:
    """The event ids a list links to (?event=…), in order."""
    return re.findall(r"event=([^&\"\\]+)", json.dumps(children))


def tile(resp: dict, key: str) -> str:
    tiles = resp["small-kpis"]["children"]
    t = next(x for x in tiles if x["props"].get("id") == f"small-kpi-{key}")
    return t["props"]["children"][1]["props"]["children"]


# ------------------------------------------------------------------------------- recount against the source

@pytest.mark.parametrize("name, region", [("zj-city", "3201"), ("zj-city", QINHUAI), ("zj-qinhuai", QINHUAI),
                                          ("zj-qinhuai", "320104007"), ("zj-qh-unit", "3201")])
def test_phone_department_figures_and_lists_equal_sql(app, published, dept_client, sim_engine, city, name, region):
    client = dept_client(name)
    dept = DEPT_USERS[name][1]
    r = client.post("/_dash-update-component", json=small_payload(region))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    resp = r.get_json()["response"]
    exclude = exclude_of(app)
    cases = open_cases(sim_engine, exclude, dept, region)
    overdue = cases[cases["due_at"] < NOW]
    assert len(cases) > 0 and len(overdue) > 0, (name, region)
    # counts now: the tiles and the list's title
    assert tile(resp, "open_now") == fmt_count(len(cases)) and tile(resp, "overdue_now") == fmt_count(len(overdue))
    title = resp["small-queue-title"]["children"]
    assert f"{label('overdue')} {len(overdue)} / {label('pending')} {len(cases)}" in title
    # the list: the department's open cases there, overdue first (no supervision yet), at most 30
    ids = shown_ids(resp["small-queue"]["children"])
    assert len(ids) == min(30, len(cases)) and set(ids) <= set(cases["event_id"])
    late = set(overdue["event_id"])
    assert [e in late for e in ids] == sorted([e in late for e in ids], reverse=True)
    # at risk: open, due within the horizon
    soon = cases[(cases["due_at"] >= NOW) & (cases["due_at"] < NOW + timedelta(hours=AT_RISK_HOURS))]
    risky = shown_ids(resp["small-at-risk"]["children"])
    assert set(risky) == set(soon["event_id"].head(30)) or (len(soon) > 30 and set(risky) <= set(soon["event_id"]))
    assert tile(resp, "at_risk_now") == fmt_count(len(soon))
    # this month's figures, as the tablet's department view defines them
    w = window_views.resolve_window("month", NOW)
    bounds = {"start": f"{w.first:%Y-%m-%d} 00:00:00", "stop": f"{w.last + timedelta(days=1):%Y-%m-%d} 00:00:00"}
    with sim_engine.connect() as c:
        m = c.execute(text(MONTH_SQL.format(exclude=exclude)),
                      {"dept": f"{dept}%", "prefix": f"{region}%", "now": NOW, **bounds}).mappings().one()
    assert tile(resp, "reported") == fmt_count(m["reported"]) and m["reported"] > 0
    assert tile(resp, "closure_rate") == fmt_rate(m["closed"] / m["due_to_close"])
    assert tile(resp, "on_time_closure_rate") == fmt_rate(m["closed_on_time"] / (m["due_to_close"] - m["deferred"]))
    # the map: the department's overdue cases per part of the region
    svg = client.get(resp["small-map"]["src"]).get_data(as_text=True)
    n = len(city.children(region)["code"].iloc[0]) if not city.children(region).empty else len(region)
    with sim_engine.connect() as c:
        by_part = dict(c.execute(text(f"""SELECT substr(grid_code, 1, :n), count(*) FROM events WHERE department LIKE
            :dept AND grid_code LIKE :prefix AND closed_at IS NULL AND due_at < :now {exclude}
            GROUP BY substr(grid_code, 1, :n)"""), {"n": n, "dept": f"{dept}%", "prefix": f"{region}%", "now": NOW}).all())
    assert sum(by_part.values()) == len(overdue)
    for code, k in by_part.items():
        assert f">{city.short_name(code)} {k}<" in svg, (code, k)


def test_phone_lists_the_supervisions_on_its_cases_only(app, published, dept_client, sim_engine, redis_client):
    """A supervision of one of its cases tops the list with its note; another department's supervision is not shown."""
    from etl.transforms.supervision import supervision_outcomes
    from snapshots.store import SnapshotStore

    exclude = exclude_of(app)
    mine = open_cases(sim_engine, exclude, "ZJ", QINHUAI).sort_values("due_at")["event_id"].iloc[-1]  # due last
    theirs = open_cases(sim_engine, exclude, "CG", QINHUAI)["event_id"].iloc[0]
    t = pd.Timestamp(NOW)
    sup = pd.DataFrame({"supervision_id": ["s1", "s2"], "event_id": [mine, theirs], "grid_code": [QINHUAI + "001001001"] * 2,
                        "level": ["district"] * 2, "note": ["请住建今日处置", "城管的督办内容"],
                        "new_due_at": [t + timedelta(hours=4)] * 2, "state": ["sent"] * 2, "created_at": [t, t]})
    events = pd.DataFrame({"event_id": [mine, theirs], "closed_at": [pd.NaT, pd.NaT], "department": ["ZJ", "CG"],
                           "dept_no": [1, 2]})
    SnapshotStore(redis_client).publish({F.SUPERVISIONS.name: supervision_outcomes(sup, events)}, NOW)
    app.server.config["COCKPIT"].reader.min_check_s = 0
    resp = dept_client("zj-qinhuai").post("/_dash-update-component", json=small_payload(QINHUAI)).get_json()["response"]
    body = json.dumps(resp, ensure_ascii=False)
    assert shown_ids(resp["small-queue"]["children"])[0] == mine and "请住建今日处置" in body
    assert label("dept_supervised_open", n=1) in body
    assert theirs not in body and "城管的督办内容" not in body


# --------------------------------------------------------------------------------------- the probe

def assert_refused(r, what) -> None:
    """4xx, never 5xx; a refusal says only that it is refused (the fixed text), a bad request only that it is."""
    assert 400 <= r.status_code < 500, (what, r.status_code, r.get_data(as_text=True)[:200])
    body = r.get_data(as_text=True)
    if r.status_code == 403:
        assert body == label("out_of_scope") or r.get_json() == {"error": "out of scope", "detail": label("out_of_scope")}, \
            (what, body[:200])
    assert len(body) < 300, (what, body[:300])


def foreign(app, sim_engine, city) -> dict:
    """Another department's open cases (城管 in 秦淮区), 住建's in another district (鼓楼区), and the parent
    department's beyond the sub-unit (住建's not of 秦淮区住建局): each a case one of the users must never open."""
    exclude = exclude_of(app)
    with sim_engine.connect() as c:
        parent = [r[0] for r in c.execute(text(f"""SELECT event_id FROM events WHERE department LIKE 'ZJ%' AND
            department NOT LIKE 'ZJ320104%' AND closed_at IS NULL {exclude} ORDER BY department LIMIT 3"""))]
    return {"other_dept": open_cases(sim_engine, exclude, "CG", QINHUAI)["event_id"].head(3).tolist(),
            "other_region": open_cases(sim_engine, exclude, "ZJ", GULOU)["event_id"].head(3).tolist(),
            "parent_dept": parent}


ODD = ["%43%47", "ＣＧ", "CG\x00", "Z" * 5000, "' OR '1'='1", "1; DROP TABLE events --", "../../etc/passwd",
       "%2e%2e%2f", "\u202eJZ", "🙂", "CG%", "CG_", "*", ""]


@pytest.mark.parametrize("name", list(DEPT_USERS))
def test_forged_requests_of_a_department_user_are_refused_and_leak_nothing(app, published, dept_client, sim_engine,
                                                                          city, name):
    client = dept_client(name)
    dept, region = DEPT_USERS[name][1], DEPT_USERS[name][2]
    bad = foreign(app, sim_engine, city)
    probes = {"other_dept": bad["other_dept"]}
    if region != "3201":
        probes["other_region"] = bad["other_region"]
    if dept != "ZJ":
        probes["parent_dept"] = bad["parent_dept"]
    assert all(probes.values()), probes
    forbidden = {e for ids in probes.values() for e in ids}
    bodies: list[str] = []

    def check(r, what, ok=(403,)) -> None:
        body = r.get_data(as_text=True)
        bodies.append(body)
        if r.status_code not in ok:
            assert_refused(r, what)

    # another department's case, another region's, the parent department's: by the page URL, as Dash renders it
    for kind, ids in probes.items():
        for e in ids:
            r = client.post("/_dash-update-component", json=page_payload("/small", f"?event={e}&region={region}"))
            assert r.status_code == 403, (kind, e)
            check(r, kind)
            r = client.post("/_dash-update-component", json=page_payload("/small", f"?event={e}"))
            assert r.status_code == 403, (kind, e)
            check(r, kind)
    # the same ids percent-encoded, with odd values, and other departments in the query
    for e in list(forbidden)[:2]:
        quoted = "".join(f"%{b:02X}" for b in e.encode())
        r = client.post("/_dash-update-component", json=page_payload("/small", f"?event={quoted}"))
        assert r.status_code == 403
        check(r, "quoted")
    for v in ODD:
        for search in (f"?event={v}", f"?region={v}", f"?dept={v}", f"?spot={v}"):
            r = client.post("/_dash-update-component", json=page_payload("/small", search))
            check(r, search, ok=(200, 403))
        for path in (f"/small?dept={v}", f"/small/map.svg?region={region}&dept={v}", f"/small?region={v}"):
            check(client.get(path, headers={"Accept": "text/html"}), path, ok=(200, 403))
    for other in ("CG", "SW", "ZJ320106", "%43%47320104", "-"):
        r = client.get(f"/small/map.svg?region={region}&dept={other}")
        assert r.status_code == 403 or (other.startswith(dept) and r.status_code == 200), other
        check(r, other, ok=(200, 403))
    # another region (the user's own region, a sibling, the city) on the phone's render callback
    siblings = [c for c in city.children(city.ancestors(region)[-1])["code"] if c != region] if region != "3201" else []
    for other in [*siblings[:2], *([city.code] if region != "3201" else [])]:
        r = client.post("/_dash-update-component", json=small_payload(other))
        assert r.status_code == 403, other
        check(r, other)
    # every other screen, route and callback: the tablet, the wall, exports, GeoJSON, the briefing, /metrics
    for rule in app.server.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", rule.rule).replace("/x.json", "/grid.json")
        if "GET" not in rule.methods or path.startswith(("/assets", "/_dash-component-suites", "/static", "/login")) \
                or path in ("/", "/small", "/small/map.svg", "/_dash-layout", "/_dash-dependencies", "/health",
                            "/_favicon.ico", "/_reload-hash"):
            continue
        r = client.get(f"{path}?region={region}", headers={"Accept": "text/html"})
        assert r.status_code in (401, 403, 404), (path, r.status_code)
        check(r, path, ok=(401, 403, 404))
    for page in ("/medium", "/big", "/medium?dept=CG", "/x"):
        r = client.get(page, headers={"Accept": "text/html"})
        assert r.status_code == 403, page
        check(r, page)
        r = client.post("/_dash-update-component", json=page_payload(page.split("?")[0], ""))
        assert r.status_code == 403, page
        check(r, page)
    deps = client.get("/_dash-dependencies").get_json()
    forged = 0
    for value in (next(iter(forbidden)), "CG", f"?dept=CG&region={region}", {"region": GULOU, "dept": "CG"},
                  [1, False], "' OR 1=1 --", {"x": {"y": [1, 2, {"z": "CG"}]}}):
        for payload in forged_payloads(deps, value):
            r = client.post("/_dash-update-component", json=payload)
            check(r, payload["output"][:80], ok=(200, 204, 400, 403))
            forged += 1
    assert forged > 20
    # the supervision form's submit, forged for another department's case
    e = next(iter(forbidden))
    sup = {"output": json.dumps({"event": ["ALL"], "type": "small-supervise-result"}, separators=(",", ":")) + ".children",
           "outputs": [{"id": {"type": "small-supervise-result", "event": e}, "property": "children"}],
           "inputs": [[{"id": {"type": "small-supervise-submit", "event": e}, "property": "n_clicks", "value": 1}]],
           "state": [[{"id": {"type": f"small-supervise-{k}", "event": e}, "property": "value", "value": v}]
                     for k, v in (("level", "supervise"), ("hours", 24), ("note", "x"))],
           "changedPropIds": [json.dumps({"event": e, "type": "small-supervise-submit"}, separators=(",", ":"))
                              + ".n_clicks"]}
    r = client.post("/_dash-update-component", json=sup)
    assert r.status_code == 403
    check(r, "supervise")
    assert app.server.config["COCKPIT_SUPERVISIONS"].all() == []
    # /health: the public line only, never the city's totals (even for a city-wide department user)
    health = client.get("/health").get_json()
    assert not {"events_total", "departments", "quarantine", "frames"} & set(health)
    # nothing leaked: no forbidden case id, no other department's name, in any response
    snap = app.server.config["COCKPIT"].snapshot()
    names = snap.frame(F.DEPARTMENTS).set_index("code")["name"]
    others = [n for c, n in names.items() if c and not c.startswith(dept) and not dept.startswith(c)]
    everything = "\n".join(bodies)
    for e in forbidden:
        assert e not in everything, e
    for n in others:
        assert n not in everything, n


def test_a_department_user_opens_its_own_case(app, published, dept_client, sim_engine):
    """Its own case opens with its timeline and address (the unit handles it), with no 督办 form."""
    client = dept_client("zj-qinhuai")
    e = open_cases(sim_engine, exclude_of(app), "ZJ", QINHUAI)["event_id"].iloc[0]
    r = client.post("/_dash-update-component", json=page_payload("/small", f"?event={e}"))
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert e in body and "small-timeline" in body and "small-supervise-submit" not in body
    home = json.dumps(client.post("/_dash-update-component", json=page_payload("/", "")).get_json(), ensure_ascii=False)
    assert '"/small"' in home and '"/medium"' not in home and "南京市住房和城乡建设局" in home


# ------------------------------------------------------------------------------- users and the app database

def test_user_command_takes_a_department_and_names_an_unknown_one(monkeypatch, tmp_path, capsys):
    from dashboard.user_store import UserStore
    from dashboard.users import main

    url = f"sqlite:///{tmp_path}/app.db"
    monkeypatch.setenv("COCKPIT_APP_DB_URL", url)

    def add(*args) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
        return main(["add", *args, "--password-stdin"])

    assert add("xwcg", "--role", "department", "--region", "320102", "--department", "CG") == 0
    assert "department CG" in capsys.readouterr().out
    for args, why in ((["--role", "department", "--region", "3201", "--department", "XX9"],
                       "unknown department 'XX9'"),
                      (["--role", "department", "--region", "3201"], "needs --department"),
                      (["--role", "district", "--region", "320102", "--department", "CG"], "takes no department"),
                      (["--role", "department", "--region", "320102002001", "--department", "CG"], "does not fit role")):
        assert add("bob", *args) == 2
        err = capsys.readouterr().err
        assert why in err, err
    store = UserStore(url)
    p = store.check_password("xwcg", "a-long-password")
    assert (p.role, p.region, p.department) == ("department", "320102", "CG")
    assert main(["list"]) == 0 and "department CG" in capsys.readouterr().out
    store.engine.dispose()


def test_an_old_app_database_gains_the_department_column_in_place(tmp_path):
    from dashboard import migrations
    from dashboard.user_store import UserStore

    url = f"sqlite:///{tmp_path}/app.db"
    engine = create_engine(url)
    migrations.upgrade(engine, "0002_supervisions")  # the app database before department users
    with engine.begin() as c:
        c.execute(text("INSERT INTO cockpit_users (name, password_hash, role, region, active, created_at) "
                       "VALUES ('chen', 'x', 'city', '3201', 1, '2026-11-01 08:00:00')"))
    assert "department" not in {col["name"] for col in inspect(engine).get_columns("cockpit_users")}
    engine.dispose()
    store = UserStore(url)
    assert migrations.current(store.engine) == migrations.head() == "0003_user_department"
    assert [(u.name, u.department) for u in store.users()] == [("chen", "")]
    assert store.load(f"u{store.users()[0].id}").department == ""
    p = store.add_user("xwcg", "a-long-password", "department", "320102", department="CG")
    assert store.load(p.key).department == "CG"
    store.engine.dispose()


# ------------------------------------------------------------------------------------------- in Chromium

@pytest.mark.browser
def test_department_phone_in_chromium(browser, app, published, dept_client, sim_engine):
    """秦淮区住建 on a 390×844 phone: its department's name, figures, cases and map, no sideways scroll, no console
    error, nothing from the internet; the README's screenshot (small-department-390x844.png in helpers.SHOTS:
    docs/screenshots with COCKPIT_SCREENSHOTS_DIR=docs/screenshots)."""
    from helpers import SHOTS, WAIT_MS, LiveServer, wait_for_data

    cookie = dept_client("zj-qinhuai").get_cookie("cockpit_session").value
    cases = open_cases(sim_engine, exclude_of(app), "ZJ", QINHUAI)
    with LiveServer(app.server) as srv:
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        try:
            ctx.add_cookies([{"name": "cockpit_session", "value": cookie, "domain": "127.0.0.1", "path": "/",
                              "httpOnly": True, "sameSite": "Lax"}])
            page = ctx.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{srv.url}/small")
            wait_for_data(page, "small")
            page.wait_for_selector("#small-queue a.ev-link")
            assert page.inner_text(".small-header .title") == "南京市住房和城乡建设局 · 秦淮区"
            assert page.inner_text("#small-kpi-open_now .kpi-value") == fmt_count(len(cases))
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, "no sideways scroll on the phone"
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "small-department-390x844.png"))
            assert errors == [] and all(u.startswith(srv.url) or u.startswith(("data:", "blob:")) for u in requests)
        finally:
            ctx.close()

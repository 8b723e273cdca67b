"""Three foreign source shapes, each built here with its own table and column names and onboarded with a
mapping file only (config/sources/examples/), each recounted by plain SQL over its OWN tables:
(a) a 12345 hotline work-order table (MySQL/MariaDB when TEST_MYSQL_URL is set, else SQLite), placed by
the handling unit's street/community code; (b) an Open311 GeoReport v2 table (PostgreSQL when
TEST_POSTGRES_URL is set, else SQLite), WGS-84 points placed by point-in-grid; (c) a 数字城管 case table
with a flow log on SQLite, GCJ-02 points, text times, stages and reopenings from the flow log, deadlines
from rules. Unmapped values and unparseable times are quarantined with their detail, a fixed mapping
takes them out again, and start-up stops on a column the source does not have."""

from __future__ import annotations

import os
import random
from datetime import timedelta

import pytest
from helpers import NOW, shown_for_window
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, insert, text

from config.datums import convert
from config.settings import ROOT
from contract.windows import window_start
from etl.jobs import EtlJobs
from etl.source.check import check_columns
from etl.source.mapping import MappingError, load_mapping
from etl.source.schema import writable_engine
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

EXAMPLES = ROOT / "config" / "sources" / "examples"
WINDOWS = ("7d", "30d")


def engine_for(kind: str, tmp_path, tables: list[str]):
    url = {"mysql": os.environ.get("TEST_MYSQL_URL"), "postgres": os.environ.get("TEST_POSTGRES_URL")}.get(kind)
    engine = writable_engine(url or f"sqlite:///{tmp_path}/{'_'.join(tables)}.db")
    with engine.begin() as c:
        for t in tables:
            c.execute(text(f"DROP TABLE IF EXISTS {t}"))
    return engine


def run(engine, city, redis_client, mapping):
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), mapping=mapping)
    jobs.run_all(NOW)
    return jobs, SnapshotReader(redis_client, min_check_s=0).current()


def sample_codes(city, rnd, level, n, district_codes):
    rows = city.regions[(city.regions["level"] == level) & city.regions["code"].str[:6].isin(district_codes)]
    return rnd.sample(rows["code"].tolist(), n)


# --- (a) 12345 hotline ----------------------------------------------------------------------------
HOTLINE_CLASSES = ["供水", "噪音", "占道经营", "垃圾清运", "消防隐患", "邻里纠纷", "政策咨询"]
# 承办单位 as the hotline writes them: names and aliases of config/cities/nanjing/departments.csv, a unit it does not
# know, and none. Which department each stands for, said here (not read from the catalogue): the SQL's own truth.
HOTLINE_UNITS = {"CG": ["南京市城市管理局", "市城管局", "玄武区城管局", "秦淮区城管"], "CG320102": ["玄武区城管局"],
                 "GS": ["自来水公司", "南京水务集团"], "ZJ": ["秦淮区住建局"], "-": ["外区城管中队", None]}
HOTLINE_DEPTS = ["南京市城市管理局", "市城管局", "玄武区城管局", "秦淮区城管", "自来水公司", "南京水务集团", "秦淮区住建局",
                 "外区城管中队", None]


def build_hotline(engine, city, n=500, seed=3):
    md = MetaData()
    t = Table("gd_order", md, Column("ORDER_NO", String(24), primary_key=True), Column("CALL_TIME", DateTime),
              Column("QUESTION_CLASS", String(16)), Column("QUESTION_TITLE", String(64)),
              Column("ORDER_STATE", Integer), Column("URGENCY", Integer), Column("DEADLINE", DateTime),
              Column("DISPATCH_TIME", DateTime), Column("COMPLETE_TIME", DateTime), Column("VISIT_TIME", DateTime),
              Column("VISIT_RESULT", String(8)), Column("DEAL_UNIT_CODE", String(16)), Column("DEAL_LEVEL", String(8)),
              Column("DEAL_DEPT", String(32)), Column("CALLER_NAME", String(16)), Column("CALLER_PHONE", String(16)), Column("ADDRESS", String(64)),
              Column("UPDATE_TIME", DateTime))
    md.create_all(engine)
    rnd = random.Random(seed)
    units = sample_codes(city, rnd, "street", 12, ["320102", "320104", "320106"]) + \
        sample_codes(city, rnd, "community", 30, ["320102", "320104", "320106"])
    rows = []
    for i in range(n):
        call = NOW - timedelta(minutes=rnd.randint(10, 25 * 24 * 60))
        state = rnd.choices([0, 1, 2, 3, 4, 5], [1, 2, 2, 2, 2, 8])[0]
        urgency = rnd.choice([1, 2, 2, 3])
        t1 = call + timedelta(minutes=rnd.randint(1, 60))
        t2 = t1 + timedelta(hours=rnd.randint(1, 60))
        t3 = t2 + timedelta(hours=rnd.randint(1, 10))
        while state and [call, t1, t1, t2, t3, t3][state] >= NOW:  # nothing happened after now
            state -= 1
        rows.append({"ORDER_NO": f"GD{i:08d}", "CALL_TIME": call, "QUESTION_CLASS": rnd.choice(HOTLINE_CLASSES),
                     "QUESTION_TITLE": "来电反映", "ORDER_STATE": state, "URGENCY": urgency,
                     "DEADLINE": call + timedelta(hours={1: 2, 2: 24, 3: 168}[urgency]),
                     "DISPATCH_TIME": t1 if state >= 1 else None, "COMPLETE_TIME": t2 if state >= 3 else None,
                     "VISIT_TIME": t3 if state >= 4 else None,
                     "VISIT_RESULT": rnd.choice(["满意", "基本满意", "不满意", None]) if state >= 4 else None,
                     "DEAL_UNIT_CODE": rnd.choice(units), "DEAL_LEVEL": rnd.choice(["网格", "社区", "街道", "区"]),
                     "DEAL_DEPT": rnd.choice(HOTLINE_DEPTS),
                     "CALLER_NAME": "张三", "CALLER_PHONE": "13800000000", "ADDRESS": "中山路1号",
                     "UPDATE_TIME": min(NOW - timedelta(minutes=1), (t3 if state >= 4 else t2 if state >= 3 else t1)
                                        if state else call)})
    for i in range(3):  # an order state nobody mapped, and a question class nobody mapped
        rows[i]["ORDER_STATE"] = 9
    rows[3]["QUESTION_CLASS"] = "外星人"
    with engine.begin() as c:
        c.execute(insert(t), rows)
    return units


HOTLINE_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN ORDER_STATE = 5 THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN ORDER_STATE = 5 AND VISIT_TIME <= DEADLINE THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN ORDER_STATE = 5 AND VISIT_RESULT IN ('满意', '基本满意') THEN 1 ELSE 0 END) AS satisfied,
  sum(CASE WHEN ORDER_STATE = 5 AND DEAL_LEVEL = '网格' THEN 1 ELSE 0 END) AS grid_settled
FROM gd_order WHERE DEAL_UNIT_CODE LIKE :prefix AND CALL_TIME >= :start AND ORDER_STATE <> 9
  AND QUESTION_CLASS <> '外星人'"""
HOTLINE_STOCK = """SELECT sum(CASE WHEN ORDER_STATE <> 5 THEN 1 ELSE 0 END),
  sum(CASE WHEN ORDER_STATE <> 5 AND DEADLINE < :now THEN 1 ELSE 0 END)
FROM gd_order WHERE DEAL_UNIT_CODE LIKE :prefix AND ORDER_STATE <> 9 AND QUESTION_CLASS <> '外星人'"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mysql"] if os.environ.get("TEST_MYSQL_URL") else ["sqlite"])
def test_hotline_work_orders_recounted_by_sql(kind, tmp_path, city, redis_client):
    engine = engine_for(kind, tmp_path, ["gd_order"])
    units = build_hotline(engine, city)
    mapping = load_mapping(EXAMPLES / "hotline.toml")
    check_columns(engine, mapping)
    jobs, snap = run(engine, city, redis_client, mapping)
    regions = ["3201", "320102", "320104", units[0], units[1], units[-1], units[-2]]  # streets and communities
    with engine.connect() as c:
        for code in regions:
            open_, overdue = c.execute(text(HOTLINE_STOCK), {"prefix": f"{code}%", "now": NOW}).one()
            for window in WINDOWS:
                start = window_start(NOW, window).to_pydatetime()
                want = c.execute(text(HOTLINE_SQL), {"prefix": f"{code}%", "start": start}).one()
                shown = shown_for_window(snap, code, window)
                assert shown["reported"] == want.reported > 0, (code, window)
                for key in ("closed", "closed_on_time", "satisfied", "grid_settled"):
                    assert shown[key] == (getattr(want, key) or 0), (code, window, key)
                assert (shown["open"], shown["overdue"]) == (open_ or 0, overdue or 0), code
    # street-placed orders count at their street, never in one of its communities or grids
    street = units[0]
    placed = jobs.ledger.events
    assert (placed.loc[placed["grid_code"].str.startswith(street), "grid_code"] == street + "000000").any()
    q = jobs.ledger.quarantine_rows()
    assert jobs.ledger.quarantine_counts()["unmapped_value"] == 4
    assert sorted(q["detail"]) == ["unmapped category '外星人'"] + ["unmapped status '9'"] * 3
    assert snap.meta["quarantine"]["unmapped_value"] == 4  # what /health shows
    # the mapping learns state 9: on restart those orders leave the quarantine by themselves
    fixed = tmp_path / "hotline.toml"
    fixed.write_text((EXAMPLES / "hotline.toml").read_text(encoding="utf-8").replace(
        '"5" = "closed" }', '"5" = "closed", "9" = "closed" }'), encoding="utf-8")
    jobs2, _ = run(engine, city, redis_client, load_mapping(fixed))
    assert jobs2.ledger.quarantine_counts()["unmapped_value"] == 1
    assert set(jobs2.ledger.events["event_id"]) >= {"GD00000000", "GD00000001", "GD00000002"}


HOTLINE_DEPT_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN ORDER_STATE = 5 THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN ORDER_STATE = 5 AND VISIT_TIME <= DEADLINE THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN ORDER_STATE = 5 OR DEADLINE < :now THEN 1 ELSE 0 END) AS due_to_close,
  sum(CASE WHEN ORDER_STATE <> 5 AND DEADLINE < :now THEN 1 ELSE 0 END) AS cohort_overdue
FROM gd_order WHERE ({units}) AND DEAL_UNIT_CODE LIKE :prefix AND CALL_TIME >= :start AND ORDER_STATE <> 9
  AND QUESTION_CLASS <> '外星人'"""


def units_sql(dept: str, units: dict) -> tuple[str, dict]:
    names = [u for u in units[dept] if u is not None]
    cond = " OR ".join([f"DEAL_DEPT = :u{i}" for i in range(len(names))] + (["DEAL_DEPT IS NULL"] if None in units[dept] else []))
    return cond, {f"u{i}": n for i, n in enumerate(names)}


@pytest.mark.parametrize("kind", ["mysql"] if os.environ.get("TEST_MYSQL_URL") else ["sqlite"])
def test_hotline_departments_recounted_by_sql(kind, tmp_path, city, redis_client):
    """The handling unit's name (DEAL_DEPT) through the catalogue's names and aliases: each department's figures
    (with its sub-units) equal SQL over gd_order by the names that stand for it; 外区城管中队 counts under 未归属 and
    is listed; what the hotline does not keep (延期, 缓办, 挂账) is 未接入, not 0."""
    from queries import department_views as dv
    from queries.window_views import resolve_window

    engine = engine_for(kind, tmp_path, ["gd_order"])
    units = build_hotline(engine, city)
    jobs, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "hotline.toml"))
    with engine.connect() as c:
        for dept in HOTLINE_UNITS:
            for code in ("3201", "320102", "320104", units[0], units[-1]):
                for window in WINDOWS:
                    cond, names = units_sql(dept, HOTLINE_UNITS)
                    start = window_start(NOW, window).to_pydatetime()
                    want = c.execute(text(HOTLINE_DEPT_SQL.format(units=cond)),
                                     {"prefix": f"{code}%", "start": start, "now": NOW, **names}).mappings().one()
                    shown = dv.department_kpis(snap, dept, code, resolve_window(window, NOW))
                    for key, value in want.items():
                        assert shown[key] == (value or 0), (dept, code, window, key)
                    assert shown["extended"] is None and shown["extension_rate"] is None  # 未接入
                    assert shown["reopened"] is None and shown["rework_rate"] is None
    unknown = {u["value"]: u["rows"] for u in snap.meta["departments"]["unknown"]}
    assert set(unknown) == {"外区城管中队"} and unknown["外区城管中队"] > 20
    # through contract/metrics.py FIGURE_NEEDS: no 延期/缓办/挂账 kept, no reopened column nor flow log (返工率)
    assert dv.missing(snap) == {"deferred", "extended", "hung", "extension_rate", "reopened", "rework_rate"}


# --- (b) Open311 ------------------------------------------------------------------------------------
SERVICES = ["Pothole", "Graffiti", "Streetlight out", "Water leak", "Illegal dumping", "Noise"]
# agency_responsible -> the department it stands for (open311.toml maps the first four; "Street office" is unknown)
AGENCIES = ["Public Works", "Water Department", "Police", "Transport", "Street office", None]
OPEN311_UNITS = {"CG": ["Public Works"], "GS": ["Water Department"], "GA": ["Police"], "JT": ["Transport"],
                 "-": ["Street office", None]}


def build_open311(engine, city, n=400, seed=5):
    md = MetaData()
    t = Table("requests", md, Column("service_request_id", String(32), primary_key=True),
              Column("status", String(8)), Column("service_name", String(32)), Column("description", String(64)),
              Column("address", String(64)), Column("agency_responsible", String(32)),
              Column("requested_datetime", DateTime(timezone=True)), Column("updated_datetime", DateTime(timezone=True)),
              Column("expected_datetime", DateTime(timezone=True)), Column("lat", Float), Column("long", Float))
    truth = Table("requests_truth", md, Column("service_request_id", String(32)), Column("grid_code", String(15)))
    md.create_all(engine)
    rnd = random.Random(seed)
    grids = city.grids().sample(60, random_state=seed)
    lon, lat = convert(grids["lon"].to_numpy(), grids["lat"].to_numpy(), city.datum, "WGS84")  # the city's GPS
    rows, known = [], []
    utc_now = NOW - timedelta(hours=8)  # the table keeps UTC
    for i in range(n):
        k = rnd.randrange(len(grids))
        req = utc_now - timedelta(minutes=rnd.randint(10, 20 * 24 * 60))
        closed = rnd.random() < 0.6
        upd = min(utc_now - timedelta(minutes=1), req + timedelta(hours=rnd.randint(1, 90)))
        rows.append({"service_request_id": f"SR-{i:06d}", "status": "closed" if closed else "open",
                     "service_name": rnd.choice(SERVICES), "description": "reported on the app", "address": "",
                     "agency_responsible": rnd.choice(AGENCIES),
                     "requested_datetime": req, "updated_datetime": upd if closed else req,
                     "expected_datetime": req + timedelta(hours=rnd.choice([24, 72])),
                     "lat": float(lat[k]), "long": float(lon[k])})
        known.append({"service_request_id": f"SR-{i:06d}", "grid_code": grids["code"].iloc[k]})
    with engine.begin() as c:
        c.execute(insert(t), rows)
        c.execute(insert(truth), known)


OPEN311_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN r.status = 'closed' THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN r.status = 'closed' AND r.updated_datetime <= r.expected_datetime THEN 1 ELSE 0 END) AS on_time
FROM requests r JOIN requests_truth g ON g.service_request_id = r.service_request_id
WHERE g.grid_code LIKE :prefix AND r.requested_datetime >= :start"""
OPEN311_STOCK = """SELECT sum(CASE WHEN r.status = 'open' THEN 1 ELSE 0 END),
  sum(CASE WHEN r.status = 'open' AND r.expected_datetime < :now THEN 1 ELSE 0 END)
FROM requests r JOIN requests_truth g ON g.service_request_id = r.service_request_id WHERE g.grid_code LIKE :prefix"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgres"] if os.environ.get("TEST_POSTGRES_URL") else ["sqlite"])
def test_open311_requests_placed_by_point_and_recounted(kind, tmp_path, city, redis_client):
    engine = engine_for(kind, tmp_path, ["requests", "requests_truth"])
    build_open311(engine, city)
    jobs, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "open311.toml"))
    placed = jobs.ledger.events.set_index("event_id")["grid_code"]
    with engine.connect() as c:
        truth = dict(c.execute(text("SELECT service_request_id, grid_code FROM requests_truth")).all())
        assert len(placed) == len(truth) and all(placed[k] == g for k, g in truth.items())  # point-in-grid
        for code in ["3201", *sorted({g[:6] for g in truth.values()})[:3], next(iter(truth.values()))]:
            open_, overdue = c.execute(text(OPEN311_STOCK), {"prefix": f"{code}%", "now": NOW - timedelta(hours=8)}).one()
            for window in WINDOWS:
                start = window_start(NOW, window).to_pydatetime() - timedelta(hours=8)
                want = c.execute(text(OPEN311_SQL), {"prefix": f"{code}%", "start": start}).one()
                shown = shown_for_window(snap, code, window)
                assert (shown["reported"], shown["closed"], shown["closed_on_time"]) == \
                    (want.reported, want.closed or 0, want.on_time or 0), (code, window)
            assert (shown["open"], shown["overdue"]) == (open_ or 0, overdue or 0), code


OPEN311_DEPT_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN r.status = 'closed' THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN r.status = 'closed' AND r.updated_datetime <= r.expected_datetime THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN r.status = 'closed' OR r.expected_datetime < :now THEN 1 ELSE 0 END) AS due_to_close
FROM requests r JOIN requests_truth g ON g.service_request_id = r.service_request_id
WHERE ({units}) AND g.grid_code LIKE :prefix AND r.requested_datetime >= :start"""


@pytest.mark.parametrize("kind", ["postgres"] if os.environ.get("TEST_POSTGRES_URL") else ["sqlite"])
def test_open311_agency_responsible_is_the_department(kind, tmp_path, city, redis_client):
    """agency_responsible through the mapping's map into catalogue codes; an agency neither knows (Street office)
    and none at all count under 未归属; each department's figures equal SQL over the requests table."""
    from queries import department_views as dv
    from queries.window_views import resolve_window

    engine = engine_for(kind, tmp_path, ["requests", "requests_truth"])
    build_open311(engine, city)
    _, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "open311.toml"))
    with engine.connect() as c:
        truth = [g for (g,) in c.execute(text("SELECT grid_code FROM requests_truth"))]
        for dept, agencies in OPEN311_UNITS.items():
            named = [a for a in agencies if a is not None]
            cond = " OR ".join([f"r.agency_responsible = :a{i}" for i in range(len(named))] +
                               (["r.agency_responsible IS NULL"] if None in agencies else []))
            for code in ("3201", truth[0][:6], truth[1][:9]):
                for window in WINDOWS:
                    start = window_start(NOW, window).to_pydatetime() - timedelta(hours=8)  # the table keeps UTC
                    want = c.execute(text(OPEN311_DEPT_SQL.format(units=cond)),
                                     {"prefix": f"{code}%", "start": start, "now": NOW - timedelta(hours=8),
                                      **{f"a{i}": a for i, a in enumerate(named)}}).mappings().one()
                    shown = dv.department_kpis(snap, dept, code, resolve_window(window, NOW))
                    for key, value in want.items():
                        assert shown[key] == (value or 0), (dept, code, window, key)
    assert [u["value"] for u in snap.meta["departments"]["unknown"]] == ["Street office"]
    table = dv.ranking(snap, "3201", resolve_window("month", NOW), {"closure_rate": 1, "on_time_closure_rate": 1})
    assert table.set_index("code").loc["GA", "reported"] > 0 and table.set_index("code").loc["ZJ", "reported"] == 0


# --- (c) 数字城管 cases with a flow log ---------------------------------------------------------------
# the unit a case is dispatched to (派遣 step's dept_name): 城管执法中队 is an alias of 城管局 (CG), 玄武区城管局 its
# sub-unit (CG320102), 市政设施处 a unit the catalogue does not know (未归属)
DC_DEPTS = ["城管执法中队", "玄武区城管局", "市政设施处"]
DC_UNITS = {"CG": ["城管执法中队", "玄武区城管局"], "CG320102": ["玄武区城管局"], "-": ["市政设施处", None]}
CLASSES = {"市容环境": ("城市管理", 24), "街面秩序": ("城市管理", 24), "公用设施": ("民生服务", 48),
           "道路交通": ("公共安全", 4), "园林绿化": ("环保巡查", 48)}
FMT = "%Y/%m/%d %H:%M:%S"


def build_digital_city(engine, city, n=300, seed=9):
    rnd = random.Random(seed)
    grids = city.grids().sample(40, random_state=seed)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE dc_case (case_no TEXT PRIMARY KEY, big_class TEXT, source_type TEXT, "
                       "case_desc TEXT, address TEXT, report_time TEXT, update_time TEXT, x_gcj REAL, y_gcj REAL)"))
        c.execute(text("CREATE TABLE dc_case_flow (flow_id INTEGER PRIMARY KEY, case_no TEXT, act_name TEXT, "
                       "act_time TEXT, dept_name TEXT, operator TEXT, remark TEXT)"))
        flow_id = 0
        for i in range(n):
            g = grids.iloc[rnd.randrange(len(grids))]
            t = NOW - timedelta(minutes=rnd.randint(30, 20 * 24 * 60))
            acts = [("立案", t)]
            for act, minutes in (("派遣", 10), ("处置反馈", 300), ("核查", 40), ("结案", 20)):
                if rnd.random() < 0.85 and acts[-1][1] + timedelta(minutes=minutes) < NOW:
                    acts.append((act, acts[-1][1] + timedelta(minutes=minutes)))
                else:
                    break
            if acts[-1][0] == "核查" and rnd.random() < 0.3:  # sent back, handled again, verified, closed
                for act, minutes in (("返回", 5), ("处置反馈", 90), ("核查", 10), ("结案", 5)):
                    if acts[-1][1] + timedelta(minutes=minutes) < NOW:
                        acts.append((act, acts[-1][1] + timedelta(minutes=minutes)))
            dept = rnd.choice(DC_DEPTS)
            if len(acts) > 1 and rnd.random() < 0.2:  # an extension approved right after dispatch (延期)
                acts.insert(2, ("延期", acts[1][1]))
            if acts[-1][0] != "结案" and rnd.random() < 0.2:  # parked (挂账)
                acts.append(("挂账", acts[-1][1]))
            for act, at in acts:
                flow_id += 1
                c.execute(text("INSERT INTO dc_case_flow VALUES (:i, :c, :a, :t, :d, '王五', '')"),
                          {"i": flow_id, "c": f"DC{i:06d}", "a": act, "t": at.strftime(FMT),
                           "d": "监督指挥中心" if act == "立案" else dept})
            c.execute(text("INSERT INTO dc_case VALUES (:c, :b, :s, '案件', '', :t, :u, :x, :y)"),
                      {"c": f"DC{i:06d}", "b": rnd.choice(list(CLASSES)), "s": rnd.choice(["监督员上报", "公众举报"]),
                       "t": t.strftime(FMT), "u": acts[-1][1].strftime(FMT), "x": float(g["lon"]), "y": float(g["lat"])})
        c.execute(text("UPDATE dc_case SET report_time = '2026年11月19日' WHERE case_no = 'DC000007'"))
        c.execute(text("INSERT INTO dc_case_flow VALUES (99999, 'DC000008', '督办', :t, '', '', '')"),
                  {"t": (NOW - timedelta(minutes=5)).strftime(FMT)})


def iso(col: str) -> str:
    return f"replace({col}, '/', '-')"


DC_LIMIT = "CASE " + " ".join(f"WHEN k.big_class = '{b}' THEN {h}" for b, (_, h) in CLASSES.items()) + " END"
DC_SQL = f"""SELECT k.big_class, count(*) AS reported,
  sum(CASE WHEN c.closed IS NOT NULL THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN c.closed IS NOT NULL AND c.closed <= datetime({iso('k.report_time')}, '+' || ({DC_LIMIT}) || ' hours')
      THEN 1 ELSE 0 END) AS on_time,
  sum(CASE WHEN c.closed IS NULL THEN 1 ELSE 0 END) AS open,
  sum(CASE WHEN c.closed IS NULL AND datetime({iso('k.report_time')}, '+' || ({DC_LIMIT}) || ' hours') < :now
      THEN 1 ELSE 0 END) AS overdue,
  sum(CASE WHEN c.back > 0 THEN 1 ELSE 0 END) AS reopened
FROM dc_case k LEFT JOIN (SELECT case_no, max(CASE WHEN act_name = '结案' THEN {iso('act_time')} END) AS closed,
                                 sum(CASE WHEN act_name = '返回' THEN 1 ELSE 0 END) AS back
                          FROM dc_case_flow GROUP BY case_no) c ON c.case_no = k.case_no
WHERE k.case_no <> 'DC000007' GROUP BY k.big_class"""


def test_digital_city_cases_with_flow_log_recounted(tmp_path, city, redis_client):
    engine = engine_for("sqlite", tmp_path, ["dc_case", "dc_case_flow"])
    build_digital_city(engine, city)
    jobs, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "digital_city.toml"))
    events = jobs.ledger.events
    with engine.connect() as c:
        rows = c.execute(text(DC_SQL), {"now": NOW.strftime("%Y-%m-%d %H:%M:%S")}).mappings().all()
    for cat in {v[0] for v in CLASSES.values()}:
        want = [r for r in rows if CLASSES[r["big_class"]][0] == cat]
        e = events[events["category"] == cat]
        closed = e["closed_at"].notna()
        assert len(e) == sum(r["reported"] for r in want) > 0, cat
        assert closed.sum() == sum(r["closed"] for r in want), cat
        assert (closed & (e["closed_at"] <= e["due_at"])).sum() == sum(r["on_time"] for r in want), cat
        assert ((~closed) & (e["due_at"] < NOW)).sum() == sum(r["overdue"] for r in want), cat
        assert (e["reopened"] == 1).sum() == sum(r["reopened"] for r in want), cat
    total = shown_for_window(snap, "3201", "30d")
    assert total["reported"] == sum(r["reported"] for r in rows)
    assert total["open"] == sum(r["open"] for r in rows) and total["overdue"] == sum(r["overdue"] for r in rows)
    q = jobs.ledger.quarantine_rows()
    assert q[["event_id", "reason", "detail"]].values.tolist() == [["DC000007", "bad_time", "reported_at '2026年11月19日'"]]
    assert snap.meta["quarantine"]["step_action"] == 1  # the unmapped flow action 督办
    jobs.run("events", NOW + timedelta(seconds=5))  # the timelines are written after the first snapshot
    with engine.connect() as c:
        acts = [a for (a,) in c.execute(text("SELECT act_name FROM dc_case_flow WHERE case_no = 'DC000003' "
                                             "ORDER BY act_time, flow_id"))]
    timeline = jobs.timelines.store.read("DC000003")  # the flow log through the mapping, on the phone's timeline
    names = {"立案": "reported", "派遣": "dispatched", "处置反馈": "handled", "核查": "verified", "结案": "closed",
             "返回": "reopened", "延期": "extended", "挂账": "hung"}
    assert [s["action"] for s in timeline["steps"]] == [names[a] for a in acts]


DC_DEPT_SQL = """SELECT count(*) AS reported,
  sum(CASE WHEN c.closed IS NOT NULL THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN c.ext > 0 THEN 1 ELSE 0 END) AS extended,
  sum(CASE WHEN c.closed IS NULL AND c.hung > 0 THEN 1 ELSE 0 END) AS hung,
  sum(CASE WHEN c.back > 0 THEN 1 ELSE 0 END) AS reopened
FROM dc_case k JOIN (SELECT case_no, max(CASE WHEN act_name = '结案' THEN act_time END) AS closed,
                            sum(CASE WHEN act_name = '返回' THEN 1 ELSE 0 END) AS back,
                            sum(CASE WHEN act_name = '延期' THEN 1 ELSE 0 END) AS ext,
                            sum(CASE WHEN act_name = '挂账' THEN 1 ELSE 0 END) AS hung
                     FROM dc_case_flow GROUP BY case_no) c ON c.case_no = k.case_no
LEFT JOIN (SELECT f.case_no, f.dept_name FROM dc_case_flow f WHERE f.act_name = '派遣' AND f.flow_id =
             (SELECT min(g.flow_id) FROM dc_case_flow g WHERE g.case_no = f.case_no AND g.act_name = '派遣')) d
  ON d.case_no = k.case_no
WHERE k.case_no <> 'DC000007' AND ({units})"""


def test_digital_city_departments_from_the_flow_log(tmp_path, city, redis_client):
    """The department is the unit of the first 派遣 step; 延期 and 挂账 flow actions are the case's extension and
    hung facts; each department's counts equal SQL over dc_case and dc_case_flow."""
    from queries import department_views as dv
    from queries.window_views import resolve_window

    engine = engine_for("sqlite", tmp_path, ["dc_case", "dc_case_flow"])
    build_digital_city(engine, city)
    _, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "digital_city.toml"))
    w = resolve_window("30d", NOW)
    with engine.connect() as c:
        for dept, units in DC_UNITS.items():
            named = [u for u in units if u is not None]
            cond = " OR ".join([f"d.dept_name = :u{i}" for i in range(len(named))] +
                               (["d.dept_name IS NULL"] if None in units else []))
            want = c.execute(text(DC_DEPT_SQL.format(units=cond)), {f"u{i}": u for i, u in enumerate(named)}).mappings().one()
            shown = dv.department_kpis(snap, dept, "3201", w)
            for key, value in want.items():
                assert shown[key] == (value or 0), (dept, key)
            assert want["reported"] > 0
    assert sum(dv.department_kpis(snap, d, "3201", w)["extended"] for d in ("CG", "-")) > 10
    assert dv.missing(snap) == set()  # 延期, 缓办 and 挂账 are mapped flow actions


def test_missing_column_stops_start_up_naming_file_key_and_column(tmp_path, city):
    engine = engine_for("sqlite", tmp_path, ["gd_order"])
    build_hotline(engine, city, n=5)
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "hotline.toml").read_text(encoding="utf-8").replace('"VISIT_TIME"', '"VISIT_AT"'),
                   encoding="utf-8")
    with pytest.raises(MappingError) as err:
        check_columns(engine, load_mapping(bad))
    assert str(bad) in str(err.value) and "'events.times.verified_at'" in str(err.value) and "'VISIT_AT'" in str(err.value)


@pytest.mark.parametrize("edit, key", [
    (('"ORDER_NO"', '{ column = "ORDER_NO", const = 1 }'), "events.fields.event_id"),
    (('scale = "words"', 'scale = "stars"'), "events.fields.satisfaction.scale"),
    (('"4" = "verified"', '"4" = "checked"'), "events.fields.status"),
    (('codes = "city"', 'codez = "city"'), "events.grid.codez"),
])
def test_malformed_mapping_names_file_and_key(tmp_path, edit, key):
    path = tmp_path / "m.toml"
    path.write_text((EXAMPLES / "hotline.toml").read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert str(path) in str(err.value) and repr(key) in str(err.value), str(err.value)


def test_source_check_reports_and_writes_nothing(tmp_path, city, capsys):
    from etl.source.check import check, main

    engine = engine_for("sqlite", tmp_path, ["gd_order"])
    build_hotline(engine, city, n=200)
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*), max(UPDATE_TIME) FROM gd_order")).one()
    report = check(engine, load_mapping(EXAMPLES / "hotline.toml"), city, NOW, progress=False)
    ev = report["events"]
    assert ev["rows_read"] == 200 and ev["would_be_quarantined"] == {"unmapped_value": 4}
    assert {"value": "unmapped status '9'", "rows": 3, "examples": ["GD00000000", "GD00000001", "GD00000002"]} \
        in ev["unmapped_values"]
    assert set(ev["placed"]) <= {"street", "community"} and sum(ev["placed"].values()) == pytest.approx(1)
    assert ev["reported_from"] < ev["reported_to"] <= str(NOW) and report["slowest_query"]["seconds"] > 0
    assert report["keys_matching_no_column"] == []
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*), max(UPDATE_TIME) FROM gd_order")).one() == before
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "hotline.toml").read_text(encoding="utf-8").replace('"DEADLINE"', '"LIMIT_TIME"'),
                   encoding="utf-8")
    url = str(engine.url)
    assert main(["check", "--no-progress", "--mapping", str(bad), "--source-url", url]) == 2
    assert "'events.times.due_at'" in capsys.readouterr().err
    assert main(["check", "--no-progress", "--mapping", str(EXAMPLES / "hotline.toml"), "--source-url", url]) == 0


def test_every_mapping_key_is_documented():
    from etl.source.mapping import FieldSpec, key_paths

    doc = (ROOT / "docs" / "connect-a-source.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in doc.splitlines() if line.startswith("| `")}
    missing = [k for k in [*key_paths(), *FieldSpec.model_fields] if k not in rows]
    assert not missing, f"docs/connect-a-source.md has no row for {missing}"


def test_demo_writes_the_hotline_shape_live(tmp_path, city, redis_client):
    """The demo's foreign source (--source-shape hotline): orders backfilled and moved on by ticks, read
    through hotline.toml; the screens' numbers equal SQL over gd_order."""
    from demo.hotline_source import HotlineSimulator

    engine = engine_for("sqlite", tmp_path, ["gd_order"])
    sim = HotlineSimulator(engine, city, seed=4, events_per_day=300)
    assert sim.backfill(3, NOW - timedelta(hours=2)) > 0
    moved = sim.tick(NOW)
    assert moved["added"] > 0 and moved["advanced"] > 0
    jobs, snap = run(engine, city, redis_client, load_mapping(EXAMPLES / "hotline.toml"))
    with engine.connect() as c:
        for code in ("3201", "320102", "320104"):
            open_, overdue = c.execute(text(HOTLINE_STOCK), {"prefix": f"{code}%", "now": NOW}).one()
            want = c.execute(text(HOTLINE_SQL), {"prefix": f"{code}%", "start": window_start(NOW, "7d").to_pydatetime()}).one()
            shown = shown_for_window(snap, code, "7d")
            assert (shown["reported"], shown["closed"], shown["satisfied"]) == \
                (want.reported, want.closed or 0, want.satisfied or 0), code
            assert (shown["open"], shown["overdue"]) == (open_ or 0, overdue or 0), code
    assert sum(jobs.ledger.quarantine_counts().values()) == 0

"""Departments (条) recounted by independent SQL over the demo source's own table: every figure of the department
ranking (部门榜) for each period, and of a department's view (its figures, by region, by category, its overdue
cases), for random department × region × window. The catalogue (config/departments.py): a malformed file names
file, line and column; an unknown unit counts under 未归属 and is listed, never dropped."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from helpers import NOW
from sqlalchemy import text

from config.departments import UNASSIGNED_CODE, DepartmentCatalogueError, load_departments, read_departments
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from queries import department_views as dv
from queries import window_views
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

WEIGHTS = {"closure_rate": 0.3, "on_time_closure_rate": 0.4, "rework_rate": 0.15, "extension_rate": 0.15}
SQL = """
SELECT count(*) AS reported,
  sum(CASE WHEN closed_at IS NOT NULL OR due_at < :now THEN 1 ELSE 0 END) AS due_to_close,
  sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed,
  sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time,
  sum(CASE WHEN closed_at IS NULL AND due_at < :now AND deferred > 0 THEN 1 ELSE 0 END) AS deferred,
  sum(CASE WHEN extended > 0 THEN 1 ELSE 0 END) AS extended,
  sum(CASE WHEN closed_at IS NULL AND hung > 0 THEN 1 ELSE 0 END) AS hung,
  sum(CASE WHEN reopened > 0 THEN 1 ELSE 0 END) AS reopened,
  sum(CASE WHEN handled_at IS NOT NULL THEN 1 ELSE 0 END) AS reached_handled,
  sum(CASE WHEN closed_at IS NULL AND due_at < :now THEN 1 ELSE 0 END) AS cohort_overdue
FROM events WHERE {dept} AND grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop {exclude}
"""
BY_CHILD = """SELECT substr(grid_code, 1, :n) AS code, count(*) AS reported,
  sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time
FROM events WHERE {dept} AND grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop {exclude}
GROUP BY substr(grid_code, 1, :n)"""
BY_CATEGORY = """SELECT category, count(*) AS reported, sum(CASE WHEN closed_at IS NOT NULL THEN 1 ELSE 0 END) AS closed
FROM events WHERE {dept} AND grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop {exclude}
GROUP BY category"""
OVERDUE_NOW = """SELECT count(*) FROM events WHERE {dept} AND grid_code LIKE :prefix AND closed_at IS NULL
  AND due_at < :now {exclude}"""


def dept_sql(dept: str) -> str:
    return "department IS NULL" if dept == UNASSIGNED_CODE else "department LIKE :dept"


@pytest.fixture(scope="module")
def dept_source(tmp_path_factory, city, redis_server):
    """60 days of the simulated city (departments by category: a slow 住建, a 水务 that bounces cases back), run
    through every ETL job at NOW."""
    import redis

    from etl.source.schema import writable_engine

    engine = writable_engine(f"sqlite:///{tmp_path_factory.mktemp('dept')}/source.db")
    Simulator(engine, city, seed=11, events_per_day=300, bad_row_rate=0.01).backfill(60, NOW, n_cameras=200, n_iot=50)
    r = redis.Redis.from_url(redis_server.url, db=9)  # its own database: the module shares it between tests
    r.flushdb()
    jobs = EtlJobs(engine, city, SnapshotStore(r), history_days=120)
    jobs.run_all(NOW)
    snap = SnapshotReader(r, min_check_s=0).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = f"AND row_id NOT IN ({','.join(map(str, quarantined))})" if quarantined else ""
    yield engine, snap, exclude, jobs
    r.flushdb()


def bounds(w) -> dict:
    return {"start": f"{w.first:%Y-%m-%d} 00:00:00", "stop": f"{w.last + timedelta(days=1):%Y-%m-%d} 00:00:00"}


def sample_departments(city, seed: int) -> list[str]:
    cat = load_departments(city.folder).table
    rnd = random.Random(seed)
    tops = cat.loc[cat["depth"] == 0, "code"].tolist()
    subs = cat.loc[cat["depth"] == 1, "code"].tolist()
    return rnd.sample(tops, 3) + rnd.sample(subs, 3) + ["ZJ", "SW", UNASSIGNED_CODE]


def sample_windows(seed: int):
    rnd = random.Random(seed)
    out = [window_views.resolve_window(w, NOW) for w in ("today", "7d", "30d", "quarter", "week", "month")]
    a = NOW.date() - timedelta(days=rnd.randint(0, 59))
    out.append(window_views.resolve_window("custom", NOW, a.isoformat(), (a + timedelta(days=rnd.randint(0, 20))).isoformat(), 120))
    return out


def test_department_figures_equal_sql(dept_source, city):
    engine, snap, exclude, _ = dept_source
    rnd = random.Random(5)
    districts = city.children(city.code)["code"].tolist()
    checked = 0
    with engine.connect() as c:
        for dept in sample_departments(city, seed=2):
            for region in [city.code, rnd.choice(districts), rnd.choice(city.children(rnd.choice(districts))["code"].tolist())]:
                for w in rnd.sample(sample_windows(seed=len(dept)), 3):
                    shown = dv.department_kpis(snap, dept, region, w)
                    want = c.execute(text(SQL.format(dept=dept_sql(dept), exclude=exclude)),
                                     {"dept": f"{dept}%", "prefix": f"{region}%", "now": NOW, **bounds(w)}).mappings().one()
                    for name, value in want.items():
                        assert shown[name] == (value or 0), (dept, region, w, name)
                    due = want["due_to_close"] or 0
                    if due:
                        assert shown["closure_rate"] == pytest.approx(want["closed"] / due)
                        assert shown["on_time_closure_rate"] == pytest.approx(
                            want["closed_on_time"] / (due - (want["deferred"] or 0)))
                    else:
                        assert shown["closure_rate"] is None
                    checked += want["reported"]
                od = c.execute(text(OVERDUE_NOW.format(dept=dept_sql(dept), exclude=exclude)),
                               {"dept": f"{dept}%", "prefix": f"{region}%", "now": NOW}).scalar()
                assert shown["overdue_now"] == od and len(dv.overdue_of(snap, dept, region)) == od, (dept, region)
    assert checked > 2000


def test_department_ranking_equals_sql_for_every_period(dept_source, city):
    engine, snap, exclude, _ = dept_source
    cat = load_departments(city.folder).table
    with engine.connect() as c:
        for region in (city.code, city.children(city.code)["code"].iloc[2]):
            for period in ("week", "month", "quarter"):
                w = window_views.resolve_window(period, NOW)
                table = dv.ranking(snap, region, w, WEIGHTS)
                tops = cat.loc[cat["depth"] == 0, "code"].tolist()
                assert set(table["code"]) == {*tops, UNASSIGNED_CODE}
                for row in table.to_dict("records"):
                    want = c.execute(text(SQL.format(dept=dept_sql(row["code"]), exclude=exclude)),
                                     {"dept": f"{row['code']}%", "prefix": f"{region}%", "now": NOW, **bounds(w)}
                                     ).mappings().one()
                    for name, value in want.items():
                        assert row[name] == (value or 0), (region, period, row["code"], name)
                scored = table["score"].dropna()
                assert scored.is_monotonic_decreasing and ((scored >= 0) & (scored <= 100)).all()
                assert table["code"].iloc[-1] == UNASSIGNED_CODE  # listed, never ranked
                # a department's sub-units: the ranking under it adds up to it
                subs = dv.ranking(snap, region, w, WEIGHTS, parent="CG")
                cg = table.set_index("code").loc["CG"]
                assert subs["reported"].sum() <= cg["reported"]  # its own cases (at bureau level) are not a sub-unit's


def test_department_view_by_region_and_category_equal_sql(dept_source, city):
    engine, snap, exclude, _ = dept_source
    w = window_views.resolve_window("30d", NOW)
    with engine.connect() as c:
        for dept, region in (("CG", city.code), ("ZJ", city.children(city.code)["code"].iloc[0]), ("SW", city.code)):
            table = dv.by_region(snap, city, dept, region, w).set_index("code")
            n = len(city.children(region)["code"].iloc[0])
            rows = c.execute(text(BY_CHILD.format(dept=dept_sql(dept), exclude=exclude)),
                             {"dept": f"{dept}%", "n": n, "prefix": f"{region}%", **bounds(w)}).mappings().all()
            got = {r["code"]: r for r in rows}
            assert set(table.index) == set(city.children(region)["code"])
            for code, r in table.iterrows():
                assert r["reported"] == (got[code]["reported"] if code in got else 0), (dept, code)
                assert r["closed_on_time"] == (got[code]["closed_on_time"] if code in got else 0), (dept, code)
            cats = dv.by_category(snap, dept, region, w).set_index("category")
            rows = c.execute(text(BY_CATEGORY.format(dept=dept_sql(dept), exclude=exclude)),
                             {"dept": f"{dept}%", "prefix": f"{region}%", **bounds(w)}).all()
            assert {k: (v, cl) for k, v, cl in rows} == {k: (r["reported"], r["closed"]) for k, r in cats.iterrows()}
            t = dv.trend(snap, dept, w)
            assert t["reported"].sum() == dv.department_kpis(snap, dept, city.code, w)["reported"]


def test_the_demo_tells_a_story(dept_source):
    """The slow department (住建) ranks below the ordinary ones; the one that bounces cases (水务) has the highest
    rework rate; extensions, deferrals and hung cases are connected and counted."""
    _, snap, _, _ = dept_source
    table = dv.ranking(snap, "3201", window_views.resolve_window("quarter", NOW), WEIGHTS).set_index("code")
    assert table.loc["ZJ", "score"] == table["score"].min()
    assert table["rework_rate"].idxmax() == "SW"
    assert table.loc["ZJ", "extended"] > 0 and table.loc["ZJ", "hung"] > 0 and table["deferred"].sum() > 0
    assert dv.missing(snap) == set()


def test_catalogue_errors_name_file_line_and_column(tmp_path):
    cases = [("code,name,parent,kind\nCG,城管局,,职能部门\nCG,重复,,属地\n", "line 3, column 'code'"),
             ("code,name,parent,kind\nCG,城管局,,职能部门\nXX01,玄武,CG,职能部门\n", "line 3, column 'parent'"),
             ("code,name,parent,kind\nCG,城管局,,部门\n", "line 2, column 'kind'"),
             ("code,name,kind\nCG,城管局,属地\n", "line 1: missing column(s) ['parent']"),
             ("code,name,parent,kind\n-X,城管局,,属地\n", "line 2, column 'code'")]
    for body, where in cases:
        path = tmp_path / "departments.csv"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(DepartmentCatalogueError) as err:
            read_departments(path)
        assert str(path) in str(err.value) and where in str(err.value), str(err.value)


def test_unknown_unit_counts_unassigned_and_is_listed(dept_source, city):
    """A unit the catalogue does not know is kept (counted under 未归属) and listed with its raw value."""
    engine, _, _, jobs = dept_source
    later = NOW + timedelta(minutes=1)
    with engine.begin() as c:
        ids = [r[0] for r in c.execute(text("SELECT row_id FROM events WHERE closed_at IS NULL AND department LIKE 'GS%' "
                                            "ORDER BY row_id LIMIT 3"))]
        c.execute(text(f"UPDATE events SET department = '某外区水务站', updated_at = :t WHERE row_id IN ({','.join(map(str, ids))})"),
                  {"t": later})
    jobs.run("events", later)
    snap = SnapshotReader(jobs.store.r, min_check_s=0).current()
    assert {"value": "某外区水务站", "rows": 3} in snap.meta["departments"]["unknown"]
    rows = jobs.ledger.rows_of(jobs.ledger.events.set_index("row_id").loc[ids, "event_id"].tolist())
    assert (rows["dept_no"] == 0).all() and len(rows) == 3  # kept, not quarantined
    cases = dv.cases_of(snap, UNASSIGNED_CODE, city.code)
    assert set(rows["event_id"]) <= set(cases["event_id"])


def test_number_ranges_hold_a_department_and_its_sub_units(city):
    cat = load_departments(city.folder)
    lo, hi = cat.number_range("CG")
    codes = cat.codes[lo:hi]
    assert codes[0] == "CG" and all(c.startswith("CG") for c in codes) and len(codes) == 12
    assert cat.number_range(UNASSIGNED_CODE) == (0, 1)
    nos = cat.numbers(pd.Series(["CG320102", "玄武区城管局", "玄武区城管", " 城管局 ", "nobody", None]))
    assert list(nos) == [cat.number_of("CG320102")] * 3 + [cat.number_of("CG"), 0, 0]
    assert np.all(np.diff(cat.table["number"]) == 1)


@pytest.mark.parametrize("n_overdue, level", [(2, None), (3, "amber"), (6, "red")])
def test_department_overdue_alert(n_overdue, level):
    """A top-level department (with its sub-units) whose overdue cases reach COCKPIT_ALERT_DEPT_OVERDUE raises a
    city-wide wall alert named after it (twice the threshold: red); 未归属 and open-not-overdue cases never count."""
    from datetime import datetime

    from etl.transforms.alerts import AlertThresholds, department_alerts

    depts = pd.DataFrame({"number": [0, 1, 2, 3], "code": ["", "ZJ", "ZJ320102", "CG"],
                          "name": ["", "住建局", "玄武区住建局", "城管局"], "parent": ["", "", "ZJ", ""],
                          "kind": ["", "functional"] * 2, "depth": [0, 0, 1, 0]})
    codes = (["ZJ", "ZJ320102"] * n_overdue)[:n_overdue] + ["", "", "", "CG"]
    open_events = pd.DataFrame({"department": codes + ["ZJ"] * 5,
                                "is_overdue": [1] * len(codes) + [0] * 5})
    out = department_alerts(open_events, depts, "3201", datetime(2026, 11, 20, 15), AlertThresholds(dept_overdue_min=3))
    if level is None:
        assert out.empty
    else:
        assert out[["kind", "code", "name", "level"]].values.tolist() == [["dept_overdue", "3201", "住建局", level]]
        assert out["value"].iloc[0] == n_overdue


def test_overdue_list_of_no_events():
    """An ETL run over a ledger with no events gives an empty overdue list with its columns (Series.map of no rows
    failed under pandas 3: Cannot cast DatetimeArray to dtype float64)."""
    from datetime import datetime

    from etl.state.event_ledger import empty_events
    from etl.transforms.events import event_facts, overdue_events

    e = empty_events()
    out = overdue_events(event_facts(e, datetime(2026, 11, 20)), e)
    assert out.empty and {"due_at", "department"} <= set(out.columns)

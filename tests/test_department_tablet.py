"""The tablet's department panels (部门榜 and a department's view) as the browser asks for them: the callback's
figures are those of queries/department_views.py (recounted by SQL in tests/test_departments.py), the URL holds
the view (&dept=), a region tapped while a department is chosen keeps it, and a forged dept is a 4xx."""

from __future__ import annotations

import json

import pytest

from components.format import fmt_count, fmt_rate
from config.labels import label
from layouts.medium_outputs import DEPT_OUTPUTS
from queries import department_views as dv
from queries import window_views
from snapshots.reader import SnapshotReader


def payload(state) -> dict:
    outs, props = zip(*DEPT_OUTPUTS)
    return {"output": ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
            "outputs": [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
            "inputs": [{"id": "medium-version", "property": "data", "value": [1, False]},
                       {"id": "medium-state", "property": "data", "value": state}],
            "state": [], "changedPropIds": ["medium-version.data"]}


def test_department_ranking_and_view_as_the_browser_asks(app, published, client_as, city, redis_client):
    client = client_as("city")
    client.get("/medium")
    snap = SnapshotReader(redis_client).current()
    r = client.post("/_dash-update-component", json=payload({"region": city.code, "rank": "month"}))
    assert r.status_code == 200
    out = r.get_json()["response"]
    shown = json.dumps(out["medium-dept-ranking"]["children"], ensure_ascii=False)
    w = window_views.resolve_window("month", snap.as_of)
    weights = dv.score_weights(app.server.config["COCKPIT"].settings)
    table = dv.ranking(snap, city.code, w, weights)
    zj = table.set_index("code").loc["ZJ"]
    assert "南京市住房和城乡建设局" in shown and label("unassigned") in shown and "dept=ZJ" in shown
    assert fmt_rate(zj["closure_rate"]) in shown and label("formula_on_time_closure_rate") in shown
    assert out["medium-dept-view"]["children"] == []  # no department chosen

    # tap 住建: its view, with its sub-units ranked and its figures
    r = client.post("/_dash-update-component", json=payload({"region": city.code, "rank": "month", "dept": "ZJ"}))
    out = r.get_json()["response"]
    view = json.dumps(out["medium-dept-view"]["children"], ensure_ascii=False)
    k = dv.department_kpis(snap, "ZJ", city.code, w)
    assert f'"{fmt_count(k["reported"])}"' in view and fmt_rate(k["on_time_closure_rate"]) in view
    assert "玄武区" in view and "dept=ZJ" in view and "region=320102" in view  # by region, keeping the department
    ranking = json.dumps(out["medium-dept-ranking"]["children"], ensure_ascii=False)
    assert "玄武区住建局" in ranking and "dept=ZJ320102" in ranking and "medium-dept-clear" in ranking

    # a region tapped while the department is chosen: that department's cases there
    district = city.children(city.code)["code"].iloc[0]
    r = client.post("/_dash-update-component", json=payload({"region": district, "rank": "month", "dept": "ZJ"}))
    view = json.dumps(r.get_json()["response"]["medium-dept-view"]["children"], ensure_ascii=False)
    overdue = dv.overdue_of(snap, "ZJ", district)
    assert all(e in view for e in overdue["event_id"].head(5)) and len(overdue) > 0
    other = dv.overdue_of(snap, "ZJ", city.children(city.code)["code"].iloc[1])
    assert not any(e in view for e in other["event_id"].head(5))


@pytest.mark.parametrize("dept, status", [({"x": 1}, 400), (["ZJ"], 400), (7, 400), ("nope", 200), ("", 200)])
def test_forged_or_unknown_department_in_the_view_state(app, published, client_as, city, dept, status):
    client = client_as("city")
    client.get("/medium")
    r = client.post("/_dash-update-component", json=payload({"region": city.code, "dept": dept}))
    assert r.status_code == status
    if status == 200:  # an unknown code is no department: the default view
        assert r.get_json()["response"]["medium-dept-view"]["children"] == []



def test_briefing_has_a_department_section(published, city, redis_client):
    """The daily briefing's 部门履职: the day's departments by the 部门榜 rule, as department_views ranks them."""
    from datetime import timedelta

    from helpers import NOW

    from briefing.data import build_briefing
    from briefing.render import render_html

    snap = SnapshotReader(redis_client).current()
    day = NOW.date() - timedelta(days=1)
    weights = {"on_time_rate": 1, "closure_rate": 0.3, "on_time_closure_rate": 0.4, "rework_rate": 0.15,
               "extension_rate": 0.15}
    b = build_briefing(snap, city, city.code, day, weights)
    w = window_views.resolve_window("custom", snap.as_of, day.isoformat(), day.isoformat())
    want = dv.ranking(snap, city.code, w, {k: v for k, v in weights.items() if k != "on_time_rate"})
    want = want[(want["reported"] > 0) | (want["overdue_now"] > 0)]
    assert [r["code"] for r in b["departments"]] == want["code"].tolist() and len(want) > 5
    assert [r["reported"] for r in b["departments"]] == want["reported"].tolist()
    html = render_html(b)
    assert label("brief_s_departments") in html and "南京市住房和城乡建设局" in html and label("unassigned") in html


def test_supervision_rows_carry_the_department():
    """督办 lists show the case's department: the supervisions frame carries its code ('' for 未归属)."""
    import pandas as pd

    from etl.transforms.supervision import supervision_outcomes

    t = pd.Timestamp("2026-11-20 10:00")
    sup = pd.DataFrame({"supervision_id": ["s1", "s2"], "event_id": ["e1", "e2"], "grid_code": ["320102001001001"] * 2,
                        "level": ["district"] * 2, "note": ["", ""], "new_due_at": [t, t], "state": ["sent"] * 2,
                        "created_at": [t, t]})
    events = pd.DataFrame({"event_id": ["e1", "e2"], "closed_at": [pd.NaT, t], "department": ["ZJ320102", "某站"],
                           "dept_no": [5, 0]})
    out = supervision_outcomes(sup, events).set_index("event_id")
    assert out.loc["e1", "department"] == "ZJ320102" and out.loc["e2", "department"] == ""

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


"""The tablet's window figures (event_pieces) for random regions and windows against independent SQL
over the source (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set); what the render callback and
the exports show; the duration quantiles within the documented precision of the exact ones."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta

import numpy as np
import openpyxl
import pandas as pd
import pytest
from helpers import NOW, count_sql, not_quarantined
from plotly.utils import PlotlyJSONEncoder
from sqlalchemy import text

from components.format import fmt_count, fmt_rate, is_missing
from components.widgets import kpi_row
from contract import frames as F
from contract.metrics import DURATION_BINS, PIECE_FLAGS, QUANTILE_PRECISION, QUANTILES
from demo.simulator import Simulator
from etl.jobs import EtlJobs
from layouts.medium_outputs import RENDER_OUTPUTS
from queries import window_views
from queries.pieces import totals_from_sums
from snapshots.reader import Snapshot, SnapshotReader
from snapshots.store import SnapshotStore

CHILD_SQL = """
SELECT substr(grid_code, 1, :n) AS code, count(*) AS reported,
  sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at THEN 1 ELSE 0 END) AS closed_on_time
FROM events WHERE grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop {exclude}
GROUP BY substr(grid_code, 1, :n)
"""
TIMES_SQL = """
SELECT dispatched_at, handled_at FROM events
WHERE grid_code LIKE :prefix AND reported_at >= :start AND reported_at < :stop AND handled_at IS NOT NULL {exclude}
"""


@pytest.fixture
def tablet_source(engine, city, redis_client):
    """60 days of a small simulated city in the backend, run through every ETL job at NOW."""
    Simulator(engine, city, seed=5, events_per_day=250, bad_row_rate=0.01).backfill(60, NOW, n_cameras=400,
                                                                                     n_iot=100)
    jobs = EtlJobs(engine, city, SnapshotStore(redis_client), history_days=120)
    jobs.run_all(NOW)
    snap = SnapshotReader(redis_client).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    return engine, snap, exclude


def sample_regions(city, seed: int, per_level: int = 2) -> list[str]:
    rnd = random.Random(seed)
    picks = [city.code]
    for level in ("district", "street", "community", "grid"):
        picks += rnd.sample(city.regions.loc[city.regions["level"] == level, "code"].tolist(), per_level)
    return picks


def sample_windows(seed: int) -> list[window_views.Window]:
    rnd = random.Random(seed)
    out = [window_views.resolve_window(w, NOW) for w in ("today", "7d", "30d", "quarter", "week", "month")]
    for _ in range(3):
        a = NOW.date() - timedelta(days=rnd.randint(0, 59))
        b = a + timedelta(days=rnd.randint(0, 20))
        out.append(window_views.resolve_window("custom", NOW, a.isoformat(), b.isoformat(), 120))
    return out


def bounds(w: window_views.Window) -> dict:
    return {"start": f"{w.first:%Y-%m-%d} 00:00:00", "stop": f"{w.last + timedelta(days=1):%Y-%m-%d} 00:00:00"}


def test_no_piece_frames_means_no_window_figures():
    """Without the pieces a window's figures are missing, never another window's: the wall's today row
    of event_kpis gives only the stocks (open, overdue now); devices and safety come from their frames."""
    code = "320102"
    today = {c: 0 for c, kind in F.EVENT_KPIS.columns.items() if kind == F.INT}
    today.update(code=code, window="today", level="district", reported=40, closed=20, closed_on_time=15,
                 on_time_rate=0.75, same_day_rate=0.5, grid_settled_rate=0.5, satisfaction_rate=0.9,
                 median_dispatch_min=12.0, median_handle_min=60.0, median_verify_min=30.0, median_close_min=90.0,
                 open=7, overdue=3)
    frames = {F.EVENT_KPIS.name: pd.DataFrame([today]),
              F.DEVICE_KPIS.name: pd.DataFrame([{"code": code, "level": "district", "cameras": 10, "cameras_online": 9,
                                                 "camera_online_rate": 0.9}]),
              F.SAFETY_LATEST.name: pd.DataFrame([{"code": code, "safety_index": 91.5, "public_security": 95.0}])}
    snap = Snapshot(version=1, as_of=NOW, frames=frames,
                    manifest={"frames": {name: {"key": f"{name}:1"} for name in frames}})
    assert set(totals_from_sums(np.zeros(len(PIECE_FLAGS)), {s: np.zeros(DURATION_BINS) for s in QUANTILES})) == \
        set(window_views.WINDOW_FIGURES)  # what the pieces give is what goes missing without them
    for window in ("7d", "30d", "quarter", "today"):
        shown = window_views.tablet_window_figures(snap, code, window_views.resolve_window(window, NOW))
        for key in ("reported", "closed", "on_time_rate", "same_day_rate", "median_dispatch_min", "p90_close_min"):
            assert key in shown and is_missing(shown[key]), (window, key, shown.get(key))
        assert (shown["open"], shown["overdue"]) == (7, 3), window  # stocks: now, whatever the window
        assert (shown["camera_online_rate"], shown["safety_index"]) == (0.9, 91.5), window
        tiles = json.dumps(kpi_row("medium", shown, ("reported", "on_time_rate", "open")), cls=PlotlyJSONEncoder,
                           ensure_ascii=False)
        assert '"40"' not in tiles and "75.0%" not in tiles and '"—"' in tiles, window  # the tiles say "—"


@pytest.mark.slow
def test_window_counts_and_rates_equal_sql(tablet_source, city):
    engine, snap, exclude = tablet_source
    checked = 0
    with engine.connect() as conn:
        for code in sample_regions(city, seed=3):
            for w in sample_windows(seed=len(code)):
                shown = window_views.tablet_window_figures(snap, code, w)
                sql = conn.execute(text(count_sql(engine, exclude)),
                                   {"prefix": f"{code}%", "now": NOW, **bounds(w)}).mappings().one()
                for name, value in sql.items():
                    assert shown[name] == (value or 0), (code, w, name)
                if sql["closed"]:
                    assert shown["on_time_rate"] == pytest.approx(sql["closed_on_time"] / sql["closed"])
                    assert shown["escalated_rate"] == pytest.approx(sql["escalated"] / sql["closed"])
                else:
                    assert np.isnan(shown["on_time_rate"])
                checked += sql["reported"]
    assert checked > 1000  # the sample really covered events


@pytest.mark.slow
def test_ranking_children_equal_sql(tablet_source, city):
    engine, snap, exclude = tablet_source
    weights = {"on_time_rate": 1, "same_day_rate": 1, "grid_settled_rate": 1, "satisfaction_rate": 1,
               "not_overdue_rate": 1}
    with engine.connect() as conn:
        for code in sample_regions(city, seed=9, per_level=1)[:4]:
            for period in ("week", "month", "quarter"):
                w = window_views.resolve_window(period, NOW)
                table = window_views.ranking(snap, city, code, w, weights).set_index("code")
                n = len(city.children(code)["code"].iloc[0])
                rows = conn.execute(text(CHILD_SQL.format(exclude=exclude)),
                                    {"n": n, "prefix": f"{code}%", **bounds(w)}).mappings().all()
                by_sql = {r["code"]: r for r in rows}
                assert set(table.index) == set(city.children(code)["code"])
                for child, r in table.iterrows():
                    assert r["reported"] == (by_sql[child]["reported"] if child in by_sql else 0), (code, period)
                    if child in by_sql:
                        assert r["closed_on_time"] == by_sql[child]["closed_on_time"]
                scored = table["score"].dropna()
                assert list(table["rank"]) == list(range(1, len(table) + 1))
                assert scored.is_monotonic_decreasing and ((scored >= 0) & (scored <= 100)).all()


@pytest.mark.slow
def test_stage_quantiles_within_documented_precision(tablet_source, city):
    engine, snap, exclude = tablet_source
    with engine.connect() as conn:
        for code in sample_regions(city, seed=4, per_level=1)[:3]:
            for w in sample_windows(seed=1)[:4]:
                rows = conn.execute(text(TIMES_SQL.format(exclude=exclude)), {"prefix": f"{code}%", **bounds(w)}).all()
                shown = window_views.tablet_window_figures(snap, code, w)
                if not rows:
                    assert np.isnan(shown["median_handle_min"])
                    continue
                minutes = np.sort([(np.datetime64(h) - np.datetime64(d)) / np.timedelta64(1, "s") / 60 for d, h in rows])
                for q, key in ((0.5, "median_handle_min"), (0.9, "p90_handle_min")):
                    lo = np.quantile(minutes, q, method="lower")
                    hi = np.quantile(minutes, q, method="higher")
                    assert lo / QUANTILE_PRECISION <= shown[key] <= hi * QUANTILE_PRECISION, (code, w, q, lo, hi)


def medium_payload(state: dict, outputs=RENDER_OUTPUTS) -> dict:
    outs, props = zip(*outputs)
    return {"output": ".." + "...".join(f"medium-{o}.{p}" for o, p in zip(outs, props)) + "..",
            "outputs": [{"id": f"medium-{o}", "property": p} for o, p in zip(outs, props)],
            "inputs": [{"id": "medium-version", "property": "data", "value": [1, False]},
                       {"id": "medium-state", "property": "data", "value": state}],
            "state": [], "changedPropIds": ["medium-version.data"]}


def test_screen_shows_sql_counts_for_custom_window(app, published, client_as, city, sim_engine, redis_client):
    """The render callback, as the browser calls it, for a custom range: tiles and stage table."""
    client = client_as("city")
    client.get("/medium")
    snap = SnapshotReader(redis_client).current()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    exclude = not_quarantined(quarantined)
    code = city.children(city.code)["code"].iloc[3]
    start, end = date(2026, 11, 2), date(2026, 11, 12)
    state = {"region": code, "window": "custom", "start": start.isoformat(), "end": end.isoformat(), "measure": "density"}
    resp = client.post("/_dash-update-component", json=medium_payload(state))
    assert resp.status_code == 200
    out = resp.get_json()["response"]
    w = window_views.resolve_window("custom", NOW, start.isoformat(), end.isoformat())
    with sim_engine.connect() as conn:
        sql = conn.execute(text(count_sql(sim_engine, exclude)),
                           {"prefix": f"{code}%", "now": snap.as_of, **bounds(w)}).mappings().one()
    tiles = json.dumps(out["medium-kpis"]["children"], ensure_ascii=False)
    assert f'"{fmt_count(sql["reported"])}"' in tiles and sql["reported"] > 100
    assert fmt_rate(sql["closed_on_time"] / sql["closed"]) in tiles
    stages = json.dumps(out["medium-stages"]["children"], ensure_ascii=False)
    assert f'"{fmt_count(sql["reached_dispatched"])}"' in stages
    assert "11-02 ~ 11-12" in out["medium-window-text"]["children"]


def test_export_csv_and_excel_match_ranking_and_are_scoped_and_audited(app, published, client_as, users, city):
    district = users["district"][2]
    client = client_as("district")
    r = client.get(f"/medium/export.csv?region={district}&rank=week")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    body = r.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    snap = app.server.config["COCKPIT"].snapshot()
    w = window_views.resolve_window("week", snap.as_of)
    c = app.server.config["COCKPIT"]
    expected = window_views.ranking(snap, city, district, w, window_views.score_weights(c.settings))
    assert [x["code"] for x in rows] == expected["code"].tolist()
    assert [int(x["事件数"]) for x in rows] == expected["reported"].tolist()
    x = client.get(f"/medium/export.xlsx?region={district}&rank=week")
    sheet = openpyxl.load_workbook(io.BytesIO(x.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert [v[1] for v in values[1:]] == expected["code"].tolist()
    # another district's ranking: refused, and both downloads and the refusal are in the audit log
    other = next(c for c in city.children(city.code)["code"] if c != district)
    assert client.get(f"/medium/export.csv?region={other}&rank=week").status_code == 403
    audit = app.server.config["COCKPIT_USERS"].audit_rows()
    actions = [a.action for a in audit]
    assert actions.count("export") >= 2 and "denied" in actions


def test_a_grid_is_ranked_among_its_siblings_only_for_whoever_may_see_them(app, published, city, client_as):
    """At a grid the ranking shows the grid's siblings (its row marked), but a user whose jurisdiction
    is that grid sees no sibling: scope holds in every callback."""
    from helpers import sign_in

    from layouts.medium_outputs import RANKING_OUTPUTS

    community = city.children(city.children(city.children(city.code)["code"].iloc[0])["code"].iloc[0])["code"].iloc[0]
    grids = city.children(community)["code"].tolist()
    assert len(grids) >= 2
    grid = grids[0]
    state = {"region": grid, "window": "7d", "measure": "density"}

    leader = client_as("city")
    leader.get("/medium")
    shown = json.dumps(leader.post("/_dash-update-component", json=medium_payload(state, RANKING_OUTPUTS)).get_json())
    assert all(g in shown for g in grids)  # the siblings, ranked

    app.server.config["COCKPIT_USERS"].add_user("grid-only", "grid-only-pass-1", "grid", grid, city)
    staff = app.server.test_client()
    assert sign_in(staff, "grid-only", "grid-only-pass-1").status_code == 302
    staff.get("/medium")
    r = staff.post("/_dash-update-component", json=medium_payload(state, RANKING_OUTPUTS))
    assert r.status_code == 200
    shown = r.get_data(as_text=True)
    assert not any(g in shown for g in grids[1:])  # no sibling leaks
    assert staff.post("/_dash-update-component",
                      json=medium_payload({**state, "region": grids[1]}, RANKING_OUTPUTS)).status_code == 403

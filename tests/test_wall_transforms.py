"""The wall's transforms on literal frames: "same time yesterday" KPIs (etl/transforms/yesterday.py) and
the alerts (etl/transforms/alerts.py). Each expected number is worked out by hand in the comment."""

from datetime import datetime

import pandas as pd
import pytest
from helpers import G1, G2, G3, ev

from etl.transforms.alerts import AlertThresholds, camera_alerts, overdue_alerts, spike_alerts, wall_alerts
from etl.transforms.yesterday import events_as_of, kpis_same_time_yesterday

NOW = datetime(2026, 11, 20, 18, 0)  # so "same time yesterday" is 2026-11-19 18:00

EVENTS = pd.DataFrame([
    # reported yesterday 08:00, closed yesterday 09:40 on time at grid level, rated 5
    ev(1, G1, "2026-11-19 08:00", "2026-11-19 08:10", "2026-11-19 09:10", "2026-11-19 09:30", "2026-11-19 09:40",
       due="2026-11-20 08:00", level="grid", sat=5),
    # reported yesterday 17:00, closed today 09:00: open at 18:00 yesterday; its score is not yet known then
    ev(2, G2, "2026-11-19 17:00", "2026-11-19 17:30", "2026-11-20 08:00", "2026-11-20 08:30", "2026-11-20 09:00",
       due="2026-11-19 17:45", level="grid", sat=4),
    # reported yesterday 19:00: after the same clock time, so not counted at all yesterday
    ev(3, G3, "2026-11-19 19:00", due="2026-11-21 00:00"),
    # reported 10 days ago, still open, due 2026-11-15: overdue then and now (stock, whenever reported)
    ev(4, G3, "2026-11-10 09:00", due="2026-11-15 00:00"),
    # reported 10 days ago, closed today: open and overdue yesterday 18:00, closed now
    ev(5, G3, "2026-11-10 09:00", "2026-11-10 10:00", "2026-11-20 10:00", "2026-11-20 10:30", "2026-11-20 11:00",
       due="2026-11-12 00:00"),
    # reported today: not in yesterday's state
    ev(6, G1, "2026-11-20 08:00", due="2026-11-21 08:00"),
])


def test_events_as_of_blanks_later_stages():
    e = events_as_of(EVENTS, datetime(2026, 11, 19, 18, 0)).set_index("row_id")
    assert sorted(e.index) == [1, 2, 4, 5]  # 3 and 6 were reported later
    assert pd.isna(e.at[2, "handled_at"]) and pd.isna(e.at[2, "closed_at"]) and pd.isna(e.at[2, "satisfaction"])
    assert e.at[2, "dispatched_at"] == pd.Timestamp("2026-11-19 17:30")
    assert e.at[1, "closed_at"] == pd.Timestamp("2026-11-19 09:40") and e.at[1, "satisfaction"] == 5


def test_kpis_same_time_yesterday():
    k = kpis_same_time_yesterday(EVENTS, NOW).set_index("code")
    city = k.loc["3201"]
    # flow, reported yesterday up to 18:00: events 1 and 2; closed by then: 1 (same day, on time, grid, rated 5)
    assert city["reported"] == 2 and city["closed"] == 1 and city["same_day_cleared"] == 1
    assert city["same_day_rate"] == pytest.approx(0.5) and city["satisfaction_rate"] == pytest.approx(1.0)
    # stock at 18:00 yesterday: open 2, 4, 5; overdue 2 (due 17:45), 4 and 5
    assert city["open"] == 3 and city["overdue"] == 3
    assert k.loc["320104", "open"] == 2 and k.loc["320104", "reported"] == 0  # G3's district: 4 and 5
    assert k.loc[G1[:9], "reported"] == 2  # G1 and G2 share a street
    assert k.index.str.len().max() == 9  # city, districts and streets only
    assert (k["as_of"] == pd.Timestamp("2026-11-19 18:00")).all()


NAMES = pd.Series({"320102": "玄武区", "320104": "秦淮区", "320102001": "某街道", "320104002": "另一街道"})
T = AlertThresholds(overdue_min=3, spike_factor=3.0, spike_min=8, camera_online_min=0.9)


def test_overdue_alerts():
    kpis = pd.DataFrame({"code": ["3201", "320102", "320104", "320102", "320102001"],
                         "window": ["today", "today", "today", "7d", "today"], "overdue": [9, 2, 7, 2, 2]})
    overdue = pd.DataFrame({"grid_code": [G3, G3, G1], "due_at": pd.to_datetime(["2026-11-18", "2026-11-12", "2026-11-19"])})
    a = overdue_alerts(kpis, overdue, NAMES, T).set_index("code")
    assert list(a.index) == ["320104"]  # 320102 has 2 < 3; the city and streets are not alerted
    r = a.loc["320104"]
    assert r["level"] == "red" and r["value"] == 7 and r["threshold"] == 3  # 7 >= 2 * 3: red
    assert r["since"] == pd.Timestamp("2026-11-12") and r["name"] == "秦淮区"


def test_spike_alerts():
    # street A: today 2+4+4 = 10 by 17:00 against 1+1+1 = 3 average: 10 > 9 and >= 8, crossing at hour 17;
    # street B: 9 against 4: not over 3×; street A's hour 18 (after NOW's hour) is ignored
    h = pd.DataFrame({"code": ["320102001"] * 4 + ["320104002"] * 2, "hour": [15, 16, 17, 19, 16, 17],
                      "today": [2, 4, 4, 50, 5, 4], "avg7": [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]})
    a = spike_alerts(h, datetime(2026, 11, 20, 17, 30), NAMES, T)
    assert a["code"].tolist() == ["320102001"]
    r = a.iloc[0]
    assert r["value"] == 10 and r["threshold"] == pytest.approx(9.0) and r["level"] == "amber"  # 10/3 < 6
    assert r["since"] == pd.Timestamp("2026-11-20 17:00")


def test_camera_alerts():
    d = pd.DataFrame({"code": ["3201", "320102", "320104", "320105"], "cameras": [30, 10, 10, 0],
                      "camera_online_rate": [0.8, 0.8, 0.95, None]})
    a = camera_alerts(d, NAMES, datetime(2026, 11, 20, 17, 0), T)
    assert a["code"].tolist() == ["320102"] and a.iloc[0]["level"] == "red"  # 0.80 < 0.90 - 0.05


def test_wall_alerts_red_first_and_empty():
    regions = pd.DataFrame({"code": NAMES.index, "name": NAMES.values})
    frames = {"device_kpis": pd.DataFrame({"code": ["320102", "320104"], "cameras": [10, 10],
                                           "camera_online_rate": [0.88, 0.8]})}
    a = wall_alerts(frames, regions, datetime(2026, 11, 20, 17, 0), T)
    assert a["level"].tolist() == ["red", "amber"] and a["code"].tolist() == ["320104", "320102"]
    empty = wall_alerts({}, regions, datetime(2026, 11, 20, 17, 0), T)
    assert empty.empty and list(empty.columns) == ["kind", "code", "name", "level", "value", "threshold", "since", "text"]

"""Pure transforms on literal frames: each expected number is worked out by hand in the comment."""

from datetime import datetime

import pandas as pd
import pytest
from helpers import G1, G2, G3, ev

from bench.reference_windows import counts_by, hourly_today
from contract.metrics import WINDOWS
from etl.transforms.devices import region_device_kpis
from etl.transforms.events import event_facts, region_event_kpis
from etl.transforms.regions import rolled_up_sums
from etl.transforms.safety import latest_safety

AS_OF = datetime(2026, 11, 20, 18, 0)

EVENTS = pd.DataFrame([
    # today, closed same day on time at grid level, rated 5: dispatch 10 min, handle 60, verify 20, close 10
    ev(1, G1, "2026-11-20 08:00", "2026-11-20 08:10", "2026-11-20 09:10", "2026-11-20 09:30", "2026-11-20 09:40",
       due="2026-11-21 08:00", level="grid", sat=5),
    # today, still open (dispatched only), due already passed -> overdue
    ev(2, G2, "2026-11-20 07:00", "2026-11-20 07:30", due="2026-11-20 12:00", category="民生服务"),
    # yesterday, closed today (not same day), late, at street level, rated 2, reopened
    ev(3, G3, "2026-11-19 10:00", "2026-11-19 10:20", "2026-11-20 10:00", "2026-11-20 11:00", "2026-11-20 11:30",
       due="2026-11-20 10:00", level="street", sat=2, reopened=1, channel="随手拍"),
    # 10 days ago: outside today and 7d, inside 30d; open but not yet due
    ev(4, G3, "2026-11-10 09:00", due="2026-12-01 00:00"),
])


def test_event_facts_flags():
    f = event_facts(EVENTS, AS_OF).set_index("row_id")
    assert f["status"].tolist() == ["closed", "dispatched", "closed", "reported"]
    assert f["same_day_cleared"].tolist() == [1, 0, 0, 0]
    assert f["closed_on_time"].tolist() == [1, 0, 0, 0]
    assert f["is_overdue"].tolist() == [0, 1, 0, 0]
    assert f.loc[1, "handle_min"] == 60 and f.loc[3, "dispatch_min"] == 20


@pytest.mark.parametrize("code,window,expected", [
    # city today: events 1 and 2 reported today; 1 closed on time, same day, at grid, satisfied
    ("3201", "today", dict(reported=2, closed=1, closed_on_time=1, same_day_cleared=1, grid_settled=1, open=2,
                           overdue=1, on_time_rate=1.0, same_day_rate=0.5, satisfaction_rate=1.0)),
    # city 7d: events 1-3; closed 1 and 3; on time only 1 -> 0.5; rated 2, satisfied 1 -> 0.5
    ("3201", "7d", dict(reported=3, closed=2, closed_on_time=1, same_day_cleared=1, grid_settled=1, reopened=1,
                        on_time_rate=0.5, grid_settled_rate=0.5, satisfaction_rate=0.5, same_day_rate=1 / 3)),
    ("3201", "30d", dict(reported=4, closed=2, open=2, overdue=1)),
    # district 320102 holds G1 and G2: both today
    ("320102", "today", dict(reported=2, open=1, overdue=1, same_day_rate=0.5)),
    # community of G1/G2, and grid G2 alone (no closed events: on-time rate has no value, not 0)
    ("320102001001", "7d", dict(reported=2, closed=1)),
    (G2, "today", dict(reported=1, closed=0, open=1, overdue=1, on_time_rate=float("nan"))),
    # district 320104 (G3): open stock is event 4 (reported 10 days ago) in every window
    ("320104", "today", dict(reported=0, open=1, overdue=0)),
])
def test_region_event_kpis(code, window, expected):
    k = region_event_kpis(event_facts(EVENTS, AS_OF), AS_OF, windows=tuple(WINDOWS))
    rows = k[(k["code"] == code) & (k["window"] == window)]
    assert len(rows) == 1, f"{code} {window}: {len(rows)} rows (a region with stock but no report has one too)"
    row = rows.iloc[0]
    for name, value in expected.items():
        if isinstance(value, float) and value != value:
            assert pd.isna(row[name]), name
        else:
            assert row[name] == pytest.approx(value), name


def test_medians_per_stage():
    k = region_event_kpis(event_facts(EVENTS, AS_OF), AS_OF, windows=tuple(WINDOWS))
    city7 = k[(k["code"] == "3201") & (k["window"] == "7d")].iloc[0]
    # dispatch minutes: 10 (ev1), 30 (ev2), 20 (ev3) -> median 20; handle: 60 and 1420 -> 740
    assert city7["median_dispatch_min"] == 20
    assert city7["median_handle_min"] == 740


def test_counts_by_category_and_hourly():
    facts = event_facts(EVENTS, AS_OF)
    c = counts_by(facts, AS_OF, "category")
    today = c[(c["code"] == "3201") & (c["window"] == "today")].set_index("category")["count"]
    assert today.to_dict() == {"城市管理": 1, "民生服务": 1}
    h = hourly_today(facts, AS_OF, levels=("city",)).set_index("hour")
    assert h.loc[8, "today"] == 1 and h.loc[7, "today"] == 1
    assert h.loc[10, "avg7"] == pytest.approx(1 / 7)  # ev3 at 10:00 yesterday


def test_rolled_up_sums_by_prefix():
    per_grid = pd.DataFrame({"grid_code": [G1, G2, G3], "x": [1, 2, 4]})
    s = rolled_up_sums(per_grid, ["x"]).set_index("code")["x"]
    assert s["3201"] == 7 and s["320102"] == 3 and s["320104"] == 4 and s["320102001001"] == 3 and s[G3] == 4


def test_device_kpis_and_blind_grids():
    devices = pd.DataFrame({
        "kind": ["camera", "camera", "camera", "iot"], "grid_code": [G1, G1, G3, G2],
        "status": ["online", "offline", "online", "online"], "tags": ["治安", "", "交通", ""],
        "coord_quality": ["verified", "missing", "verified", "verified"]})
    grids = pd.DataFrame({"code": [G1, G2, G3]})
    k = region_device_kpis(devices, grids).set_index("code")
    assert k.loc["3201", "cameras"] == 3 and k.loc["3201", "camera_online_rate"] == pytest.approx(2 / 3)
    assert k.loc["3201", "blind_grids"] == 1  # G2 has only an IoT sensor
    assert k.loc["320102", "cameras_untagged"] == 1 and k.loc["320102", "cameras_unplaced"] == 1
    assert pd.isna(k.loc[G2, "camera_online_rate"])


def test_latest_safety_and_change():
    s = pd.DataFrame({"region_code": ["320102"] * 2, "month": pd.to_datetime(["2026-10-01", "2026-11-01"]),
                      "index_value": [90.0, 92.5], "public_security": [98.0, 98.4], "security": [1, 2],
                      "fire": [1, 2], "traffic": [1, 2], "production": [1, 2], "disputes": [1, 2]})
    row = latest_safety(s).iloc[0]
    assert row["safety_index"] == 92.5 and row["index_change"] == pytest.approx(2.5)


def test_stocks_do_not_depend_on_the_window():
    """Event 4 (G3, reported 10 days ago, open) is in the stock of its regions in every window, even
    in windows where its community reported nothing (today: only event 3's day-before report is there,
    7d: likewise) — open and overdue are the state now."""
    only_old = EVENTS[EVENTS["row_id"] == 4]
    k = region_event_kpis(event_facts(only_old, AS_OF), AS_OF, windows=tuple(WINDOWS)).set_index(["code", "window"])
    for window in ("today", "7d", "30d"):
        assert k.at[(G3[:12], window), "open"] == 1, window
        assert k.at[(G3[:12], window), "reported"] == (1 if window == "30d" else 0), window

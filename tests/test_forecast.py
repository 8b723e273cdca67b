"""The forecast (issue 27): the holiday calendar it uses, the counts it fits, the fit through statsforecast, the
expected rule on a planted surge, and the simulator's planted shape."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from helpers import NOW

from config.labels import set_language
from config.workdays import HOLIDAY, REST, WORK, day_kind, day_kinds
from demo.sim_shape import day_factor, planted_surges
from etl.transforms.alerts import AlertThresholds, wall_alerts
from etl.transforms.forecast import (
    daily_counts,
    event_forecast,
    expected_alerts,
    expected_by_hour,
    hourly_profile,
)

NOW_DAY = pd.Timestamp(NOW).normalize()


def test_calendar_make_up_saturday_is_a_workday():
    assert day_kind(date(2026, 10, 10)) == (WORK, True)  # Saturday, 调休 after National Day 2026
    assert day_kind(date(2026, 2, 14)) == (WORK, True)  # Saturday, 调休 before the Spring Festival 2026
    assert day_kind(date(2026, 10, 1)) == (HOLIDAY, True)
    assert day_kind(date(2026, 10, 17)) == (REST, True)  # an ordinary Saturday
    assert day_kind(date(2026, 10, 12)) == (WORK, True)


def test_calendar_past_its_years_says_so():
    kind, known = day_kind(date(2027, 10, 1))  # the package does not know 2027's holidays: weekday alone, flagged
    assert (kind, known) == (WORK, False)
    assert not day_kinds(["2027-01-02"])["known"].iloc[0]


def test_simulator_week_holidays_and_surges():
    assert day_factor(date(2026, 10, 10)) > 1.4 * day_factor(date(2026, 10, 17))  # 调休 Saturday vs ordinary one
    assert day_factor(date(2026, 10, 2)) < day_factor(date(2026, 10, 18))  # a holiday quieter than a Sunday
    a = planted_surges(7, date(2026, 1, 1), date(2026, 12, 31), ["320102", "320104"])
    b = planted_surges(7, date(2026, 6, 1), date(2026, 6, 30), ["320102", "320104"])
    assert len(a) > 10 and set(a["kind"]) == {"storm", "incident"}
    pd.testing.assert_frame_equal(a[a["day"].dt.month == 6].reset_index(drop=True), b)  # a day's surges: the seed's


def _facts(days: pd.DatetimeIndex, per_day: np.ndarray, grid: int = 320102001001001) -> pd.DataFrame:
    n = per_day.astype(int)
    day = np.repeat(days.to_numpy(), n)
    hours = np.concatenate([np.arange(k) % 24 for k in n])
    return pd.DataFrame({"grid_no": np.full(len(day), grid, np.int64), "day": day, "category": "民生服务",
                         "reported_at": day + hours.astype("timedelta64[h]")})


def test_daily_counts_recount():
    days = pd.date_range("2026-09-01", "2026-09-10")
    f = pd.concat([_facts(days, np.arange(10) + 5), _facts(days, np.full(10, 3), 320104002003004)], ignore_index=True)
    f.loc[f.index[::7], "category"] = "城市管理"
    series, d, y = daily_counts(f, days[0], days[-1])
    got = pd.DataFrame(y, columns=d).assign(code=series["code"], category=series["category"]).set_index(["code", "category"])
    assert got.loc[("3201", "")].sum() == len(f)
    assert got.loc[("320102", "城市管理")].sum() == ((f["grid_no"] == 320102001001001) & (f["category"] == "城市管理")).sum()
    assert got.loc[("320104002", "")].tolist() == [3.0] * 10
    assert ("320104002", "城市管理") not in got.index  # streets: totals only


def test_forecast_knows_make_up_days_and_weeks():
    """A weekly shape with the 2026 National Day holiday and its 调休 days in the history: the forecast for the next
    weeks follows the weekdays, and a 调休 Saturday in the horizon is forecast like a working day."""
    days = pd.date_range("2026-07-01", "2026-10-08")  # the horizon reaches 2026-10-10, a 调休 Saturday
    rng = np.random.default_rng(3)
    expect = np.array([day_factor(d.date()) for d in days]) * 200
    y = rng.poisson(expect).astype(float)[None, :]
    series = pd.DataFrame({"code": ["3201"], "category": [""]})
    f = event_forecast(series, days, y)
    ahead = f[f["expected"].notna()].set_index("day")
    assert len(ahead) == 8 and (ahead["lo"] <= ahead["expected"]).all() and (ahead["expected"] <= ahead["hi"]).all()
    assert ahead.loc["2026-10-10", "day_kind"] == WORK
    assert ahead.loc["2026-10-10", "expected"] > 1.3 * ahead.loc["2026-10-11", "expected"]  # 调休 Sat vs Sunday
    assert ahead.loc["2026-10-12", "expected"] == pytest.approx(200 * day_factor(date(2026, 10, 12)), rel=0.15)
    past = f[f["actual"].notna()]
    assert past["actual"].tolist() == y[0, -28:].tolist()


def test_expected_rule_raises_on_a_planted_surge():
    set_language("zh")
    today = pd.Timestamp("2026-10-14")
    fc = pd.DataFrame({"code": ["320102", "320104"], "category": "", "day": today, "expected": 240.0, "lo": 200.0,
                       "hi": 280.0})
    profile = pd.DataFrame({"code": np.repeat(["320102", "320104"], 24), "hour": np.tile(np.arange(24), 2),
                            "share": 1 / 24})
    hourly = expected_by_hour(fc, profile, today)
    by_hour = pd.DataFrame({"code": np.repeat(["320102", "320104"], 24), "hour": np.tile(np.arange(24), 2),
                            "today": np.concatenate([np.full(24, 24), np.full(24, 10)]), "avg7": 10.0})
    as_of = datetime(2026, 10, 14, 11, 30)  # hours 0..11: 320102 saw 288 against 120 expected; 320104 as expected
    names = pd.Series({"320102": "玄武区", "320104": "秦淮区"})
    a = expected_alerts(by_hour, hourly, as_of, names)
    assert a["code"].tolist() == ["320102"] and a["kind"].tolist() == ["expected_above"]
    assert a["value"].iloc[0] == 288 and a["threshold"].iloc[0] == pytest.approx(120)
    assert "高于预期 2.4 倍" in a["text"].iloc[0]
    quiet = by_hour.assign(today=np.where(by_hour["code"] == "320104", 1, 10))  # 320104: 12 against 120
    b = expected_alerts(quiet, hourly, as_of, names)
    assert b.set_index("code").loc["320104", "kind"] == "expected_below"
    # the setting picks the rule for the wall's alerts
    regions = pd.DataFrame({"code": ["320102", "320104"], "name": ["玄武区", "秦淮区"]})
    frames = {"by_hour": by_hour, "forecast_hourly": hourly}
    kinds = set(wall_alerts(frames, regions, as_of, AlertThresholds(rule="expected"))["kind"])
    assert kinds == {"expected_above"}
    assert "expected_above" not in set(wall_alerts(frames, regions, as_of, AlertThresholds(rule="spike"))["kind"])


def test_hourly_profile_shares_sum_to_one():
    days = pd.date_range("2026-09-01", "2026-09-07")
    p = hourly_profile(_facts(days, np.full(7, 48)))
    assert set(p["code"]) == {"3201", "320102"}
    assert p.groupby("code")["share"].sum().round(9).eq(1).all()


def _texts(component) -> list[str]:
    out = []
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    for c in children if isinstance(children, list) else [children] if children is not None else []:
        out += _texts(c)
    return out


def _find(component, id_: str):
    if getattr(component, "id", None) == id_:
        return component
    children = getattr(component, "children", None)
    for c in children if isinstance(children, list) else [children] if children is not None else []:
        if c is not None and not isinstance(c, str) and (hit := _find(c, id_)) is not None:
            return hit
    return None


def test_screens_show_the_published_forecast(published, redis_client, city):
    """Recount: the tablet's tiles, categories and children, the wall's band and the briefing's 明日预计 are the rows
    of the published forecast frames, nothing computed again."""
    from briefing.data import tomorrow_part
    from components.forecast_panel import forecast_panel
    from components.format import fmt_count
    from contract import frames as F
    from queries import views
    from snapshots.reader import SnapshotReader

    set_language("zh")
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    days = snap.frame(F.FORECAST_DAYS)
    hourly = snap.frame(F.FORECAST_HOURLY)
    assert days is not None and hourly is not None and len(days) and len(hourly)
    code = "320102"
    mine = days[(days["code"] == code) & (days["category"] == "") & days["expected"].notna()].sort_values("day")
    assert len(mine) == 8 and pd.Timestamp(mine["day"].iloc[0]) == pd.Timestamp(NOW_DAY)
    tomorrow, week = mine.iloc[1], mine.iloc[1:8]
    panel = forecast_panel(snap, city, code)
    tile = _texts(_find(panel, "medium-forecast-tomorrow"))
    assert fmt_count(round(tomorrow["expected"])) in tile
    assert any(fmt_count(round(tomorrow["lo"])) in t and fmt_count(round(tomorrow["hi"])) in t for t in tile)
    assert fmt_count(round(week["expected"].sum())) in _texts(_find(panel, "medium-forecast-week"))
    cats = days[(days["code"] == code) & (days["category"] != "") & (days["day"] == tomorrow["day"])]
    shown = _texts(_find(panel, "medium-forecast-categories"))
    for _, r in cats.iterrows():
        assert r["category"] in shown and fmt_count(round(r["expected"])) in shown
    assert _find(panel, "medium-forecast-children") is not None  # a district's streets
    h = views.hourly(snap, code)
    want = hourly[hourly["code"] == code].set_index("hour")
    assert h.set_index("hour")["expected"].tolist() == want["expected"].reindex(range(24)).tolist()
    assert want["cum_expected"].iloc[-1] == pytest.approx(mine["expected"].iloc[0])  # the band sums to today's
    b = tomorrow_part(snap, code, NOW_DAY.date())
    assert b is not None and b["expected"] == pytest.approx(tomorrow["expected"])


@pytest.mark.slow
def test_forecast_fits_in_the_background_without_holding_a_run(sim_engine, city, redis_client, wait_until):
    """In the service the fit runs in a thread: the run that starts it publishes without the forecast, a later run
    (once the fit is done) publishes it; a second check the same day fits nothing."""
    from contract import frames as F
    from etl.jobs import EtlJobs
    from snapshots.store import SnapshotStore

    jobs = EtlJobs(sim_engine, city, SnapshotStore(redis_client, "fc-bg"))
    jobs.forecast_background = True
    jobs.run(("events", "forecast"), NOW)
    assert F.FORECAST_DAYS.name not in jobs.last_frames
    assert wait_until(lambda: jobs._forecast_fit is not None and jobs._forecast_fit.done(), timeout_s=300)
    jobs.run("forecast", NOW)
    assert F.FORECAST_DAYS.name in jobs.last_frames and F.FORECAST_HOURLY.name in jobs.store.manifest()["frames"]
    jobs.run("forecast", NOW)
    assert jobs._forecast_fit is None  # fitted once a day


def test_expected_rule_ignores_a_band_of_another_day():
    """Past midnight, until the night's fit is published, yesterday's band warns of nothing."""
    yesterday = pd.Timestamp("2026-10-13")
    fc = pd.DataFrame({"code": ["320102"], "category": "", "day": yesterday, "expected": 240.0, "lo": 200.0,
                       "hi": 280.0})
    profile = pd.DataFrame({"code": "320102", "hour": np.arange(24), "share": 1 / 24})
    hourly = expected_by_hour(fc, profile, yesterday)
    by_hour = pd.DataFrame({"code": "320102", "hour": np.arange(24), "today": 100, "avg7": 10.0})
    names = pd.Series({"320102": "玄武区"})
    assert len(expected_alerts(by_hour, hourly, datetime(2026, 10, 13, 11, 30), names)) == 1
    assert expected_alerts(by_hour, hourly, datetime(2026, 10, 14, 11, 30), names).empty

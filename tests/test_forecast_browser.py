"""The forecast on the screens in Chromium (issue 27): the tablet's 明日预计 tile at 1366×1024 and the wall's hourly
expected line and band at 1920×1080 show the published forecast frames' values."""

from __future__ import annotations

import pytest
from helpers import SCREENS, LiveServer

from components.format import fmt_count
from contract import frames as F
from snapshots.reader import SnapshotReader

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOURLY_JS = """() => { const gd = document.querySelector('#big-hourly .js-plotly-plot');
  return gd && gd.data && gd.data.length === 4 ? gd.data.map(t => t.y) : null; }"""


def test_tablet_and_wall_show_the_forecast(browser, watched, wall_watched, published, app, redis_client, wall_site):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    days = snap.frame(F.FORECAST_DAYS)
    code = "320102"
    mine = days[(days["code"] == code) & (days["category"] == "") & days["expected"].notna()].sort_values("day")
    with LiveServer(app.server) as srv:
        page = watched(SCREENS["medium"]).page
        page.goto(f"{srv.url}/medium?region={code}")
        page.wait_for_selector("#medium-forecast-tomorrow .fc-value")
        assert page.text_content("#medium-forecast-tomorrow .fc-value") == fmt_count(round(mine["expected"].iloc[1]))
        assert page.is_visible("#medium-forecast-chart .js-plotly-plot")
    hourly = snap.frame(F.FORECAST_HOURLY)
    city_hours = hourly[hourly["code"] == "3201"].sort_values("hour")
    wall = wall_watched(SCREENS["big"]).page
    wall.goto(f"{wall_site[0]}/big")
    ys = wall.wait_for_function(HOURLY_JS, timeout=60000).json_value()
    assert ys[3] == city_hours["expected"].round(1).tolist()  # today's expected line
    assert ys[2] == city_hours["hi"].round(1).tolist() and ys[1] == city_hours["lo"].round(1).tolist()  # the band

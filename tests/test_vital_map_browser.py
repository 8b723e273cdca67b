"""The wall's map coloured by a city vital sign (components/vital_map.py, layouts/big.py vitals_map) in Chromium at
1920×1080: on the 城市体征 page the map shows the catalogue's first indicator with values by district, each district
with the published frame's value, the legend naming the indicator and its time; a tapped tile puts its indicator
on the map. No request leaves 127.0.0.1."""

from __future__ import annotations

import pytest
from helpers import NOW, SCREENS, LiveServer
from indicator_helpers import vitals_feeds
from sqlalchemy import create_engine

from contract import frames as F
from etl.jobs import EtlJobs
from snapshots.reader import SnapshotReader
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.browser

MAP_JS = """() => { const g = document.querySelector('#big-map .js-plotly-plot');
  if (!g || !g.data || !g.data.length || g.data[0].type !== 'choropleth' || !g.layout || g.layout.meta !== 'vitals') return null;
  return {title: g.data[0].colorbar.title.text, z: g.data[0].z, loc: g.data[0].locations,
          nodata: g.data.length > 2 ? g.data[2].locations : []}; }"""


def test_the_wall_map_coloured_by_an_indicator(browser, watched, published, app, city, redis_client, vitals_db,
                                              opinion_api, wait_until):
    feeds = vitals_feeds(city, vitals_db, opinion_api.url)
    jobs = EtlJobs(create_engine("sqlite://"), city, SnapshotStore(redis_client), indicators=feeds)
    assert jobs.run("indicators", NOW) is not None  # on top of the published events snapshot
    frame = SnapshotReader(redis_client).refresh(force=True).frame(F.INDICATORS)
    districts = set(city.children(city.code)["code"])
    names = frame.drop_duplicates("indicator").set_index("indicator")["name"]

    def published_values(ind: str) -> dict:
        d = frame[(frame["indicator"] == ind) & frame["code"].isin(districts)]
        return dict(zip(d["code"], d["value"]))

    with LiveServer(app.server) as srv:
        w = watched(SCREENS["big"])
        page = w.page
        page.goto(f"{srv.url}/big?page=vitals")
        page.wait_for_function(MAP_JS)
        shown = page.evaluate(MAP_JS)
        assert names["people_present"] in shown["title"] and f"{NOW:%H:%M}" in shown["title"], shown["title"]
        assert dict(zip(shown["loc"], shown["z"])) == pytest.approx(published_values("people_present"))
        assert set(shown["loc"]) | set(shown["nodata"]) == districts

        page.click('[id*="traffic_index"].vs-tile')  # a tile tapped: its indicator on the map
        assert wait_until(lambda: names["traffic_index"] in (page.evaluate(MAP_JS) or {}).get("title", ""),
                          timeout_s=60)
        shown = page.evaluate(MAP_JS)
        assert dict(zip(shown["loc"], shown["z"])) == pytest.approx(published_values("traffic_index"))
        assert page.is_checked('#big-measure input[value="vitals"]')

        page.click('#big-measure input[value="density"]')  # back to the events: the events' map, every district
        back = """() => { const g = document.querySelector('#big-map .js-plotly-plot');
          return g && g.layout.meta !== 'vitals' ? g.data[0].locations : null; }"""
        assert wait_until(lambda: page.evaluate(back), timeout_s=60)
        assert set(page.evaluate(back)) == districts
        assert w.non_local() == [], "the wall requested non-local URLs"
        assert w.errors == [], w.errors

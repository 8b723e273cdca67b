"""The naive way, for comparison in the same run: per request, query the source and aggregate with
pandas, then build the whole figure with its GeoJSON inline (no snapshot, no geometry cache)."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import text
from sqlalchemy.engine import Engine

from config.city import City


def naive_drilldown(engine: Engine, city: City, region: str, now: datetime, days: int = 7) -> bytes:
    """A drill-down response built the naive way: the region's children with their counts (reported in
    the window, overdue now), as a choropleth with the children's polygons in the figure."""
    since = pd.Timestamp(now).normalize() - pd.Timedelta(days=days - 1)
    sql = text("SELECT grid_code, reported_at, closed_at, due_at FROM events WHERE grid_code LIKE :p "
               "AND (reported_at >= :since OR closed_at IS NULL)")
    with engine.connect() as c:
        ev = pd.read_sql(sql, c, params={"p": region + "%", "since": since.to_pydatetime()})
    for col in ("reported_at", "closed_at", "due_at"):
        ev[col] = pd.to_datetime(ev[col])
    children = city.children(region)
    if children.empty:
        children = city.regions[city.regions["code"] == region]
    width = len(children["code"].iloc[0])
    ev["child"] = ev["grid_code"].str[:width]
    ev["overdue"] = ev["closed_at"].isna() & (ev["due_at"] < now)
    recent = ev[ev["reported_at"] >= since]
    values = children[["code", "name"]].set_index("code")
    values["reported"] = recent.groupby("child").size()
    values["overdue"] = ev.groupby("child")["overdue"].sum()
    values = values.fillna(0).reset_index()
    level = children["level"].iloc[0]
    with open(city.geojson_path(level), encoding="utf-8") as f:
        geo = json.load(f)
    codes = set(values["code"])
    geo["features"] = [ft for ft in geo["features"] if ft["properties"]["code"] in codes]
    fig = go.Figure(go.Choropleth(geojson=geo, locations=values["code"], z=values["overdue"],
                                  text=values["name"], featureidkey="properties.code"))
    fig.update_geos(fitbounds="locations", visible=False)
    return fig.to_json().encode()


def naive_wall_refresh(engine: Engine, city: City, now: datetime) -> bytes:
    """A wall refresh the naive way: recount today from the source and resend the whole district map."""
    return naive_drilldown(engine, city, city.code, now, days=1)


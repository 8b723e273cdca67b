"""The wall's map coloured by one city vital sign (城市体征) by region (queries/vital_trends.py map_values): the
regions with a value coloured on the indicator's scale, those without drawn grey and labelled no data (never 0);
the legend names the indicator, its unit and the time of its value; a late indicator says so on the map (its
last time), and each region's warn / alarm is outlined like an alert. A plain figure dict, as
components/widgets.py region_map (geometry by URL, fetched once by the browser)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from components.map_labels import spread_labels
from components.theme import DARK, FONT, SCALE_BETTER, SCALE_WORSE
from components.vital_signs import STATUS_COLOUR, fmt_value, fmt_when
from components.widgets import leader_lines, map_geo
from config.labels import label

NO_DATA = "#24395f"  # a region without a value: neither end of the scale


def value_text(v, head: dict) -> str:
    if v is None or v != v:
        return label("vs_map_nodata")
    unit = head.get("unit") or ""
    return fmt_value(v, head.get("decimals", 1), unit) + ("" if unit == "%" else unit)


def legend_title(head: dict, now: datetime) -> str:
    """The colour bar's title: the indicator, its unit, and the time of its value (a late one: late and its last)."""
    unit = head.get("unit") or ""
    name = head["name"] + (f" ({unit})" if unit else "")
    when = fmt_when(head.get("time"), now)
    if head.get("status") in ("stale", "none"):
        return f"{name}<br>{label('vs_map_stale', t=when)}"
    return f"{name}<br>{label('vs_updated', t=when)}"


def vital_map(values: pd.DataFrame, head: dict, geo_url: str, now: datetime, labels: bool = True,
              uirevision: str = "map", bounds=None, label_px: float = 15, map_height_px: float = 640) -> dict:
    """The figure: trace 0 the regions with a value (coloured), trace 1 the labels (spread so that none sits on
    another, components/map_labels.py), trace 2 the regions without (grey), trace 3 the labels' leader lines if
    any. `values`: code, name, lon, lat, value (NaN: none), status; `head`: the indicator at the map's region."""
    has = values["value"].notna()
    text = [f"{n}<br>{value_text(v, head)}" + (f" · {label('vs_status_' + s)}" if s in ("warn", "alarm", "stale") else "")
            for n, v, s in zip(values["name"], values["value"], values["status"])]
    scale = SCALE_BETTER if head.get("direction") == "below" else SCALE_WORSE
    colour = {"alarm": STATUS_COLOUR["alarm"], "warn": STATUS_COLOUR["warn"]}
    got = values[has]
    stale = head.get("status") in ("stale", "none")
    at = spread_labels(values["lon"].tolist(), values["lat"].tolist(), text, label_px, map_height_px, bounds) \
        if labels else spread_labels([], [], [])
    data = [{
        "type": "choropleth", "geojson": geo_url, "locations": got["code"].tolist(), "z": got["value"].astype(float).tolist(),
        "featureidkey": "properties.code", "text": [t for t, h in zip(text, has) if h], "hoverinfo": "text",
        "colorscale": scale, "showscale": bool(len(got)), "zauto": True,
        "marker": {"opacity": 0.45 if stale else 1.0,
                   "line": {"color": [colour.get(s, DARK["bg"]) for s in got["status"]],
                            "width": [4 if s in colour else 0.6 for s in got["status"]]}},
        "colorbar": {"title": {"text": legend_title(head, now), "font": {"color": DARK["muted"], "size": 15}},
                     "thickness": 16, "len": 0.5, "x": 0.98, "tickfont": {"size": 15, "color": DARK["muted"]}},
    }, {
        "type": "scattergeo", "lon": at.lon, "lat": at.lat, "text": text if labels else [], "mode": "text",
        "hoverinfo": "skip", "textfont": {"color": DARK["text"], "size": label_px, "family": FONT},
    }, {
        "type": "choropleth", "geojson": geo_url, "locations": values.loc[~has, "code"].tolist(),
        "z": [0.0] * int((~has).sum()), "featureidkey": "properties.code",
        "text": [t for t, h in zip(text, has) if not h], "hoverinfo": "text",
        "colorscale": [[0, NO_DATA], [1, NO_DATA]], "showscale": False,
        "marker": {"line": {"color": DARK["muted"], "width": 0.6}},
    }]
    data += leader_lines(at, DARK["muted"])
    geo = map_geo(bounds)
    notes = [label("vs_map_stale", t=fmt_when(head.get("time"), now))] if stale else []
    layout = {"geo": geo, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "paper_bgcolor": "rgba(0,0,0,0)",
              "showlegend": False, "font": {"family": FONT, "color": DARK["text"]}, "uirevision": uirevision,
              "meta": "vitals",
              "annotations": [{"text": n, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.02, "y": 0.98,
                               "xanchor": "left", "font": {"size": 22, "color": STATUS_COLOUR["stale"]},
                               "bgcolor": "rgba(6,18,43,0.8)"} for n in notes]}
    return {"data": data, "layout": layout}


def no_indicator_map(geo_url: str, uirevision: str, bounds=None) -> dict:
    """No indicator has values by region: the map says so."""
    fig = vital_map(pd.DataFrame({"code": [], "name": [], "lon": [], "lat": [], "value": [], "status": []}),
                    {"name": label("page_vitals"), "status": "ok", "time": None}, geo_url, datetime.now(),
                    uirevision=uirevision, bounds=bounds)
    fig["layout"]["annotations"] = [{"text": label("vs_none_here"), "showarrow": False, "xref": "paper",
                                     "yref": "paper", "x": 0.5, "y": 0.5, "font": {"size": 24, "color": DARK["muted"]}}]
    return fig

"""Small widget factories shared by the three screens: KPI tile, region map, charts, freshness stamp."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from dash import dcc, html

from components.format import (
    fmt_count,
    fmt_minutes,
    fmt_number,
    fmt_percent,
    fmt_rate,
    is_missing,
    is_not_connected,
    measure_label,
)
from components.map_labels import Placed, spread_labels
from components.theme import DARK, FONT, LIGHT, LIGHT_SCALE_BETTER, LIGHT_SCALE_WORSE, SCALE_BETTER, SCALE_WORSE
from config.labels import label
from contract.metrics import FUNNEL
from queries.views import MAP_MEASURES
from snapshots.reader import Snapshot

# Plotly config for every graph: no toolbar, and the world outline that plotly's geo module insists on
# loading comes from our own assets (never the plotly CDN); the map itself is our GeoJSON.
GRAPH_CONFIG: dcc.Graph.Config = {"displayModeBar": False, "scrollZoom": False, "topojsonURL": "/assets/topojson/"}

# KPI tiles in display order: key in region_kpis() -> formatter
KPI_TILES = {
    "reported": fmt_count, "open": fmt_count, "overdue": fmt_count, "on_time_rate": fmt_rate,
    "same_day_rate": fmt_rate, "grid_settled_rate": fmt_rate, "satisfaction_rate": fmt_rate,
    "camera_online_rate": fmt_rate, "safety_index": fmt_number, "public_security": fmt_percent,
}
STAGE_TILES = {"median_dispatch_min": fmt_minutes, "median_handle_min": fmt_minutes,
               "median_verify_min": fmt_minutes, "median_close_min": fmt_minutes}
TILE_FORMATS = {**KPI_TILES, **STAGE_TILES, "escalated_rate": fmt_rate, "not_overdue_rate": fmt_rate,
                "at_risk": fmt_count, "supervision_on_time_rate": fmt_rate}


def kpi_card(page: str, key: str, value: str, extra: str = "", nc: bool = False) -> html.Div:
    """A KPI tile: label, big value, optional small line; id `{page}-kpi-{key}`; `nc`: not connected (未接入)."""
    return html.Div(className=f"kpi kpi-{key}" + (" not-connected" if nc else ""), id=f"{page}-kpi-{key}", children=[
        html.Div(label(key), className="kpi-label"),
        html.Div(value, className="kpi-value"),
        html.Div(extra, className="kpi-extra"),
    ])


def kpi_row(page: str, kpis: dict, keys=tuple(KPI_TILES)) -> list[html.Div]:
    tiles = []
    for key in keys:
        fmt = TILE_FORMATS[key]
        extra = ""
        if key == "safety_index" and kpis.get("index_change") is not None:
            extra = _delta(kpis.get("index_change"), label("vs_last_month"))
        elif key in ("open", "overdue") and page == "medium":  # stocks: now, whatever the window
            extra = label("stock_note")
        tiles.append(kpi_card(page, key, fmt(kpis.get(key)), extra, is_not_connected(kpis.get(key))))
    return tiles


def _delta(v, prefix: str) -> str:
    if is_missing(v):
        return ""
    return f"{prefix} {'▲' if v > 0 else '▼' if v < 0 else '—'}{abs(v):.1f}"


def freshness(page: str, snap: Snapshot, now: datetime, stale_after_s: float) -> html.Div:
    """'as of hh:mm:ss' (label as_of), marked stale (with why) when old, when Redis is down or a source fails."""
    if snap.as_of is None:
        return html.Div(label("waiting"), id=f"{page}-freshness", className="freshness stale")
    stale = snap.is_stale(now, stale_after_s)
    text = f"{label('as_of')} {snap.as_of:%m-%d %H:%M:%S}"
    why = []
    if stale:
        if not snap.redis_ok:
            why.append(label("stale_redis"))
        why += [label("stale_source")] if snap.source_errors() else []
        text += f" · {label('stale')}" + (f"({label('list_sep').join(why)})" if why else "")
    return html.Div(text, id=f"{page}-freshness", className="freshness " + ("stale" if stale else "fresh"),
                    title="; ".join(snap.source_errors()))


def map_geo(bounds=None) -> dict:
    """A map's geo frame: Mercator, no base map, framed on `bounds` (lon0, lat0, lon1, lat1) with 3 % around,
    else on the regions drawn."""
    geo = {"visible": False, "bgcolor": "rgba(0,0,0,0)", "projection": {"type": "mercator"}}
    if bounds:  # explicit frame: plotly's fitbounds mis-sizes maps inside a zoomed wall canvas
        x0, y0, x1, y1 = bounds
        px, py = (x1 - x0) * 0.03, (y1 - y0) * 0.03
        geo.update(fitbounds=False, lonaxis={"range": [x0 - px, x1 + px]}, lataxis={"range": [y0 - py, y1 + py]},
                   center={"lon": (x0 + x1) / 2, "lat": (y0 + y1) / 2})
    else:
        geo["fitbounds"] = "locations"
    return geo


def leader_lines(at: Placed, colour: str) -> list[dict]:
    """The trace of the leader lines from moved labels to their points (components/map_labels.py), if any."""
    return [{"type": "scattergeo", "lon": at.leader_lon, "lat": at.leader_lat, "mode": "lines",
             "hoverinfo": "skip", "line": {"color": colour, "width": 1}}] if at.leader_lon else []


def region_map(values: pd.DataFrame, geo_url: str, measure: str, dark: bool = True,
               labels: bool = True, uirevision: str = "map", bounds=None, label_px: float = 11,
               map_height_px: float = 480) -> dict:
    """Choropleth of a region's children. Geometry is a URL the browser fetches once (cached);
    the figure itself carries only codes and values. A plain dict: plotly's validating graph
    objects cost ~30 ms per map, most of a drill-down step."""
    theme = DARK if dark else LIGHT
    _, _, _, worse = MAP_MEASURES[measure]
    v = values["value"]
    fmt = fmt_rate if measure == "camera_online_rate" else (fmt_count if measure == "overdue" else fmt_number)
    text = [f"{n}<br>{fmt(x)}" for n, x in zip(values["name"], v)]
    scale = (SCALE_WORSE if worse else SCALE_BETTER) if dark else (LIGHT_SCALE_WORSE if worse else LIGHT_SCALE_BETTER)
    if len(v) and all(is_not_connected(x) for x in v):  # 未接入: every region one neutral colour, no scale
        v, scale = pd.Series(float("nan"), index=v.index), [[0, theme["grid"]], [1, theme["grid"]]]
    data = [{
        "type": "choropleth", "geojson": geo_url, "locations": values["code"].tolist(),
        "z": v.astype(float).fillna(0).tolist(), "featureidkey": "properties.code", "text": text, "hoverinfo": "text",
        "colorscale": scale,
        "marker": {"line": {"color": theme["bg"], "width": 0.6}}, "showscale": bool(v.notna().any()),
        "colorbar": {"title": {"text": measure_label(measure), "font": {"color": theme["muted"]}},
                     "thickness": 10, "len": 0.6, "tickfont": {"color": theme["muted"]}},
    }]
    if labels:  # data[1]: the labels, spread so that none sits on another (components/map_labels.py)
        at = spread_labels(values["lon"].tolist(), values["lat"].tolist(), text, label_px, map_height_px, bounds)
        data.append({"type": "scattergeo", "lon": at.lon, "lat": at.lat,
                     "text": text, "mode": "text", "hoverinfo": "skip",
                     "textfont": {"color": theme["text"], "size": label_px, "family": FONT}})
        data += leader_lines(at, theme["muted"])
    layout = {"geo": map_geo(bounds), "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "paper_bgcolor": "rgba(0,0,0,0)",
              "showlegend": False, "font": {"family": FONT, "color": theme["text"]}, "uirevision": uirevision}
    return {"data": data, "layout": layout}





def not_connected_note(layout, connected: bool, axes: tuple[str, ...] = ("xaxis", "yaxis"), dark: bool = True):
    """A chart's layout (a figure's dict, or a Patch's layout) marked for its feed: not connected, 未接入 in its
    middle and no axes (an empty chart with axes reads as "no data yet"); connected, back to normal."""
    theme = DARK if dark else LIGHT
    layout["annotations"] = [] if connected else [{
        "text": label("not_connected"), "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
        "font": {"size": 28, "color": theme["muted"]}}]
    for axis in axes:
        layout[axis]["visible"] = bool(connected)
    return layout


def loop_figure(kpis: dict, dark: bool = False) -> dict:
    """The closed loop as a funnel: events of the window that reached each stage, each stage labelled
    with its median time (≈, from the window's duration histograms)."""
    theme = DARK if dark else LIGHT
    def median(q):
        v = kpis.get(f"median_{q}_min")
        return "" if is_missing(v) else f" · {fmt_minutes(v, approx=True)}"

    stages = [s for s in FUNNEL if not is_not_connected(kpis.get(s[1]))]  # the stages the source records
    names = [label(f"stage_{s}") + ("" if q is None else median(q)) for s, _, q in stages]
    values = [int(kpis.get(n) or 0) for _, n, _ in stages]
    return {"data": [{"type": "funnel", "y": names, "x": values, "texttemplate": "%{value:,} · %{percentInitial:.0%}",
                      "marker": {"color": theme["accent"]}, "hoverinfo": "skip"}],
            "layout": {"margin": {"l": 130, "r": 10, "t": 4, "b": 4}, "paper_bgcolor": "rgba(0,0,0,0)",
                       "plot_bgcolor": "rgba(0,0,0,0)", "font": {"family": FONT, "color": theme["text"], "size": 13},
                       "showlegend": False, "height": 230, "yaxis": {"automargin": True}}}


def rate_bars(df: pd.DataFrame, column: str, dark: bool = False, show_rate: bool = True) -> dict:
    """Horizontal bars of events per value of `column`, labelled with the on-time rate."""
    theme = DARK if dark else LIGHT
    d = df.iloc[::-1]
    text = [f"{int(n):,}" + (f" · {fmt_rate(r)}" if show_rate else "") for n, r in
            zip(d["reported"], d.get("on_time_rate", pd.Series(float("nan"), index=d.index)))]
    return {"data": [{"type": "bar", "orientation": "h", "x": d["reported"].tolist(), "y": d[column].astype(str).tolist(),
                      "text": text, "textposition": "auto", "marker": {"color": theme["accent"]},
                      "hoverinfo": "skip", "cliponaxis": False}],
            "layout": {"margin": {"l": 90, "r": 10, "t": 4, "b": 24}, "paper_bgcolor": "rgba(0,0,0,0)",
                       "plot_bgcolor": "rgba(0,0,0,0)", "font": {"family": FONT, "color": theme["text"], "size": 12},
                       "showlegend": False, "height": 240, "xaxis": {"gridcolor": theme["grid"]},
                       "yaxis": {"automargin": True}}}


def children_map(city, region: str, values: pd.DataFrame, measure: str, dark: bool = True,
                 labels: bool | None = None) -> dict:
    """The map of a region's children (or of the region itself when it is a grid), framed on them."""
    from dashboard.routes import geo_bounds

    children = city.children(region)
    level = children["level"].iloc[0] if not children.empty else city.level_of(region)
    bounds = geo_bounds(str(city.geojson_path(level)), region)
    labels = len(values) <= 40 if labels is None else labels
    return region_map(values, f"/geo/{level}.json?parent={region}", measure, dark=dark, labels=labels,
                      uirevision=region, bounds=bounds)

"""The wall's (大屏) figures and tiles. Each figure has a builder (the full figure, sent once when the
page loads) and a patch (only the values, sent on every new snapshot), so a refresh never re-sends
layout, colours or fonts, and plotly updates in place without flicker."""

from __future__ import annotations

import pandas as pd
from dash import Patch, html

from components.format import fmt_minutes, is_missing, is_not_connected
from components.theme import DARK, FONT
from components.widgets import KPI_TILES, not_connected_note
from config.labels import label
from contract.metrics import FUNNEL, RATES

WALL_FONT = 17  # canvas px; the canvas is scaled to the display, so this is ~34 px on a 4K wall
# KPI tile -> (formatter of the change, higher is better (None: neutral), source of the comparison)
RATE_KEYS = set(RATES)
BETTER_WHEN_HIGHER = {"reported": None, "open": False, "overdue": False, **{k: True for k in RATE_KEYS},
                      "camera_online_rate": True, "safety_index": True, "public_security": True}



def kpi_delta(key: str, now: dict, yesterday: dict) -> tuple[str, str]:
    """The change of a KPI tile, as (text, css class): event KPIs against the same clock time
    yesterday, the monthly safety figures against last month."""
    if key == "safety_index":
        d, prefix, unit = now.get("index_change"), label("vs_last_month"), ""
    elif key == "public_security":
        d, prefix, unit = now.get("security_change"), label("vs_last_month"), "pt"
    elif key == "camera_online_rate":
        cams, online = now.get("cameras"), now.get("cameras_online")
        if is_missing(cams):
            return "", "delta"
        return f"{label('offline')} {int(cams - online):,} / {int(cams):,}", "delta"
    else:
        a, b = now.get(key), yesterday.get(key)
        if is_missing(a) or is_missing(b):
            return "", "delta"
        prefix = label("vs_yesterday")
        d, unit = (100 * (a - b), "pt") if key in RATE_KEYS else (a - b, "")
    if is_missing(d):
        return "", "delta"
    arrow = "▲" if d > 0 else "▼" if d < 0 else label("delta_flat")
    text = f"{prefix} {arrow}{abs(d):,.1f}{unit}" if (unit or key in ("safety_index",)) else \
        f"{prefix} {arrow}{abs(d):,.0f}"
    better = BETTER_WHEN_HIGHER.get(key)
    tone = "" if better is None or d == 0 else (" up-good" if (d > 0) == better else " up-bad")
    return text, "delta" + tone


def kpi_tile(key: str) -> html.Div:
    """An empty wall KPI tile (label, value, change); values arrive with each snapshot."""
    return html.Div(className=f"kpi kpi-{key}", id=f"big-kpi-{key}", children=[
        html.Div(label(key), className="kpi-label"),
        html.Div("—", className="kpi-value", id=f"big-kpi-{key}-value"),
        html.Div("", className="delta", id=f"big-kpi-{key}-delta"),
    ])


def kpi_values(kpis: dict, yesterday: dict, alert_kinds: dict[str, str]) -> tuple[list, list, list, list]:
    """Per tile: value text, change text, change class and tile class (flashing when an alert concerns it)."""
    tile_alert = {"overdue": alert_kinds.get("overdue"), "reported": alert_kinds.get("spike") or alert_kinds.get("expected_above")
                  or alert_kinds.get("expected_below"),
                  "camera_online_rate": alert_kinds.get("camera")}
    values, deltas, delta_cls, tile_cls = [], [], [], []
    for key, fmt in KPI_TILES.items():
        values.append(fmt(kpis.get(key)))
        text, cls = kpi_delta(key, kpis, yesterday)
        deltas.append(text)
        delta_cls.append(cls)
        level = tile_alert.get(key)
        tile_cls.append(f"kpi kpi-{key}" + (f" alert alert-{level}" if level else "") +
                        (" not-connected" if is_not_connected(kpis.get(key)) else ""))  # 未接入: muted, not a value
    return values, deltas, delta_cls, tile_cls


def _layout(**extra) -> dict:
    lay = {"margin": {"l": 8, "r": 8, "t": 6, "b": 28}, "paper_bgcolor": "rgba(0,0,0,0)",
           "plot_bgcolor": "rgba(0,0,0,0)", "font": {"family": FONT, "color": DARK["text"], "size": WALL_FONT},
           "showlegend": False, "uirevision": "wall",
           "xaxis": {"gridcolor": DARK["grid"], "automargin": True},
           "yaxis": {"gridcolor": DARK["grid"], "automargin": True}}
    lay.update(extra)
    return lay


def hbar_figure(df: pd.DataFrame, x: str, y: str) -> dict:
    d = df.iloc[::-1]
    # every name on its bar (dtick 1: plotly skips every other category label once the axis is crowded) and
    # the count upright past the bar's end, not turned inside a thin one
    return {"data": [{"type": "bar", "orientation": "h", "x": d[y].tolist(), "y": d[x].tolist(),
                      "text": d[y].tolist(), "textposition": "outside", "textangle": 0, "cliponaxis": False, "constraintext": "none",
                      "textfont": {"size": WALL_FONT, "color": DARK["text"]},
                      "marker": {"color": DARK["accent"]}, "hoverinfo": "skip"}],
            "layout": _layout(xaxis={"visible": False}, yaxis={"automargin": True, "dtick": 1, "ticklabelstandoff": 4},
                              margin={"l": 8, "r": 44, "t": 6, "b": 6}, bargap=0.3)}


def hbar_patch(df: pd.DataFrame, x: str, y: str) -> Patch:
    d = df.iloc[::-1]
    p = Patch()
    p["data"][0]["x"] = d[y].tolist()
    p["data"][0]["y"] = d[x].tolist()
    p["data"][0]["text"] = d[y].tolist()
    return p


FUNNEL_COLOURS = (DARK["accent"], "#3fb8ff", "#5b9bff", "#7f7dff", DARK["good"])


def _funnel_values(k: dict) -> tuple[list, list, list]:
    """Counts, names (with the stage's median) and colours of the stages the source records (a stage it does
    not record is not connected: left out, not drawn as 0)."""
    shown = [i for i, (_, count, _) in enumerate(FUNNEL) if not is_not_connected(k.get(count))]

    def median(span):
        return "" if span is None or is_not_connected(v := k.get(f"median_{span}_min")) else " · " + fmt_minutes(v)
    names = [label(f"stage_{FUNNEL[i][0]}") + median(FUNNEL[i][2]) for i in shown]
    return [int(k.get(FUNNEL[i][1]) or 0) for i in shown], names, [FUNNEL_COLOURS[i] for i in shown]


def funnel_figure(kpis: dict) -> dict:
    x, y, colours = _funnel_values(kpis)
    return {"data": [{"type": "funnel", "x": x, "y": y, "textinfo": "value", "hoverinfo": "skip",
                      "marker": {"color": colours}}],
            "layout": _layout(margin={"l": 8, "r": 8, "t": 4, "b": 4})}


def funnel_patch(kpis: dict) -> Patch:
    x, y, colours = _funnel_values(kpis)
    p = Patch()
    p["data"][0]["x"] = x
    p["data"][0]["y"] = y
    p["data"][0]["marker"]["color"] = colours
    return p


def _expected_lines(df: pd.DataFrame) -> tuple[list, list, list]:
    """(lo, hi, line) of the hourly chart: today's expected band and line (the forecast), or without a forecast
    the 7-day average as the line and no band."""
    if df["expected"].notna().any():
        return df["lo"].round(1).tolist(), df["hi"].round(1).tolist(), df["expected"].round(1).tolist()
    return [None] * len(df), [None] * len(df), df["avg7"].round(1).tolist()


def hourly_figure(df: pd.DataFrame) -> dict:
    lo, hi, line = _expected_lines(df)
    x = df["hour"].tolist()
    forecast = df["expected"].notna().any()
    return {"data": [
        {"type": "bar", "x": x, "y": df["today"].tolist(), "name": label("today_label"),
         "marker": {"color": DARK["accent"]}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": x, "y": lo, "line": {"width": 0}, "showlegend": False,
         "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": x, "y": hi, "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": "rgba(255,176,32,0.28)", "name": label("expected_band_label"), "hoverinfo": "skip",
         "showlegend": bool(forecast)},
        {"type": "scatter", "mode": "lines", "x": x, "y": line,
         "name": label("expected_label" if forecast else "avg7_label"), "line": {"color": DARK["warn"], "width": 3},
         "hoverinfo": "skip"}],
        "layout": _layout(showlegend=True, legend={"orientation": "h", "y": 1.12, "x": 0},
                          margin={"l": 8, "r": 8, "t": 30, "b": 28}, xaxis={"dtick": 3, "gridcolor": DARK["grid"]})}


def hourly_patch(df: pd.DataFrame) -> Patch:
    p = Patch()
    p["data"][0]["y"] = df["today"].tolist()
    p["data"][1]["y"], p["data"][2]["y"], p["data"][3]["y"] = _expected_lines(df)
    return p


def _months(df: pd.DataFrame) -> list[str]:
    return [f"{m:%y-%m}" for m in pd.to_datetime(df["month"])]


SAFETY_AXES = ("xaxis", "yaxis", "yaxis2")


def safety_figure(df: pd.DataFrame, connected: bool = True) -> dict:
    fig = {"data": [
        {"type": "scatter", "mode": "lines+markers", "x": _months(df), "y": df["index_value"].round(1).tolist(),
         "name": label("safety_index"), "line": {"color": DARK["good"], "width": 3}, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": _months(df), "y": df["public_security"].round(1).tolist(),
         "name": label("public_security"), "yaxis": "y2", "line": {"color": DARK["warn"], "width": 2, "dash": "dot"},
         "hoverinfo": "skip"}],
        "layout": _layout(showlegend=True, legend={"orientation": "h", "y": 1.14, "x": 0},
                          margin={"l": 8, "r": 8, "t": 30, "b": 28},
                          yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "automargin": True,
                                  "tickformat": ".1f"})}
    not_connected_note(fig["layout"], connected, SAFETY_AXES)
    return fig


def safety_patch(df: pd.DataFrame, connected: bool = True) -> Patch:
    p = Patch()
    for i, col in enumerate(("index_value", "public_security")):
        p["data"][i]["x"] = _months(df)
        p["data"][i]["y"] = df[col].round(1).tolist()
    not_connected_note(p["layout"], connected, SAFETY_AXES)
    return p


def _camera_rates(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The children, last first, with their online rate in percent; none when the devices feed is not connected."""
    d = df.iloc[::-1]
    if len(d) and all(is_not_connected(v) for v in d["camera_online_rate"]):
        d = d.iloc[:0]
    return d, (100 * d["camera_online_rate"].astype(float)).round(1).fillna(0)


def camera_figure(df: pd.DataFrame) -> dict:
    d, rate = _camera_rates(df)
    fig = {"data": [{"type": "bar", "orientation": "h", "x": rate.tolist(), "y": d["name"].tolist(),
                     "text": [f"{v:.1f}%" for v in rate], "textposition": "auto", "hoverinfo": "skip",
                     "marker": {"color": DARK["accent"]}}],
           "layout": _layout(xaxis={"visible": False, "range": [80, 100]})}
    not_connected_note(fig["layout"], bool(len(d)) or not len(df), ("yaxis",))
    return fig


def camera_patch(df: pd.DataFrame, threshold: float) -> Patch:
    d, rate = _camera_rates(df)
    p = Patch()
    p["data"][0]["x"] = rate.tolist()
    p["data"][0]["y"] = d["name"].tolist()
    p["data"][0]["text"] = [f"{v:.1f}%" for v in rate]
    p["data"][0]["marker"]["color"] = [DARK["bad"] if v < 100 * threshold else DARK["accent"] for v in rate]
    not_connected_note(p["layout"], bool(len(d)) or not len(df), ("yaxis",))
    return p

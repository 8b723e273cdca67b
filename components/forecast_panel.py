"""The tablet's forecast panel (预警预测 · 明日预计) for one region: tomorrow's and the next 7 days' expected events
(total and per category) with the 80 % interval, beside the last 4 weeks actually seen, and its children ranked
by tomorrow against their usual. Every figure comes from queries/forecast_views.py (the published forecast frame);
text from config/labels.py, numbers through components/format.py."""

from __future__ import annotations

import pandas as pd
from dash import dcc, html

from components.format import fmt_count, fmt_number
from components.theme import FONT, LIGHT
from components.widgets import GRAPH_CONFIG
from config.labels import label
from config.workdays import calendar_years
from queries import forecast_views
from snapshots.reader import Snapshot


def _range(lo: float, hi: float) -> str:
    return label("forecast_interval", lo=fmt_count(round(lo)), hi=fmt_count(round(hi)))


def _day_note(d: dict) -> str:
    kind, day = d["day_kind"], pd.Timestamp(d["day"])
    if kind == "holiday":
        return label("forecast_day_holiday")
    if kind == "work" and day.day_of_week >= 5:
        return label("forecast_day_makeup")
    return ""


def forecast_figure(series: pd.DataFrame) -> dict:
    seen = series[series["actual"].notna()]
    ahead = series[series["expected"].notna()]
    x_seen = [f"{d:%m-%d}" for d in pd.to_datetime(seen["day"])]
    x_ahead = [f"{d:%m-%d}" for d in pd.to_datetime(ahead["day"])]
    return {"data": [
        {"type": "bar", "x": x_seen, "y": seen["actual"].tolist(), "name": label("forecast_seen"),
         "marker": {"color": "#9db7d9"}},
        {"type": "scatter", "mode": "lines", "x": x_ahead, "y": ahead["lo"].round(1).tolist(), "line": {"width": 0},
         "showlegend": False, "hoverinfo": "skip"},
        {"type": "scatter", "mode": "lines", "x": x_ahead, "y": ahead["hi"].round(1).tolist(), "line": {"width": 0},
         "fill": "tonexty", "fillcolor": "rgba(239,108,0,0.22)", "name": label("forecast_band")},
        {"type": "scatter", "mode": "lines+markers", "x": x_ahead, "y": ahead["expected"].round(1).tolist(),
         "name": label("forecast_expected"), "line": {"color": LIGHT["warn"], "width": 3}}],
        "layout": {"margin": {"l": 8, "r": 8, "t": 28, "b": 28}, "height": 260, "paper_bgcolor": "rgba(0,0,0,0)",
                   "plot_bgcolor": "rgba(0,0,0,0)", "font": {"family": FONT, "color": LIGHT["text"], "size": 13},
                   "legend": {"orientation": "h", "y": 1.14, "x": 0}, "bargap": 0.25,
                   "xaxis": {"type": "category", "gridcolor": LIGHT["grid"], "automargin": True, "nticks": 12},
                   "yaxis": {"gridcolor": LIGHT["grid"], "automargin": True, "rangemode": "tozero"}}}


def forecast_panel(snap: Snapshot, city, code: str) -> html.Section:
    f = forecast_views.region_forecast(snap, code)
    title = html.H3(label("forecast_title"), className="panel-title")
    if f is None:
        return html.Section(id="medium-forecast", className="panel region-panel", children=[
            title, html.Div(label("forecast_none"), className="rp-empty")])
    t, w = f["tomorrow"], f["week"]
    tiles = html.Div(className="fc-tiles", children=[
        html.Div(className="fc-tile", id="medium-forecast-tomorrow", children=[
            html.Span(label("forecast_tomorrow"), className="rp-stat-label"),
            html.B(fmt_count(round(t["expected"])), className="fc-value"),
            html.Span(_range(t["lo"], t["hi"]), className="fc-range"),
            html.Span(_day_note(t), className="fc-note")]),
        html.Div(className="fc-tile", id="medium-forecast-week", children=[
            html.Span(label("forecast_week", first=f"{w['first']:%m-%d}", last=f"{w['last']:%m-%d}"),
                      className="rp-stat-label"),
            html.B(fmt_count(round(w["expected"])), className="fc-value"),
            html.Span(_range(w["lo"], w["hi"]), className="fc-range")])])
    cats = f["by_category"]
    cat_table = html.Table(className="fc-table", id="medium-forecast-categories", children=[
        html.Thead(html.Tr([html.Th(label("forecast_col_category")), html.Th(label("forecast_col_expected")),
                            html.Th(label("forecast_col_band"))])),
        html.Tbody([html.Tr([html.Td(r["category"]), html.Td(fmt_count(round(r["expected"]))),
                             html.Td(_range(r["lo"], r["hi"]))]) for _, r in cats.iterrows()])]) if len(cats) else None
    kids = forecast_views.busiest_children(snap, code)
    kid_table = html.Table(className="fc-table", id="medium-forecast-children", children=[
        html.Thead(html.Tr([html.Th(label("forecast_col_region")), html.Th(label("forecast_col_expected")),
                            html.Th(label("forecast_col_usual")), html.Th(label("forecast_col_ratio"))])),
        html.Tbody([html.Tr([html.Td(city.short_name(r["code"]) if r["code"] in city else r["code"]),
                             html.Td(fmt_count(round(r["expected"]))), html.Td(fmt_number(r["usual"])),
                             html.Td(label("forecast_ratio", ratio=fmt_number(r["ratio"], 2)),
                                     className="bad" if r["ratio"] == r["ratio"] and r["ratio"] >= 1.15 else "")])
                    for _, r in kids.iterrows()])]) if len(kids) else None
    notes = [html.Div(label("forecast_note"), className="fc-foot")]
    if f["calendar_unknown"]:
        notes.append(html.Div(label("forecast_calendar_unknown", year=calendar_years()[1]), className="fc-foot bad"))
    return html.Section(id="medium-forecast", className="panel region-panel", children=[
        title, tiles,
        dcc.Graph(id="medium-forecast-chart", figure=forecast_figure(f["series"]), config=GRAPH_CONFIG),
        html.Div(className="medium-grid2", children=[
            html.Div([html.H4(label("forecast_by_category")), cat_table]) if cat_table is not None else None,
            html.Div([html.H4(label("forecast_children")), kid_table]) if kid_table is not None else None]),
        *notes])

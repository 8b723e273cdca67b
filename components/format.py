"""How a figure reads, on every screen and in the briefing: the last step at the edge. Queries return
numbers, None and NaN (queries/); this module alone turns them into text (labels: config/labels.py).
A figure the snapshot does not have reads MISSING, never 0; a figure the source cannot give at all (NOT_CONNECTED,
queries/views.py honest) reads 未接入 (label not_connected)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from config.labels import label
from contract.metrics import NotConnected

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from queries.window_views import Window

MISSING = "—"


def is_missing(v: object) -> TypeIs[None]:
    """None, NaN or NOT_CONNECTED: a figure the snapshot does not have (for the type checker: a figure that is not
    missing is not None; NaN is a float, so only the False branch is exact)."""
    return v is None or isinstance(v, NotConnected) or (isinstance(v, float) and math.isnan(v))


def is_not_connected(v: object) -> bool:
    """A figure the source cannot give (its feed or field is not connected): it reads 未接入."""
    return isinstance(v, NotConnected)


def absent(v: object) -> str:
    """The text of a figure without a value: 未接入 when the source cannot give it, else MISSING."""
    return label("not_connected") if is_not_connected(v) else MISSING


def fmt_count(v) -> str:
    return absent(v) if is_missing(v) else f"{int(v):,}"


def fmt_rate(v) -> str:
    """A ratio (0..1) as a percentage: 0.923 -> 92.3%."""
    return absent(v) if is_missing(v) else f"{100 * v:.1f}%"


def fmt_number(v, digits: int = 1) -> str:
    return absent(v) if is_missing(v) else f"{v:.{digits}f}"


def fmt_percent(v) -> str:
    """A figure already in percent (安全感 95.0): 95.0%."""
    return absent(v) if is_missing(v) else f"{v:.1f}%"


def fmt_minutes(v, approx: bool = False) -> str:
    """A duration figure (a stage's median or p90): minutes under two hours, then hours with a decimal;
    `approx`: ≈ before it (estimated from the duration histograms)."""
    if is_missing(v):
        return absent(v)
    text = label("fmt_minutes", m=v) if v < 120 else label("fmt_hours", h=v / 60)
    return "≈" + text if approx else text


def fmt_span(minutes) -> str:
    """A span of one event's life (a step took, time left, overdue by): 45 min, 5 h 20 min, 2 d 3 h."""
    if is_missing(minutes):
        return MISSING
    m = int(abs(minutes))
    if m < 60:
        return label("span_min", m=m)
    if m < 24 * 60:
        return label("span_hours_min", h=m // 60, m=m % 60) if m % 60 else label("span_hours", h=m // 60)
    return label("span_days_hours", d=m // 1440, h=(m % 1440) // 60)


def due_text(due_at, now: datetime) -> tuple[str, bool]:
    """("<time_left> 5 h 20 min", False) before the deadline, ("<overdue_by> 2 d 3 h", True) after it."""
    left = (pd.Timestamp(due_at) - pd.Timestamp(now)).total_seconds() / 60
    return (f"{label('overdue_by')} {fmt_span(left)}", True) if left < 0 else (f"{label('time_left')} {fmt_span(left)}", False)


def measure_label(measure: str) -> str:
    """The name of a map measure (a queries.views.MAP_MEASURES key) in the current language."""
    return label(f"measure_{measure}")


def alert_text(alert: dict) -> str:
    """An alert's sentence in the screen's language, from its kind, value and threshold (the frame's own
    `text` is in the ETL process's language)."""
    v, t = alert["value"], alert["threshold"]
    at, since = alert.get("at"), alert.get("since")
    soon = {}
    if at is not None and at == at and since is not None and since == since:  # a vital sign's forecast crossing
        soon = {"at": f"{pd.Timestamp(at):%H:%M}",
                "hours": max(1, math.ceil((pd.Timestamp(at) - pd.Timestamp(since)).total_seconds() / 3600))}
    return label(f"alert_text_{alert['kind']}", value=v, threshold=t, text=alert.get("text") or "",  # an indicator's name
                 ratio=v / t if t == t and t else 0.0, **soon)  # how far from the expected (the expected rule)


def place_path(city, grid_code: str) -> str:
    """Where an event is, for lists: street · community · grid short names (街道 · 社区 · 网格)."""
    return " · ".join(city.short_name(c) for c in city.path(grid_code))


def window_text(w: Window) -> str:
    """A window's name and its days: 近7日 11-14 ~ 11-20 (one day: its date alone)."""
    span = f"{w.first:%m-%d}" if w.first == w.last else f"{w.first:%m-%d} ~ {w.last:%m-%d}"
    return f"{label('window_' + w.name)} {span}"

"""What the tablet (中屏) shows for a time window: every window figure, today's included, from the
`event_pieces@<week>` frames (queries/pieces.py; definitions in contract/metrics.py), never from the
wall's event_kpis (which holds today only: the tablet takes its stocks from it). Like queries/views.py,
every number on the tablet comes from a function here or there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from contract import frames as F
from contract.metrics import PIECE_FLAGS, QUANTILES, RATES, SCORE_RATES, STOCKS, WINDOW_RATES, WINDOWS
from contract.pieces import day_number
from contract.rates import rate
from queries import views
from queries.pieces import piece_index, window_dates
from snapshots.reader import Snapshot

TABLET_WINDOWS = (*WINDOWS, "quarter", "custom")
# What the pieces give for a window (PieceSet.totals): counts, rates, median and p90 of each stage
WINDOW_FIGURES = (*PIECE_FLAGS, *WINDOW_RATES, *(f"{q}_{s}_min" for s in QUANTILES for q in ("median", "p90")))


@dataclass(frozen=True)
class Window:
    name: str  # today | 7d | 30d | quarter | custom | week | month (ranking)
    first: date
    last: date

    @property
    def days(self) -> tuple[int, int]:
        return day_number(self.first), day_number(self.last)


def resolve_window(window: str, as_of: datetime, start: str | None = None, end: str | None = None,
                   history_days: int | None = None) -> Window:
    """The window a URL asks for; an unreadable custom range falls back to the last 7 days."""
    try:
        s = date.fromisoformat(start) if start else None
        e = date.fromisoformat(end) if end else None
        first, last = window_dates(window, as_of, s, e, history_days)
    except ValueError:
        window = "7d"
        first, last = window_dates(window, as_of)
    return Window(window, first, last)


def tablet_window_figures(snap: Snapshot, code: str, w: Window) -> dict:
    """A region's figures for a tablet window: the window's own (WINDOW_FIGURES, from the pieces; every one
    None when the snapshot has no pieces, never another window's), its stocks now (the today row of
    event_kpis: open, overdue), devices (device_kpis) and safety (safety_latest)."""
    index = piece_index(snap)
    figures = index.totals(code, *w.days) if index is not None else dict.fromkeys(WINDOW_FIGURES)
    now = views.region_row(snap, F.EVENT_KPIS, code, "today")
    return views.honest(snap, {**views.devices_and_safety(snap, code), **figures, **{s: now.get(s) for s in STOCKS}})


def child_window_values(snap: Snapshot, city, code: str, w: Window, measure: str) -> pd.DataFrame:
    """The children of a region with the map measure; event density counts the window's events."""
    if measure != "density":
        return views.child_values(snap, city, code, "today", measure)
    children = city.children(code)
    index = piece_index(snap)
    if index is None or children.empty:
        return children.assign(value=float("nan"))
    t = index.child_totals(list(children["code"]), *w.days).set_index("code")["reported"]
    return views.per_km2(children.assign(value=t.reindex(children["code"]).to_numpy(dtype=float)))


def ranking(snap: Snapshot, city, code: str, w: Window, weights: dict[str, float]) -> pd.DataFrame:
    """The children of a region for the 五个一 ranking: the period's counts and rates (event_pieces),
    open and overdue now (event_kpis), and the composite score (contract/metrics.py); best score first."""
    children = city.children(code)[["code", "name"]]
    index = piece_index(snap)
    if index is None or children.empty:
        return children.assign(score=float("nan"))
    t = index.child_totals(list(children["code"]), *w.days)
    now = views.in_window(views.frame_or_empty(snap, F.EVENT_KPIS), "today")
    now = now[now["code"].isin(children["code"])][["code", *STOCKS]]
    out = children.merge(t, on="code", how="left").merge(now, on="code", how="left")
    out["score"] = composite_score(out, weights)
    out = out.sort_values(["score", "reported"], ascending=[False, False], na_position="last")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return views.honest_frame(snap, out.reset_index(drop=True))


def composite_score(df: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """100 · Σ wᵢ·rateᵢ / Σ wᵢ over the rates a row has (contract/metrics.py SCORE_RATES)."""
    num = pd.Series(0.0, index=df.index)
    den = pd.Series(0.0, index=df.index)
    for name in SCORE_RATES:
        w = float(weights.get(name, 0.0))
        has = df[name].notna()
        num += np.where(has, w * df[name].fillna(0), 0.0)
        den += np.where(has, w, 0.0)
    return rate(100 * num, den).round(1)


def score_weights(settings) -> dict[str, float]:
    return {"on_time_rate": settings.score_w_on_time, "same_day_rate": settings.score_w_same_day,
            "grid_settled_rate": settings.score_w_grid_settled, "satisfaction_rate": settings.score_w_satisfaction,
            "not_overdue_rate": settings.score_w_not_overdue}


def on_time_by(snap: Snapshot, code: str, w: Window, column: str) -> pd.DataFrame:
    """Per category / channel / handling level: the window's events, closed, closed on time, on-time rate."""
    index = piece_index(snap)
    if index is None:
        return pd.DataFrame(columns=[column, "reported", "closed", "closed_on_time", "on_time_rate"])
    g = index.breakdown(code, *w.days, column)
    g = g[g["reported"] > 0].copy()
    num, den = RATES["on_time_rate"]
    g["on_time_rate"] = rate(g[num], g[den])
    return g.sort_values("reported", ascending=False).reset_index(drop=True)


def overdue_list(snap: Snapshot, code: str) -> pd.DataFrame:
    """Open events past deadline under a region (open_events), oldest deadline first."""
    q = views.work_queue(snap, code)
    return q[q["is_overdue"] == 1].sort_values(["due_at", "event_id"])

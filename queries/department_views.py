"""What the screens show for departments (条), as plain data: the department ranking (部门榜) of a region and
window, a department's figures, its figures by region and by category, its trend, its overdue and at-risk cases.
Counts come from the `event_pieces` frames (queries/department_pieces.py), the department names from the
`departments` frame, the cases from `open_events` / `at_risk`; definitions in contract/metrics.py
(DEPARTMENT_COUNTS, DEPARTMENT_RATES, DEPARTMENT_SCORE). A figure whose source field is not connected
(snapshot meta `provided`, etl/source/mapping.py) is None and `missing` names it: the screen shows 未接入, never 0."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from config.departments import UNASSIGNED_CODE, Departments, departments_from_table
from config.region_codes import level_of
from contract import frames as F
from contract.metrics import DEPARTMENT_NEEDS, DEPARTMENT_RATES, DEPARTMENT_SCORE, PIECE_FLAGS
from queries import department_pieces as dp
from queries.pieces import piece_index
from queries.window_views import Window
from snapshots.reader import Snapshot

FIGURES = ("reported", "due_to_close", "closed", "closed_on_time", "deferred", "extended", "hung", "reopened",
           "reached_handled", "cohort_overdue")


def catalogue(snap: Snapshot) -> Departments | None:
    """The published department catalogue (None before the ETL published one)."""
    table = snap.frame(F.DEPARTMENTS)
    if table is None:
        return None
    return snap.frame_memo(F.DEPARTMENTS, "catalogue", departments_from_table)


def known_department(snap: Snapshot, code: str | None) -> str | None:
    """`code` when it names a department of the published catalogue or 未归属 ('-'), else None (a default view)."""
    if not code:
        return None
    if code == UNASSIGNED_CODE:
        return code
    cat = catalogue(snap)
    return code if cat is not None and code in cat else None


def missing(snap: Snapshot) -> set[str]:
    """The department figures the source cannot give (未接入): counts and rates whose field is not connected."""
    connected = snap.meta.get("provided", {})
    return {name for name, field in DEPARTMENT_NEEDS.items() if not connected.get(field, False)}


def department_rates(sums: pd.DataFrame | dict, gone: set[str]) -> dict[str, Any]:
    """Every DEPARTMENT_RATES rate from the counts (a frame's columns or a dict's values): None where the
    denominator is 0; None everywhere where the rate's field is not connected (`gone`)."""
    out: dict[str, Any] = {}
    for name, (num, den) in DEPARTMENT_RATES.items():
        if isinstance(den, tuple):
            base, less = den
            d = sums[base] - (0 if less in gone else sums[less])
        else:
            d = sums[den]
        n = sums[num]
        if isinstance(sums, pd.DataFrame):
            r = (n / d.where(d > 0)).astype("float64")
            out[name] = r.where(pd.Series(name not in gone, index=r.index), np.nan)
        else:
            out[name] = None if name in gone or not d else n / d
    return out


def department_score(rates: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """100 · Σ wᵢ·sᵢ / Σ wᵢ over the rates a row has, sᵢ the rate or 1 − it (contract/metrics.py DEPARTMENT_SCORE)."""
    num = pd.Series(0.0, index=rates.index)
    den = pd.Series(0.0, index=rates.index)
    for rate, sign in DEPARTMENT_SCORE.items():
        w = float(weights.get(rate, 0.0))
        v = rates[rate].astype("float64")
        s = v if sign > 0 else 1 - v
        has = v.notna()
        num += np.where(has, w * s.fillna(0), 0.0)
        den += np.where(has, w, 0.0)
    return (100 * num / den.where(den > 0)).round(1)


def score_weights(settings) -> dict[str, float]:
    return {"closure_rate": settings.dept_w_closure, "on_time_closure_rate": settings.dept_w_on_time,
            "rework_rate": settings.dept_w_rework, "extension_rate": settings.dept_w_extension}


def _open_counts(snap: Snapshot, region: str) -> pd.DataFrame:
    """Open and overdue cases now per department code (open_events), under a region."""
    def build() -> pd.DataFrame:
        q = snap.frame(F.OPEN_EVENTS)
        if q is None or q.empty:
            return pd.DataFrame(columns=["department", "grid_code", "is_overdue"])
        return q[["department", "grid_code", "is_overdue"]]
    q = snap.memo("dept_open_rows", build)
    return q if _region(region) is None else q[q["grid_code"].str.startswith(region)]


def _region(region: str) -> str | None:
    """None for the whole city (no grid filter), else the region's code."""
    return None if not region or level_of(region) == "city" else region


def ranking(snap: Snapshot, region: str, w: Window, weights: dict[str, float], parent: str | None = None
            ) -> pd.DataFrame:
    """The department ranking (部门榜) of a region's events in a window: the departments directly under `parent`
    (None: the top-level ones) each with its sub-units, and 未归属; counts, rates, open and overdue now, score;
    best score first (未归属 is listed last, unranked)."""
    cat, pieces = catalogue(snap), piece_index(snap)
    cols = ["rank", "code", "name", "kind", *FIGURES, *DEPARTMENT_RATES, "open_now", "overdue_now", "score"]
    if cat is None or pieces is None:
        return pd.DataFrame(columns=cols)
    rows = cat.children(parent)[["code", "name", "kind"]].reset_index(drop=True)
    n = len(cat.table) + 1
    by_no = dp.sums_by_number(pieces, *w.days, n, code=_region(region))
    cum = np.vstack([np.zeros((1, by_no.shape[1]), np.int64), np.cumsum(by_no, axis=0)])
    ranges = [cat.number_range(c) for c in rows["code"]]
    if parent is None:
        rows = pd.concat([rows, pd.DataFrame({"code": [UNASSIGNED_CODE], "name": [""], "kind": [""]})],
                         ignore_index=True)
        ranges.append((0, 1))
    lo, hi = np.array([r[0] for r in ranges], np.int64), np.array([r[1] for r in ranges], np.int64)
    sums = pd.DataFrame(cum[hi] - cum[lo], columns=list(PIECE_FLAGS))
    out = pd.concat([rows, sums[list(FIGURES)]], axis=1)
    gone = missing(snap)
    for name in gone & set(FIGURES):
        out[name] = None
    for name, v in department_rates(sums, gone).items():
        out[name] = v
    open_rows = _open_counts(snap, region)
    code = open_rows["department"].astype(str)
    out["open_now"] = [int(((code == "") if c == UNASSIGNED_CODE else code.str.startswith(c)).sum())
                       for c in out["code"]]
    out["overdue_now"] = [int(open_rows["is_overdue"].to_numpy()[((code == "") if c == UNASSIGNED_CODE
                                                                     else code.str.startswith(c)).to_numpy()].sum())
                          for c in out["code"]]
    out["score"] = department_score(out, weights)
    out.loc[out["reported"] == 0, "score"] = np.nan
    ranked = out[out["code"] != UNASSIGNED_CODE].sort_values(["score", "reported"], ascending=[False, False],
                                                             na_position="last")
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    rest = out[out["code"] == UNASSIGNED_CODE].assign(rank=np.nan, score=np.nan)  # 未归属: listed, not scored
    return pd.concat([ranked, rest[ranked.columns]], ignore_index=True)[cols]


def department_kpis(snap: Snapshot, dept: str, region: str, w: Window) -> dict:
    """A department's (with its sub-units) figures over a window, in a region (its counts, rates, stage quantiles),
    with its open, overdue and at-risk cases now; `missing` names the figures 未接入."""
    cat, pieces = catalogue(snap), piece_index(snap)
    if cat is None or pieces is None:
        return {}
    numbers = cat.number_range(dept)
    k = dp.totals(pieces, numbers, *w.days, code=_region(region))
    gone = missing(snap)
    k.update(department_rates(k, gone))
    for name in gone & set(FIGURES):
        k[name] = None
    cases = cases_of(snap, dept, region)
    k["open_now"] = len(cases)
    k["overdue_now"] = int(cases["is_overdue"].sum()) if len(cases) else 0
    k["at_risk_now"] = len(at_risk_of(snap, dept, region))
    k["missing"] = sorted(gone)
    return k


def by_region(snap: Snapshot, city, dept: str, region: str, w: Window) -> pd.DataFrame:
    """A department's figures per child region of `region` (where it is late): counts, rates, overdue now."""
    cat, pieces = catalogue(snap), piece_index(snap)
    children = city.children(region)[["code", "name"]]
    if cat is None or pieces is None or children.empty:
        return children.assign(reported=0)
    t = dp.child_region_sums(pieces, cat.number_range(dept), *w.days, list(children["code"]))
    out = children.merge(t, on="code", how="left").fillna({f: 0 for f in PIECE_FLAGS})
    for name, v in department_rates(out, missing(snap)).items():
        out[name] = v
    cases = cases_of(snap, dept, region)
    n = len(children["code"].iloc[0])
    od = cases.loc[cases["is_overdue"] == 1, "grid_code"].str[:n].value_counts()
    out["overdue_now"] = out["code"].map(od).fillna(0).astype("int64")
    return out.sort_values(["overdue_now", "reported"], ascending=False).reset_index(drop=True)


def by_category(snap: Snapshot, dept: str, region: str, w: Window) -> pd.DataFrame:
    """A department's window events per category: events, closed, closed on time, overdue now (of the window's)."""
    cat, pieces = catalogue(snap), piece_index(snap)
    if cat is None or pieces is None:
        return pd.DataFrame(columns=["category", "reported", "closed", "closed_on_time", "cohort_overdue"])
    g = dp.breakdown(pieces, cat.number_range(dept), *w.days, "category", _region(region))
    g = g[g["reported"] > 0].copy()
    g["closure_rate"] = (g["closed"] / g["due_to_close"].where(g["due_to_close"] > 0)).astype("float64")
    return g.sort_values("reported", ascending=False).reset_index(drop=True)


def trend(snap: Snapshot, dept: str, w: Window) -> pd.DataFrame:
    """A department's events per day of the window with the day's closure rate (as of now)."""
    cat, pieces = catalogue(snap), piece_index(snap)
    if cat is None or pieces is None:
        return pd.DataFrame(columns=["day", "reported", "closed", "closure_rate"])
    d = dp.daily(pieces, cat.number_range(dept), *w.days)
    d["closure_rate"] = (d["closed"] / d["due_to_close"].where(d["due_to_close"] > 0)).astype("float64")
    d["date"] = pd.to_datetime(d["day"], unit="D")
    return d[["date", "day", "reported", "closed", "due_to_close", "closure_rate"]]


def _of_department(frame: pd.DataFrame | None, dept: str, region: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame(columns=[*(frame.columns if frame is not None else []), "department"])
    code = frame["department"].astype(str)
    mine = (code == "") if dept == UNASSIGNED_CODE else code.str.startswith(dept)
    if _region(region) is not None:
        mine &= frame["grid_code"].str.startswith(region)
    return frame[mine.to_numpy()]


def cases_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    """A department's open cases now under a region (open_events), overdue first then by deadline."""
    q = _of_department(snap.frame(F.OPEN_EVENTS), dept, region)
    return q.sort_values(["is_overdue", "due_at", "event_id"], ascending=[False, True, True]) if len(q) else q


def overdue_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    q = cases_of(snap, dept, region)
    return q[q["is_overdue"] == 1] if len(q) else q


def at_risk_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    """A department's cases at risk (将超期) under a region, soonest deadline first (at_risk)."""
    return _of_department(snap.frame(F.AT_RISK), dept, region)

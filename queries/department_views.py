"""What the screens show for departments (条), as plain data: the department ranking (部门榜) of a region and
window, a department's figures, its figures by region and by category, its trend, its overdue and at-risk cases.
Counts come from the `event_pieces` frames (queries/department_pieces.py), the department names from the
`departments` frame, the cases from `open_events` / `at_risk`; definitions in contract/metrics.py
(DEPARTMENT_COUNTS, DEPARTMENT_RATES, DEPARTMENT_SCORE). A figure whose source field is not connected (snapshot
meta `provided`, etl/source/mapping.py; contract/metrics.py FIGURE_NEEDS, through queries/views.py not_connected like
every other figure) is None and `missing` names it: the screen shows 未接入, never 0."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from config.departments import UNASSIGNED_CODE, Departments, departments_from_table
from config.region_codes import grid_range, level_of
from contract import frames as F
from contract.metrics import DEPARTMENT_RATES, DEPARTMENT_SCORE, PIECE_FLAGS
from queries import department_pieces as dp
from queries.pieces import piece_index
from queries.views import frame_or_empty, not_connected
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


def department_name(snap: Snapshot, code: str | None) -> str | None:
    """The name of a department code of the published catalogue (None for '' / 未归属 or an unknown code)."""
    cat = catalogue(snap) if code else None
    return cat.name(code) if cat is not None and code else None


SHOWN = frozenset((*FIGURES, *DEPARTMENT_RATES))  # the department figures a screen shows beside their cases


def missing(snap: Snapshot) -> set[str]:
    """The department figures the source cannot give (未接入): those of FIGURE_NEEDS (contract/metrics.py) whose
    feed or field the snapshot's `provided` says is not connected (queries/views.py not_connected)."""
    return set(not_connected(snap) & SHOWN)


def _rate_arrays(sums: dict[str, np.ndarray], gone: set[str]) -> dict[str, np.ndarray]:
    """Every DEPARTMENT_RATES rate from count arrays: NaN where the denominator is 0 or the field is not connected."""
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (num, den) in DEPARTMENT_RATES.items():
            if isinstance(den, tuple):
                base, less = den
                d = np.asarray(sums[base] - (0 if less in gone else sums[less]), dtype=np.float64)
            else:
                d = np.asarray(sums[str(den)], dtype=np.float64)
            r = np.where(d > 0, np.asarray(sums[num], dtype=np.float64) / np.where(d > 0, d, 1), np.nan)
            out[name] = np.full(len(r), np.nan) if name in gone else r
    return out


def department_rates(sums: pd.DataFrame | dict, gone: set[str]) -> dict[str, Any]:
    """Every DEPARTMENT_RATES rate from the counts (a frame's columns or a dict's values): no value (NaN in a frame,
    None in a dict) where the denominator is 0, or everywhere where the rate's field is not connected (`gone`)."""
    if isinstance(sums, pd.DataFrame):
        arrays = {c: sums[c].to_numpy() for c in sums.columns}
        return {k: pd.Series(v, index=sums.index) for k, v in _rate_arrays(arrays, gone).items()}
    one = _rate_arrays({k: np.asarray([v]) for k, v in sums.items() if isinstance(v, (int, float, np.integer))}, gone)
    return {k: None if np.isnan(v[0]) else float(v[0]) for k, v in one.items()}


def _score_array(rates: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    num = np.zeros(len(next(iter(rates.values()))))
    den = np.zeros_like(num)
    for rate, sign in DEPARTMENT_SCORE.items():
        w = float(weights.get(rate, 0.0))
        v = np.asarray(rates[rate], dtype=np.float64)
        has = ~np.isnan(v)
        num += np.where(has, w * (v if sign > 0 else 1 - v), 0.0)
        den += np.where(has, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.where(den > 0, 100 * num / np.where(den > 0, den, 1), np.nan), 1)


def department_score(rates: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """100 · Σ wᵢ·sᵢ / Σ wᵢ over the rates a row has, sᵢ the rate or 1 − it (contract/metrics.py DEPARTMENT_SCORE)."""
    return pd.Series(_score_array({k: rates[k].to_numpy(dtype=np.float64) for k in DEPARTMENT_SCORE}, weights),
                     index=rates.index)


def score_weights(settings) -> dict[str, float]:
    return {"closure_rate": settings.dept_w_closure, "on_time_closure_rate": settings.dept_w_on_time,
            "rework_rate": settings.dept_w_rework, "extension_rate": settings.dept_w_extension}


class CaseIndex:
    """A case list (open_events or at_risk) with each row's department number and grid as an integer, built once
    per snapshot version: a department's cases under a region are then two integer range masks, not text scans."""

    def __init__(self, frame: pd.DataFrame, cat: Departments | None):
        self.frame = frame
        dept = frame["department"].fillna("").astype(str)
        codes, uniq = pd.factorize(dept)
        nos = cat.numbers(pd.Series(uniq, dtype=object)) if cat is not None else np.zeros(len(uniq), np.int64)
        self.numbers = nos[codes] if len(uniq) else np.zeros(len(frame), np.int64)
        g_codes, g_uniq = pd.factorize(frame["grid_code"].astype(str))
        self.grids = np.asarray(g_uniq, dtype=object).astype(np.int64)[g_codes] if len(g_uniq) else \
            np.zeros(len(frame), np.int64)

    def mask(self, numbers: tuple[int, int], region: str | None) -> np.ndarray:
        m = (self.numbers >= numbers[0]) & (self.numbers < numbers[1])
        if region is not None:
            lo, hi = grid_range(region)
            m &= (self.grids >= lo) & (self.grids < hi)
        return m


def _cases(snap: Snapshot, frame: F.Frame) -> CaseIndex:
    return snap.memo(f"dept_cases_{frame.name}", lambda: CaseIndex(frame_or_empty(snap, frame), catalogue(snap)))


def _open_counts(snap: Snapshot, region: str, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Open and overdue cases now (open_events) under a region, for each range of department numbers."""
    ix = _cases(snap, F.OPEN_EVENTS)
    keep = ix.mask((0, 1 << 30), _region(region))
    no = ix.numbers[keep]
    n = int(max([hi for _, hi in ranges] + [int(no.max()) + 1 if len(no) else 1]))
    cum_open = np.r_[0, np.cumsum(np.bincount(no, minlength=n))]
    od = ix.frame["is_overdue"].to_numpy(dtype=np.int64)[keep]
    cum_od = np.r_[0, np.cumsum(np.bincount(no, weights=od, minlength=n))].astype(np.int64)
    lo, hi = np.array([r[0] for r in ranges], np.int64), np.array([r[1] for r in ranges], np.int64)
    return cum_open[hi] - cum_open[lo], cum_od[hi] - cum_od[lo]


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
    flag = {f: i for i, f in enumerate(PIECE_FLAGS)}
    block = cum[hi] - cum[lo]
    sums = {f: block[:, i] for f, i in flag.items()}
    gone = missing(snap)
    rates = _rate_arrays(sums, gone)
    open_now, overdue_now = _open_counts(snap, region, ranges)
    score = _score_array(rates, weights)
    unassigned = rows["code"].to_numpy(dtype=object) == UNASSIGNED_CODE
    score[(sums["reported"] == 0) | unassigned] = np.nan  # 未归属: listed, not scored
    # ranked rows by score (none last), then events; 未归属 after them, unranked
    order = np.lexsort((-sums["reported"], np.nan_to_num(-score, nan=np.inf), unassigned))
    rank = np.where(unassigned[order], np.nan, np.arange(1, len(order) + 1, dtype=np.float64))
    data: dict[str, Any] = {"rank": rank, **{c: rows[c].to_numpy(dtype=object)[order] for c in ("code", "name", "kind")}}
    for name in FIGURES:
        data[name] = [None] * len(order) if name in gone else sums[name][order]
    data.update({name: v[order] for name, v in rates.items()})
    data.update(open_now=open_now[order], overdue_now=overdue_now[order], score=score[order])
    return pd.DataFrame(data, columns=cols)


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
    ix = _cases(snap, F.OPEN_EVENTS)  # counted on the index's masks: no frame of the cases built
    m = ix.mask(numbers, _region(region))
    k["open_now"] = int(m.sum())
    k["overdue_now"] = int(ix.frame["is_overdue"].to_numpy()[m].sum())
    k["at_risk_now"] = int(_cases(snap, F.AT_RISK).mask(numbers, _region(region)).sum())
    k["missing"] = sorted(gone)
    return k


def by_region(snap: Snapshot, city, dept: str, region: str, w: Window) -> pd.DataFrame:
    """A department's figures per child region of `region` (where it is late): counts, rates, overdue now."""
    cat, pieces = catalogue(snap), piece_index(snap)
    children = city.children(region)[["code", "name"]]
    if cat is None or pieces is None or children.empty:
        return children.assign(reported=0)
    codes, block = dp.child_region_block(pieces, cat.number_range(dept), *w.days, list(children["code"]))
    sums = {f: block[:, i] for i, f in enumerate(PIECE_FLAGS)}
    overdue = _overdue_under(snap, cat, dept, region, codes)
    order = np.lexsort((-sums["reported"], -overdue))
    names = children.set_index("code")["name"]
    data = {"code": np.asarray(codes, dtype=object)[order], "name": names.reindex(codes).to_numpy(dtype=object)[order],
            **{f: v[order] for f, v in sums.items()},
            **{k: v[order] for k, v in _rate_arrays(sums, missing(snap)).items()}, "overdue_now": overdue[order]}
    return pd.DataFrame(data)


def _overdue_under(snap: Snapshot, cat: Departments, dept: str, region: str, codes) -> np.ndarray:
    """A department's overdue cases now (open_events) under each of `codes` (regions inside `region`)."""
    ix = _cases(snap, F.OPEN_EVENTS)
    keep = ix.mask(cat.number_range(dept), _region(region)) & (ix.frame["is_overdue"].to_numpy() == 1)
    g = np.sort(ix.grids[keep])
    ranges = np.array([grid_range(c) for c in codes], dtype=np.int64).reshape(-1, 2)
    return np.searchsorted(g, ranges[:, 1], "left") - np.searchsorted(g, ranges[:, 0], "left")


def overdue_by_child(snap: Snapshot, city, dept: str, region: str) -> pd.DataFrame:
    """A department's overdue cases now per child region of `region` (the phone's map of a department user):
    the children's rows (code, name, lon, lat, ...) with `value`; the region itself when it has no children."""
    children = city.children(region)
    rows = children if not children.empty else city.regions[city.regions["code"] == region]
    cat = catalogue(snap)
    if cat is None:
        return rows.assign(value=0)
    return rows.assign(value=_overdue_under(snap, cat, dept, region, list(rows["code"])).astype(float))


def is_case_of(snap: Snapshot, dept: str, region: str, event_id: str) -> bool:
    """Whether `event_id` is one of a department's (with its sub-units) open cases now under a region: the cases
    a department user may open (dashboard/access.py require_department_event)."""
    if not dept or not isinstance(event_id, str):
        return False
    cases = _of_department(snap, F.OPEN_EVENTS, dept, region)
    return bool((cases["event_id"].to_numpy(dtype=object) == event_id).any()) if len(cases) else False


def by_category(snap: Snapshot, dept: str, region: str, w: Window) -> pd.DataFrame:
    """A department's window events per category: events, closed, closed on time, overdue now (of the window's)."""
    cat, pieces = catalogue(snap), piece_index(snap)
    if cat is None or pieces is None:
        return pd.DataFrame(columns=["category", "reported", "closed", "closed_on_time", "cohort_overdue"])
    g = dp.breakdown(pieces, cat.number_range(dept), *w.days, "category", _region(region))
    cols = {c: g[c].to_numpy() for c in g.columns}
    order = np.flatnonzero(cols["reported"] > 0)
    order = order[np.argsort(-cols["reported"][order], kind="stable")]  # most events first (ties: by name)
    out = {c: v[order] for c, v in cols.items()}
    out["closure_rate"] = _ratio(out["closed"], out["due_to_close"])
    return pd.DataFrame(out)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num ÷ den, NaN where den is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan).astype(np.float64)


def trend(snap: Snapshot, dept: str, w: Window) -> pd.DataFrame:
    """A department's events per day of the window with the day's closure rate (as of now)."""
    cat, pieces = catalogue(snap), piece_index(snap)
    if cat is None or pieces is None:
        return pd.DataFrame(columns=["day", "reported", "closed", "closure_rate"])
    days, block = dp.daily_block(pieces, cat.number_range(dept), *w.days)
    col = {f: block[:, i] for i, f in enumerate(PIECE_FLAGS)}
    return pd.DataFrame({"date": pd.to_datetime(days, unit="D"), "day": days, "reported": col["reported"],
                         "closed": col["closed"], "due_to_close": col["due_to_close"],
                         "closure_rate": _ratio(col["closed"], col["due_to_close"])})


def _of_department(snap: Snapshot, frame: F.Frame, dept: str, region: str) -> pd.DataFrame:
    """The rows of a case list whose department is `dept` (with its sub-units) under `region`."""
    cat = catalogue(snap)
    if cat is None:
        return frame_or_empty(snap, frame).iloc[:0]
    ix = _cases(snap, frame)
    return ix.frame[ix.mask(cat.number_range(dept), _region(region))]


def cases_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    """A department's open cases now under a region (open_events), overdue first then by deadline."""
    q = _of_department(snap, F.OPEN_EVENTS, dept, region)
    return q.sort_values(["is_overdue", "due_at", "event_id"], ascending=[False, True, True]) if len(q) else q


def overdue_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    q = cases_of(snap, dept, region)
    return q[q["is_overdue"] == 1] if len(q) else q


def at_risk_of(snap: Snapshot, dept: str, region: str) -> pd.DataFrame:
    """A department's cases at risk (将超期) under a region, soonest deadline first (at_risk)."""
    return _of_department(snap, F.AT_RISK, dept, region)

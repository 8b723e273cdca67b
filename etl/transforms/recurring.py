"""Recurring problems (重复/高发问题): clusters of events of one category reported close together in
the last 30 days, so leaders see a root cause rather than single tickets. The rule is defined in
contract/metrics.py (RECURRING); this module implements it, vectorised."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contract.factorize import factorize
from contract.metrics import RECURRING
from contract.windows import window_start

METRES_PER_DEGREE = 111_320.0
NEIGHBOURS = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
COLUMNS = ["cluster_id", "category", "grid_code", "lon", "lat", "events", "open", "first_reported",
           "last_reported", "days", "example_ids"]


def event_cells(events: pd.DataFrame, cell_m: float, ref_lat: float) -> pd.DataFrame:
    """(cx, cy): each event's square cell of about cell_m metres, counted from lon 0 / lat 0
    (equirectangular at ref_lat, so a cell keeps its number from one run to the next)."""
    dlat = cell_m / METRES_PER_DEGREE
    dlon = cell_m / (METRES_PER_DEGREE * math.cos(math.radians(ref_lat)))
    return pd.DataFrame({"cx": np.floor(events["lon"].to_numpy(float) / dlon).astype("int64"),
                         "cy": np.floor(events["lat"].to_numpy(float) / dlat).astype("int64")}, index=events.index)


def cell_clusters(cells: pd.DataFrame) -> np.ndarray:
    """For rows (cat, cx, cy, n) of distinct occupied cells, the row of the cell each one joins.

    Cells are ranked by n, then by the lower cell number (cat, cx, cy). A peak is a cell ranked
    above all its 8 neighbours of the same category; each cell joins the best-ranked peak among
    itself and its neighbours, or itself when there is none. No chains: a cluster spans at most
    3 × 3 cells."""
    m = len(cells)
    if m == 0:
        return np.empty(0, dtype="int64")
    order = cells.sort_values(["cat", "cx", "cy"]).index.to_numpy()
    c = cells.loc[order]
    cat, cx, cy, n = (c[col].to_numpy("int64") for col in ("cat", "cx", "cy", "n"))
    ox, oy = cx.min() - 1, cy.min() - 1  # shift so every neighbour key is non-negative
    wx, wy = int(cx.max() - ox + 2), int(cy.max() - oy + 2)
    keys = pd.Index((cat * wx + (cx - ox)) * wy + (cy - oy))  # ascending, like the rows
    around = np.stack([keys.get_indexer(keys + dx * wy + dy) for dx, dy in NEIGHBOURS], axis=1)  # -1: empty
    score = n * (m + 1) + (m - np.arange(m))  # more events first, then the lower cell number
    neighbour_score = np.where(around >= 0, score[np.maximum(around, 0)], -1)
    peak = score > neighbour_score.max(axis=1)
    candidates = np.concatenate([np.arange(m)[:, None], around], axis=1)
    cand_score = np.where((candidates >= 0) & peak[np.maximum(candidates, 0)], score[np.maximum(candidates, 0)], -1)
    best = np.take_along_axis(candidates, cand_score.argmax(axis=1)[:, None], axis=1)[:, 0]
    joined = np.where(cand_score.max(axis=1) >= 0, best, np.arange(m))
    out = np.empty(m, dtype="int64")
    out[order] = order[joined]
    return out


def recurring_clusters(events: pd.DataFrame, as_of: datetime, cell_m: float = RECURRING["cell_m"],
                       min_events: int = RECURRING["min_events"], window: str = RECURRING["window"],
                       examples: int = RECURRING["examples"], ref_lat: float | None = None) -> pd.DataFrame:
    """Clusters of same-category events reported in the window (see RECURRING in contract/metrics.py),
    biggest first: cluster_id, category, grid_code (the grid holding most of its events), lon/lat
    (centroid), events, open, first/last report time, days spanned, example_ids (newest first)."""
    start = window_start(as_of, window)
    e = events.loc[(events["reported_at"] >= start) & events["lon"].notna() & events["lat"].notna(),
                   ["event_id", "grid_code", "category", "lon", "lat", "reported_at", "closed_at"]]
    if e.empty:
        return empty_clusters()
    if ref_lat is None:
        ref_lat = round(float(e["lat"].median()))
    e = e.assign(cat=factorize(e["category"], sort=True)[0], is_open=e["closed_at"].isna().astype("int64"),
                 **event_cells(e, cell_m, ref_lat))
    # the distinct occupied cells, through one int key per event (a three-column groupby and merge
    # of every event took most of the time at a city's scale)
    cat, cx, cy = (e[c].to_numpy("int64") for c in ("cat", "cx", "cy"))
    ox, oy = cx.min(), cy.min()
    wx, wy = int(cx.max() - ox + 1), int(cy.max() - oy + 1)
    cell_of, keys = pd.factorize((cat * wx + (cx - ox)) * wy + (cy - oy))
    cells = pd.DataFrame({"cat": keys // (wx * wy), "cx": keys // wy % wx + ox, "cy": keys % wy + oy,
                          "n": np.bincount(cell_of, minlength=len(keys))})
    cells["component"] = cell_clusters(cells)
    component = cells["component"].to_numpy()[cell_of]
    e = e.assign(component=component)[np.bincount(component, minlength=len(cells))[component] >= min_events]
    if e.empty:
        return empty_clusters()
    g = e.groupby("component", sort=False)
    out = g.agg(category=("category", "first"), lon=("lon", "mean"), lat=("lat", "mean"), events=("event_id", "size"),
                open=("is_open", "sum"), first_reported=("reported_at", "min"),
                last_reported=("reported_at", "max"))
    peak = cells.loc[out.index]  # a cluster is named after the cell it gathered around
    out["grid_code"] = top_grid(e["component"].to_numpy(), e["grid_code"])
    newest = e.iloc[newest_first(e)].groupby("component", sort=False).head(examples)
    out["example_ids"] = joined_ids(newest)
    out["days"] = (out["last_reported"].dt.normalize() - out["first_reported"].dt.normalize()).dt.days + 1
    out["cluster_id"] = out["category"] + "@" + peak["cx"].astype(str).to_numpy() + "_" + peak["cy"].astype(str).to_numpy()
    out = out.sort_values(["events", "open", "last_reported", "cluster_id"], ascending=[False, False, False, True])
    return out[COLUMNS].astype({"events": "int64", "open": "int64", "days": "int64"}).reset_index(drop=True)


def top_grid(component: np.ndarray, grid_code: pd.Series) -> pd.Series:
    """Per component, the grid holding most of its events (a tie: the smallest code), indexed by component: counted
    over one int key per event (a groupby of the component and the code's text took a fifth of the clusters' time)."""
    codes, grids = factorize(grid_code, sort=True)  # text order: the smallest code is the smallest number
    has, width = codes >= 0, max(len(grids), 1)
    keys, n = np.unique(component[has].astype(np.int64) * width + codes[has], return_counts=True)
    comp, grid = keys // width, keys % width
    order = np.lexsort((grid, -n, comp))  # by component, then most events, then smallest code
    first = order[np.r_[True, comp[order][1:] != comp[order][:-1]]] if len(order) else order
    return pd.Series(np.asarray(grids, dtype=object)[grid[first]], index=comp[first], dtype="str")


def newest_first(e: pd.DataFrame) -> np.ndarray:
    """Row positions by report time, then event id, both descending (Arrow's multi-key sort: pandas
    sorting by a text column took a third of the run at a city's scale)."""
    table = pa.table({"t": pa.array(e["reported_at"].to_numpy("datetime64[us]")),
                      "id": pa.array(e["event_id"], pa.string())})
    return pc.sort_indices(table, sort_keys=[("t", "descending"), ("id", "descending")]).to_numpy()


def joined_ids(newest: pd.DataFrame) -> pd.Series:
    """Per component, its rows' event ids joined by commas in row order (a few rows per component;
    column-wise, as a per-group Python join takes seconds for tens of thousands of clusters)."""
    k = newest.groupby("component", sort=False).cumcount()
    wide = newest.assign(k=k.to_numpy()).pivot(index="component", columns="k", values="event_id")
    text = wide[0].astype(object)
    for col in wide.columns[1:]:
        text = text + ("," + wide[col].astype(object)).fillna("")
    return text


def empty_clusters() -> pd.DataFrame:
    return pd.DataFrame({
        "cluster_id": pd.Series(dtype="object"), "category": pd.Series(dtype="object"),
        "grid_code": pd.Series(dtype="object"), "lon": pd.Series(dtype="float64"), "lat": pd.Series(dtype="float64"),
        "events": pd.Series(dtype="int64"), "open": pd.Series(dtype="int64"),
        "first_reported": pd.Series(dtype="datetime64[ns]"), "last_reported": pd.Series(dtype="datetime64[ns]"),
        "days": pd.Series(dtype="int64"), "example_ids": pd.Series(dtype="object")})

"""Row checks at the source boundary: a row that cannot be used is quarantined with its reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from contract.domain import STEP_ACTIONS
from contract.factorize import factorize

STAGE_COLS = ("reported_at", "dispatched_at", "handled_at", "verified_at", "closed_at")

REASONS = {
    "missing_category": "类别缺失 missing category",
    "unknown_grid": "未知网格 unknown grid",
    "outside_city": "坐标不在本市 coordinates outside the city",
    "stage_order": "环节时间顺序错误 stage times out of order",
    "future_time": "时间晚于当前 future time",
    "duplicate_id": "事件编号重复 duplicate id",
    # the source mapping (etl/source/mapped_values.py): the detail column says which value or text
    "unmapped_value": "取值未映射 unmapped value",
    "bad_time": "时间无法解析 unparseable time",
    # flow-log rows (event_steps)
    "step_no_time": "流转记录缺少时间 step without a time",
    "step_action": "流转记录环节未知 unknown step action",
    "step_orphan": "流转记录所属事件未知或已隔离 step of an unknown or quarantined event",
}


# event_problems' checks, in the order a row's first failing one is its reason
CHECKS = ("missing_category", "outside_city", "unknown_grid", "stage_order", "future_time", "duplicate_id")


def event_problems(batch: pd.DataFrame, known_grids: set[str], contains: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   now: datetime, future_tolerance: timedelta, id_owner, id_hashes: np.ndarray | None = None,
                   known_rows: np.ndarray | None = None) -> pd.Series:
    """For each row, the first reason it cannot be used (REASONS key), or missing if it is fine.

    `id_owner` maps each accepted event_id to the row_id that holds it; another row with that id is a
    duplicate (the first row seen keeps the id; `id_hashes`: the ids' etl/state/id_owner.py hashes, if known;
    `known_rows`: the row owning each id, NaN where none, if the caller looked them up)."""
    code = np.zeros(len(batch), np.int8)  # 0: fine; else 1 + the position in CHECKS of the first check it failed

    def flag(mask: np.ndarray, key: str) -> None:
        code[(code == 0) & mask] = CHECKS.index(key) + 1

    # codes and categories are checked once per distinct value (a backfill's millions of rows hold a few hundred)
    cat_codes, cats = factorize(batch["category"].to_numpy(dtype=object))
    blank = (pd.Series(cats, dtype=object).astype("string").str.strip() == "").to_numpy(dtype=bool, na_value=True)
    flag((cat_codes < 0) | np.append(blank, False)[cat_codes], "missing_category")
    lon, lat = batch["lon"].to_numpy(float), batch["lat"].to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    inside = np.zeros(len(batch), bool)
    inside[ok] = contains(lon[ok], lat[ok])
    # a point outside the city is outside_city, whatever its grid (a point-placed row out there has none);
    # inside the city but in no grid we know, or with a code we do not know, unknown_grid (README)
    flag(ok & ~inside, "outside_city")
    grid_codes, grids = factorize(batch["grid_code"].to_numpy(dtype=object))
    known = np.append(np.fromiter((g in known_grids for g in grids), bool, len(grids)), False)
    flag(~known[grid_codes], "unknown_grid")
    flag(~inside, "outside_city")  # no point at all, nor a known region's centre
    times = [batch[c].to_numpy(dtype="datetime64[us]") for c in STAGE_COLS]
    prev = times[0]
    order_bad = np.isnat(prev)
    for cur in times[1:]:  # each stage needs the one before it, and not earlier than it
        order_bad |= ~np.isnat(cur) & (np.isnat(prev) | (cur < prev))
        prev = cur
    flag(order_bad, "stage_order")
    latest = np.maximum.reduce([t.view(np.int64) for t in times])  # NaT is int64's least: the latest time given
    limit = pd.Timestamp(now + future_tolerance).as_unit("us").to_datetime64().view(np.int64)
    flag(latest > limit, "future_time")
    if known_rows is None and id_owner:  # not looked up by the caller, and some known (none on a backfill)
        known_rows = (id_owner.owners(batch["event_id"], hashes=id_hashes) if hasattr(id_owner, "owners")  # the ledger's
                      else np.asarray([id_owner.get(e) for e in batch["event_id"].tolist()], dtype=np.float64))
    owner = np.full(len(batch), np.nan) if known_rows is None else np.asarray(known_rows, dtype=np.float64)
    dup_known = ~np.isnan(owner) & (owner != batch["row_id"].to_numpy(dtype=np.float64))
    # the first row of an id in the batch (by row id) keeps it: sorted only among the ids the batch holds twice
    first_in_batch = np.ones(len(batch), bool)
    twice = held_twice(batch["event_id"], id_hashes)
    if twice.any():
        rows = batch.loc[twice, ["row_id", "event_id"]]
        first_in_batch[twice] = ~rows.sort_values("row_id").duplicated("event_id", keep="first").reindex(rows.index).to_numpy()
    flag(dup_known | (np.isnan(owner) & ~first_in_batch), "duplicate_id")
    names = np.asarray([pd.NA, *CHECKS], dtype=object)
    return pd.Series(names[code], index=batch.index, dtype="object")


def held_twice(ids: pd.Series, hashes: np.ndarray | None) -> np.ndarray:
    """Whether each id is held by another row of the batch too; with the ids' hashes, found among the rows whose hash
    another row has (a hash table of integers, not of text), their texts then compared."""
    if hashes is None:
        return ids.duplicated(keep=False).to_numpy()
    out = pd.Series(hashes).duplicated(keep=False).to_numpy().copy()
    if out.any():
        out[out] = ids[out].duplicated(keep=False).to_numpy()  # a collision of two ids is no duplicate
    return out


def step_problems(batch: pd.DataFrame, now: datetime, future_tolerance: timedelta) -> pd.Series:
    """For each flow-log row, the first reason it cannot be used, or missing if its shape is fine
    (whether its event is known is decided by the caller: step_orphan)."""
    at = pd.to_datetime(batch["at"], errors="coerce")
    reason = pd.Series(pd.NA, index=batch.index, dtype="object")
    reason = reason.mask(at.isna(), "step_no_time")
    reason = reason.mask(reason.isna() & ~batch["action"].isin(STEP_ACTIONS), "step_action")
    return reason.mask(reason.isna() & (at > now + future_tolerance), "future_time")

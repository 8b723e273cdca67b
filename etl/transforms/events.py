"""Event facts and the event KPIs of every region, window and level."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH, grid_key_at
from contract.domain import STAGE_SPANS, STAGES
from contract.factorize import factorize
from contract.metrics import COUNTS, MEDIANS, RATES, SATISFIED_MIN_SCORE, STOCKS, WALL_WINDOWS
from contract.rates import rate
from contract.windows import window_start
from etl.transforms.regions import code_text, grid_numbers


def event_status(events: pd.DataFrame) -> pd.Series:
    """The last stage an event reached (reported ... closed)."""
    reached = np.zeros(len(events), dtype=np.int64)
    for k, stage in enumerate(STAGES[1:], start=1):  # numpy masks: no object Series rebuilt per stage
        reached[events[f"{stage}_at"].notna().to_numpy()] = k
    return pd.Series(STAGE_NAMES[reached], index=events.index, dtype=object)


STAGE_NAMES = np.asarray(STAGES, dtype=object)


# a fact's 0/1 flags (and counts summed from them, which numpy and pandas widen to int64): one byte each, so the
# kept facts of a year's events are ~0.4 GB smaller than with int64 flags (docs/benchmarks.md, issue 24)
FLAG = np.int8


def event_facts(events: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per valid event with the flags and durations every metric is built from (numpy masks over the
    columns: what the pandas expressions of the definitions give, without a pandas object per step)."""
    e = events
    t = {c: e[f"{c}_at"].to_numpy(dtype="datetime64[us]") for c in STAGES}
    rep, clo, due_at = t["reported"], t["closed"], e["due_at"].to_numpy(dtype="datetime64[us]")
    closed = ~np.isnat(clo)
    day = rep.astype("datetime64[D]").astype("datetime64[us]")
    level_codes, levels = factorize(e["handling_level"].to_numpy(dtype=object))  # each distinct level once
    grid_level = np.append(np.asarray(levels, dtype=object) == "grid", False)[level_codes]
    sat = e["satisfaction"].to_numpy(dtype=np.float64, na_value=np.nan)
    overdue = ~closed & (due_at < np.datetime64(pd.Timestamp(as_of).as_unit("us").to_datetime64()))

    def flag(mask: np.ndarray) -> np.ndarray:
        return mask.astype(FLAG)

    def minutes(end: np.ndarray, start: np.ndarray) -> np.ndarray:
        span = (end - start).astype(np.float64) / 1e6 / 60.0  # as pandas total_seconds() / 60
        span[np.isnat(end) | np.isnat(start)] = np.nan
        return span

    def given(name: str) -> np.ndarray:  # rows built without the department columns count as none
        return (e[name].fillna(0) > 0).to_numpy(dtype=bool) if name in e else np.zeros(len(e), bool)

    facts = pd.DataFrame({
        "row_id": e["row_id"], "event_id": e["event_id"], "grid_code": e["grid_code"],
        "grid_no": grid_numbers(e["grid_code"]),
        "category": e["category"], "channel": e["channel"], "status": event_status(e),
        "reported_at": e["reported_at"], "day": pd.Series(day, index=e.index),
        "one": np.ones(len(e), FLAG),
        "has_dispatched": flag(~np.isnat(t["dispatched"])),
        "has_handled": flag(~np.isnat(t["handled"])),
        "has_verified": flag(~np.isnat(t["verified"])),
        "is_closed": flag(closed),
        "closed_on_time": flag(closed & (clo <= due_at)),
        "same_day_cleared": flag(closed & (clo.astype("datetime64[D]") == rep.astype("datetime64[D]"))),
        "grid_settled": flag(closed & grid_level),
        "is_rated": flag(closed & ~np.isnan(sat)),
        "is_satisfied": flag(closed & (sat >= SATISFIED_MIN_SCORE)),
        "is_reopened": flag((e["reopened"].fillna(0) > 0).to_numpy(dtype=bool)),
        "escalated": flag(closed & (level_codes >= 0) & ~grid_level),
        "is_open": flag(~closed),
        "is_overdue": flag(overdue),
    }, index=e.index)
    for name, start, end in STAGE_SPANS:
        facts[f"{name}_min"] = minutes(t[end], t[start])
    facts["total_min"] = minutes(clo, rep)
    facts["not_overdue"] = flag(~overdue)
    facts["handling_level"] = e["handling_level"]
    # 条 (contract/metrics.py DEPARTMENT_COUNTS): the department's number and the assessment's flags
    facts["dept_no"] = e["dept_no"].fillna(0).to_numpy(dtype=np.int64) if "dept_no" in e else 0
    due = closed | overdue
    facts["due_to_close"] = flag(due)
    facts["is_deferred"] = flag(due & ~closed & given("deferred"))
    facts["is_extended"] = flag(given("extended"))
    facts["is_hung"] = flag(~closed & given("hung"))
    return facts


# window numbers ride in the low bits of an integer group key (region code · WKEY + window number), so one
# groupby covers every window at a level instead of one per window
WKEY = 4


def by_key(frame: pd.DataFrame, key: np.ndarray):
    """`frame` grouped by an integer array of its length: as the index's level (pandas, given an array as a
    DataFrame's key, first looks it up among the columns and prints the whole array into the error it catches)."""
    return frame.set_axis(pd.Index(key), axis=0).groupby(level=0)


def stacked_windows(facts: pd.DataFrame, as_of: datetime, windows) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of each window's cohort (reported from its first day on), stacked, and each one's
    window number (the window's index in `windows`)."""
    day = facts["day"].to_numpy()
    pos = [np.flatnonzero(day >= window_start(as_of, w).to_datetime64()) for w in windows]
    wno = np.repeat(np.arange(len(windows), dtype=np.int64), [len(p) for p in pos])
    return (np.concatenate(pos) if pos else np.array([], np.int64)), wno


def region_event_kpis(facts: pd.DataFrame, as_of: datetime, windows=WALL_WINDOWS) -> pd.DataFrame:
    """Every event KPI (contract/metrics.py) for every region at every level and each of the wall's windows:
    rows of a window sorted by code, windows in the order given (counts summed per grid once and rolled up,
    exact medians one group-by a level). The events tick computes the same frame from kept sums (wall_kpis);
    this one is for a cohort computed once (24 h ago: etl/transforms/yesterday.py)."""
    count_cols = [col for col, _ in COUNTS.values()]
    stock_cols = [col for col, _ in STOCKS.values()]
    stocks = sums_by_level(facts.loc[facts["is_open"] == 1, ["grid_no", *stock_cols]], stock_cols)
    stocks = stocks.rename(columns={col: name for name, (col, _) in STOCKS.items()})
    idx, wno = stacked_windows(facts, as_of, windows)
    grid = facts["grid_no"].to_numpy(np.int64)[idx]
    counts = pd.DataFrame(facts[count_cols].to_numpy(np.int64)[idx], columns=list(COUNTS))
    durations = pd.DataFrame(facts[list(MEDIANS.values())].to_numpy(float)[idx], columns=list(MEDIANS))
    per_grid = by_key(counts, grid * WKEY + wno).sum()
    g_no, g_w = per_grid.index.to_numpy() // WKEY, per_grid.index.to_numpy() % WKEY
    parts = []
    for level in CODE_LENGTH:  # a region has a median row exactly where it has a count row (the same events)
        s = by_key(per_grid, grid_key_at(g_no, level) * WKEY + g_w).sum()
        m = by_key(durations, grid_key_at(grid, level) * WKEY + wno).median()
        parts.append(s.join(m).assign(level=level))
    k = pd.concat(parts) if parts else pd.DataFrame(columns=[*COUNTS, *MEDIANS, "level"])
    key = k.index.to_numpy(np.int64)
    k = k.reset_index(drop=True).assign(rkey=key // WKEY, wno=key % WKEY)
    # a region with open events but none reported in the window still has its stock (open, overdue)
    st_key = stocks["code"].to_numpy(object).astype(np.int64)
    extra = [pd.DataFrame({"rkey": st_key[miss], "level": stocks["level"].to_numpy(object)[miss], "wno": w})
             for w in range(len(windows)) if (miss := ~np.isin(st_key * WKEY + w, key)).any()]
    k = pd.concat([k, *extra], ignore_index=True)
    # rows in the order of their code as text (a merge's): the code padded to a grid's digits, then its length
    pad = k["level"].map(lambda lv: CODE_LENGTH["grid"] - CODE_LENGTH[lv]).to_numpy(np.int64)
    order = np.lexsort((-pad, k["rkey"].to_numpy(np.int64) * 10 ** pad, k["wno"].to_numpy(np.int64)))
    k = k.iloc[order].reset_index(drop=True)
    k[list(COUNTS)] = k[list(COUNTS)].fillna(0)
    k.insert(0, "code", code_text(k["rkey"].to_numpy(np.int64)).astype(str))
    k["window"] = pd.Series(np.asarray(windows, dtype=object)[k["wno"].to_numpy(np.int64)]).astype(str)
    kpis = k[["code", *COUNTS, "level", *MEDIANS, "window"]]
    kpis = kpis.merge(stocks.drop(columns="level"), on="code", how="left")
    for name in STOCKS:
        kpis[name] = kpis[name].fillna(0).astype("int64")
    for name in COUNTS:
        kpis[name] = kpis[name].astype("int64")
    for name in MEDIANS:
        kpis[name] = kpis[name].astype("float64")
    for name, (num, den) in RATES.items():
        kpis[name] = rate(kpis[num], kpis[den])
    return kpis


def sums_by_level(per_grid: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """rolled_up_sums(per_grid, value_cols) (regions.py) by one sort of the grid numbers and np.add.reduceat a
    level: the same rows and types, each level's codes ascending."""
    nos = per_grid["grid_no"].to_numpy(np.int64)
    order, rolls = _levels(nos, CODE_LENGTH)
    vals = per_grid[value_cols].to_numpy(np.int64)[order]
    parts = []
    for level, (keys, starts) in rolls.items():
        s = pd.DataFrame(_rolled(vals, starts), columns=value_cols, index=code_text(keys))
        parts.append(s.rename_axis("code").reset_index().assign(level=level))
    return pd.concat(parts, ignore_index=True)


def complete_regions(kpis: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """KPIs for every region of the city and window, with zero counts where a region had no events."""
    grid = pd.MultiIndex.from_product([regions["code"], list(WALL_WINDOWS)], names=["code", "window"])
    full = kpis.set_index(["code", "window"]).drop(columns="level").reindex(grid).reset_index()
    full = full.merge(regions[["code", "name", "level", "parent_code"]], on="code", how="left")
    for name in (*COUNTS, *STOCKS):
        full[name] = full[name].fillna(0).astype("int64")
    return full


def hourly_counts(facts: pd.DataFrame, as_of: datetime, levels=("city", "district", "street")) -> pd.DataFrame:
    """The `by_hour` frame: events per hour today against the average of the same hour over the 7 previous days,
    for every code and hour with an event today or in the 7 days before (integer keys and np.unique)."""
    today = pd.Timestamp(as_of).normalize()
    day = facts["day"].to_numpy()
    keep = day >= (today - pd.Timedelta(days=7)).to_datetime64()
    hours = facts["reported_at"].dt.hour
    hour = hours.to_numpy()[keep].astype(np.int64)
    is_today = day[keep] == today.to_datetime64()
    grid = facts["grid_no"].to_numpy(np.int64)[keep]
    codes, hrs, tod, avg = [], [], [], []
    for level in levels:
        key = grid_key_at(grid, level) * 24 + hour
        t_key, t_n = np.unique(key[is_today], return_counts=True)
        p_key, p_n = np.unique(key[~is_today], return_counts=True)
        both = np.union1d(t_key, p_key)
        t = np.zeros(len(both), np.int64)
        t[np.searchsorted(both, t_key)] = t_n
        a = np.zeros(len(both))
        a[np.searchsorted(both, p_key)] = p_n / 7.0
        codes.append(both // 24)
        hrs.append(both % 24)
        tod.append(t)
        avg.append(a)
    key = np.concatenate(codes)
    uniq, inv = np.unique(key, return_inverse=True)
    h = pd.DataFrame({"code": np.asarray(code_text(uniq), dtype=object)[inv],
                      "hour": np.concatenate(hrs).astype(hours.dtype), "today": np.concatenate(tod),
                      "avg7": np.concatenate(avg)})
    h["code"] = h["code"].astype(object)
    h.loc[h["hour"] > pd.Timestamp(as_of).hour, "today"] = 0
    return h


def latest_events(facts: pd.DataFrame, regions: pd.DataFrame, n: int = 40) -> pd.DataFrame:
    """The n newest events for the ticker: no personal data, just what, where, when and stage."""
    top = facts.nlargest(n, "reported_at")[["event_id", "reported_at", "channel", "category", "status", "grid_code"]]
    names = regions.set_index("code")["name"]
    top = top.assign(street_code=top["grid_code"].str.slice(0, CODE_LENGTH["street"]),
                     district_code=top["grid_code"].str.slice(0, CODE_LENGTH["district"]))
    top["street"] = top["street_code"].map(names)
    top["district"] = top["district_code"].map(names)
    return top.reset_index(drop=True)


def overdue_events(facts: pd.DataFrame, events: pd.DataFrame, n: int = 500) -> pd.DataFrame:
    """The oldest open events past deadline (for alert panels), no personal data."""
    od = facts[facts["is_overdue"] == 1][["row_id", "event_id", "grid_code", "category", "channel", "status", "reported_at"]]
    by_row = events.set_index("row_id")
    at = by_row.index.get_indexer(pd.Index(od["row_id"]))  # (a reindex, not Series.map: that fails on no rows under pandas 3)
    due = by_row["due_at"].to_numpy(dtype="datetime64[us]")
    od = od.assign(due_at=np.where(at >= 0, due[np.maximum(at, 0)] if len(due) else np.datetime64("NaT"),
                                   np.datetime64("NaT")).astype("datetime64[us]")).nsmallest(n, "due_at")
    at = by_row.index.get_indexer(pd.Index(od["row_id"]))
    if "dept_no" in by_row and len(by_row):
        code = by_row["department"].where(by_row["dept_no"] > 0, "").fillna("").to_numpy(dtype=object)
        od["department"] = np.where(at >= 0, code[np.maximum(at, 0)], "").astype(object)
    else:
        od["department"] = pd.Series("", index=od.index, dtype=object)
    return od.reset_index(drop=True)


# --- the wall's frames from per-grid window sums (etl/state/week_facts.py WindowCubes): no pass over the events ---

def _levels(grid_nos: np.ndarray, levels) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Grid ids in the order of their numbers, and for each level the region keys (ints, ascending) and where each
    one's grids start in that order: a prefix is a run of sorted grid numbers, so a roll-up is one np.add.reduceat."""
    order = np.argsort(grid_nos, kind="stable")
    nos = grid_nos[order]
    out = {}
    for level in levels:
        keys = grid_key_at(nos, level)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
        out[level] = (keys[starts], starts)
    return order, out


def _rolled(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts, axis=0) if len(starts) else values[:0]


def empty_region_kpis(regions: pd.DataFrame) -> pd.DataFrame:
    """complete_regions' frame for no events: every region and wall window with zero counts (the events state
    builds it once per city and hands it to wall_kpis each tick)."""
    empty = pd.DataFrame({"code": pd.Series(dtype=object), "window": pd.Series(dtype=object),
                          **{c: pd.Series(dtype="int64") for c in COUNTS}, "level": pd.Series(dtype=object),
                          **{m: pd.Series(dtype="float64") for m in MEDIANS},
                          **{c: pd.Series(dtype="int64") for c in STOCKS},
                          **{r: pd.Series(dtype="float64") for r in RATES}})
    return complete_regions(empty, regions)


def wall_kpis(sums: dict[str, np.ndarray], grid_nos: np.ndarray, medians: np.ndarray, open_facts: pd.DataFrame,
              regions: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """The `event_kpis` frame: complete_regions(region_event_kpis(facts, as_of), regions), from the window sums per
    grid (`sums`: wall window -> grids × COUNTS' fact columns, grid i being `grid_nos[i]`), the exact stage medians
    (`medians`: regions × WALL_WINDOWS × MEDIANS, etl/state/window_medians.py), the open events' facts (stocks)
    and `base` = empty_region_kpis(regions)."""
    windows = list(WALL_WINDOWS)
    n, nw = len(regions), len(windows)
    codes, levels = regions["code"].to_numpy(dtype=object), regions["level"].to_numpy(dtype=object)
    at_level = {lv: np.flatnonzero(levels == lv) for lv in CODE_LENGTH}
    index = {lv: pd.Index(codes[p].astype(np.int64)) for lv, p in at_level.items()}

    def rows_of(level: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which keys are regions of the city, their rows in `regions`)"""
        hit = index[level].get_indexer(pd.Index(keys)) if len(keys) else np.zeros(0, np.int64)
        return hit >= 0, at_level[level][hit[hit >= 0]]

    counts = np.zeros((n, nw, len(COUNTS)), np.int64)
    order, rolls = _levels(grid_nos, CODE_LENGTH)
    per_grid = np.stack([sums[w][:len(grid_nos)] for w in windows], axis=1)[order]  # grids × windows × counts
    for level, (keys, starts) in rolls.items():
        ok, rows = rows_of(level, keys)
        counts[rows] = _rolled(per_grid, starts)[ok]
    stocks = np.zeros((n, len(STOCKS)), np.int64)
    o = open_facts[open_facts["is_open"].to_numpy() == 1]
    o_nos = o["grid_no"].to_numpy(np.int64)
    o_vals = np.column_stack([o[col].to_numpy(np.int64) for col, _ in STOCKS.values()])
    o_order, o_rolls = _levels(o_nos, CODE_LENGTH)
    for level, (keys, starts) in o_rolls.items():
        ok, rows = rows_of(level, keys)
        stocks[rows] = _rolled(o_vals[o_order], starts)[ok]
    flat = counts.reshape(n * nw, len(COUNTS))
    full = base.copy()
    for i, name in enumerate(COUNTS):
        full[name] = flat[:, i]
    for i, name in enumerate(MEDIANS):
        full[name] = medians.reshape(n * nw, len(MEDIANS))[:, i]
    for i, name in enumerate(STOCKS):
        full[name] = np.repeat(stocks[:, i], nw)
    names = list(COUNTS)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (num, den) in RATES.items():
            a, b = flat[:, names.index(num)], flat[:, names.index(den)]
            full[name] = np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)  # contract/rates.py's rule, on arrays
    return full


def wall_counts_by(sums: dict[str, np.ndarray], values: list[str], grid_nos: np.ndarray, column: str,
                   levels=("city", "district", "street", "community")) -> pd.DataFrame:
    """The `by_category` / `by_channel` frame: events reported per region, wall window and value of `column`,
    from the events per grid and value of each window (`sums`: window -> grids × values, value j being
    `values[j]`), sorted by window, level, code and value."""
    k = len(values)
    vorder = np.argsort(np.asarray(values, dtype=object)) if k else np.zeros(0, np.int64)
    names = np.asarray(values, dtype=object)[vorder] if k else np.zeros(0, dtype=object)
    order, rolls = _levels(grid_nos, levels)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []  # (region keys, value index, count, window)
    for w, window in enumerate(WALL_WINDOWS):
        s = sums[window][:len(grid_nos), :k][:, vorder][order]
        for level in levels:
            keys, starts = rolls[level]
            agg = _rolled(s, starts)
            ri, vi = np.nonzero(agg)
            parts.append((keys[ri], vi, agg[ri, vi], w))
    key = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    text = np.asarray(code_text(uniq), dtype=object)
    df = pd.DataFrame({"code": text[inv], column: names[np.concatenate([p[1] for p in parts])] if parts else names[:0],
                       "count": np.concatenate([p[2] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64),
                       "wno": np.concatenate([np.full(len(p[0]), p[3]) for p in parts]) if parts else np.zeros(0, np.int64)}
                      ).astype({"code": object, column: str})
    df["window"] = pd.Series(np.asarray(list(WALL_WINDOWS), dtype=object)[df["wno"].to_numpy(np.int64)], index=df.index).astype(str)
    return df.drop(columns="wno").reset_index(drop=True)

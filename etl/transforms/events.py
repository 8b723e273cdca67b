"""Event facts and the event KPIs of every region, window and level."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH, grid_key_at
from contract.domain import STAGE_SPANS, STAGES
from contract.metrics import COUNTS, MEDIANS, RATES, SATISFIED_MIN_SCORE, STOCKS, WINDOWS
from etl.transforms.regions import code_text, grid_numbers, ratio, region_key, rolled_up_sums


def event_status(events: pd.DataFrame) -> pd.Series:
    """The last stage an event reached (reported ... closed)."""
    status = pd.Series("reported", index=events.index, dtype=object)
    for stage in STAGES[1:]:
        status = status.where(events[f"{stage}_at"].isna(), stage)
    return status


def event_facts(events: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per valid event with the flags and durations every metric is built from."""
    e = events
    closed = e["closed_at"].notna()
    status = event_status(e)
    day = e["reported_at"].dt.normalize()
    facts = pd.DataFrame({
        "row_id": e["row_id"], "event_id": e["event_id"], "grid_code": e["grid_code"],
        "grid_no": grid_numbers(e["grid_code"]),
        "category": e["category"], "channel": e["channel"], "status": status,
        "reported_at": e["reported_at"], "day": day,
        "one": 1,
        "has_dispatched": e["dispatched_at"].notna().astype(int),
        "has_handled": e["handled_at"].notna().astype(int),
        "has_verified": e["verified_at"].notna().astype(int),
        "is_closed": closed.astype(int),
        "closed_on_time": (closed & (e["closed_at"] <= e["due_at"])).astype(int),
        "same_day_cleared": (closed & (e["closed_at"].dt.normalize() == day)).astype(int),
        "grid_settled": (closed & (e["handling_level"] == "grid")).astype(int),
        "is_rated": (closed & e["satisfaction"].notna()).astype(int),
        "is_satisfied": (closed & (e["satisfaction"] >= SATISFIED_MIN_SCORE)).fillna(False).astype(int),
        "is_reopened": (e["reopened"].fillna(0) > 0).astype(int),
        "escalated": (closed & e["handling_level"].notna() & (e["handling_level"] != "grid")).astype(int),
        "is_open": (~closed).astype(int),
        "is_overdue": (~closed & (e["due_at"] < as_of)).astype(int),
    })
    for name, start, end in STAGE_SPANS:
        facts[f"{name}_min"] = (e[f"{end}_at"] - e[f"{start}_at"]).dt.total_seconds() / 60.0
    facts["total_min"] = (e["closed_at"] - e["reported_at"]).dt.total_seconds() / 60.0
    facts["not_overdue"] = 1 - facts["is_overdue"]
    facts["handling_level"] = e["handling_level"]
    return facts


def window_start(as_of: datetime, window: str) -> pd.Timestamp:
    """First local midnight that belongs to the window."""
    return pd.Timestamp(as_of).normalize() - pd.Timedelta(days=WINDOWS[window] - 1)


# window numbers ride in the low bits of an integer group key (region code · WKEY + window number), so one
# groupby covers every window at a level instead of one per window
WKEY = 4


def stacked_windows(facts: pd.DataFrame, as_of: datetime, windows) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of each window's cohort (reported from its first day on), stacked, and each one's
    window number (the window's index in `windows`)."""
    day = facts["day"].to_numpy()
    pos = [np.flatnonzero(day >= window_start(as_of, w).to_datetime64()) for w in windows]
    wno = np.repeat(np.arange(len(windows), dtype=np.int64), [len(p) for p in pos])
    return (np.concatenate(pos) if pos else np.array([], np.int64)), wno


def region_event_kpis(facts: pd.DataFrame, as_of: datetime, windows=tuple(WINDOWS)) -> pd.DataFrame:
    """Every event KPI (contract/metrics.py) for every region at every level and every window: rows of a
    window sorted by code, windows in the order given (same frame as reference_windows.py, in a tenth of the
    group-bys: counts summed per grid once and rolled up, exact medians one group-by a level)."""
    count_cols = [col for col, _ in COUNTS.values()]
    stock_cols = [col for col, _ in STOCKS.values()]
    stocks = rolled_up_sums(facts.loc[facts["is_open"] == 1, ["grid_no", *stock_cols]], stock_cols)
    stocks = stocks.rename(columns={col: name for name, (col, _) in STOCKS.items()})
    idx, wno = stacked_windows(facts, as_of, windows)
    grid = facts["grid_no"].to_numpy(np.int64)[idx]
    counts = pd.DataFrame(facts[count_cols].to_numpy(np.int64)[idx], columns=list(COUNTS))
    durations = pd.DataFrame(facts[list(MEDIANS.values())].to_numpy(float)[idx], columns=list(MEDIANS))
    per_grid = counts.groupby(grid * WKEY + wno).sum()
    g_no, g_w = per_grid.index.to_numpy() // WKEY, per_grid.index.to_numpy() % WKEY
    parts = []
    for level in CODE_LENGTH:  # a region has a median row exactly where it has a count row (the same events)
        s = per_grid.groupby(grid_key_at(g_no, level) * WKEY + g_w).sum()
        m = durations.groupby(grid_key_at(grid, level) * WKEY + wno).median()
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
        kpis[name] = ratio(kpis[num], kpis[den])
    return kpis


def complete_regions(kpis: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """KPIs for every region of the city and window, with zero counts where a region had no events."""
    grid = pd.MultiIndex.from_product([regions["code"], list(WINDOWS)], names=["code", "window"])
    full = kpis.set_index(["code", "window"]).drop(columns="level").reindex(grid).reset_index()
    full = full.merge(regions[["code", "name", "level", "parent_code"]], on="code", how="left")
    for name in (*COUNTS, *STOCKS):
        full[name] = full[name].fillna(0).astype("int64")
    return full


def counts_by(facts: pd.DataFrame, as_of: datetime, column: str, levels=("city", "district", "street", "community")) -> pd.DataFrame:
    """Events reported per region, window and value of `column` (category, channel, status), sorted by
    window, level, code and value (same rows as reference_windows.py: one count per grid, window and value,
    then one group-by a level)."""
    idx, wno = stacked_windows(facts, as_of, list(WINDOWS))
    values, uniq = pd.factorize(facts[column].to_numpy(object)[idx], sort=True)
    keep = values >= 0  # a missing value counts in no group, as in a group-by
    grid, wno, values = facts["grid_no"].to_numpy(np.int64)[idx][keep], wno[keep], values[keep]
    per_grid = pd.Series(1, index=pd.MultiIndex.from_arrays([grid * WKEY + wno, values])).groupby(level=[0, 1]).sum()
    g, v = per_grid.index.get_level_values(0).to_numpy(np.int64), per_grid.index.get_level_values(1).to_numpy()
    out = []
    for level in levels:
        c = per_grid.groupby([grid_key_at(g // WKEY, level) * WKEY + g % WKEY, v]).sum()
        key, val = c.index.get_level_values(0).to_numpy(np.int64), c.index.get_level_values(1).to_numpy()
        out.append(pd.DataFrame({"code": code_text(key // WKEY).astype(str), column: np.asarray(uniq, object)[val],
                                 "count": c.to_numpy(np.int64), "wno": key % WKEY}).astype({"code": object, column: str}))
    if not out:
        return pd.DataFrame(columns=["code", column, "count", "window"])
    df = pd.concat(out, ignore_index=True).sort_values("wno", kind="stable")
    df["window"] = pd.Series(np.asarray(list(WINDOWS), dtype=object)[df["wno"].to_numpy(np.int64)], index=df.index).astype(str)
    return df.drop(columns="wno").reset_index(drop=True)


def hourly_today(facts: pd.DataFrame, as_of: datetime, levels=("city", "district", "street")) -> pd.DataFrame:
    """Events per hour today against the average of the same hour over the 7 previous days."""
    today = pd.Timestamp(as_of).normalize()
    recent = facts[facts["day"] >= today - pd.Timedelta(days=7)]
    hour = recent["reported_at"].dt.hour
    is_today = recent["day"] == today
    out = []
    for level in levels:
        code = pd.Series(region_key(recent, level), index=recent.index)
        t = recent[is_today].groupby([code[is_today], hour[is_today]]).size().rename("today")
        p = (recent[~is_today].groupby([code[~is_today], hour[~is_today]]).size() / 7.0).rename("avg7")
        out.append(pd.concat([t, p], axis=1).rename_axis(["code", "hour"]).reset_index())
    h = pd.concat(out, ignore_index=True)
    h["code"] = code_text(h["code"])
    h["today"] = h["today"].fillna(0).astype("int64")
    h["avg7"] = h["avg7"].fillna(0.0)
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
    due = events.set_index("row_id")["due_at"]
    od = od.assign(due_at=od["row_id"].map(due)).nsmallest(n, "due_at")
    return od.reset_index(drop=True)

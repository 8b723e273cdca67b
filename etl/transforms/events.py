"""Event facts and the event KPIs of every region, window and level."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from config.region_codes import CODE_LENGTH
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


def region_event_kpis(facts: pd.DataFrame, as_of: datetime, windows=tuple(WINDOWS)) -> pd.DataFrame:
    """Every event KPI (contract/metrics.py) for every region at every level and every window."""
    count_cols = [col for col, _ in COUNTS.values()]
    stock_cols = [col for col, _ in STOCKS.values()]
    median_cols = list(MEDIANS.values())
    stocks = rolled_up_sums(facts.loc[facts["is_open"] == 1, ["grid_no", *stock_cols]], stock_cols)
    stocks = stocks.rename(columns={col: name for name, (col, _) in STOCKS.items()})
    out = []
    for window in windows:
        in_window = (facts["day"] >= window_start(as_of, window)).to_numpy()
        per_grid = facts.loc[in_window, ["grid_no", *count_cols]].groupby("grid_no", sort=False).sum().reset_index()
        k = rolled_up_sums(per_grid, count_cols)
        k = k.rename(columns={col: name for name, (col, _) in COUNTS.items()})
        # a region with open events but none reported in the window still has its stock (open, overdue)
        k = k.merge(stocks[["code", "level"]], on=["code", "level"], how="outer")
        k[list(COUNTS)] = k[list(COUNTS)].fillna(0)
        durations = facts.loc[in_window, ["grid_no", *median_cols]]
        med = []
        for level in CODE_LENGTH:
            m = durations[median_cols].groupby(region_key(durations, level), sort=False).median()
            m.index = code_text(m.index)
            med.append(m.rename_axis("code").reset_index())
        k = k.merge(pd.concat(med, ignore_index=True).rename(
            columns={col: name for name, col in MEDIANS.items()}), on="code", how="left")
        out.append(k.assign(window=window))
    kpis = pd.concat(out, ignore_index=True)
    kpis = kpis.merge(stocks.drop(columns="level"), on="code", how="left")
    for name in STOCKS:
        kpis[name] = kpis[name].fillna(0).astype("int64")
    for name in COUNTS:
        kpis[name] = kpis[name].astype("int64")
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
    """Events reported per region, window and value of `column` (category, channel, status)."""
    out = []
    for window in WINDOWS:
        cohort = facts.loc[(facts["day"] >= window_start(as_of, window)).to_numpy(), ["grid_no", column]]
        per_grid = cohort.groupby(["grid_no", column], sort=False).size().rename("count").reset_index()
        for level in levels:
            g = per_grid.groupby([region_key(per_grid, level), per_grid[column]], sort=False)["count"].sum()
            rows = g.rename_axis(["code", column]).reset_index().assign(window=window)
            rows["code"] = code_text(rows["code"])
            out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["code", column, "count", "window"])


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

"""The events tick's window state as it was before issue 16, kept unchanged in spirit as the reference the
bench and the tests hold the product to: every changed week's facts rebuilt whole, the wall's window KPIs and
counts computed in one pass per window and level over the 30 days' facts, the ledger scanned for the open
events, the pieces built from the facts. `EtlJobs(..., windows=ReferenceWindows())` runs it
(`python3 cockpit.py bench --side-by-side`, bench/ticks_side_by_side.py); tests/test_incremental_equals_full.py
checks that it and etl/state/window_state.py give the same frames."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from config.region_codes import CODE_LENGTH
from contract import frames as F
from contract.frames import piece_frame_name
from contract.metrics import COUNTS, MEDIANS, RATES, STOCKS, WALL_WINDOWS
from contract.rates import rate
from contract.windows import window_start
from etl.state.event_ledger import EventLedger, empty_events
from etl.transforms.events import (
    WKEY,
    complete_regions,
    event_facts,
    latest_events,
    overdue_events,
    stacked_windows,
)
from etl.transforms.regions import code_text, grid_key_at, region_key, rolled_up_sums
from etl.transforms.window_pieces import piece_rows, sorted_pieces
from etl.transforms.work_queue import open_events
from etl.transforms.yesterday import kpis_same_time_yesterday

TICKER_ROWS = 40


class ReferenceWindows:
    """The window strategy of EtlJobs done the old way (see the module's docstring)."""

    def __init__(self) -> None:
        self.facts: dict[np.datetime64, pd.DataFrame] = {}
        self.open_due: dict[np.datetime64, np.ndarray] = {}
        self.as_of: datetime | None = None

    def update(self, ledger: EventLedger, now: datetime) -> set[np.datetime64]:
        change = ledger.take_changes()
        dirty = set(change.weeks) | (set(ledger.parts) ^ set(self.facts))
        if self.as_of is not None:
            lo, hi = sorted((np.datetime64(self.as_of, "us"), np.datetime64(now, "us")))
            dirty |= {w for w, due in self.open_due.items() if ((due >= lo) & (due < hi)).any()}
        for week in dirty:
            part = ledger.parts.get(week)
            if part is None:
                self.facts.pop(week, None)
                self.open_due.pop(week, None)
                continue
            self.facts[week] = event_facts(part, now)
            self.open_due[week] = part.loc[part["closed_at"].isna(), "due_at"].to_numpy(dtype="datetime64[us]")
        self.as_of = now
        return dirty

    def pieces(self, dirty: set[np.datetime64], horizon: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], set[str]]:
        frames = {piece_frame_name(w): event_pieces(self.facts[w], horizon) for w in dirty if w in self.facts}
        return frames, {piece_frame_name(w) for w in dirty if w not in self.facts}

    def since(self, first_day: pd.Timestamp) -> pd.DataFrame:
        """Facts of the events reported from first_day on, and of every open event."""
        frames = [f[(f["day"] >= first_day) | (f["is_open"] == 1)] for _, f in sorted(self.facts.items())]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else event_facts(empty_events(), datetime.now())

    def frames(self, ledger: EventLedger, regions: pd.DataFrame, now: datetime, recent: pd.Timestamp
               ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        facts = self.since(recent)
        open_rows = ledger.rows(lambda p: p["closed_at"].isna())
        yesterday = pd.Timestamp(now) - pd.Timedelta(days=1)
        frames = {
            F.EVENT_KPIS.name: complete_regions(region_event_kpis_reference(facts, now), regions),
            F.BY_CATEGORY.name: counts_by_reference(facts, now, "category"),
            F.BY_CHANNEL.name: counts_by_reference(facts, now, "channel"),
            F.BY_HOUR.name: hourly_today(facts, now),
            F.TICKER.name: latest_events(facts, regions, TICKER_ROWS),
            F.OVERDUE.name: overdue_events(facts, open_rows),
            F.OPEN_EVENTS.name: open_events(facts, open_rows),
            F.EVENT_KPIS_YESTERDAY.name: kpis_same_time_yesterday(
                ledger.rows(lambda p: (p["reported_at"] >= yesterday.normalize()) | ~(p["closed_at"] <= yesterday)),
                now, kpis=region_event_kpis_reference),
        }
        return frames, open_rows


def event_pieces(facts: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """One piece row per event reported on or after `since`, sorted by grid and day."""
    return sorted_pieces(piece_rows(facts[facts["reported_at"] >= since]))


def region_event_kpis_reference(facts: pd.DataFrame, as_of: datetime, windows=WALL_WINDOWS) -> pd.DataFrame:
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
        kpis[name] = rate(kpis[num], kpis[den])
    return kpis


def counts_by_reference(facts: pd.DataFrame, as_of: datetime, column: str, levels=("city", "district", "street", "community")) -> pd.DataFrame:
    """Events reported per region, window and value of `column` (category, channel, status)."""
    out = []
    for window in WALL_WINDOWS:
        cohort = facts.loc[(facts["day"] >= window_start(as_of, window)).to_numpy(), ["grid_no", column]]
        per_grid = cohort.groupby(["grid_no", column], sort=False).size().rename("count").reset_index()
        for level in levels:
            g = per_grid.groupby([region_key(per_grid, level), per_grid[column]], sort=False)["count"].sum()
            rows = g.rename_axis(["code", column]).reset_index().assign(window=window)
            rows["code"] = code_text(rows["code"])
            out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["code", column, "count", "window"])


def counts_by(facts: pd.DataFrame, as_of: datetime, column: str, levels=("city", "district", "street", "community")) -> pd.DataFrame:
    """Events reported per region, window and value of `column` (category, channel, status), sorted by
    window, level, code and value (one count per grid, window and value, then one group-by a level)."""
    idx, wno = stacked_windows(facts, as_of, list(WALL_WINDOWS))
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
    df["window"] = pd.Series(np.asarray(list(WALL_WINDOWS), dtype=object)[df["wno"].to_numpy(np.int64)], index=df.index).astype(str)
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



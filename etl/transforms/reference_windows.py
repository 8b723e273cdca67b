"""The window KPIs as they were computed before issue 16 (one pass per window and level), kept unchanged
as the reference: EtlJobs(reference_windows=True) runs the events tick the old way (whole weeks of facts
rebuilt, every window frame from the 30 days' facts, the ledger scanned for the open events), and the bench
runs it beside the current one on the same source (`python3 cockpit.py bench --side-by-side`,
bench/ticks_side_by_side.py); tests/test_incremental_equals_full.py checks both give the same frames."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from config.region_codes import CODE_LENGTH
from contract.metrics import COUNTS, MEDIANS, RATES, STOCKS, WINDOWS
from contract.windows import window_start
from etl.transforms.regions import code_text, ratio, region_key, rolled_up_sums


def region_event_kpis_reference(facts: pd.DataFrame, as_of: datetime, windows=tuple(WINDOWS)) -> pd.DataFrame:
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


def counts_by_reference(facts: pd.DataFrame, as_of: datetime, column: str, levels=("city", "district", "street", "community")) -> pd.DataFrame:
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

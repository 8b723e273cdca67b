"""The forecast's backtest (docs/forecast.md): the demo simulator's events over 90 days, rolling origin.

- Accuracy: for each of the last 14 days (folds) and each district, the forecast of that day made from the days
  before it (etl/transforms/forecast.py event_forecast, the product's function) against the day's events, beside
  the seasonal naive forecast (same weekday last week) and the 7-day mean (what the wall's 近7日均值 line is):
  MASE (scaled by each district's in-sample same-weekday-last-week error) and sMAPE. Also over all fold days.
- Warnings: on every fold day, at hours 10, 13, 16, 19, 22, the expected rule (expected_alerts: districts and
  streets far outside the band) and the spike rule (spike_alerts: streets over 3 × the 7-day average of the same
  hours), each as the product runs it, against the surges the simulator planted (demo/sim_shape.py): a region-day
  alerted is right when its district surged that day (a storm: every district); precision and recall.

    python bench/forecast_backtest.py [--days 90] [--folds 14] [--alert-days 60] [--end 2026-10-20] [--seed N]

No database: the simulator's event rows are made in memory (Simulator._new_events), then typed as the ETL's facts
(grid number, day, category, time of report); spoiled rows (bad grid, no category) are left out as the ETL's
quarantine would."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.city import load_city  # noqa: E402
from config.region_codes import CODE_LENGTH  # noqa: E402
from demo.simulator import Simulator  # noqa: E402
from etl.transforms.alerts import AlertThresholds, spike_alerts  # noqa: E402
from etl.transforms.events import hourly_counts  # noqa: E402
from etl.transforms.forecast import (  # noqa: E402
    PROFILE_DAYS,
    daily_counts,
    event_forecast,
    expected_alerts,
    expected_by_hour,
    hourly_profile,
)

ROOT = Path(__file__).resolve().parent.parent
CHECK_HOURS = (10, 13, 16, 19, 22)


def simulated_facts(city, seed: int, first: datetime, end: datetime, events_per_day: int) -> pd.DataFrame:
    sim = Simulator(None, city, seed=seed, events_per_day=events_per_day)  # type: ignore[arg-type]
    sim._next_no = 1  # no database: numbering starts at 1
    parts = []
    day = first
    while day < end:
        parts.append(sim._new_events(day, min(day + timedelta(days=1), end)))
        day += timedelta(days=1)
    ev = pd.concat(parts, ignore_index=True)
    ev = ev[ev["grid_code"].isin(set(city.grids()["code"])) & ev["category"].notna()]
    t = pd.to_datetime(ev["reported_at"])
    return pd.DataFrame({"grid_no": ev["grid_code"].astype(np.int64).to_numpy(), "day": t.dt.normalize().to_numpy(),
                         "category": ev["category"].to_numpy(), "reported_at": t.to_numpy()}), sim


def mase_smape(pred: np.ndarray, actual: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    err = np.abs(pred - actual)
    denom = np.abs(pred) + np.abs(actual)
    return float(np.mean(err / scale)), float(np.mean(np.where(denom > 0, 2 * err / denom, 0)) * 100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--folds", type=int, default=14)
    ap.add_argument("--alert-days", type=int, default=60)
    ap.add_argument("--end", default="2026-10-20", help="the day after the last simulated day")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--events-per-day", type=int, default=3000)
    ap.add_argument("--json", default="", help="write the figures here too")
    ap.add_argument("--cache", default="", help="keep the fitted folds here (pickle) and reuse them: only the rules run")
    a = ap.parse_args()
    city = load_city(ROOT / "config" / "cities" / "nanjing")
    end = datetime.fromisoformat(a.end)
    first = end - timedelta(days=a.days)
    t0 = time.perf_counter()
    facts, sim = simulated_facts(city, a.seed, first, end, a.events_per_day)
    series, days, y = daily_counts(facts, pd.Timestamp(first), pd.Timestamp(end) - pd.Timedelta(days=1), category_levels=())
    keep = (series["code"].str.len() >= CODE_LENGTH["district"]).to_numpy()
    series, y = series[keep].reset_index(drop=True), y[keep]
    district = (series["code"].str.len() == CODE_LENGTH["district"]).to_numpy()
    surges = sim.surges(days[0].date(), days[-1].date())
    names = city.regions.set_index("code")["name"]
    print(f"simulated {len(facts):,} events, {len(days)} days, {len(series)} series, {len(surges)} surges "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)

    n_origins = max(a.folds, a.alert_days)
    origins = range(len(days) - n_origins, len(days))
    rows, alerts = [], []
    thresholds = AlertThresholds()
    fit_s = 0.0
    cache = Path(a.cache) if a.cache else None
    fits = pd.read_pickle(cache) if cache is not None and cache.exists() else {}
    for o in origins:
        day = days[o]
        c0 = time.process_time()
        if day not in fits:
            fits[day] = event_forecast(series, days[:o], y[:, :o], horizon=1, shown_days=1)
        f = fits[day]
        fit_s += time.process_time() - c0
        f = f[f["day"] == day]
        fi = f.set_index("code").loc[series["code"]]  # in the order of `series`
        exp, lo, hi = fi["expected"].to_numpy(), fi["lo"].to_numpy(), fi["hi"].to_numpy()
        scale = np.array([np.mean(np.abs(y[i, 7:o] - y[i, :o - 7])) or 1.0 for i in range(len(series))])
        for i in np.flatnonzero(district):
            rows.append({"day": day, "code": series["code"][i], "actual": y[i, o], "forecast": exp[i],
                         "naive7": y[i, o - 7], "mean7": y[i, o - 7:o].mean(), "scale": scale[i],
                         "lo": lo[i], "hi": hi[i]})
        # the warnings, as the wall would have raised them through that day
        window = facts[(facts["day"] >= day - pd.Timedelta(days=7)) & (facts["day"] <= day)]
        by_hour = hourly_counts(window, (day + pd.Timedelta(hours=23, minutes=59)).to_pydatetime())
        hist = facts[(facts["day"] >= day - pd.Timedelta(days=PROFILE_DAYS)) & (facts["day"] < day)]
        hourly = expected_by_hour(f, hourly_profile(hist), day)
        for h in CHECK_HOURS:
            at = (day + pd.Timedelta(hours=h, minutes=59)).to_pydatetime()
            for rule, found in (("expected", expected_alerts(by_hour, hourly, at, names)),
                                ("spike", spike_alerts(by_hour, at, names, thresholds))):
                for code, kind in zip(found["code"], found["kind"]):
                    alerts.append({"rule": rule, "day": day, "code": code, "hour": h, "kind": kind})
        print(f"{day:%Y-%m-%d} fitted ({fit_s:.1f} s CPU so far)", flush=True)
    if cache is not None:
        pd.to_pickle(fits, cache)
    acc = pd.DataFrame(rows)
    al = pd.DataFrame(alerts, columns=["rule", "day", "code", "hour", "kind"])
    # accuracy
    out: dict = {"seed": a.seed, "days": len(days), "first": str(days[0].date()), "last": str(days[-1].date()),
                 "events": int(len(facts)), "fit_cpu_s_per_origin": round(fit_s / len(origins), 2),
                 "series_per_origin": int(len(series)), "load_average": os.getloadavg()}
    for name, part in (("last_14", acc[acc["day"] >= days[-a.folds]]), ("all_folds", acc)):
        r = {}
        for m in ("forecast", "naive7", "mean7"):
            r[m] = dict(zip(("MASE", "sMAPE"), mase_smape(part[m].to_numpy(), part["actual"].to_numpy(),
                                                         part["scale"].to_numpy())))
        r["interval_80_coverage"] = float(((part["actual"] >= part["lo"]) & (part["actual"] <= part["hi"])).mean())
        r["folds"] = int(part["day"].nunique())
        r["district_days"] = int(len(part))
        out[name] = r
    # warnings: a region-day alerted (any check hour) vs the district-days the simulator planted a surge on
    alert_days = days[len(days) - a.alert_days:]
    districts = sorted(series["code"][district])
    truth = set()
    for _, s in surges[surges["day"].isin(alert_days)].iterrows():
        for d in (districts if s["kind"] == "storm" else [s["code"]]):
            truth.add((pd.Timestamp(s["day"]), d))
    out["surge_district_days"] = len(truth)
    out["surges"] = surges[surges["day"].isin(alert_days)].assign(day=lambda d: d["day"].dt.strftime("%Y-%m-%d")) \
        .to_dict("records")
    for rule in ("expected", "spike"):
        x = al[(al["rule"] == rule) & al["day"].isin(alert_days)].drop_duplicates(["day", "code"])
        hit = [(d, c[:CODE_LENGTH["district"]]) in truth for d, c in zip(x["day"], x["code"])]
        found = {(d, c[:CODE_LENGTH["district"]]) for d, c in zip(x["day"], x["code"])} & truth
        ordinary_days = {d for d in alert_days if not any(t[0] == d for t in truth)}
        out[rule] = {"alerts": int(len(x)), "on_surges": int(sum(hit)), "false": int(len(x) - sum(hit)),
                     "precision": float(np.mean(hit)) if len(hit) else None,
                     "recall": len(found) / len(truth) if truth else None,
                     "alerts_on_ordinary_days": int(x["day"].isin(ordinary_days).sum()),
                     "false_by_kind_and_level": {f"{k} {lv}": int(n) for (k, lv), n in x[~np.array(hit, bool)].assign(
                         lv=lambda d: np.where(d["code"].str.len() == CODE_LENGTH["district"], "district", "street"))
                         .groupby(["kind", "lv"]).size().items()},
                     "ordinary_days": len(ordinary_days)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(out, ensure_ascii=False, indent=1, default=str)
    print(text)
    if a.json:
        Path(a.json).write_text(text)


if __name__ == "__main__":
    main()

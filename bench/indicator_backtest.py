"""The city vital signs' band backtest (docs/forecast.md, "City vital signs"): the demo's feeds, rolling origin.

The demo's vital-sign feeds (demo/vital_signs.py: the SQLite tables and the public-opinion HTTP API) are written for
`--days` days up to `--end`, read through the demo's catalogue (config/indicators/demo.toml) by the product's feeds
(etl/state/indicator_series.py), rolled up per region (city, districts) at each hour mark as the product does.
For each fold (an origin at midnight, each of the last `--folds` days, as the nightly fit runs), every indicator
the catalogue forecasts is fitted on the 28 days before (etl/transforms/indicator_forecast.py indicator_forecast,
the product's function) and the next 24 hours are compared with what the feeds then gave:

- MASE, scaled per series by its in-sample error of the same hour yesterday, of the forecast, of the seasonal
  naive forecasts (same hour yesterday, same hour last week), and how often the 80 % band held the value;
- the crossing warning as the product raises it (forecast_crossings, COCKPIT_VITALS_FORECAST_HOURS = 6): at each
  hour of the fold's day where the value is not past the warn line, a warning said "past it within 6 h" or not,
  against whether it was (precision, recall), over the indicators with thresholds.

    python bench/indicator_backtest.py [--days 42] [--folds 7] [--end 2026-11-20] [--json out.json]"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.city import load_city  # noqa: E402
from config.indicators import DEMO_INDICATORS, parse_catalogue  # noqa: E402
from config.settings import ROOT  # noqa: E402
from demo.vital_signs import OpinionEndpoint, VitalSignsSimulator  # noqa: E402
from etl.source.indicator_feeds import make_readers  # noqa: E402
from etl.source.schema import writable_engine  # noqa: E402
from etl.state.indicator_series import IndicatorFeeds  # noqa: E402
from etl.transforms.indicator_forecast import (  # noqa: E402
    FIT_DAYS,
    forecast_crossings,
    forecast_ids,
    indicator_forecast,
    region_series,
)
from etl.transforms.indicators import indicator_hourly, indicator_info  # noqa: E402

AHEAD_H = 6


def _catalogue(api_url: str):
    import tomllib

    data = tomllib.loads(DEMO_INDICATORS.read_text(encoding="utf-8"))
    data["connections"]["opinion"]["base_url"] = api_url
    for conn in data["connections"].values():  # weeks read at once on a loaded machine: no read given up
        conn["timeout"] = 600
    return parse_catalogue(data, str(DEMO_INDICATORS))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=42)
    ap.add_argument("--folds", type=int, default=7)
    ap.add_argument("--end", default="2026-11-20", help="the last fold's day ends here (midnight)")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    end = pd.Timestamp(a.end)
    city = load_city(ROOT / "config" / "cities" / "nanjing")
    tmp = tempfile.mkdtemp(prefix="vitals-backtest-")
    url = f"sqlite:///{tmp}/source.db"
    t0 = time.perf_counter()
    VitalSignsSimulator(writable_engine(url), city).backfill(a.days, end.to_pydatetime())
    api = OpinionEndpoint(clock=lambda: end.to_pydatetime()).start()
    try:
        cat = _catalogue(api.url)
        feeds = IndicatorFeeds(cat, city, make_readers(cat, city, url), native_days=a.days + 1, wait_s=600)
        feeds.collect(end)
        assert not feeds.meta()["failing"], feeds.meta()["failing"]
    finally:
        api.stop()
    ids = forecast_ids(cat)
    info = indicator_info(cat)
    ranges = {i.id: i.range for i in cat.indicator if i.range is not None}
    hist = region_series(indicator_hourly(feeds.history(end, a.days, ids), info, city.regions, city.code))
    actual = hist.set_index(["indicator", "code", "hour"])["value"].sort_index()
    print(f"feeds read and rolled up: {time.perf_counter() - t0:.1f} s, {len(hist)} hourly values")
    rows, warn_rows, fit_s = [], [], []
    for k in range(a.folds, 0, -1):
        origin = end - pd.Timedelta(days=k)
        t1 = time.process_time()
        band, series = indicator_forecast(hist[hist["hour"] <= origin], info, origin, ranges, horizon_h=24)
        fit_s.append(time.process_time() - t1)
        for (ind_key, code_key), part in band.groupby(["indicator", "code"], sort=False):
            ind, code = str(ind_key), str(code_key)
            hours = pd.DatetimeIndex(part["hour"])
            y = actual.reindex(pd.MultiIndex.from_arrays([[ind] * len(hours), [code] * len(hours), hours])).to_numpy()
            day = actual.reindex(pd.MultiIndex.from_arrays([[ind] * len(hours), [code] * len(hours),
                                                            hours - pd.Timedelta(hours=24)])).to_numpy()
            week = actual.reindex(pd.MultiIndex.from_arrays([[ind] * len(hours), [code] * len(hours),
                                                             hours - pd.Timedelta(hours=168)])).to_numpy()
            train = hist[(hist["indicator"] == ind) & (hist["code"] == code)].set_index("hour")["value"].sort_index()
            train = train[(train.index <= origin) & (train.index > origin - pd.Timedelta(days=FIT_DAYS))]
            scale = np.nanmean(np.abs(train.to_numpy()[24:] - train.to_numpy()[:-24]))
            ok = np.isfinite(y)
            if not ok.any() or not scale > 0:
                continue
            e, lo, hi = part["expected"].to_numpy(), part["lo"].to_numpy(), part["hi"].to_numpy()
            rows.append({"indicator": ind, "code": code, "origin": origin, "n": int(ok.sum()),
                         "ae": float(np.abs(e - y)[ok].sum() / scale),
                         "ae_day": float(np.nansum(np.abs(day - y)[ok]) / scale),
                         "ae_week": float(np.nansum(np.abs(week - y)[ok]) / scale),
                         "covered": int(((y >= lo) & (y <= hi))[ok].sum())})
            # the warning, as the product raises it at each hour of the day (value now below the warn line)
            line = part["warn_line"].to_numpy()
            if not np.isfinite(line).any():
                continue
            above = info.set_index("indicator").at[ind, "direction"] == "above"
            for h in range(0, 24 - AHEAD_H):
                now_v, now_line = y[h], line[h]
                if not (np.isfinite(now_v) and np.isfinite(now_line)) or \
                        (now_v >= now_line if above else now_v <= now_line):
                    continue
                latest = pd.DataFrame([{"indicator": ind, "code": code, "level": "city" if len(code) == 4 else "district",
                                        "status": "ok", "direction": "above" if above else "below",
                                        "region_name": code, "name": ind}])
                warned = not forecast_crossings(part[["indicator", "code", "hour", "expected", "warn_line",
                                                      "alarm_line"]].assign(alarm_line=np.nan),
                                                latest, hours[h], AHEAD_H).empty
                seg, seg_line = y[h + 1:h + 1 + AHEAD_H], line[h + 1:h + 1 + AHEAD_H]
                with np.errstate(invalid="ignore"):
                    crossed = bool(np.any(seg >= seg_line) if above else np.any(seg <= seg_line))
                warn_rows.append({"indicator": ind, "warned": warned, "crossed": crossed})
    r = pd.DataFrame(rows)
    g = r.groupby("indicator", sort=False)
    table = pd.DataFrame({"series": g["code"].nunique(), "hours": g["n"].sum(),
                          "mase": g["ae"].sum() / g["n"].sum(), "mase_day": g["ae_day"].sum() / g["n"].sum(),
                          "mase_week": g["ae_week"].sum() / g["n"].sum(), "covered": g["covered"].sum() / g["n"].sum()})
    total = {"mase": r["ae"].sum() / r["n"].sum(), "mase_day": r["ae_day"].sum() / r["n"].sum(),
             "mase_week": r["ae_week"].sum() / r["n"].sum(), "covered": r["covered"].sum() / r["n"].sum()}
    w = pd.DataFrame(warn_rows)
    tp = int((w["warned"] & w["crossed"]).sum()) if len(w) else 0
    fp = int((w["warned"] & ~w["crossed"]).sum()) if len(w) else 0
    fn = int((~w["warned"] & w["crossed"]).sum()) if len(w) else 0
    out = {"days": a.days, "folds": a.folds, "end": str(end), "series": int(r.groupby(["indicator", "code"]).ngroups),
           "fit_cpu_s_per_fold": round(float(np.mean(fit_s)), 2),
           "per_indicator": table.round(3).reset_index().to_dict("records"),
           "total": {k: round(float(v), 3) for k, v in total.items()},
           "warnings": {"checks": len(w), "warned": int(w["warned"].sum()) if len(w) else 0, "true": tp, "false": fp,
                        "missed": fn, "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                        "recall": round(tp / (tp + fn), 3) if tp + fn else None}}
    print(table.round(3).to_string())
    print(json.dumps({k: v for k, v in out.items() if k != "per_indicator"}, ensure_ascii=False, default=str))
    if a.json:
        Path(a.json).write_text(json.dumps(out, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()

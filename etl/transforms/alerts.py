"""Alerts for the wall and the other screens, one frame: overdue events per district, streets whose
events today spike against their own history, districts whose camera online rate is under threshold.
Thresholds come from the settings (AlertThresholds); each row says kind, region, level, value,
threshold, since and a sentence (config/labels.py `alert_text_<kind>`, in this process's language; the
screens render their own from kind, value and threshold, so each shows its language)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from config.labels import label
from config.region_codes import CODE_LENGTH

COLUMNS = ["kind", "code", "name", "level", "value", "threshold", "since", "text"]
EXTRA = ["at"]  # a vital sign's forecast crossing: the hour it is expected to pass the line (NaT for the others)


@dataclass(frozen=True)
class AlertThresholds:
    overdue_min: int = 40  # overdue events in a district that raise an alert (twice as many: red)
    spike_factor: float = 3.0  # a street's events today over this many times its 7-day average, same hours
    spike_min: int = 8  # ... and at least this many events today
    camera_online_min: float = 0.92  # a district's camera online rate under this raises an alert
    at_risk_hours: float = 2.0  # 将超期: an open event due within this many hours (contract/metrics.py AT_RISK)
    at_risk_min: int = 20  # events at risk in a district that raise an alert (twice as many: red)
    dept_overdue_min: int = 100  # overdue cases of a top-level department (with its sub-units) that raise an alert
    # events today: "spike" (spike_factor × the 7-day average) or "expected" (the forecast's band); the product's
    # default is the setting's (COCKPIT_ALERT_RULE: expected), this one the transform's
    rule: str = "spike"
    expected_factor: float = 2.0  # the expected rule: so far today this many times (or 1/this) what was expected
    vitals_forecast_hours: float = 6.0  # a vital sign expected to pass its warn / alarm line within this many hours


def overdue_alerts(event_kpis: pd.DataFrame, overdue: pd.DataFrame, names: pd.Series,
                   t: AlertThresholds) -> pd.DataFrame:
    """Districts with at least `overdue_min` open events past deadline; since = the oldest deadline."""
    k = event_kpis[(event_kpis["code"].str.len() == CODE_LENGTH["district"]) & (event_kpis["window"] == "today")]
    k = k[k["overdue"] >= t.overdue_min]
    since = {} if overdue.empty else \
        overdue.groupby(overdue["grid_code"].str.slice(0, CODE_LENGTH["district"]))["due_at"].min().to_dict()
    return pd.DataFrame({
        "kind": "overdue", "code": k["code"], "name": k["code"].map(names),
        "level": ["red" if v >= 2 * t.overdue_min else "amber" for v in k["overdue"]],
        "value": k["overdue"].astype(float), "threshold": float(t.overdue_min),
        "since": pd.to_datetime([since.get(c, pd.NaT) for c in k["code"]]),
        "text": [label("alert_text_overdue", value=v, threshold=t.overdue_min) for v in k["overdue"]],
    })


def spike_alerts(by_hour: pd.DataFrame, as_of: datetime, names: pd.Series, t: AlertThresholds) -> pd.DataFrame:
    """Streets whose events so far today exceed spike_factor × their 7-day average for the same hours;
    since = the first hour of today at which the running count crossed that line."""
    h = by_hour[(by_hour["code"].str.len() == CODE_LENGTH["street"]) & (by_hour["hour"] <= pd.Timestamp(as_of).hour)]
    h = h.sort_values(["code", "hour"])
    g = h.groupby("code")
    h = h.assign(cum_today=g["today"].cumsum(), cum_avg=g["avg7"].cumsum())
    crossed = h[(h["cum_today"] >= t.spike_min) & (h["cum_today"] > t.spike_factor * h["cum_avg"])]
    last = h.groupby("code").tail(1).set_index("code")
    hit = last[(last["cum_today"] >= t.spike_min) & (last["cum_today"] > t.spike_factor * last["cum_avg"])]
    first_hour = crossed.groupby("code")["hour"].min()
    day = pd.Timestamp(as_of).normalize()
    codes = hit.index.to_series()
    ratio = hit["cum_today"] / hit["cum_avg"].where(hit["cum_avg"] > 0)
    return pd.DataFrame({
        "kind": "spike", "code": codes.values, "name": codes.map(names).values,
        "level": ["red" if (r != r or r >= 2 * t.spike_factor) else "amber" for r in ratio],
        "value": hit["cum_today"].astype(float).values, "threshold": (t.spike_factor * hit["cum_avg"]).values,
        "since": [day + pd.Timedelta(hours=int(first_hour[c])) for c in codes],
        "text": [label("alert_text_spike", value=v, threshold=t.spike_factor * a)
                 for v, a in zip(hit["cum_today"], hit["cum_avg"])],
    })


def camera_alerts(device_kpis: pd.DataFrame, names: pd.Series, as_of: datetime | None,
                  t: AlertThresholds) -> pd.DataFrame:
    """Districts whose camera online rate is under camera_online_min."""
    d = device_kpis[(device_kpis["code"].str.len() == CODE_LENGTH["district"]) & (device_kpis["cameras"] > 0)]
    d = d[d["camera_online_rate"] < t.camera_online_min]
    return pd.DataFrame({
        "kind": "camera", "code": d["code"], "name": d["code"].map(names),
        "level": ["red" if r < t.camera_online_min - 0.05 else "amber" for r in d["camera_online_rate"]],
        "value": d["camera_online_rate"].astype(float), "threshold": t.camera_online_min,
        "since": pd.Timestamp(as_of) if as_of is not None else pd.NaT,
        "text": [label("alert_text_camera", value=r, threshold=t.camera_online_min) for r in d["camera_online_rate"]],
    })


def at_risk_alerts(at_risk: pd.DataFrame, names: pd.Series, as_of: datetime, t: AlertThresholds) -> pd.DataFrame:
    """Districts with at least `at_risk_min` open events due within the horizon; since = as_of."""
    n = at_risk["grid_code"].str.slice(0, CODE_LENGTH["district"]).value_counts()
    n = n[n >= t.at_risk_min]
    return pd.DataFrame({
        "kind": "at_risk", "code": n.index, "name": names.reindex(n.index).to_numpy(),
        "level": ["red" if v >= 2 * t.at_risk_min else "amber" for v in n],
        "value": n.astype(float).to_numpy(), "threshold": float(t.at_risk_min), "since": pd.Timestamp(as_of),
        "text": [label("alert_text_at_risk", value=v, threshold=t.at_risk_min) for v in n],
    })


def department_alerts(open_events: pd.DataFrame, departments: pd.DataFrame, city_code: str, as_of: datetime,
                      t: AlertThresholds) -> pd.DataFrame:
    """Top-level departments (条, with their sub-units) with at least `dept_overdue_min` open cases past deadline
    (twice as many: red). The alert is the whole city's (code = the city's code, so every screen that shows the
    city's alerts shows it); name = the department's name; since = as_of."""
    tops = departments[(departments["depth"] == 0) & (departments["code"] != "")]
    od = open_events.loc[open_events["is_overdue"] == 1, "department"].astype(str)
    od = od[od != ""]
    counts = pd.Series([int(od.str.startswith(c).sum()) for c in tops["code"]], index=tops["name"].to_numpy(),
                       dtype="int64")
    hit = counts[counts >= t.dept_overdue_min]
    return pd.DataFrame({
        "kind": "dept_overdue", "code": city_code, "name": hit.index.to_numpy(dtype=object),
        "level": ["red" if v >= 2 * t.dept_overdue_min else "amber" for v in hit],
        "value": hit.astype(float).to_numpy(), "threshold": float(t.dept_overdue_min), "since": pd.Timestamp(as_of),
        "text": [label("alert_text_dept_overdue", value=v, threshold=t.dept_overdue_min) for v in hit],
    })


def wall_alerts(frames: dict[str, pd.DataFrame], regions: pd.DataFrame, as_of: datetime,
                thresholds: AlertThresholds, devices_as_of: datetime | None = None) -> pd.DataFrame:
    """Every alert of the published frames (event_kpis, overdue, by_hour, at_risk, device_kpis), red first."""
    names = regions.set_index("code")["name"]
    parts = []
    if frames.get("event_kpis") is not None and frames.get("overdue") is not None:
        parts.append(overdue_alerts(frames["event_kpis"], frames["overdue"], names, thresholds))
    if frames.get("by_hour") is not None and thresholds.rule == "expected" and frames.get("forecast_hourly") is not None:
        from etl.transforms.forecast import expected_alerts  # districts and streets outside today's band

        parts.append(expected_alerts(frames["by_hour"], frames["forecast_hourly"], as_of, names,
                                     thresholds.expected_factor, thresholds.spike_min))
    elif frames.get("by_hour") is not None:
        parts.append(spike_alerts(frames["by_hour"], as_of, names, thresholds))
    if frames.get("at_risk") is not None:
        parts.append(at_risk_alerts(frames["at_risk"], names, as_of, thresholds))
    if frames.get("open_events") is not None and frames.get("departments") is not None:  # 条
        city_code = str(regions.loc[regions["level"] == "city", "code"].iloc[0])
        parts.append(department_alerts(frames["open_events"], frames["departments"], city_code, as_of, thresholds))
    if frames.get("device_kpis") is not None:
        parts.append(camera_alerts(frames["device_kpis"], names, devices_as_of or as_of, thresholds))
    if frames.get("indicators") is not None:  # city vital signs past warn / alarm (etl/transforms/indicators.py)
        from etl.transforms.indicators import indicator_alerts

        parts.append(indicator_alerts(frames["indicators"]))
        if frames.get("indicator_forecast") is not None:  # ... and those expected to pass a line within N hours
            from etl.transforms.indicator_forecast import forecast_crossings

            parts.append(forecast_crossings(frames["indicator_forecast"], frames["indicators"], as_of,
                                            thresholds.vitals_forecast_hours))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("value", "threshold") else
                                          "datetime64[ns]" if c == "since" else "object") for c in COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out = out[COLUMNS + [c for c in EXTRA if c in out]]
    out["since"] = pd.to_datetime(out["since"])
    out["rank"] = (out["level"] != "red").astype(int)
    return out.sort_values(["rank", "kind", "value"], ascending=[True, True, False]).drop(columns="rank") \
        .reset_index(drop=True)

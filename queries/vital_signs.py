"""What the screens ask of the city vital signs (城市体征), as plain data: the frames `indicators` (one row per
indicator × region: value now, a day and a week ago, status; etl/transforms/indicators.py indicator_latest)
and `indicator_hourly` (the last 24 hour marks; indicator_hourly). Numbers and None only; components/
vital_signs.py turns them into tiles."""

from __future__ import annotations

import math

import pandas as pd

from contract import frames as F
from snapshots.reader import Snapshot

ALERTING = ("warn", "alarm")


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _hourly_by_key(snap: Snapshot) -> dict[tuple[str, str], list[float | None]]:
    """(indicator, code) -> the 24 hourly values, oldest first (built once per frame)."""
    def build(df: pd.DataFrame) -> dict:
        out: dict[tuple[str, str], list[float | None]] = {}
        d = df.sort_values(["indicator", "code", "hour"])
        for (ind, code), part in d.groupby(["indicator", "code"], sort=False):
            out[(str(ind), str(code))] = [_num(v) for v in part["value"].tolist()]
        return out

    if snap.frame(F.INDICATOR_HOURLY) is None:
        return {}
    return snap.frame_memo(F.INDICATOR_HOURLY, "by_key", build)


def has_vital_signs(snap: Snapshot) -> bool:
    """Whether the snapshot carries the vital signs at all (a deployment without COCKPIT_INDICATORS does not)."""
    df = snap.frame(F.INDICATORS)
    return df is not None and not df.empty


def _record(r: dict, spark: list[float | None] | None) -> dict:
    t = r.get("time")
    return {"indicator": r["indicator"], "name": r["name"], "theme": r["theme"], "unit": r["unit"],
            "code": r["code"], "region_name": r.get("region_name"), "level": r["level"],
            "value": _num(r["value"]), "time": None if t is None or pd.isna(t) else pd.Timestamp(t).to_pydatetime(),
            "value_day": _num(r["value_day"]), "value_week": _num(r["value_week"]),
            "change_day": _num(r["change_day"]), "change_week": _num(r["change_week"]), "status": r["status"],
            "warn": _num(r["warn"]), "alarm": _num(r["alarm"]), "direction": r["direction"], "basis": r["basis"],
            "decimals": int(r["decimals"]), "sites": int(r["sites"]), "wall": bool(r.get("wall", 1)),
            "spark": spark or []}


def wall_vital_signs(snap: Snapshot, code: str, limit: int) -> list[dict]:
    """The wall's tiles: region_vital_signs of the indicators the catalogue puts on the wall, the first `limit`."""
    return [t for t in region_vital_signs(snap, code) if t["wall"]][:limit]


def region_vital_signs(snap: Snapshot, code: str) -> list[dict]:
    """Every indicator that has a value at region `code`, in the catalogue's order, each with its last 24 hourly
    values (`spark`, oldest first; None where the feed had nothing)."""
    df = snap.frame(F.INDICATORS)
    if df is None or df.empty:
        return []
    hourly = _hourly_by_key(snap)
    rows = df[df["code"] == code].sort_values("order")
    return [_record(r, hourly.get((r["indicator"], code))) for r in rows.to_dict("records")]


def area_vital_alarms(snap: Snapshot, code: str) -> list[dict]:
    """The indicators past warn or alarm that concern a user's area: at the area itself, above it (the city's,
    its district's) or inside it; alarms first, then by the catalogue's order."""
    df = snap.frame(F.INDICATORS)
    if df is None or df.empty:
        return []
    codes = df["code"].astype(str)
    mine = df[df["status"].isin(ALERTING) & (codes.str.startswith(code) | codes.map(code.startswith))]
    mine = mine.assign(rank=(mine["status"] != "alarm").astype(int)).sort_values(["rank", "order", "code"])
    return [_record(r, None) for r in mine.to_dict("records")]

"""What each screen shows, sliced from the snapshot frames. Every number on a screen comes from a
function here, which names the frame (and so the etl/transforms function) it reads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from config.labels import label
from dashboard.snapshot_reader import Snapshot

# Map measures: name -> (frame, column, per km², higher is worse)
MAP_MEASURES = {
    "density": ("event_kpis", "reported", True, True),
    "overdue": ("event_kpis", "overdue", False, True),
    "safety_index": ("safety_latest", "safety_index", False, False),
    "camera_online_rate": ("device_kpis", "camera_online_rate", False, False),
}
MEASURE_LABELS = {"density": "事件密度(件/km²)", "overdue": "超期事件", "safety_index": "平安指数",
                  "camera_online_rate": "摄像头在线率"}


def warm(snap: Snapshot) -> None:
    """Build what the first requests on a new snapshot would: the tablet's piece index and the row
    indexes of the per-region frames (run by the snapshot reader before it swaps the snapshot in)."""
    from dashboard.window_views import piece_index

    piece_index(snap)
    for frame in ("event_kpis", "device_kpis", "safety_latest"):
        df = snap.frame(frame)
        if df is not None and not df.empty:
            _row_index(snap, frame, "window" in df and frame == "event_kpis")
    for frame in ("open_events", "overdue", "ticker"):
        df = snap.frame(frame)
        if df is not None and not df.empty:
            _code_order(snap, frame, "grid_code")


def _row_index(snap: Snapshot, frame: str, keyed: bool) -> dict:
    """Row position by code (or by (code, window)), built once per frame."""
    return snap.frame_memo(frame, f"rows_by_code:{keyed}", lambda df: first_row_by_key(df, keyed))


def _code_order(snap: Snapshot, frame: str, column: str):
    """The frame's row order sorted by a code column, and the sorted codes, built once per frame."""
    return snap.frame_memo(frame, f"sorted:{column}", lambda df: _sorted_codes(df[column]))


def region_row(snap: Snapshot, frame: str, code: str, window: str | None = None) -> dict:
    """One region's row of a frame (and window), empty if absent."""
    df = snap.frame(frame)
    if df is None or df.empty:
        return {}
    keyed = "window" in df and window is not None
    i = _row_index(snap, frame, keyed).get((code, window) if keyed else code)
    return {} if i is None else df.iloc[i].to_dict()


def under(snap: Snapshot, frame: str, code: str, column: str = "grid_code") -> pd.DataFrame:
    """The rows of a frame whose region code column starts with `code` (the region and below), in the
    frame's order: a binary search in the codes sorted once per snapshot version, not a scan."""
    df = snap.frame(frame)
    if df is None or df.empty:
        return df
    order, keys = _code_order(snap, frame, column)
    a, b = np.searchsorted(keys, code, "left"), np.searchsorted(keys, code + ":", "left")  # ':' sorts after 9
    return df.iloc[np.sort(order[a:b])]


def _sorted_codes(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys = codes.astype(str).to_numpy(dtype=object)
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def first_row_by_key(df: pd.DataFrame, by_window: bool) -> dict:
    """(code, window) or code -> position of its first row (built once per snapshot version)."""
    keys = zip(df["code"].tolist(), df["window"].tolist()) if by_window else df["code"].tolist()
    out: dict = {}
    for i, k in enumerate(keys):
        out.setdefault(k, i)
    return out


def region_kpis(snap: Snapshot, code: str, window: str) -> dict:
    """Event (event_kpis), device (device_kpis) and safety (safety_latest) figures of a region."""
    k = region_row(snap, "event_kpis", code, window)
    k.update({f: v for f, v in region_row(snap, "device_kpis", code).items() if f not in ("code", "level")})
    safety = region_row(snap, "safety_latest", nearest_safety_code(code))
    k.update({f: v for f, v in safety.items() if f != "code"})
    return k


def nearest_safety_code(code: str) -> str:
    """Safety index exists for the city, districts and streets; below, the street's applies."""
    return code[:9] if len(code) > 9 else code


def child_values(snap: Snapshot, city, code: str, window: str, measure: str) -> pd.DataFrame:
    """The children of a region with the chosen map measure (code, name, value, lon, lat)."""
    children = city.children(code)
    frame, col, per_area, _ = MAP_MEASURES[measure]
    df = snap.frame(frame)
    if df is None or df.empty:
        return children.assign(value=float("nan"))
    if "window" in df:
        df = df[df["window"] == window]
    if frame == "safety_latest" and len(code) >= 9:
        vals = pd.Series(df.set_index("code")[col].get(code[:9], float("nan")), index=children["code"])
    else:
        vals = df.set_index("code")[col].reindex(children["code"])
    out = children.assign(value=vals.to_numpy(dtype=float))
    if per_area:
        out["value"] = out["value"] / out["area_km2"].where(out["area_km2"] > 0)
    return out


def child_ranking(snap: Snapshot, city, code: str, window: str) -> pd.DataFrame:
    """Children of a region with their main event KPIs, worst overdue first."""
    children = city.children(code)[["code", "name", "level"]]
    df = snap.frame("event_kpis")
    if df is None or df.empty or children.empty:
        return children
    k = df[(df["window"] == window) & df["code"].isin(children["code"])]
    cols = ["code", "reported", "open", "overdue", "on_time_rate", "same_day_rate", "grid_settled_rate",
            "satisfaction_rate"]
    return children.merge(k[cols], on="code", how="left").sort_values(["overdue", "reported"], ascending=False)


def breakdown(snap: Snapshot, frame: str, column: str, code: str, window: str) -> pd.DataFrame:
    """Counts of a region's events by category/channel in a window, largest first."""
    df = snap.frame(frame)
    if df is None or df.empty:
        return pd.DataFrame(columns=[column, "count"])
    d = df[(df["code"] == code) & (df["window"] == window)]
    return d[[column, "count"]].sort_values("count", ascending=False)


def hourly(snap: Snapshot, code: str) -> pd.DataFrame:
    """Today's events by hour against the 7-day average (24 rows)."""
    df = snap.frame("by_hour")
    base = pd.DataFrame({"hour": range(24)})
    if df is None or df.empty:
        return base.assign(today=0, avg7=0.0)
    d = df[df["code"] == code][["hour", "today", "avg7"]]
    return base.merge(d, on="hour", how="left").fillna({"today": 0, "avg7": 0.0})


def ticker(snap: Snapshot, code: str = "", n: int = 12) -> pd.DataFrame:
    df = snap.frame("ticker")
    if df is None or df.empty:
        return pd.DataFrame(columns=["reported_at", "channel", "category", "street", "status"])
    return under(snap, "ticker", code).head(n)


def fmt_count(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v):,}"


def fmt_rate(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def fmt_number(v, digits: int = 1) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def fmt_minutes(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.0f}{label('minutes')}" if v < 120 else f"{v / 60:.1f}小时"


def short_name(city, code: str) -> str:
    """A region's name without its parent's (梅园新村社区第3网格 -> 第3网格), for small screens."""
    names = city.names
    name = names.get(code, code)
    parent = city.ancestors(code)[-1] if len(code) > len(city.code) else None
    pname = names.get(parent, "") if parent else ""
    return name[len(pname):] if pname and name.startswith(pname) and len(name) > len(pname) else name


def work_queue(snap: Snapshot, code: str) -> pd.DataFrame:
    """Open events under a region (open_events, etl/transforms/work_queue.py), earliest deadline first."""
    df = snap.frame("open_events")
    if df is None or df.empty:
        return pd.DataFrame(columns=["event_id", "grid_code", "category", "channel", "status", "is_overdue", "due_at"])
    return under(snap, "open_events", code)


def area_alerts(snap: Snapshot, code: str) -> list[dict]:
    """Alerts for a region and below: the published `alerts` frame when there is one, else street
    spikes (spikes) under the region; each {code, text, level}."""
    out = []
    alerts = snap.frame("alerts")
    if alerts is not None and not alerts.empty:
        col = "code" if "code" in alerts else ("grid_code" if "grid_code" in alerts else None)
        text_col = next((c for c in ("text", "message", "title") if c in alerts), None)
        if col and text_col:
            for r in alerts[alerts[col].astype(str).str.startswith(code)].head(10).to_dict("records"):
                out.append({"code": r[col], "text": str(r[text_col]), "level": str(r.get("level", "warn"))})
            return out
    sp = snap.frame("spikes")
    if sp is not None and not sp.empty:
        for r in sp[sp["code"].str.startswith(code)].to_dict("records"):
            out.append({"code": r["code"], "level": "warn",
                        "text": f"今日事件 {int(r['today'])} 件，为近7日同期均值 {r['avg7']:.1f} 的 {r['today'] / max(r['avg7'], 0.1):.1f} 倍"})
    return out


def region_kpis_yesterday(snap: Snapshot, code: str) -> dict:
    """A region's window-today event KPIs at the same clock time yesterday (event_kpis_yesterday,
    etl/transforms/yesterday.py): city, districts and streets."""
    return region_row(snap, "event_kpis_yesterday", code)


def region_alerts(snap: Snapshot, code: str) -> pd.DataFrame:
    """The alerts (etl/transforms/alerts.py) of a region's area, red first."""
    df = snap.frame("alerts")
    if df is None or df.empty:
        return pd.DataFrame(columns=["kind", "code", "name", "level", "value", "threshold", "since", "text"])
    return under(snap, "alerts", code, "code")


def alerted_children(snap: Snapshot, city, code: str) -> dict[str, str]:
    """Child region code -> worst alert level under it ('red' beats 'amber'), for highlighting a map."""
    out: dict[str, str] = {}
    n = len(code) + (2 if len(code) == 4 else 3)
    for r in region_alerts(snap, code).to_dict("records"):
        child = r["code"][:n]
        if len(child) == n and out.get(child) != "red":
            out[child] = r["level"]
    return out


def camera_status(snap: Snapshot, city, code: str) -> pd.DataFrame:
    """Children of a region with cameras, online, offline, online rate and blind grids (device_kpis)."""
    children = city.children(code)[["code", "name"]]
    df = snap.frame("device_kpis")
    cols = ["cameras", "cameras_online", "camera_online_rate", "blind_grids", "cameras_unplaced", "cameras_untagged"]
    if df is None or df.empty:
        return children.assign(**{c: float("nan") for c in [*cols, "offline"]})
    out = children.merge(df[["code", *(c for c in cols if c in df)]], on="code", how="left")
    return out.assign(offline=out["cameras"] - out["cameras_online"]).sort_values("camera_online_rate")


def safety_months(snap: Snapshot, code: str) -> pd.DataFrame:
    """The last 12 months of safety index and public sense of security of a region (safety_trend)."""
    df = snap.frame("safety_trend")
    if df is None or df.empty:
        return pd.DataFrame(columns=["month", "index_value", "public_security"])
    return df[df["code"] == nearest_safety_code(code)].sort_values("month")


def safety_ranking(snap: Snapshot, city, code: str) -> pd.DataFrame:
    """Children of a region with their latest safety index and sense of security, lowest first."""
    children = city.children(code)[["code", "name"]]
    df = snap.frame("safety_latest")
    if df is None or df.empty:
        return children.assign(safety_index=float("nan"), public_security=float("nan"), index_change=float("nan"))
    out = children.merge(df[["code", "safety_index", "public_security", "index_change"]], on="code", how="left")
    return out.sort_values("safety_index")


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def level_values(snap: Snapshot, city, code: str, window: str, measure: str, level: str | None = None) -> pd.DataFrame:
    """child_values, or with `level` the region's descendants at that level (the wall's street map)."""
    if level is None:
        return child_values(snap, city, code, window, measure)
    regions = city.regions[(city.regions["level"] == level) & city.regions["code"].str.startswith(code)]
    frame, col, per_area, _ = MAP_MEASURES[measure]
    df = snap.frame(frame)
    out = regions.reset_index(drop=True)
    if df is None or df.empty:
        return out.assign(value=float("nan"))
    if "window" in df:
        df = df[df["window"] == window]
    out = out.assign(value=df.set_index("code")[col].reindex(out["code"]).to_numpy(dtype=float))
    if per_area:
        out["value"] = out["value"] / out["area_km2"].where(out["area_km2"] > 0)
    return out


# --- the tablet's region panels (dashboard/region_panels.py) ---------------------------------------

SAFETY_PARTS = ("security", "fire", "traffic", "production", "disputes")  # etl/domain.SAFETY_COMPONENTS


def recurring_problems(snap: Snapshot, city, code: str, n: int = 20) -> pd.DataFrame:
    """A region's recurring-problem clusters (recurring, etl/transforms/recurring.py), biggest first,
    with `where`: street · community · grid short names of the grid holding most of its events."""
    df = snap.frame("recurring")
    cols = ["cluster_id", "category", "grid_code", "events", "open", "first_reported", "last_reported", "days",
            "example_ids", "where"]
    if df is None or df.empty:
        return pd.DataFrame(columns=cols)
    d = under(snap, "recurring", code).sort_values(["events", "open", "last_reported"],
                                                             ascending=False).head(n)
    where = [" · ".join(short_name(city, g[:k]) for k in (9, 12, 15) if g[:k] in city._index) for g in d["grid_code"]]
    return d.assign(where=where)[cols].reset_index(drop=True)


def recurring_totals(snap: Snapshot, code: str) -> dict:
    """How many clusters (recurring) a region has, the events in them and how many are open."""
    df = snap.frame("recurring")
    if df is None or df.empty:
        return {"clusters": 0, "events": 0, "open": 0}
    d = under(snap, "recurring", code)
    return {"clusters": len(d), "events": int(d["events"].sum()), "open": int(d["open"].sum())}


def safety_rank(snap: Snapshot, city, code: str) -> dict:
    """The latest safety month (safety_latest) of a region, or of its street below a street, with its
    components and its rank among its siblings by index (1 = highest): {code, own, month,
    safety_index, public_security, index_change, security_change, *SAFETY_PARTS, rank, of, level}."""
    s = nearest_safety_code(code)
    row = region_row(snap, "safety_latest", s)
    out = {**row, "code": s, "own": s == code, "level": city.level_of(s), "rank": None, "of": None}
    df = snap.frame("safety_latest")
    parents = city.ancestors(s)
    if row and parents and df is not None:
        siblings = df[df["code"].isin(city.children(parents[-1])["code"])]
        out["rank"] = int((siblings["safety_index"] > row["safety_index"]).sum()) + 1
        out["of"] = int(siblings["safety_index"].notna().sum())
    return out


def camera_summary(snap: Snapshot, code: str) -> dict:
    """A region's camera counts (device_kpis, etl/transforms/devices.py) with cameras_offline."""
    k = region_row(snap, "device_kpis", code)
    if k:
        k["cameras_offline"] = k["cameras"] - k["cameras_online"]
    return k


def blind_grid_names(snap: Snapshot, code: str, n: int = 20) -> list[str]:
    """Names of up to n grids of a region with no camera (blind_grids), in code order."""
    df = snap.frame("blind_grids")
    if df is None or df.empty:
        return []
    return df[df["code"].str.startswith(code)].sort_values("code")["name"].head(n).tolist()

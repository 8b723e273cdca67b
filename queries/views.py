"""What each screen shows, sliced from the snapshot frames. Every number on a screen comes from a
function here, which names the frame (and so the etl/transforms function) it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from config import region_codes
from contract import frames as F
from contract.metrics import FIGURE_NEEDS, NOT_CONNECTED, RATES, STOCKS, WALL_WINDOWS
from contract.rates import rate
from queries.pieces import piece_index
from snapshots.reader import Snapshot

# Map measures: name -> (frame, column, per km², higher is worse)
MAP_MEASURES = {
    "density": (F.EVENT_KPIS, "reported", True, True),
    "overdue": (F.EVENT_KPIS, "overdue", False, True),
    "safety_index": (F.SAFETY_LATEST, "safety_index", False, False),
    "camera_online_rate": (F.DEVICE_KPIS, "camera_online_rate", False, False),
}


def warm(snap: Snapshot) -> None:
    """Build what the first requests on a new snapshot would: the tablet's piece index and the row
    indexes of the per-region frames (run by the snapshot reader before it swaps the snapshot in)."""
    piece_index(snap)
    for frame in (F.EVENT_KPIS, F.DEVICE_KPIS, F.SAFETY_LATEST):
        df = frame_or_empty(snap, frame)
        if not df.empty:
            _row_index(snap, frame, "window" in df and frame is F.EVENT_KPIS)
    for frame in (F.OPEN_EVENTS, F.OVERDUE, F.TICKER):
        if not frame_or_empty(snap, frame).empty:
            _code_order(snap, frame, "grid_code")


def provided(snap: Snapshot) -> dict:
    """Which feeds and fields the source's mapping provides (the snapshot's meta `provided`, etl/source/mapping.py);
    {} for a snapshot that does not say (published before the mapping said it): then everything counts as given."""
    return snap.meta.get("provided") or {}


def connected(snap: Snapshot, need: str) -> bool:
    """Whether the source gives a feed or field of `provided` ("devices", "satisfaction", "stages.verified")."""
    value: object = provided(snap)
    for part in need.split("."):
        if not isinstance(value, dict) or part not in value:
            return True  # not said: given (an older snapshot, or a key this ETL does not know)
        value = value[part]
    return bool(value)


def not_connected(snap: Snapshot) -> frozenset[str]:
    """The figures the source cannot give (contract/metrics.py FIGURE_NEEDS): they read 未接入, never 0."""
    if not provided(snap):
        return frozenset()
    return snap.memo("not_connected", lambda: frozenset(
        f for f, needs in FIGURE_NEEDS.items() if not all(connected(snap, n) for n in needs)))


def honest(snap: Snapshot, figures: dict) -> dict:
    """`figures` with NOT_CONNECTED for every figure the source cannot give, whatever the frame held (a zero of
    a feed that is not there, a stage time copied from the stage before)."""
    gone = not_connected(snap)
    return {**figures, **dict.fromkeys(gone, NOT_CONNECTED)} if gone else figures


def honest_frame(snap: Snapshot, df: pd.DataFrame) -> pd.DataFrame:
    """honest() for a frame's columns: a column of a figure the source cannot give holds NOT_CONNECTED."""
    gone = not_connected(snap)
    cols = [c for c in df.columns if c in gone]
    return df.assign(**{c: pd.Series([NOT_CONNECTED] * len(df), index=df.index, dtype=object) for c in cols}) if cols else df


_DTYPES = {F.INT: "int64", F.FLOAT: "float64", F.TIME: "datetime64[ns]", F.TEXT: "object", F.CAT: "object"}


def frame_or_empty(snap: Snapshot, frame: F.Frame) -> pd.DataFrame:
    """A frame of the snapshot or, when it is absent, no rows with its declared columns and kinds: a query
    selects, filters, merges and sums the same way either way, and its missing figures come out NaN."""
    df = snap.frame(frame)
    if df is not None:
        return df
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES[kind]) for c, kind in frame.columns.items()})


def in_window(df: pd.DataFrame, window: str) -> pd.DataFrame:
    """The rows of a window in a frame keyed by window (event_kpis, by_category, by_channel: the wall's
    "today"; the tablet's windows come from the pieces, queries/window_views.py)."""
    return df[df["window"] == window] if "window" in df else df


def per_km2(regions: pd.DataFrame) -> pd.DataFrame:
    """The regions with `value` divided by their area (missing where the area is unknown or 0)."""
    return regions.assign(value=rate(regions["value"], regions["area_km2"]))


def _row_index(snap: Snapshot, frame: F.Frame, keyed: bool) -> dict:
    """Row position by code (or by (code, window)), built once per frame."""
    return snap.frame_memo(frame, f"rows_by_code:{keyed}", lambda df: first_row_by_key(df, keyed))


def _code_order(snap: Snapshot, frame: F.Frame, column: str):
    """The frame's row order sorted by a code column, and the sorted codes, built once per frame."""
    return snap.frame_memo(frame, f"sorted:{column}", lambda df: _sorted_codes(df[column]))


def region_row(snap: Snapshot, frame: F.Frame, code: str, window: str | None = None) -> dict:
    """One region's row of a frame (and window), empty if absent."""
    df = frame_or_empty(snap, frame)
    if df.empty:
        return {}
    keyed = "window" in df and window is not None
    i = _row_index(snap, frame, keyed).get((code, window) if keyed else code)
    return {} if i is None else df.iloc[i].to_dict()


def under(snap: Snapshot, frame: F.Frame, code: str, column: str = "grid_code") -> pd.DataFrame:
    """The rows of a frame whose region code column starts with `code` (the region and below), in the
    frame's order: a binary search in the codes sorted once per snapshot version, not a scan."""
    df = frame_or_empty(snap, frame)
    if df.empty:
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


def region_kpis(snap: Snapshot, code: str) -> dict:
    """Event (event_kpis: the wall's window, WALL_WINDOWS, "today"), device (device_kpis) and safety
    (safety_latest) figures of a region. No window argument: event_kpis holds the wall's window only, every
    other window comes from the pieces (queries/window_views.py tablet_window_figures)."""
    return honest(snap, {**region_row(snap, F.EVENT_KPIS, code, WALL_WINDOWS[0]), **devices_and_safety(snap, code)})


def devices_and_safety(snap: Snapshot, code: str) -> dict:
    """A region's device figures (device_kpis) and safety month (safety_latest; below a street, the street's)."""
    k = {f: v for f, v in region_row(snap, F.DEVICE_KPIS, code).items() if f not in ("code", "level")}
    k.update({f: v for f, v in region_row(snap, F.SAFETY_LATEST, nearest_safety_code(code)).items() if f != "code"})
    return k


def nearest_safety_code(code: str) -> str:
    """Safety index exists for the city, districts and streets; below, the street's applies."""
    return region_codes.safety_code(code)


def child_values(snap: Snapshot, city, code: str, window: str, measure: str) -> pd.DataFrame:
    """The children of a region with the chosen map measure (code, name, value, lon, lat)."""
    children = city.children(code)
    frame, col, per_area, _ = MAP_MEASURES[measure]
    df = in_window(frame_or_empty(snap, frame), window)
    if frame is F.SAFETY_LATEST and len(code) >= region_codes.CODE_LENGTH["street"]:  # below: the street's
        vals = pd.Series(df.set_index("code")[col].get(region_codes.safety_code(code), float("nan")), index=children["code"])
    else:
        vals = df.set_index("code")[col].reindex(children["code"])
    out = children.assign(value=vals.to_numpy(dtype=float))
    return measure_values(snap, out, col, per_area)


def measure_values(snap: Snapshot, regions: pd.DataFrame, column: str, per_area: bool) -> pd.DataFrame:
    """Regions with a map measure's `value`: per km² where it is a density; NOT_CONNECTED where the source
    cannot give the measure (the map then colours nothing)."""
    if column in not_connected(snap):
        return regions.assign(value=pd.Series([NOT_CONNECTED] * len(regions), index=regions.index, dtype=object))
    return per_km2(regions) if per_area else regions


def child_ranking(snap: Snapshot, city, code: str, window: str) -> pd.DataFrame:
    """Children of a region with their main event KPIs, worst overdue first."""
    children = city.children(code)[["code", "name", "level"]]
    df = in_window(frame_or_empty(snap, F.EVENT_KPIS), window)
    if df.empty or children.empty:
        return children
    k = df[df["code"].isin(children["code"])]
    cols = ["code", "reported", *STOCKS, *RATES]
    out = children.merge(k[cols], on="code", how="left").sort_values(["overdue", "reported"], ascending=False)
    return honest_frame(snap, out)


def breakdown(snap: Snapshot, frame: F.Frame, column: str, code: str, window: str) -> pd.DataFrame:
    """Counts of a region's events by category/channel in a window (the wall's, "today"), largest first."""
    df = in_window(frame_or_empty(snap, frame), window)
    return df[df["code"] == code][[column, "count"]].sort_values("count", ascending=False)


def hourly(snap: Snapshot, code: str) -> pd.DataFrame:
    """Today's events by hour against the 7-day average and today's expected events with the 80 % band
    (expected, lo, hi: the `forecast_hourly` frame, etl/transforms/forecast.py expected_by_hour; NaN without a
    forecast for this code) (24 rows)."""
    df = frame_or_empty(snap, F.BY_HOUR)
    base = pd.DataFrame({"hour": range(24)})
    fc = frame_or_empty(snap, F.FORECAST_HOURLY)
    base = base.merge(fc[fc["code"] == code][["hour", "expected", "lo", "hi"]], on="hour", how="left")
    if df.empty:
        return base.assign(today=0, avg7=0.0)
    d = df[df["code"] == code][["hour", "today", "avg7"]]
    return base.merge(d, on="hour", how="left").fillna({"today": 0, "avg7": 0.0})


def ticker(snap: Snapshot, code: str = "", n: int = 12) -> pd.DataFrame:
    return under(snap, F.TICKER, code).head(n)


def work_queue(snap: Snapshot, code: str) -> pd.DataFrame:
    """Open events under a region (open_events, etl/transforms/work_queue.py), earliest deadline first."""
    return under(snap, F.OPEN_EVENTS, code)


def area_alerts(snap: Snapshot, code: str) -> list[dict]:
    """The alerts (the `alerts` frame, etl/transforms/alerts.py) of a region and below, red first, at
    most 10, as rows (kind, code, level, value, threshold, ...). The wall, tablet and phone share this one
    definition; components/format.py alert_text says each in the screen's language."""
    return [{**r, "level": str(r["level"])} for r in region_alerts(snap, code).head(10).to_dict("records")]


def region_kpis_yesterday(snap: Snapshot, code: str) -> dict:
    """A region's window-today event KPIs at the same clock time yesterday (event_kpis_yesterday,
    etl/transforms/yesterday.py): city, districts and streets."""
    return region_row(snap, F.EVENT_KPIS_YESTERDAY, code)


def region_alerts(snap: Snapshot, code: str) -> pd.DataFrame:
    """The alerts (etl/transforms/alerts.py) of a region's area, red first."""
    return under(snap, F.ALERTS, code, "code")


def alerted_children(snap: Snapshot, city, code: str) -> dict[str, str]:
    """Child region code -> worst alert level under it ('red' beats 'amber'), for highlighting a map."""
    out: dict[str, str] = {}
    for r in region_alerts(snap, code).to_dict("records"):
        child = city.child_code(code, r["code"])
        if child and out.get(child) != "red":
            out[child] = r["level"]
    return out


def alerted_at(snap: Snapshot, code: str, level: str) -> dict[str, str]:
    """Region at `level` -> the level of its last alert, for the alerts of a region's area at or below `level`."""
    n = region_codes.CODE_LENGTH[level]
    return {r["code"][:n]: r["level"] for r in region_alerts(snap, code).to_dict("records") if len(r["code"]) >= n}


def camera_status(snap: Snapshot, city, code: str) -> pd.DataFrame:
    """Children of a region with cameras, online, offline, online rate and blind grids (device_kpis)."""
    children = city.children(code)[["code", "name"]]
    df = frame_or_empty(snap, F.DEVICE_KPIS)
    cols = ["cameras", "cameras_online", "camera_online_rate", "blind_grids", "cameras_unplaced", "cameras_untagged"]
    out = children.merge(df[["code", *(c for c in cols if c in df)]], on="code", how="left")
    return honest_frame(snap, out.assign(offline=out["cameras"] - out["cameras_online"]).sort_values("camera_online_rate"))


def safety_months(snap: Snapshot, code: str) -> pd.DataFrame:
    """The last 12 months of safety index and public sense of security of a region (safety_trend)."""
    df = frame_or_empty(snap, F.SAFETY_TREND)
    return df[df["code"] == nearest_safety_code(code)].sort_values("month")


def safety_ranking(snap: Snapshot, city, code: str) -> pd.DataFrame:
    """Children of a region with their latest safety index and sense of security, lowest first."""
    children = city.children(code)[["code", "name"]]
    df = frame_or_empty(snap, F.SAFETY_LATEST)
    out = children.merge(df[["code", "safety_index", "public_security", "index_change"]], on="code", how="left")
    return honest_frame(snap, out.sort_values("safety_index"))


def level_values(snap: Snapshot, city, code: str, window: str, measure: str, level: str | None = None) -> pd.DataFrame:
    """child_values, or with `level` the region's descendants at that level (the wall's street map)."""
    if level is None:
        return child_values(snap, city, code, window, measure)
    regions = city.regions[(city.regions["level"] == level) & city.regions["code"].str.startswith(code)]
    frame, col, per_area, _ = MAP_MEASURES[measure]
    df = in_window(frame_or_empty(snap, frame), window)
    out = regions.reset_index(drop=True)
    out = out.assign(value=df.set_index("code")[col].reindex(out["code"]).to_numpy(dtype=float))
    return measure_values(snap, out, col, per_area)


# --- the tablet's region panels (components/region_panels.py) ---------------------------------------

def recurring_problems(snap: Snapshot, code: str, n: int = 20) -> pd.DataFrame:
    """A region's recurring-problem clusters (recurring, etl/transforms/recurring.py), biggest first;
    grid_code: the grid holding most of its events."""
    cols = ["cluster_id", "category", "grid_code", "events", "open", "first_reported", "last_reported", "days",
            "example_ids"]
    d = under(snap, F.RECURRING, code).sort_values(["events", "open", "last_reported"], ascending=False).head(n)
    return d[cols].reset_index(drop=True)


def recurring_totals(snap: Snapshot, code: str) -> dict:
    """How many clusters (recurring) a region has, the events in them and how many are open."""
    d = under(snap, F.RECURRING, code)
    return {"clusters": len(d), "events": int(d["events"].sum()), "open": int(d["open"].sum())}


def safety_rank(snap: Snapshot, city, code: str) -> dict:
    """The latest safety month (safety_latest) of a region, or of its street below a street, with its
    components and its rank among its siblings by index (1 = highest): {code, own, month,
    safety_index, public_security, index_change, security_change, *SAFETY_COMPONENTS (contract/domain.py),
    rank, of, level}."""
    s = nearest_safety_code(code)
    row = region_row(snap, F.SAFETY_LATEST, s)
    out = {**row, "code": s, "own": s == code, "level": city.level_of(s), "rank": None, "of": None}
    df = frame_or_empty(snap, F.SAFETY_LATEST)
    parents = city.ancestors(s)
    if row and parents:
        siblings = df[df["code"].isin(city.children(parents[-1])["code"])]
        out["rank"] = int((siblings["safety_index"] > row["safety_index"]).sum()) + 1
        out["of"] = int(siblings["safety_index"].notna().sum())
    return honest(snap, out)


def camera_summary(snap: Snapshot, code: str) -> dict:
    """A region's camera counts (device_kpis, etl/transforms/devices.py) with cameras_offline."""
    k = region_row(snap, F.DEVICE_KPIS, code)
    if k:
        k["cameras_offline"] = k["cameras"] - k["cameras_online"]
    return honest(snap, k)


def blind_grid_names(snap: Snapshot, code: str, n: int = 20) -> list[str]:
    """Names of up to n grids of a region with no camera (blind_grids), in code order; none without devices."""
    if not connected(snap, "devices"):
        return []
    return under(snap, F.BLIND_GRIDS, code, "code").sort_values("code")["name"].head(n).tolist()


def at_risk(snap: Snapshot, code: str) -> pd.DataFrame:
    """The region's open events due within the horizon (at_risk, etl/transforms/at_risk.py), soonest first."""
    return under(snap, F.AT_RISK, code)


def supervisions(snap: Snapshot, code: str) -> pd.DataFrame:
    """The supervisions (督办) of a region's events with their outcome (supervisions frame), newest first."""
    return under(snap, F.SUPERVISIONS, code)


def supervision_totals(snap: Snapshot, code: str) -> dict:
    """How many of a region's cases were supervised, how many are still open, how many closed, closed by
    the new deadline, and the supervision on-time rate (SUPERVISION in contract/metrics.py)."""
    d = supervisions(snap, code)
    closed, in_time = int(d["closed_at"].notna().sum()), int(d["closed_in_time"].sum())
    return {"supervised": len(d), "supervised_open": int(d["is_open"].sum()), "supervised_closed": closed,
            "supervised_in_time": in_time, "supervision_on_time_rate": rate(in_time, closed)}


def open_supervisions(snap: Snapshot, code: str) -> dict[str, dict]:
    """Event id -> its latest supervision (level, note, new_due_at) for the region's cases still open."""
    d = supervisions(snap, code)
    if d.empty:
        return {}
    d = d[d["is_open"] == 1].sort_values("created_at", ascending=False).drop_duplicates("event_id")
    return {r["event_id"]: r for r in d[["event_id", "level", "note", "new_due_at"]].to_dict("records")}


def queue_supervised_first(queue: pd.DataFrame, supervised: dict[str, dict]) -> pd.DataFrame:
    """The work queue with supervised cases on top (soonest new deadline first), then the rest as they were."""
    if queue.empty or not supervised:
        return queue
    mine = queue["event_id"].isin(supervised)
    top = queue[mine].assign(_due=queue.loc[mine, "event_id"].map(lambda e: supervised[e]["new_due_at"]))
    return pd.concat([top.sort_values("_due", kind="stable").drop(columns="_due"), queue[~mine]])

"""The cameras around a point, and where the city cannot see (issue 28). Pure functions over the devices
feed (etl/source/mapped_feeds.py DEVICE_COLUMNS) and the ledger's events, with distances on the ground
(contract/ground.py: a local transverse Mercator in metres; the web tier's lookups a shapely STRtree over it, the
30 days' events here a k-d tree of scipy's: one nearest-camera query per event, no geometry object per event).

- camera_points: every camera with a position, with its x/y in metres, sorted by grid code (the
  `camera_points` frame; the web tier builds its STRtree once per version of it: queries/nearby.py).
- camera_gaps (补盲): per grid and per street, the events of the last 30 days and those with no online
  camera within the radius ("unseen": the city could not look at them).
- coord_fixes: the cameras whose coordinates are approximate or missing, with the events of their grid in
  the same 30 days (fixing a camera in a busy grid pays most).
- untagged_exposure (标签治理): per region at every level, the events of the same 30 days within the radius of a
  camera without a business tag (any status: tagging it is what the events ask for); and per untagged camera
  with a position, the events within the radius of it (the ones whose tagging pays most)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from config.region_codes import CODE_LENGTH
from contract.ground import Ground

POINT_COLUMNS = ["device_id", "grid_code", "lon", "lat", "x", "y", "online", "last_seen_at", "coord_quality", "tags",
                 "device_type"]
GAP_COLUMNS = ["code", "level", "events", "unseen"]
FIX_COLUMNS = ["device_id", "grid_code", "coord_quality", "device_type", "online", "tags", "grid_events"]
UNTAGGED_REGION_COLUMNS = ["code", "level", "events", "near_untagged"]
UNTAGGED_CAMERA_COLUMNS = ["device_id", "grid_code", "device_type", "online", "coord_quality", "events_near"]
NOT_VERIFIED = ("approximate", "missing")


def camera_points(devices: pd.DataFrame, ground: Ground) -> pd.DataFrame:
    """Cameras with a position (lon and lat known), their x/y in metres on `ground`, online as 0/1; sorted
    by grid code (unplaced ones, grid code "", first) then device id."""
    cam = devices[devices["kind"] == "camera"]
    lon = pd.to_numeric(cam["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(cam["lat"], errors="coerce").to_numpy(float)
    placed = np.isfinite(lon) & np.isfinite(lat)
    cam, lon, lat = cam[placed], lon[placed], lat[placed]
    x, y = ground.xy(lon, lat)
    out = pd.DataFrame({
        "device_id": cam["device_id"].astype(str).to_numpy(object),
        "grid_code": cam["grid_code"].fillna("").astype(str).to_numpy(object),
        "lon": lon, "lat": lat, "x": x, "y": y,
        "online": (cam["status"] == "online").astype("int64").to_numpy(),
        "last_seen_at": pd.to_datetime(cam["last_seen_at"]).to_numpy("datetime64[us]"),
        "coord_quality": cam["coord_quality"].fillna("").astype(str).to_numpy(object),
        "tags": cam["tags"].fillna("").astype(str).to_numpy(object),
        "device_type": cam["device_type"].fillna("").astype(str).to_numpy(object),
    })
    return out.sort_values(["grid_code", "device_id"], kind="stable").reset_index(drop=True)[POINT_COLUMNS]


def event_xy(events: pd.DataFrame, ground: Ground) -> tuple[np.ndarray, np.ndarray]:
    """The events' x/y in metres on `ground` (NaN without a position): computed once for 补盲 and 标签治理."""
    return ground.xy(events["lon"].to_numpy(float), events["lat"].to_numpy(float))


def near_any(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray, radius_m: float) -> np.ndarray:
    """For each point (x, y; finite): whether some point of (px, py) lies within `radius_m` metres, the radius
    included (the nearest one's distance, found by a k-d tree search bounded just past the radius)."""
    if not len(x) or not len(px):
        return np.zeros(len(x), bool)
    tree = cKDTree(np.column_stack([px, py]))
    # the search keeps distances below its bound (strictly), compared squared: bounded a hair past the radius
    d, _ = tree.query(np.column_stack([x, y]), k=1, distance_upper_bound=radius_m * (1 + 1e-9))
    return d <= radius_m


def unseen_events(events: pd.DataFrame, points: pd.DataFrame, ground: Ground, radius_m: float,
                  xy: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """For each event (lon, lat in the city's datum; `xy`: their event_xy, if known): True when no online camera
    of `points` is within `radius_m` on the ground (an event with no position counts as unseen)."""
    n = len(events)
    if n == 0:
        return np.zeros(0, bool)
    ex, ey = xy if xy is not None else event_xy(events, ground)
    on = points[points["online"] == 1]
    unseen = np.ones(n, bool)
    has = np.flatnonzero(np.isfinite(ex) & np.isfinite(ey))
    if on.empty or not len(has):
        return unseen
    unseen[has] = ~near_any(ex[has], ey[has], on["x"].to_numpy(float), on["y"].to_numpy(float), radius_m)
    return unseen


def counts_by_prefix(grid: pd.Series, length: int, weights: np.ndarray, at_least: bool = False
                     ) -> pd.DataFrame | None:
    """(code, events, weighted) per code prefix of `length` characters of the events' grid codes (text), in code
    order: the prefixes taken of each distinct code once, not of each event. With `at_least`, only codes at least
    that long count; without, every code's prefix (shorter ones as they are). None when no event counts."""
    codes, distinct = pd.factorize(grid)
    uniq = pd.Series(np.asarray(distinct, dtype=object))
    keep = (uniq.str.len() >= length).to_numpy(bool) if at_least else np.ones(len(uniq), bool)
    prefix_of, prefixes = pd.factorize(uniq.str.slice(0, length).where(keep, None))
    key = prefix_of[codes]
    on = key >= 0
    if not on.any():
        return None
    n = np.bincount(key[on], minlength=len(prefixes))
    w = np.bincount(key[on], weights=weights[on], minlength=len(prefixes)).round().astype("int64")
    out = pd.DataFrame({"code": np.asarray(prefixes, dtype=object), "events": n.astype("int64"), "weighted": w})
    return out[out["events"] > 0].sort_values("code", kind="stable").reset_index(drop=True)


def camera_gaps(events: pd.DataFrame, points: pd.DataFrame, ground: Ground, radius_m: float,
                xy: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """补盲: per grid and per street (level "grid" / "street"), the events (grid_code, lon, lat: those of the
    last 30 days; `xy`: their event_xy, if known) and how many had no online camera within `radius_m` (`unseen`);
    only regions with an unseen event, most unseen first."""
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("code", "level") else "int64") for c in GAP_COLUMNS})
    unseen = unseen_events(events, points, ground, radius_m, xy)
    grid = events["grid_code"].astype(str)
    parts = []
    for level in ("grid", "street"):
        c = counts_by_prefix(grid, CODE_LENGTH[level], unseen.astype("int64"))
        assert c is not None  # every event's code has a prefix of any length (a shorter code is its own)
        parts.append(c.rename(columns={"weighted": "unseen"}).assign(level=level))
    out = pd.concat(parts, ignore_index=True)
    out = out[(out["unseen"] > 0) & (out["code"].str.len() == out["level"].map(CODE_LENGTH))]
    return out.sort_values(["unseen", "events", "code"], ascending=[False, False, True],
                           kind="stable").reset_index(drop=True)[GAP_COLUMNS]


def coord_fixes(devices: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The cameras whose coordinates are approximate or missing, each with `grid_events`, the events of its
    grid (`events`: those of the last 30 days); busiest grid first, then device id."""
    cam = devices[(devices["kind"] == "camera") & devices["coord_quality"].isin(NOT_VERIFIED)]
    per_grid = events["grid_code"].value_counts()
    grid = cam["grid_code"].fillna("").astype(str)
    out = pd.DataFrame({
        "device_id": cam["device_id"].astype(str).to_numpy(object), "grid_code": grid.to_numpy(object),
        "coord_quality": cam["coord_quality"].astype(str).to_numpy(object),
        "device_type": cam["device_type"].fillna("").astype(str).to_numpy(object),
        "online": (cam["status"] == "online").astype("int64").to_numpy(),
        "tags": cam["tags"].fillna("").astype(str).to_numpy(object),
        "grid_events": grid.map(per_grid).fillna(0).astype("int64").to_numpy(),
    })
    return out.sort_values(["grid_events", "device_id"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)[FIX_COLUMNS]


def untagged_exposure(events: pd.DataFrame, points: pd.DataFrame, ground: Ground, radius_m: float,
                      xy: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """标签治理: (per region, per untagged camera). `events` (grid_code, lon, lat: those of the last 30 days) and
    the `camera_points` frame (a camera is untagged when its tags are blank, as device_kpis counts it).

    - per region (UNTAGGED_REGION_COLUMNS): every region at every level with an event (an event counts in the
      regions its code reaches: one placed only in a community counts there and above), its `events` and
      `near_untagged`, those within `radius_m` on the ground of at least one untagged camera; code order.
    - per camera (UNTAGGED_CAMERA_COLUMNS): every untagged camera with a position and `events_near`, the
      events within `radius_m` of it (an event near two such cameras counts for each); most first, then id.

    A nearest-camera query per event over a k-d tree of the untagged cameras, then one query per untagged camera
    over the events found near one (`xy`: the events' event_xy, if known), never a scan."""
    tags = points["tags"].fillna("").astype(str).str.strip()
    cams = points[(tags == "").to_numpy()].reset_index(drop=True)
    near = np.zeros(len(events), bool)
    per_cam = np.zeros(len(cams), "int64")
    if len(events) and len(cams):
        ex, ey = xy if xy is not None else event_xy(events, ground)
        has = np.flatnonzero(np.isfinite(ex) & np.isfinite(ey))
        if len(has):
            cx, cy = cams["x"].to_numpy(float), cams["y"].to_numpy(float)
            near[has] = near_any(ex[has], ey[has], cx, cy, radius_m)
            # the events within the radius of each camera (the radius included): counted over the events near any
            close = has[near[has]]
            if len(close):
                tree = cKDTree(np.column_stack([ex[close], ey[close]]))
                per_cam = tree.query_ball_point(np.column_stack([cx, cy]), radius_m, return_length=True).astype("int64")
    grid = events["grid_code"].fillna("").astype(str)
    parts = []
    for level, n in CODE_LENGTH.items():
        c = counts_by_prefix(grid, n, near.astype("int64"), at_least=True)
        if c is not None:
            parts.append(c.rename(columns={"weighted": "near_untagged"}).assign(level=level))
    regions = (pd.concat(parts, ignore_index=True).sort_values("code", kind="stable").reset_index(drop=True)
               if parts else pd.DataFrame({c: pd.Series(dtype=object if c in ("code", "level") else "int64")
                                           for c in UNTAGGED_REGION_COLUMNS}))
    per = pd.DataFrame({"device_id": cams["device_id"].astype(str).to_numpy(object),
                        "grid_code": cams["grid_code"].astype(str).to_numpy(object),
                        "device_type": cams["device_type"].astype(str).to_numpy(object),
                        "online": cams["online"].astype("int64").to_numpy(),
                        "coord_quality": cams["coord_quality"].astype(str).to_numpy(object),
                        "events_near": per_cam})
    per = per.sort_values(["events_near", "device_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return regions[UNTAGGED_REGION_COLUMNS], per[UNTAGGED_CAMERA_COLUMNS]

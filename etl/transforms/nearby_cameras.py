"""The cameras around a point, and where the city cannot see (issue 28). Pure functions over the devices
feed (etl/source/mapped_feeds.py DEVICE_COLUMNS) and the ledger's events, with distances on the ground
(contract/ground.py: a local transverse Mercator in metres, a shapely STRtree over it).

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
import shapely

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


def unseen_events(events: pd.DataFrame, points: pd.DataFrame, ground: Ground, radius_m: float) -> np.ndarray:
    """For each event (lon, lat in the city's datum): True when no online camera of `points` is within
    `radius_m` on the ground (an event with no position counts as unseen)."""
    n = len(events)
    if n == 0:
        return np.zeros(0, bool)
    ex, ey = ground.xy(events["lon"].to_numpy(float), events["lat"].to_numpy(float))
    on = points[points["online"] == 1]
    unseen = np.ones(n, bool)
    has = np.flatnonzero(np.isfinite(ex) & np.isfinite(ey))
    if on.empty or not len(has):
        return unseen
    tree = shapely.STRtree(shapely.points(on["x"].to_numpy(float), on["y"].to_numpy(float)))
    found = tree.query_nearest(shapely.points(ex[has], ey[has]), max_distance=radius_m, all_matches=False)
    unseen[has[found[0]]] = False
    return unseen


def camera_gaps(events: pd.DataFrame, points: pd.DataFrame, ground: Ground, radius_m: float) -> pd.DataFrame:
    """补盲: per grid and per street (level "grid" / "street"), the events (grid_code, lon, lat: those of the
    last 30 days) and how many had no online camera within `radius_m` (`unseen`); only regions with an
    unseen event, most unseen first."""
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("code", "level") else "int64") for c in GAP_COLUMNS})
    unseen = unseen_events(events, points, ground, radius_m)
    grid = events["grid_code"].astype(str).to_numpy(object)
    parts = []
    for level in ("grid", "street"):
        codes = pd.Series(grid).str.slice(0, CODE_LENGTH[level])
        g = pd.DataFrame({"code": codes, "unseen": unseen.astype("int64")}).groupby("code", sort=True)["unseen"]
        parts.append(pd.DataFrame({"code": g.size().index.to_numpy(object), "level": level,
                                   "events": g.size().to_numpy("int64"), "unseen": g.sum().to_numpy("int64")}))
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


def untagged_exposure(events: pd.DataFrame, points: pd.DataFrame, ground: Ground,
                      radius_m: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """标签治理: (per region, per untagged camera). `events` (grid_code, lon, lat: those of the last 30 days) and
    the `camera_points` frame (a camera is untagged when its tags are blank, as device_kpis counts it).

    - per region (UNTAGGED_REGION_COLUMNS): every region at every level with an event (an event counts in the
      regions its code reaches: one placed only in a community counts there and above), its `events` and
      `near_untagged`, those within `radius_m` on the ground of at least one untagged camera; code order.
    - per camera (UNTAGGED_CAMERA_COLUMNS): every untagged camera with a position and `events_near`, the
      events within `radius_m` of it (an event near two such cameras counts for each); most first, then id.

    One STRtree query over the untagged cameras (dwithin: pairs of event and camera), never a scan."""
    tags = points["tags"].fillna("").astype(str).str.strip()
    cams = points[(tags == "").to_numpy()].reset_index(drop=True)
    near = np.zeros(len(events), bool)
    per_cam = np.zeros(len(cams), "int64")
    if len(events) and len(cams):
        ex, ey = ground.xy(events["lon"].to_numpy(float), events["lat"].to_numpy(float))
        has = np.flatnonzero(np.isfinite(ex) & np.isfinite(ey))
        if len(has):
            tree = shapely.STRtree(shapely.points(cams["x"].to_numpy(float), cams["y"].to_numpy(float)))
            pairs = tree.query(shapely.points(ex[has], ey[has]), predicate="dwithin", distance=radius_m)
            near[has[np.unique(pairs[0])]] = True
            per_cam = np.bincount(pairs[1], minlength=len(cams)).astype("int64")
    grid = pd.Series(events["grid_code"].fillna("").astype(str).to_numpy(object))
    parts = []
    for level, n in CODE_LENGTH.items():
        keep = (grid.str.len() >= n).to_numpy()
        if not keep.any():
            continue
        g = pd.DataFrame({"code": grid[keep].str.slice(0, n).to_numpy(object),
                          "near": near[keep].astype("int64")}).groupby("code", sort=True)["near"]
        parts.append(pd.DataFrame({"code": g.size().index.to_numpy(object), "level": level,
                                   "events": g.size().to_numpy("int64"), "near_untagged": g.sum().to_numpy("int64")}))
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

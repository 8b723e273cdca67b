"""The cameras around a point and 补盲 (issue 28), as plain data from the snapshot.

- nearby_cameras: a lookup in a shapely STRtree over the `camera_points` frame (x/y in metres, written by
  etl/transforms/nearby_cameras.py:camera_points), built once per version of that frame (frame_memo), never a
  scan; the query point goes through the same projection (contract/ground.py). Nearest first (ties: device
  id), only the cameras inside the caller's scope (a grid-code prefix).
- spot_point: where "the cameras behind an alert" are looked for: a grid's centre; for a street (or larger),
  the centre of its grid with the most events today (event_pieces), else in the last 30 days, else its own.
- grid_staff: a grid's staff on duty (the `grid_staff` frame; only with a staff feed).
- camera_gaps / coord_fixes: the `camera_gaps` and `camera_fixes` frames of a region (etl/transforms/
  nearby_cameras.py: over the last 30 days)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from config import region_codes
from contract import frames as F
from contract.ground import Ground, compass
from contract.pieces import day_number
from queries.views import connected, under
from queries.window_views import piece_index
from snapshots.reader import Snapshot

NEARBY_COLUMNS = ["device_id", "grid_code", "distance_m", "direction", "online", "last_seen_at", "coord_quality",
                  "tags", "device_type", "lon", "lat"]


@dataclass(frozen=True)
class CameraIndex:
    """The cameras of one `camera_points` frame as plain numpy columns and an STRtree over their x/y
    (positions in the frame): a lookup indexes arrays, it never touches the frame's pandas columns."""
    columns: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    grids: np.ndarray
    tree: shapely.STRtree | None

    @classmethod
    def build(cls, df: pd.DataFrame) -> CameraIndex:
        x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
        tree = shapely.STRtree(shapely.points(x, y)) if len(df) else None
        cols = {c: df[c].to_numpy(float if c in ("lon", "lat") else "int64" if c == "online" else
                                  "datetime64[us]" if c == "last_seen_at" else object)
                for c in ("device_id", "grid_code", "online", "last_seen_at", "coord_quality", "tags", "device_type",
                          "lon", "lat")}
        return cls(cols, x, y, cols["device_id"].astype(str), cols["grid_code"].astype(str), tree)


def devices_frame(snap: Snapshot, frame: F.Frame) -> pd.DataFrame | None:
    """A frame of the devices feed; None when the feed is not connected (the snapshot's meta `provided`: its
    frames then hold no camera, which is "未接入", not "every grid blind") or the frame is not published."""
    return snap.frame(frame) if connected(snap, "devices") else None


def camera_index(snap: Snapshot) -> CameraIndex | None:
    """The STRtree of the snapshot's cameras, built once per version of the camera_points frame."""
    if devices_frame(snap, F.CAMERA_POINTS) is None:
        return None
    return snap.frame_memo(F.CAMERA_POINTS, "strtree", CameraIndex.build)


def nearby_cameras(snap: Snapshot, ground: Ground, lon: float, lat: float, radius_m: float, scope: str,
                   everywhere: bool = False) -> list[dict] | None:
    """The cameras within `radius_m` on the ground of (lon, lat) (the city's datum) whose grid code starts with
    `scope` (with `everywhere`, also those placed in no grid), nearest first, then by device id: one dict per
    camera with NEARBY_COLUMNS (distance_m in metres, direction the compass point of the camera seen from the
    point; plain Python values: a lookup builds no DataFrame). None when the snapshot has no camera frame (the
    devices feed is not connected: 未接入)."""
    idx = camera_index(snap)
    if idx is None:
        return None
    if idx.tree is None or not (np.isfinite(lon) and np.isfinite(lat)):
        return []
    px, py = ground.xy([lon], [lat])
    hits = np.asarray(idx.tree.query(shapely.points(px[0], py[0]), predicate="dwithin", distance=radius_m), dtype=int)
    if len(hits):
        grids = idx.grids[hits]
        keep = np.char.startswith(grids, scope) | (everywhere & (grids == ""))
        hits = hits[keep]
    dx, dy = idx.x[hits] - px[0], idx.y[hits] - py[0]
    dist = np.hypot(dx, dy)
    order = np.lexsort((idx.ids[hits], dist))
    hits, dx, dy, dist = hits[order], dx[order], dy[order], dist[order]
    c = idx.columns
    cols = {"device_id": c["device_id"][hits], "grid_code": c["grid_code"][hits], "distance_m": dist,
            "direction": compass(dx, dy), "online": c["online"][hits], "last_seen_at": c["last_seen_at"][hits],
            "coord_quality": c["coord_quality"][hits], "tags": c["tags"][hits], "device_type": c["device_type"][hits],
            "lon": c["lon"][hits], "lat": c["lat"][hits]}
    return [dict(zip(NEARBY_COLUMNS, row)) for row in zip(*(cols[k].tolist() for k in NEARBY_COLUMNS))]


def blind_grid(snap: Snapshot, grid_code: str) -> bool | None:
    """Whether a grid has no camera at all (blind_grids); None when the devices feed is not connected."""
    df = devices_frame(snap, F.BLIND_GRIDS)
    if df is None:
        return None
    return grid_code in snap.frame_memo(F.BLIND_GRIDS, "codes", lambda d: frozenset(d["code"].tolist()))


def spot_point(snap: Snapshot, city, code: str, as_of) -> tuple[str, float, float]:
    """(grid code, lon, lat) of where to look for the cameras behind an alert of `code`: a grid's centre; for
    a larger region, the centre of its grid with the most events today (event_pieces), else in the last 30
    days, else the region's own centre (its code returned)."""
    regions = city.regions.set_index("code")
    if len(code) < region_codes.CODE_LENGTH["grid"]:
        grids = regions.index[(regions["level"] == "grid") & regions.index.str.startswith(code)].tolist()
        index = piece_index(snap)
        if index is not None and grids:
            today = day_number(pd.Timestamp(as_of).date())
            for first in (today, today - 29):
                t = index.child_totals(grids, first, today)
                t = t[t["reported"] > 0].sort_values(["reported", "code"], ascending=[False, True])
                if len(t):
                    code = str(t["code"].iloc[0])
                    break
    r = regions.loc[code]
    return code, float(r["lon"]), float(r["lat"])


def camera_gaps(snap: Snapshot, code: str, level: str, n: int = 10) -> pd.DataFrame | None:
    """补盲: a region's grids or streets (`level`) with the most events of the last 30 days that no online
    camera was near (camera_gaps: code, level, events, unseen), most unseen first; None if not connected."""
    df = devices_frame(snap, F.CAMERA_GAPS)
    if df is None:
        return None
    d = under(snap, F.CAMERA_GAPS, code, "code")
    return d[d["level"] == level].sort_values(["unseen", "events", "code"], ascending=[False, False, True],
                                              kind="stable").head(n)


def coord_fixes(snap: Snapshot, code: str, n: int = 10) -> pd.DataFrame | None:
    """A region's cameras with approximate or missing coordinates in its busiest grids (camera_fixes), the
    busiest first; None if not connected."""
    df = devices_frame(snap, F.CAMERA_FIXES)
    if df is None:
        return None
    d = under(snap, F.CAMERA_FIXES, code)
    return d.sort_values(["grid_events", "device_id"], ascending=[False, True], kind="stable").head(n)


def untagged_events(snap: Snapshot, city, code: str) -> dict | None:
    """标签治理 of a region and its children: {"region": its row (events, near_untagged, cameras_untagged; zeros when
    it had none), "children": city.children(code) with cameras_untagged (device_kpis), events and near_untagged
    (0 for a child without), most near_untagged first}, from the
    `untagged_events` frame (etl/transforms/nearby_cameras.py untagged_exposure: the last 30 days). None when the
    devices feed is not connected or the frame is not computed yet."""
    df = devices_frame(snap, F.UNTAGGED_EVENTS)
    if df is None:
        return None
    by_code = snap.frame_memo(F.UNTAGGED_EVENTS, "by_code", lambda d: d.set_index("code"))
    children = city.children(code)[["code", "name"]].reset_index(drop=True)
    got = by_code.reindex(children["code"])
    kpis = (snap.frame_memo(F.DEVICE_KPIS, "by_code", lambda d: d.set_index("code"))
            if snap.frame(F.DEVICE_KPIS) is not None else None)
    untagged = kpis["cameras_untagged"] if kpis is not None and "cameras_untagged" in kpis else pd.Series(dtype="int64")
    children = children.assign(cameras_untagged=untagged.reindex(children["code"]).fillna(0).astype("int64").to_numpy(),
                               events=got["events"].fillna(0).astype("int64").to_numpy(),
                               near_untagged=got["near_untagged"].fillna(0).astype("int64").to_numpy())
    row = by_code.loc[code] if code in by_code.index else None
    return {"region": {"events": int(row["events"]) if row is not None else 0,
                       "near_untagged": int(row["near_untagged"]) if row is not None else 0,
                       "cameras_untagged": int(untagged.get(code, 0))},
            "children": children.sort_values(["near_untagged", "code"], ascending=[False, True], kind="stable")}


def untagged_cameras(snap: Snapshot, code: str, n: int = 10) -> pd.DataFrame | None:
    """A region's untagged cameras with the most events of the last 30 days within the radius (untagged_cameras),
    only those with an event near; None if not connected or not computed yet."""
    if devices_frame(snap, F.UNTAGGED_CAMERAS) is None:
        return None
    d = under(snap, F.UNTAGGED_CAMERAS, code)
    d = d[d["events_near"] > 0]
    return d.sort_values(["events_near", "device_id"], ascending=[False, True], kind="stable").head(n)


def grid_staff(snap: Snapshot, grid_code: str) -> list[dict] | None:
    """The staff on duty of one grid (the `grid_staff` frame, etl/transforms/staff.py: leader, worker, then the N),
    as plain dicts (grid_code, role, name, phone: unmasked; the screen masks); [] for a grid without any. None when
    the source has no staff feed (then no section is shown at all). The caller has scope-checked the grid."""
    if not connected(snap, "staff") or snap.frame(F.GRID_STAFF) is None or len(grid_code) != region_codes.GRID_DIGITS:
        return None
    d = under(snap, F.GRID_STAFF, grid_code)
    return d[d["grid_code"] == grid_code].to_dict("records")

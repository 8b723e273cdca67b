"""Geometry of a city model: seeded Voronoi partitions, topology-preserving simplification of a coverage,
noding of shared borders and rounding to the output precision.

Moved from scripts/build_city.py unchanged in behaviour (rebuilding Nanjing gives byte-identical files):
the synthetic street/community/grid polygons of a city built from the packages come from `partition`, and
both the build and the GIS import simplify a level with `simplify_shared`, so neighbours keep identical
borders. Areas are equirectangular at the polygon's latitude (error < 0.5 %), in km²."""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

BASE_SEED = 20240601         # change => different (but still deterministic) polygons
LLOYD_STEPS = 2
DECIMALS = 5                 # coordinate rounding in the geojson (~1 m)
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQ = 111.320


def polygonal(g) -> Polygon | MultiPolygon:
    """Keep only the polygonal parts of a geometry (drops touching lines/points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys: list[Polygon] = []
    for p in parts:
        polys.extend(shapely.get_parts(p))
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def area_km2(g) -> float:
    """Approximate area: equirectangular scaling at the polygon's centroid latitude (<0.5 % error)."""
    if g.is_empty:
        return 0.0
    lat = g.centroid.y
    return g.area * KM_PER_DEG_LON_EQ * math.cos(math.radians(lat)) * KM_PER_DEG_LAT


def rng_for(code: str, seed: int = BASE_SEED) -> np.random.Generator:
    return np.random.default_rng([seed, int(code)])


def sample_points(parent, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform random points inside parent (rejection sampling in the bbox)."""
    minx, miny, maxx, maxy = parent.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        m = max(64, 4 * n)
        xy = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
        ok = shapely.contains_xy(parent, xy[:, 0], xy[:, 1])
        out = np.vstack([out, xy[ok]])
    return out[:n]


def voronoi_cells(parent, pts: np.ndarray) -> list:
    minx, miny, maxx, maxy = parent.bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env, ordered=True)
    cells = shapely.get_parts(vor)
    if len(cells) != len(pts):
        raise RuntimeError("voronoi lost a seed (duplicate points?)")
    return [polygonal(c) for c in shapely.intersection(cells, parent)]


def merge_fragments(cells: list, pts: np.ndarray) -> list:
    """Give detached fragments of a cell to the neighbour sharing the longest border.

    A Voronoi cell clipped to a non-convex parent can fall apart in pieces; the piece that
    holds the seed stays, the others go to the neighbouring cell they touch most.  The
    union of all cells is unchanged, so the tiling property is kept.  Fragments that touch
    no other cell (islands of a multi-part parent) stay with their Voronoi cell.
    """
    cells = list(cells)
    for i in range(len(cells)):
        parts = list(shapely.get_parts(cells[i]))
        if len(parts) < 2:
            continue
        seed = shapely.points(pts[i])
        keep = [p for p in parts if p.intersects(seed)] or [max(parts, key=lambda p: p.area)]
        for part in parts:
            if part is keep[0]:
                continue
            best, best_len = None, 0.0
            for j in range(len(cells)):
                if j == i:
                    continue
                if not part.intersects(cells[j]):
                    continue
                shared = part.boundary.intersection(cells[j].boundary).length
                if shared > best_len:
                    best, best_len = j, shared
            if best is None:
                keep.append(part)
            else:
                cells[best] = polygonal(shapely.union(cells[best], part))
        cells[i] = keep[0] if len(keep) == 1 else MultiPolygon(keep)
    return cells


def partition(parent, n: int, code: str, seed: int = BASE_SEED) -> list:
    """Split parent into n seeded Voronoi cells that tile it exactly."""
    if n <= 1:
        return [parent]
    rng = rng_for(code, seed)
    shapely.prepare(parent)
    pts = sample_points(parent, n, rng)
    for _ in range(LLOYD_STEPS):
        cells = voronoi_cells(parent, pts)
        cen = shapely.get_coordinates(shapely.centroid(cells))
        inside = shapely.contains_xy(parent, cen[:, 0], cen[:, 1])
        pts = np.where(inside[:, None], cen, pts)
    cells = voronoi_cells(parent, pts)
    # order cells north-west -> south-east so consecutive codes are neighbours-ish
    order = np.lexsort((pts[:, 0], -np.round(pts[:, 1], 2)))
    cells = merge_fragments(cells, pts)
    return [cells[k] for k in order]


def simplify_shared(districts: dict[str, object], tolerance: float, fill_gaps: bool = True) -> dict[str, object]:
    """Topology-preserving simplification of a polygon coverage.

    The boundaries are noded into arcs (shared borders become one arc), each arc is
    simplified once (end points are kept) and rounded, and the faces are rebuilt with
    polygonize; each face goes to the original district it overlaps most.  Neighbours
    therefore keep identical borders: no gaps, no overlaps.  A face no polygon overlaps (a hole
    enclosed by several polygons: a gap in the coverage) goes to the nearest one with `fill_gaps`,
    and is dropped without it (the GIS import keeps a city's gaps as gaps; the report lists them).
    """
    codes = list(districts)
    geoms = [districts[c] for c in codes]
    noded = shapely.union_all([g.boundary for g in geoms])
    arcs = shapely.get_parts(shapely.line_merge(noded))
    simp = shapely.simplify(arcs, tolerance, preserve_topology=True)
    simp = shapely.transform(simp, lambda xy: np.round(xy, DECIMALS))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(simp))))
    owner: dict[str, list] = {c: [] for c in codes}
    tree = shapely.STRtree(geoms)
    for f in faces:
        if f.area == 0:
            continue
        cand = tree.query(f)
        ov = [(shapely.intersection(f, geoms[k]).area, k) for k in cand]
        if ov and max(ov)[0] > 0:
            k = max(ov)[1]
        elif not fill_gaps:
            continue
        else:
            k = int(np.argmin([f.distance(g) for g in geoms]))
        owner[codes[k]].append(f)
    out = {}
    for c in codes:
        g = polygonal(shapely.union_all(owner[c]))
        out[c] = g
    return out


def rounded_coords(obj):
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), DECIMALS) for v in obj[:2]]
        return [rounded_coords(o) for o in obj]
    return obj


def node_coverage(geom: dict[str, object], leaf_codes: list[str], eps: float = 1e-9) -> dict[str, object]:
    """Insert into every polygon the coverage vertices that lie on its boundary.

    Children are clipped separately, so a vertex where two grids meet on a street edge is
    not a vertex of the street polygon nor of the grids across the edge (a T-junction).
    Rounding would then move it off the edge and open slivers.  Snapping every polygon to
    the vertices of the finest level (the grids, which hold every boundary vertex of every
    level) makes shared borders carry identical vertex lists on both sides and in parents,
    so rounding moves them identically.
    """
    xy = np.unique(np.concatenate([shapely.get_coordinates(geom[c]) for c in leaf_codes]), axis=0)
    # merge near-duplicate vertices (the same junction computed by two clip operations)
    tree = shapely.STRtree(shapely.points(xy))
    a, b = tree.query(shapely.points(xy), predicate="dwithin", distance=eps)
    root = np.arange(len(xy))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for i, j in zip(a.tolist(), b.tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            root[max(ri, rj)] = min(ri, rj)
    canon = np.array([find(i) for i in range(len(xy))])
    xy = xy[np.unique(canon)]
    tree = shapely.STRtree(shapely.points(xy))
    out = {}
    for code, g in geom.items():
        idx = tree.query(g.boundary, predicate="dwithin", distance=eps)
        if len(idx):
            g = shapely.snap(g, shapely.multipoints(xy[idx]), eps)
        out[code] = g
    return out


def finalize(g) -> tuple[object, bool]:
    """Round every vertex to the output precision; identical vertices round identically.

    Plain vertex rounding (not snap rounding) keeps shared borders identical.  A polygon
    that rounding makes invalid (rare; tiny spikes) is repaired with make_valid; the flag says so.
    """
    r = shapely.transform(g, lambda xy: np.round(xy, DECIMALS))
    r = shapely.remove_repeated_points(r)
    if not r.is_valid:
        return polygonal(shapely.make_valid(r)), True
    return r, False

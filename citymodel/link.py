"""Check a city's layers feature by feature, link the levels and give every region a nested code.

Per feature: an empty code, a missing or non-polygonal geometry and a geometry that make_valid cannot turn
into an area are hard errors; an invalid geometry that make_valid repairs (a bow-tie becomes two
triangles) is a warning that says so. Features sharing a code and a name are parts of one region (merged,
warned); sharing a code with another name is a hard error. A level is linked to the one above by its
parent-code field or, without one (or for an orphan whose parent code is unknown), by the largest
overlap. Then: gaps and overlaps between siblings, children outside their parent, parents without
children. Codes are kept where they nest (config/region_codes.py: the parent's code is a prefix);
a level whose codes do not nest is numbered inside each parent, the city's code kept as source_code."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from citymodel.geometry import area_km2, polygonal
from citymodel.report import Measure, Report
from config.region_codes import CODE_LENGTH, LEVELS

# A gap or overlap narrower than 2 * SLIVER_M is noise, not a finding: rounding, and datum conversion (a
# straight edge converted between datums moves by up to a metre, so a parent's edge and its children's,
# converted from different datums, differ a little). Measured: a part that vanishes when shrunk by SLIVER_M.
SLIVER_M = 1.0
MIN_M2 = 1.0
OUTSIDE_PCT = 1.0     # a child with more than this % of its area outside its parent is reported


@dataclass
class Region:
    level: str
    source_code: str
    name: str
    geom: object
    features: list[int]
    parent_source: str = ""
    parent: str = ""         # our (internal) code of the parent
    code: str = ""           # our code
    renumbered: bool = False

    def row(self) -> dict:
        return {"code": self.code, "name": self.name, "parent": self.parent, "source_code": self.source_code}


def _m2(g) -> float:
    return area_km2(g) * 1e6


def _solid(g):
    """The parts of a gap or overlap that are wider than a sliver."""
    g = polygonal(g)
    if g.is_empty:
        return g
    parts = np.array(shapely.get_parts(g))
    wide = ~shapely.is_empty(shapely.buffer(parts, -SLIVER_M / 111_000))
    return polygonal(shapely.union_all(parts[wide])) if wide.any() else polygonal(shapely.Polygon())


def _features(layer, report: Report) -> dict[str, Region]:
    """The layer's regions by source code, after per-feature checks and merging parts."""
    where = {"level": layer.level, "file": layer.file, "layer": layer.layer}
    out: dict[str, Region] = {}
    for i, (code, name, g) in enumerate(zip(layer.codes, layer.names, layer.geoms)):
        if not code:
            report.error("empty_code", "no code", feature=i, field=layer.fields["code"], **where)
            continue
        if g is None or g.is_empty:
            report.error("empty_geometry", "no geometry", feature=i, code=code, **where)
            continue
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            report.error("not_polygon", f"a {g.geom_type}, not a polygon", feature=i, code=code, **where)
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = polygonal(shapely.make_valid(g))
            if fixed.is_empty or fixed.area == 0:
                report.error("unrepairable_geometry", f"invalid ({reason}) and make_valid leaves no area",
                             feature=i, code=code, **where)
                continue
            report.warn("repaired_geometry", f"invalid ({reason}); repaired with make_valid into "
                        f"{len(shapely.get_parts(fixed))} part(s), {_m2(fixed):,.0f} m²", feature=i, code=code, **where)
            g = fixed
        parent = layer.parents[i] if layer.parents is not None else ""
        if not name:
            report.warn("empty_name", "no name; the code is used as the name", feature=i,
                        field=layer.fields["name"], code=code, **where)
            name = code
        if code in out:
            first = out[code]
            if first.name != name or first.parent_source != parent:
                report.error("duplicate_code", f"also feature {first.features[0]} ({first.name!r}, parent "
                             f"{first.parent_source!r}) has this code, with name {name!r} and parent {parent!r}",
                             feature=i, field=layer.fields["code"], code=code, **where)
                continue
            report.warn("duplicate_code", f"same code, name and parent as feature {first.features[0]}: merged as "
                        "parts of one region", feature=i, field=layer.fields["code"], code=code, **where)
            first.geom = polygonal(shapely.union(first.geom, g))
            first.features.append(i)
            continue
        out[code] = Region(layer.level, code, name, g, [i], parent)
    return out


def _link(level: str, kids: dict[str, Region], parents: dict[str, Region], layer, report: Report) -> None:
    """Set each child's parent (by field, else by largest overlap); report orphans and children outside."""
    plist = list(parents.values())
    tree = shapely.STRtree([p.geom for p in plist])
    where = {"level": level, "file": layer.file, "layer": layer.layer}
    field = layer.fields.get("parent", "")
    for r in kids.values():
        p = parents.get(r.parent_source) if layer.parents is not None else None
        if p is None:
            cand = tree.query(r.geom)
            ov = shapely.area(shapely.intersection(r.geom, [plist[k].geom for k in cand])) if len(cand) else []
            if len(ov) == 0 or max(ov) <= 0:
                report.error("outside_every_parent", f"overlaps no {LEVELS[LEVELS.index(level) - 1]}"
                             + (f" and its parent code {r.parent_source!r} is unknown" if field else ""),
                             feature=r.features[0], code=r.source_code, field=field, **where)
                continue
            p = plist[int(cand[int(np.argmax(ov))])]
            if layer.parents is not None:
                report.warn("orphan", f"parent code {r.parent_source!r} is not in the parent layer; placed in "
                            f"{p.source_code} (largest overlap)", feature=r.features[0], field=field,
                            code=r.source_code, **where)
        r.parent = p.source_code      # source code for now; internal codes are set top-down later
        inside = shapely.intersection(r.geom, p.geom).area
        pct = 100.0 * (1 - inside / r.geom.area)
        if pct > OUTSIDE_PCT:
            report.warn("outside_parent", f"{pct:.1f} % of its area lies outside its parent {p.source_code}",
                        feature=r.features[0], code=r.source_code, **where)


def _gaps_overlaps(level: str, kids: dict[str, Region], parents: dict[str, Region], report: Report) -> None:
    rows = list(kids.values())
    geoms = np.array([r.geom for r in rows])
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = (a < b) & np.array([rows[i].parent == rows[j].parent for i, j in zip(a, b)], dtype=bool)
    a, b = a[keep], b[keep]
    inter = shapely.intersection(geoms[a], geoms[b])
    for i, j, g in zip(a, b, inter):
        m2 = _m2(_solid(g))
        if m2 >= MIN_M2:
            par = parents[rows[i].parent].geom if parents else None
            pm2 = _m2(par) if par is not None else _m2(shapely.union_all(geoms))
            report.overlaps.append(Measure(level, rows[i].parent, m2, 100 * m2 / pm2,
                                           (rows[i].source_code, rows[j].source_code)))
    by_parent: dict[str, list] = {}
    for r in rows:
        by_parent.setdefault(r.parent, []).append(r.geom)
    for pcode, gs in by_parent.items():
        u = shapely.union_all(gs)
        if parents:
            pg = parents[pcode].geom
            gap = shapely.difference(pg, u)
        else:       # districts: the city is their union, so a gap is a hole in it
            pg = u
            gap = shapely.union_all([shapely.Polygon(ring) for p in shapely.get_parts(u) for ring in p.interiors])
        m2 = _m2(_solid(gap))
        if m2 >= MIN_M2:
            report.gaps.append(Measure(level, pcode, m2, 100 * m2 / _m2(pg)))


def _number(city_code: str, levels: dict[str, dict[str, Region]], report: Report) -> None:
    """Our codes, top-down: kept where they nest under the parent's (our) code, else numbered per parent."""
    ours = {city_code: city_code}
    for level in LEVELS[1:]:
        kids = levels[level]
        parent_code = {r.source_code: (ours[r.parent] if level != "district" else city_code) for r in kids.values()}
        n = CODE_LENGTH[level]
        nest = all(c.isdigit() and len(c) == n and c.startswith(parent_code[c]) for c in kids)
        if not nest:
            report.renumbered.append(level)
        by_parent: dict[str, list[Region]] = {}
        for r in kids.values():
            by_parent.setdefault(parent_code[r.source_code], []).append(r)
        width = n - CODE_LENGTH[LEVELS[LEVELS.index(level) - 1]]
        for pcode, rs in by_parent.items():
            rs.sort(key=lambda r: (len(r.source_code), r.source_code))
            if not nest and len(rs) >= 10 ** width:
                report.error("too_many_children", f"{len(rs)} {level} regions in {pcode}: internal codes have "
                             f"{width} digits (at most {10 ** width - 1})", level=level, code=pcode)
                return
            for k, r in enumerate(rs, start=1):
                r.parent = pcode
                r.code = r.source_code if nest else f"{pcode}{k:0{width}d}"
                r.renumbered = not nest
                ours[r.source_code] = r.code


def build_regions(city_code: str, layers: dict, report: Report) -> dict[str, list[Region]]:
    """Check, link and number every level; the regions per level in code order (findings in `report`)."""
    levels: dict[str, dict[str, Region]] = {}
    for level in LEVELS[1:]:
        report.counts[level] = len(layers[level].codes)
        levels[level] = _features(layers[level], report)
        report.regions[level] = len(levels[level])
    if not report.ok:
        return {}
    for above, level in zip(LEVELS[1:], LEVELS[2:]):
        _link(level, levels[level], levels[above], layers[level], report)
    if not report.ok:
        return {}
    for r in levels["district"].values():
        r.parent = city_code
    for above, level in zip(LEVELS[1:], LEVELS[2:]):
        has = {r.parent for r in levels[level].values()}
        for p in levels[above].values():
            if p.source_code not in has:
                report.warn("no_children", f"has no {level}", level=above, file=layers[above].file,
                            layer=layers[above].layer, feature=p.features[0], code=p.source_code)
    _gaps_overlaps("district", levels["district"], {}, report)
    for above, level in zip(LEVELS[1:], LEVELS[2:]):
        _gaps_overlaps(level, levels[level], levels[above], report)
    _number(city_code, levels, report)
    if not report.renumbered:
        for rs in levels.values():
            for r in rs.values():
                r.source_code = ""     # codes nest: our code is the city's, no source_code column
    return {level: sorted(rs.values(), key=lambda r: r.code) for level, rs in levels.items()}

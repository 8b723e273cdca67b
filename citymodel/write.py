"""Write a city folder (city.toml, regions.csv, geo/<level>.geojson) the way config/city.py reads it.

Both paths (build from the packages, import from a city's GIS) end here. The folder is written to a
temporary sibling, loaded back with `config.city.load_city` (every check the product makes at start-up),
and only then swapped in with two renames, so a failed or interrupted run never leaves a half city folder.
The byte layout is the one scripts/build_city.py wrote (rebuilding Nanjing gives identical geo files)."""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from shapely.geometry import mapping

from citymodel.geometry import area_km2, rounded_coords
from config.city import GEO_LEVELS, load_city


@dataclass
class Model:
    """Everything a city folder holds, before it is written."""
    name: str
    code: str
    datum: str
    levels: dict[str, list[dict]]          # level -> rows {code, name, parent[, source_code]}, in output order
    geom: dict[str, object]                # code -> final (rounded, valid) polygon, every level below the city
    header: str                            # first comment line of city.toml
    sources: dict[str, str]                # [sources] table of city.toml
    timezone: str = "Asia/Shanghai"
    extra: dict[str, object] = field(default_factory=dict)   # more top-level keys of city.toml
    count_notes: dict[str, str] = field(default_factory=dict)  # a comment after a [counts] line
    city_source_code: str = ""


def feature(code: str, name: str, parent: str, g) -> dict:
    m = mapping(g)
    return {"type": "Feature", "id": code,
            "properties": {"code": code, "name": name, "parent": parent},
            "geometry": {"type": m["type"], "coordinates": rounded_coords(m["coordinates"])}}


def write_fc(path: Path, feats: list[dict]) -> tuple[int, int]:
    """Write a FeatureCollection, one feature a line; returns (raw bytes, gzip level-6 bytes)."""
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in feats) + "\n]}\n"
    data = text.encode("utf-8")
    path.write_bytes(data)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return len(data), len(buf.getvalue())


def _rep(g) -> tuple[float, float]:
    p = g.point_on_surface()
    return round(p.x, 6), round(p.y, 6)


def _toml_value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def _write_files(folder: Path, m: Model) -> dict:
    (folder / "geo").mkdir(parents=True)
    city_geom = shapely.union_all([m.geom[r["code"]] for r in m.levels["district"]])
    with_source = any(r.get("source_code") for rows in m.levels.values() for r in rows)
    lon, lat = _rep(city_geom)
    rows = [(m.code, m.name, "city", "", lon, lat, round(area_km2(city_geom), 3), m.city_source_code)]
    sizes = {}
    for level in GEO_LEVELS:
        feats = []
        for r in m.levels[level]:
            g = m.geom[r["code"]]
            lon, lat = _rep(g)
            rows.append((r["code"], r["name"], level, r["parent"], lon, lat, round(area_km2(g), 4),
                         r.get("source_code", "")))
            feats.append(feature(r["code"], r["name"], r["parent"], g))
        sizes[level] = (len(feats), *write_fc(folder / "geo" / f"{level}.geojson", feats))
    with open(folder / "regions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "level", "parent_code", "lon", "lat", "area_km2"]
                   + (["source_code"] if with_source else []))
        for r in rows:
            w.writerow([r[0], r[1], r[2], r[3], f"{r[4]:.6f}", f"{r[5]:.6f}", r[6]] + ([r[7]] if with_source else []))
    sizes["regions.csv"] = (len(rows), (folder / "regions.csv").stat().st_size, 0)

    minx, miny, maxx, maxy = city_geom.bounds
    bbox = [math.floor(minx * 1e4) / 1e4, math.floor(miny * 1e4) / 1e4,
            math.ceil(maxx * 1e4) / 1e4, math.ceil(maxy * 1e4) / 1e4]
    c = city_geom.centroid
    center = [round(c.x, 4), round(c.y, 4)]
    if not city_geom.contains(shapely.points(center)):
        center = list(_rep(city_geom))
    lines = [f"# {m.header}", f"name = {_toml_value(m.name)}", f"code = {_toml_value(m.code)}",
             f"timezone = {_toml_value(m.timezone)}",
             f"datum = {_toml_value(m.datum)}            # every coordinate in this folder; see docs/city_model.md",
             f"center = [{center[0]}, {center[1]}]          # lon, lat (centroid of the city polygon)",
             f"bbox = [{bbox[0]}, {bbox[1]}, {bbox[2]}, {bbox[3]}]  # minlon, minlat, maxlon, maxlat"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in m.extra.items()]
    lines += ["", "[counts]"]
    for level in GEO_LEVELS:
        note = m.count_notes.get(level)
        lines.append(f"{level} = {len(m.levels[level])}" + (f"          # {note}" if note else ""))
    lines += ["", "[sources]"] + [f"{k} = {_toml_value(v)}" for k, v in m.sources.items()]
    (folder / "city.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sizes


def write_model(out: Path, m: Model) -> dict:
    """Write `m` to folder `out` atomically (temporary sibling, checked by load_city, then renamed).

    Returns per file (features or rows, raw bytes, gzip bytes)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        sizes = _write_files(tmp / "model", m)
        load_city(tmp / "model")     # the product's own checks, before anything is in place
        old = tmp / "old"
        if out.exists():
            out.rename(old)
        try:
            (tmp / "model").rename(out)
        except OSError:
            if old.exists():
                old.rename(out)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sizes


def sizes_table(sizes: dict) -> str:
    """The sizes as the markdown table docs/city_model.md shows."""
    lines = ["| file | features | raw bytes | gzip (level 6) |", "| --- | ---: | ---: | ---: |"]
    tot_raw = tot_gz = 0
    for level in GEO_LEVELS:
        n, rb, gb = sizes[level]
        lines.append(f"| geo/{level}.geojson | {n:,} | {rb:,} | {gb:,} |")
        tot_raw, tot_gz = tot_raw + rb, tot_gz + gb
    lines.append(f"| **geojson total** | | **{tot_raw:,}** | **{tot_gz:,}** |")
    n, rb, _ = sizes["regions.csv"]
    lines.append(f"| regions.csv | {n:,} rows | {rb:,} | |")
    return "\n".join(lines)

"""Import a city's own district, street, community and grid layers (`python -m citymodel import spec.toml`).

The spec (TOML, docs/city_model.md) names the model ([city]: name, code, datum, out) and per level
([district], [street], [community], [grid]) the file (GeoJSON, Shapefile, GeoPackage: read with
pyogrio/GDAL), the layer, the code, name and optional parent fields and the layer's datum (else the
file's CRS). Every layer is converted to the model's datum (config/datums.py), checked and linked
(citymodel/link.py), reported (citymodel/report.py), then simplified level by level with shared
borders and written like a built city (citymodel/write.py). A spec or file that cannot be read stops at
once naming the file and key; feature-level errors are collected so the report lists them all."""
from __future__ import annotations

import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.errors
import shapely

from citymodel import geometry, link
from citymodel.report import Report
from citymodel.write import Model, sizes_table, write_model
from config import datums
from config.city import GEO_LEVELS

M_PER_DEG = 111_320.0


class SpecError(ValueError):
    """The spec or a file it names cannot be used; the message names the file and the key."""


@dataclass
class Layer:
    """One level's features as read and converted: parallel lists, index = the feature's index in the layer."""
    level: str
    file: str
    layer: str
    fields: dict[str, str]        # code/name/parent -> field name in the file
    codes: list[str]
    names: list[str]
    parents: list[str] | None     # None: linked by spatial containment
    geoms: np.ndarray             # shapely polygons in the model's datum (None where unusable)
    datum: str


def _where(spec: Path, table: str, key: str) -> str:
    return f"{spec}: [{table}] {key}"


def read_spec(spec: Path) -> dict:
    """The spec as a dict, with paths resolved and datums normalised; SpecError naming file and key."""
    if not spec.is_file():
        raise SpecError(f"{spec}: file not found")
    try:
        data = tomllib.loads(spec.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{spec}: invalid TOML: {e}") from None
    city = data.get("city")
    if not isinstance(city, dict):
        raise SpecError(f"{spec}: missing table [city] (name, code, datum, out)")
    for key in ("name", "code"):
        if not isinstance(city.get(key), str) or not city[key]:
            raise SpecError(f"{_where(spec, 'city', key)}: required, a non-empty string")
    try:
        city["datum"] = datums.normalize(city.get("datum", "GCJ02"))
    except datums.DatumError as e:
        raise SpecError(f"{_where(spec, 'city', 'datum')}: {e}") from None
    if not datums.geographic(city["datum"]):
        raise SpecError(f"{_where(spec, 'city', 'datum')}: {city['datum']} is projected; the model's datum "
                        f"must be lon/lat: one of {', '.join(datums.ACCEPTED)}, geographic")
    if "out" in city:
        city["out"] = (spec.parent / city["out"]).resolve()
    for level in GEO_LEVELS:
        t = data.get(level)
        if not isinstance(t, dict):
            raise SpecError(f"{spec}: missing table [{level}] (file, code, name, parent, datum)")
        for key in ("file", "code", "name"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise SpecError(f"{_where(spec, level, key)}: required, a non-empty string")
        t["path"] = (spec.parent / t["file"]).resolve()
        if not t["path"].exists():
            raise SpecError(f"{_where(spec, level, 'file')}: {t['path']} not found")
        if "datum" in t:
            try:
                t["datum"] = datums.normalize(t["datum"])
            except datums.DatumError as e:
                raise SpecError(f"{_where(spec, level, 'datum')}: {e}") from None
    return data


def _layer_name(spec: Path, level: str, t: dict) -> str:
    try:
        names = [str(n) for n in pyogrio.list_layers(t["path"])[:, 0]]
    except pyogrio.errors.DataSourceError as e:
        raise SpecError(f"{_where(spec, level, 'file')}: {t['path']} cannot be read as GIS data: {e}") from None
    if t.get("layer"):
        if t["layer"] not in names:
            raise SpecError(f"{_where(spec, level, 'layer')}: no layer {t['layer']!r} in {t['path']}; "
                            f"it has {names}")
        return t["layer"]
    if len(names) != 1:
        raise SpecError(f"{_where(spec, level, 'layer')}: {t['path']} has {len(names)} layers {names}; say which")
    return names[0]


def _to_datum(geoms: np.ndarray, src: str, dst: str) -> np.ndarray:
    if src == dst:
        return geoms

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = datums.convert(xy[:, 0], xy[:, 1], src, dst)
        return np.column_stack([x, y])
    return shapely.transform(geoms, fn)


def _text(values) -> list[str]:
    """Field values as text codes: integers without a decimal part, None as empty."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append("")
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


def read_layer(spec: Path, level: str, t: dict, model_datum: str) -> Layer:
    """Read one level's layer; SpecError for a missing layer, field or datum."""
    layer = _layer_name(spec, level, t)
    info = pyogrio.read_info(t["path"], layer=layer)
    have = [str(f) for f in info["fields"]]
    wanted = {k: t[k] for k in ("code", "name", "parent") if t.get(k)}
    for key, fname in wanted.items():
        if fname not in have:
            raise SpecError(f"{_where(spec, level, key)}: no field {fname!r} in {t['path']} layer {layer!r}; "
                            f"its fields are {have}")
    src = t.get("datum")
    if src is None:
        if not info.get("crs"):
            raise SpecError(f"{_where(spec, level, 'datum')}: {t['path']} layer {layer!r} has no CRS; say its "
                            f"datum: one of {', '.join(datums.ACCEPTED)}")
        try:
            src = datums.normalize(info["crs"])
        except datums.DatumError as e:
            raise SpecError(f"{_where(spec, level, 'datum')}: the file's CRS: {e}") from None
    cols = list(dict.fromkeys(wanted.values()))
    _, _, wkb, values = pyogrio.raw.read(t["path"], layer=layer, columns=cols)
    by_field = dict(zip(cols, values))
    geoms = shapely.from_wkb(wkb)
    return Layer(level=level, file=str(t["path"]), layer=layer, fields=wanted,
                 codes=_text(by_field[wanted["code"]]), names=_text(by_field[wanted["name"]]),
                 parents=_text(by_field[wanted["parent"]]) if "parent" in wanted else None,
                 geoms=_to_datum(geoms, src, model_datum), datum=src)


def simplify_levels(regions: dict[str, list[link.Region]], tolerance_deg: float) -> dict[str, object]:
    """Per level, a coverage simplification with shared borders; then every polygon rounded and valid."""
    out: dict[str, object] = {}
    for rows in regions.values():
        raw = {r.code: r.geom for r in rows}
        simp = geometry.simplify_shared(raw, tolerance_deg, fill_gaps=False) if tolerance_deg > 0 else raw
        for code, g in simp.items():
            if g.is_empty:            # a sliver narrower than the tolerance: keep it unsimplified
                g = raw[code]
            out[code], _ = geometry.finalize(g)
    return out


def run_import(spec: Path, out: str | Path | None = None, write: bool = True, report_json: str | None = None) -> int:
    """The whole import; prints the report; 0 when written (check: when no hard error), 1 otherwise."""
    t0 = time.perf_counter()
    try:
        data = read_spec(spec)
        city = data["city"]
        target = Path(out).resolve() if out else city.get("out")
        if write and target is None:
            raise SpecError(f"{_where(spec, 'city', 'out')}: required (or give --out)")
        layers = {level: read_layer(spec, level, data[level], city["datum"]) for level in GEO_LEVELS}
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    report = Report()
    regions = link.build_regions(city["code"], layers, report)
    t_read = time.perf_counter() - t0
    print(report.render())
    if report_json:
        Path(report_json).write_text(report.to_json(), encoding="utf-8")
    if not report.ok or not write:
        return 0 if report.ok else 1
    tolerance = float(city.get("simplify_m", 5.0)) / M_PER_DEG
    geom = simplify_levels(regions, tolerance)
    model = Model(
        name=city["name"], code=city["code"], datum=city["datum"], timezone=city.get("timezone", "Asia/Shanghai"),
        header=f"{city['name']} city model. Imported from the city's GIS layers by `python3 cockpit.py city "
               f"import {spec.name}` (citymodel/gis_import.py) -- do not edit by hand.",
        levels={level: [r.row() for r in rows] for level, rows in regions.items()}, geom=geom,
        extra={"grid_count_model": len(regions["grid"])}, city_source_code=city.get("source_code", ""),
        sources={level: f"{Path(layers[level].file).name} layer {layers[level].layer} ({layers[level].datum}), "
                        f"fields {layers[level].fields}" for level in GEO_LEVELS}
        | {"derived": f"simplified with shared borders, tolerance {city.get('simplify_m', 5.0)} m"})
    sizes = write_model(target, model)
    print(sizes_table(sizes))
    print(f"written {target} in {time.perf_counter() - t0:.1f} s (read and checked in {t_read:.1f} s)")
    return 0

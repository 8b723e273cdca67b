"""Write a city model's levels out as GIS layers (`python -m citymodel export CITY_DIR OUT --format shp`).

One file per level (Shapefile, GeoPackage or GeoJSON) with fields code, name, parent, optionally converted
to another datum, plus an import spec (spec.toml) that reads them back. For a city's IT staff it is a
template of what the import expects; for us the round trip that measures the import (docs/city_model.md)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely

from citymodel.gis_import import _to_datum
from config import datums
from config.city import GEO_LEVELS, load_city

DRIVERS = {"shp": ("ESRI Shapefile", ".shp"), "gpkg": ("GPKG", ".gpkg"), "geojson": ("GeoJSON", ".geojson")}
FILE_CRS = {"WGS84": "EPSG:4326", "CGCS2000": "EPSG:4490"}   # GCJ02 / BD09 have no CRS: the spec says them


def export(city_dir: Path, out: Path, fmt: str = "shp", datum: str | None = None) -> Path:
    """Write the levels of the model in `city_dir` to `out`; returns the spec's path."""
    city = load_city(city_dir)
    datum = datums.normalize(datum or city.datum)
    driver, ext = DRIVERS[fmt]
    out.mkdir(parents=True, exist_ok=True)
    spec = [f'[city]\nname = "{city.name}"\ncode = "{city.code}"\ntimezone = "{city.timezone}"\n'
            f'datum = "{city.datum}"\nout = "model"\nsimplify_m = 0\n']
    for level in GEO_LEVELS:
        fc = json.loads(city.geojson_path(level).read_text(encoding="utf-8"))
        feats = fc["features"]
        geoms = np.array([shapely.from_geojson(json.dumps(f["geometry"])) for f in feats])
        geoms = _to_datum(geoms, city.datum, datum)
        path = out / f"{level}{ext}"
        fields = [np.array([f["properties"][k] for f in feats], dtype=object) for k in ("code", "name", "parent")]
        with warnings.catch_warnings():   # GCJ-02 / BD-09 have no CRS to write: the spec names them
            warnings.simplefilter("ignore", UserWarning)
            pyogrio.raw.write(path, shapely.to_wkb(geoms), fields, ["code", "name", "parent"], driver=driver,
                              geometry_type="MultiPolygon", promote_to_multi=True, encoding="UTF-8",
                              crs=FILE_CRS.get(datum, datum if datum.startswith("EPSG:") else None))
        spec.append(f'[{level}]\nfile = "{path.name}"\ncode = "code"\nname = "name"\n'
                    + ('parent = "parent"\n' if level != "district" else "") + f'datum = "{datum}"\n')
    (out / "spec.toml").write_text("\n".join(spec), encoding="utf-8")
    return out / "spec.toml"

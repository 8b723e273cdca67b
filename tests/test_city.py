"""Tests for the Nanjing city model (config/cities/nanjing) and its loader (config/city.py)."""
from __future__ import annotations

import bisect
import itertools
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.city import CODE_LENGTH, LEVELS, City, CityConfigError, load_city  # noqa: E402

NANJING = ROOT / "config" / "cities" / "nanjing"


def _geoms(city: City, level: str) -> dict[str, object]:
    with open(city.geojson_path(level), encoding="utf-8") as f:
        fc = json.load(f)
    out = {}
    for ft in fc["features"]:
        assert ft["id"] == ft["properties"]["code"]
        out[ft["id"]] = shapely.from_geojson(json.dumps(ft["geometry"]))
    return out


@pytest.fixture(scope="module")
def geo(city):
    return {level: _geoms(city, level) for level in LEVELS[1:]}


# ---------------------------------------------------------------- the committed model

def test_constants():
    assert LEVELS == ("city", "district", "street", "community", "grid")
    assert CODE_LENGTH == {"city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}


def test_loading_parses_no_boundaries(copy):
    """load_city reads city.toml and regions.csv only: the boundaries (5 MB of GeoJSON, several times the rest of a load)
    are parsed on first use (how long a load takes: `python -m bench.city_load`)."""
    for level in LEVELS[1:]:
        geo = copy / "geo" / f"{level}.geojson"
        geo.unlink()
        geo.write_text("not GeoJSON", encoding="utf-8")
    city = load_city(copy)
    assert city.code == "3201" and len(city.regions) > 12000
    with pytest.raises(json.JSONDecodeError):
        city.contains([118.8], [32.0])


def test_header(city):
    assert city.name == "南京市"
    assert city.code == "3201"
    assert city.timezone == "Asia/Shanghai"
    minlon, minlat, maxlon, maxlat = city.bbox
    assert minlon < city.center[0] < maxlon and minlat < city.center[1] < maxlat
    assert city.settings["grid_count_reported"] == 12583
    assert list(city.regions.columns) == ["code", "name", "level", "parent_code", "lon", "lat", "area_km2"]
    assert isinstance(city.regions.index, pd.RangeIndex)


def test_counts(city):
    n = city.regions["level"].value_counts()
    assert n["city"] == 1
    assert n["district"] == 11
    streets = city.regions[city.regions["level"] == "street"]
    regular = streets[streets["code"].str[6:].astype(int) < 400]   # 街道/镇 (>= 400: zones, farms)
    assert len(regular) == 101
    assert 95 <= n["street"] <= 150
    assert 1250 <= n["community"] <= 1400
    assert 12000 <= n["grid"] <= 13000
    assert n["grid"] >= 3 * n["community"]
    per_comm = city.grids().groupby("parent_code").size()
    assert per_comm.min() >= 3
    assert len(per_comm) == n["community"]


def test_codes(city):
    r = city.regions
    assert (r["code"].str.len() == r["level"].map(CODE_LENGTH)).all()
    assert r["code"].is_unique
    g = city.grids()
    assert (g["code"].str[:12] == g["parent_code"]).all()
    assert g["code"].str[12:].str.fullmatch(r"\d{3}").all()
    assert (g["code"].str[12:].astype(int) >= 1).all()
    assert g["name"].str.contains("第").all() and g["name"].str.endswith("网格").all()
    assert city.level_of("3201") == "city"
    assert city.level_of("320102") == "district"
    grid = g["code"].iat[0]
    assert city.level_of(grid) == "grid"
    anc = city.ancestors(grid)
    assert anc == [grid[:4], grid[:6], grid[:9], grid[:12]]
    assert city.ancestors("3201") == []
    kids = city.children("3201")
    assert len(kids) == 11 and set(kids["level"]) == {"district"}
    with pytest.raises(KeyError):
        city.level_of("999999")


def test_descendants_are_prefix_sets(city):
    r = city.regions
    codes = r["code"].tolist()
    parent = dict(zip(codes, r["parent_code"].tolist()))
    # descendant counts through the tree
    ndesc = dict.fromkeys(codes, 0)
    for c in codes:
        p = parent[c]
        while p:
            ndesc[p] += 1
            assert c.startswith(p)
            p = parent[p]
    # codes starting with each code (itself excluded)
    srt = sorted(codes)
    for c in codes:
        lo = bisect.bisect_left(srt, c)
        hi = bisect.bisect_left(srt, c + "\x7f")
        assert hi - lo - 1 == ndesc[c], c  # tree descendants are a subset, so equal counts => equal sets


def test_children_sum_area(city):
    r = city.regions.set_index("code")
    for d in city.children("3201")["code"]:
        kids = city.children(d)
        assert kids["area_km2"].sum() == pytest.approx(r.at[d, "area_km2"], rel=1e-3)
    assert r.at["3201", "area_km2"] == pytest.approx(6587, rel=0.02)  # official 6,587 km2


def test_rep_points_inside(city, geo):
    r = city.regions
    for level in ("district", "street", "community"):
        sub = r[r["level"] == level]
        inside = [shapely.contains_xy(geo[level][c], x, y) for c, x, y in zip(sub["code"], sub["lon"], sub["lat"])]
        assert all(inside), level
    assert city.contains(r["lon"].to_numpy(), r["lat"].to_numpy()).all()


def test_geojson_matches_regions(city, geo):
    r = city.regions
    for level in LEVELS[1:]:
        assert set(geo[level]) == set(r.loc[r["level"] == level, "code"]), level
    with open(city.geojson_path("street"), encoding="utf-8") as f:
        ft = json.load(f)["features"][0]
    assert set(ft["properties"]) == {"code", "name", "parent"}
    assert ft["properties"]["parent"] == ft["id"][:6]


def _assert_tiles(parent, kids, rel=1e-5):
    union = shapely.union_all(kids)
    assert union.area == pytest.approx(parent.area, rel=rel)
    assert shapely.symmetric_difference(union, parent).area < rel * parent.area
    total = sum(k.area for k in kids)
    assert total == pytest.approx(parent.area, rel=rel)  # sum == union => no overlaps
    tree = shapely.STRtree(kids)
    a, b = tree.query(kids, predicate="intersects")
    overlap = sum(shapely.intersection(kids[i], kids[j]).area for i, j in zip(a, b) if i < j)
    assert overlap < rel * parent.area


def test_tiling_districts_cover_city(geo):
    kids = list(geo["district"].values())
    union = shapely.union_all(kids)
    assert sum(k.area for k in kids) == pytest.approx(union.area, rel=1e-6)
    for k in kids:
        assert k.is_valid


@pytest.mark.parametrize("district", ["320102", "320115"])
def test_tiling_streets(city, geo, district):
    kids = [geo["street"][c] for c in city.children(district)["code"]]
    _assert_tiles(geo["district"][district], kids)


def test_tiling_communities(city, geo):
    for street in ("320102003", "320113006", "320118001"):
        kids = [geo["community"][c] for c in city.children(street)["code"]]
        _assert_tiles(geo["street"][street], kids)


def test_tiling_grids(city, geo):
    comms = city.regions.loc[city.regions["level"] == "community", "code"]
    for comm in itertools.chain(comms.iloc[::97], ["320102002001"]):
        kids = [geo["grid"][c] for c in city.children(comm)["code"]]
        assert len(kids) >= 3
        _assert_tiles(geo["community"][comm], kids)


def test_contains(city):
    lon = np.array([city.center[0], 121.4737, 118.7969])  # centre, Shanghai People's Square, Xinjiekou
    lat = np.array([city.center[1], 31.2304, 32.0603])
    assert city.contains(lon, lat).tolist() == [True, False, True]


# ---------------------------------------------------------------- bad config

@pytest.fixture()
def copy(tmp_path) -> Path:
    dst = tmp_path / "nanjing"
    dst.mkdir()
    shutil.copy(NANJING / "city.toml", dst / "city.toml")
    shutil.copy(NANJING / "regions.csv", dst / "regions.csv")
    (dst / "geo").mkdir()
    for level in LEVELS[1:]:
        (dst / "geo" / f"{level}.geojson").symlink_to(NANJING / "geo" / f"{level}.geojson")
    return dst


def _edit_lines(path: Path, fn):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    fn(lines)
    path.write_text("".join(lines), encoding="utf-8")


def test_copy_loads(copy):
    assert load_city(copy).code == "3201"


def _line(lines: list[str], marker) -> int:
    """The 1-based number of the first line `marker` holds for (regions.csv: its header is line 1)."""
    return 1 + next(i for i, l in enumerate(lines) if marker(l))


def _broken_toml_line(ls):
    n = _line(ls, lambda l: l.startswith("timezone"))
    ls[n - 1] = 'timezone = "Asia/Shanghai\n'
    return n


def _missing_key(ls):
    ls[:] = [l for l in ls if not l.startswith("timezone")]


def _bad_key_value(ls):
    n = _line(ls, lambda l: l.startswith("center"))
    ls[n - 1] = "center = [118.8]\n"
    return n


def _bad_code(ls):
    n = _line(ls, lambda l: ",street," in l)
    ls[n - 1] = ls[n - 1].replace(ls[n - 1].split(",")[0], "32010", 1)
    return n


def _duplicate_code(ls):
    ls.append(ls[-1])
    return len(ls)


def _parent_not_prefix(ls):
    n = _line(ls, lambda l: ",community,320102002," in l)
    ls[n - 1] = ls[n - 1].replace(",320102002,", ",320102003,")
    return n


# (file edited, the edit: changes the lines and returns the line number the error must name, the error)
BAD_FILES = [
    pytest.param("city.toml", _broken_toml_line, r"city\.toml.*line {n}\b", id="broken_toml_line"),
    pytest.param("city.toml", _missing_key, r"city\.toml.*'timezone'", id="missing_key"),
    pytest.param("city.toml", _bad_key_value, r"city\.toml, line {n}\b.*'center'", id="bad_key_value_names_line"),
    pytest.param("regions.csv", _bad_code, r"regions\.csv, line {n}\b.*'code'", id="bad_code_in_regions"),
    pytest.param("regions.csv", _duplicate_code, r"regions\.csv, line {n}\b.*duplicate", id="duplicate_code_in_regions"),
    pytest.param("regions.csv", _parent_not_prefix, r"regions\.csv, line {n}\b.*parent_code", id="parent_not_prefix"),
]


@pytest.mark.parametrize("name, edit, error", BAD_FILES)
def test_a_bad_file_is_named_with_its_line_and_key(copy, name, edit, error):
    path = copy / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    n = edit(lines)
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(CityConfigError, match=error.replace("{n}", str(n))):
        load_city(copy)


def test_missing_column_and_geo(copy):
    (copy / "geo" / "grid.geojson").unlink()
    with pytest.raises(CityConfigError, match=r"grid\.geojson"):
        load_city(copy)
    csv = copy / "regions.csv"
    _edit_lines(csv, lambda ls: ls.__setitem__(0, ls[0].replace("area_km2", "area")))
    with pytest.raises(CityConfigError, match=r"regions\.csv, line 1.*area_km2"):
        load_city(copy)

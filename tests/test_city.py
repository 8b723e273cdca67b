"""Tests for the Nanjing city model (config/cities/nanjing) and its loader (config/city.py)."""
from __future__ import annotations

import bisect
import itertools
import json
import shutil
import sys
import time
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


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(NANJING)


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


def test_loads_fast():
    t = time.perf_counter()
    load_city(NANJING)
    assert time.perf_counter() - t < 1.5


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


def test_broken_toml_line(copy):
    toml = copy / "city.toml"
    lines = toml.read_text(encoding="utf-8").splitlines(keepends=True)
    n = next(i for i, l in enumerate(lines) if l.startswith("timezone")) + 1
    _edit_lines(toml, lambda ls: ls.__setitem__(n - 1, 'timezone = "Asia/Shanghai\n'))
    with pytest.raises(CityConfigError, match=rf"city\.toml.*line {n}\b"):
        load_city(copy)


def test_missing_key(copy):
    toml = copy / "city.toml"
    _edit_lines(toml, lambda ls: ls.__setitem__(slice(None), [l for l in ls if not l.startswith("timezone")]))
    with pytest.raises(CityConfigError, match=r"city\.toml.*'timezone'"):
        load_city(copy)


def test_bad_key_value_names_line(copy):
    toml = copy / "city.toml"
    lines = toml.read_text(encoding="utf-8").splitlines(keepends=True)
    n = next(i for i, l in enumerate(lines) if l.startswith("center")) + 1
    _edit_lines(toml, lambda ls: ls.__setitem__(n - 1, "center = [118.8]\n"))
    with pytest.raises(CityConfigError, match=rf"city\.toml, line {n}\b.*'center'"):
        load_city(copy)


def test_bad_code_in_regions(copy):
    csv = copy / "regions.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    n = 1 + next(i for i, l in enumerate(lines) if ",street," in l)  # 1-based, header = line 1
    _edit_lines(csv, lambda ls: ls.__setitem__(n - 1, ls[n - 1].replace(ls[n - 1].split(",")[0], "32010", 1)))
    with pytest.raises(CityConfigError, match=rf"regions\.csv, line {n}\b.*'code'"):
        load_city(copy)


def test_duplicate_code_in_regions(copy):
    csv = copy / "regions.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    n = len(lines) + 1
    _edit_lines(csv, lambda ls: ls.append(ls[-1]))
    with pytest.raises(CityConfigError, match=rf"regions\.csv, line {n}\b.*duplicate"):
        load_city(copy)


def test_parent_not_prefix(copy):
    csv = copy / "regions.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    n = 1 + next(i for i, l in enumerate(lines) if ",community,320102002," in l)
    _edit_lines(csv, lambda ls: ls.__setitem__(n - 1, ls[n - 1].replace(",320102002,", ",320102003,")))
    with pytest.raises(CityConfigError, match=rf"regions\.csv, line {n}\b.*parent_code"):
        load_city(copy)


def test_missing_column_and_geo(copy):
    (copy / "geo" / "grid.geojson").unlink()
    with pytest.raises(CityConfigError, match=r"grid\.geojson"):
        load_city(copy)
    csv = copy / "regions.csv"
    _edit_lines(csv, lambda ls: ls.__setitem__(0, ls[0].replace("area_km2", "area")))
    with pytest.raises(CityConfigError, match=r"regions\.csv, line 1.*area_km2"):
        load_city(copy)

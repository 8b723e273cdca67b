#!/usr/bin/env python3
"""Measure the GIS import on a whole city: export a model's levels as files in a datum (default: Shapefile,
GCJ-02), import them back, and compare the result with the original (codes, parents, areas within 0.5 %).

    python scripts/city_roundtrip.py [--city config/cities/nanjing] [--format shp] [--datum GCJ02] [--simplify-m 5]

Prints the import's time and the child process's peak memory (ru_maxrss) and the worst area difference;
numbers in docs/city_model.md."""
from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citymodel.export import export  # noqa: E402
from config.city import load_city  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city", default=str(ROOT / "config" / "cities" / "nanjing"))
    ap.add_argument("--format", default="shp", choices=["shp", "gpkg", "geojson"])
    ap.add_argument("--datum", default=None)
    ap.add_argument("--simplify-m", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        spec = export(Path(args.city), Path(td), args.format, args.datum)
        text = re.sub(r"simplify_m = .*", f"simplify_m = {args.simplify_m}", spec.read_text(encoding="utf-8"))
        spec.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "citymodel", "import", str(spec)], cwd=ROOT,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode:
            print(proc.stdout, proc.stderr)
            return 1
        a, b = load_city(args.city).regions, load_city(Path(td) / "model").regions
        same_codes = a["code"].tolist() == b["code"].tolist()
        same_parents = a["parent_code"].tolist() == b["parent_code"].tolist()
        rel = ((b["area_km2"] - a["area_km2"]).abs() / a["area_km2"]).to_numpy()
        print(proc.stdout.split("\n| file")[0].splitlines()[0])
        print(f"format {args.format}, datum {args.datum or 'model'}, simplify {args.simplify_m} m: "
              f"import {seconds:.1f} s, peak memory {peak_mb:.0f} MB; codes equal {same_codes}, parents equal "
              f"{same_parents}; area difference worst {rel.max() * 100:.3f} %, mean {rel.mean() * 100:.4f} %, "
              f"over 0.5 %: {(rel > 0.005).sum()}")
        return 0 if same_codes and same_parents and rel.max() <= 0.005 else 1


if __name__ == "__main__":
    sys.exit(main())

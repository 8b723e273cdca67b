#!/usr/bin/env python3
"""Rebuild the Nanjing city model (config/cities/nanjing/): kept for old instructions; the build is now
`python3 cockpit.py city build --code 3201 --out config/cities/nanjing` (package citymodel, any city)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citymodel.__main__ import main  # noqa: E402

if __name__ == "__main__":
    extra = sys.argv[1:]
    out = [] if "--out" in extra else ["--out", str(ROOT / "config" / "cities" / "nanjing")]
    sys.exit(main(["build", "--code", "3201", *out, *extra]))

"""docs/metrics.md is generated from contract/metrics.py (scripts/metrics_doc.py): this fails when a metric
changed and the page was not regenerated."""

from __future__ import annotations

import subprocess
import sys

from config.settings import ROOT


def test_metrics_page_is_current():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "metrics_doc.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + " (run: python scripts/metrics_doc.py)"
    page = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    from contract import metrics as M

    for key in (*M.COUNTS, *M.STOCKS, *M.WINDOW_RATES, *M.MEDIANS, *M.DEVICE_COUNTS):
        assert f"`{key}`" in page, key

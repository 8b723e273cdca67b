"""The soak of faults/soak.py for one minute (85 s with start-up on an idle machine; 3-4 minutes at load
average 10-17): the simulator, the ETL alone, gunicorn and redis-server as real processes, a wall in
headless Chromium. The page's clock jumps to its reload hour half-way (Playwright's fake clock; the product
is unchanged), so the daily reload is seen in a minute. Speed and memory figures are measured, never
asserted: this checks that every process was sampled, that the wall lived (flips, snapshots, the reload, data
after it) and stayed clean from its opening on (no console error, no failed request, nothing outside
localhost)."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from faults.soak import SERIES, Load, run_soak

pytestmark = [pytest.mark.browser, pytest.mark.faults]  # the soak, a wall in Chromium (docs/testing.md: the tiers)

PROCESSES = ("rss_web_mb", "rss_etl_mb", "rss_sim_mb", "rss_redis_mb", "rss_chromium_mb")


def test_a_minute_on_the_wall(tmp_path):
    # in a thread of its own: the suite's browser fixture keeps Playwright's sync API (an asyncio loop) running
    # in the main thread, and a second sync_playwright() there refuses to start
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(run_soak, 1.0, tmp_path, Load(backfill_days=3, cameras=3000, iot=2000), sample_s=3,
                              jump_at_s=30).result()
    with open(tmp_path / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    assert summary["died"] is None, summary["died"]
    assert len(rows) >= 10 and summary["samples"] == len(rows)

    # every process was sampled, every time: the web tier (gunicorn's master and 2 workers), the ETL, the
    # simulator, redis-server and Chromium (the browser, its renderer and helpers)
    for r in rows:
        for col in PROCESSES:
            assert float(r[col]) > 0, (col, r)
        assert int(r["web_processes"]) >= 3 and int(r["chromium_processes"]) >= 2, r
    # the page's heap and DOM: missed at most while the page reloads
    for col in ("heap_mb", "dom_nodes", "dom_elements"):
        assert sum(1 for r in rows if r.get(col) and float(r[col]) > 0) >= len(rows) - 2, col
    assert all(summary["flat"][name]["samples"] >= 1 for name in SERIES)

    wall = summary["wall"]
    assert wall["flips"] >= 3 and set(wall["pages_shown"]) == {"overview", "events", "safety", "cameras"}, wall
    assert wall["snapshots_seen"] > 1 and wall["panel_refreshes"] > 1 and summary["etl"]["published"] > 1, wall
    assert summary["etl"]["events_written"] > 0
    assert wall["reloads"] == 1, wall  # the daily reload, at the hour the URL named
    assert wall["snapshots_seen_after_reload"] >= 1 and wall["data_at_end"], wall
    assert wall["errors"] == [], wall["errors"]
    assert wall["failed"] == [], wall["failed"]
    assert wall["non_local"] == [], wall["non_local"]
    assert set(summary["wall_days"]) == {"flips", "snapshots", "polls", "events"}
    assert json.loads((tmp_path / "summary.json").read_text())["wall"]["reloads"] == 1
    for name in ("sim", "etl", "web"):
        assert (tmp_path / f"{name}.log").stat().st_size > 0

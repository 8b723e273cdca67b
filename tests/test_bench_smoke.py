"""A smoke run of the benchmark suite at tiny scale: every figure lands in the results file. Speed is
not asserted here (benchmarks are measured and written down, never pass/fail)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pandas as pd
import pytest
from helpers import BACKENDS, fresh_engine
from sqlalchemy import text

from bench.generate import generate, touch_events
from bench.report import FIGURE_NAMES
from config.settings import ROOT
from demo.embedded_redis import free_port
from etl.source.schema import writable_engine


@pytest.mark.parametrize("backend", BACKENDS)
def test_generator_writes_what_it_says(backend, tmp_path, city):
    engine = fresh_engine(backend, tmp_path)
    now = datetime(2026, 11, 22, 12, 0, 0)
    out = generate(engine, city, 5000, now, days=30, chunk=2000, n_cameras=300, n_iot=200)
    with engine.connect() as c:
        was_open = c.execute(text("SELECT count(*) FROM events WHERE closed_at IS NULL")).scalar()
    touch_events(engine, city, 40, 60, now, seed=3)
    with engine.connect() as c:
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("events", "devices", "safety_index")}
        ev = pd.read_sql(text("SELECT grid_code, reported_at, closed_at, updated_at FROM events"), c)
    assert out["events"] == 5000 and counts["events"] == 5000 + 40
    assert counts["devices"] == 500
    assert counts["safety_index"] == 12 * len(city.regions[city.regions["level"].isin(["city", "district", "street"])])
    for col in ("reported_at", "closed_at", "updated_at"):
        ev[col] = pd.to_datetime(ev[col])
    assert (ev["updated_at"] == pd.Timestamp(now)).sum() == 40 + min(60, was_open)  # the burst: new, and closed
    known = set(city.grids()["code"])
    assert ev["grid_code"].isin(known).mean() > 0.99  # a few malformed rows on purpose, the rest real grids
    assert ev["reported_at"].max() < pd.Timestamp(now)


@pytest.mark.slow
def test_suite_smoke_run_writes_every_figure(tmp_path):
    out = tmp_path / "benchmarks.md"
    cmd = [sys.executable, "-m", "bench.run", "--events", "20000", "--samples", "3", "--ticks", "2", "--tick-gap", "0",
           "--load-seconds", "6", "--phones", "4", "--walls", "1", "--port", str(free_port()),
           "--workdir", str(tmp_path / "work"), "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    table = out.read_text()
    for name in FIGURE_NAMES:
        assert f"| {name}" in table, f"{name!r} missing from the results table"
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    engine = writable_engine(f"sqlite:///{tmp_path / 'work' / 'source.db'}")
    with engine.connect() as c:
        valid = c.execute(text("SELECT count(*) FROM events WHERE grid_code != '999999999999999' "
                               "AND category IS NOT NULL AND row_id <= 20000")).scalar()
    assert results["generate"]["events"] == 20000
    assert results["etl"]["backfill_events"] <= valid  # what the ETL published never exceeds the valid rows
    assert results["load"]["requests"] > 0 and set(results["drilldown"]) == {"city", "district", "street", "community", "grid"}

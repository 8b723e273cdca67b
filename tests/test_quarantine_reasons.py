"""Quarantine reasons as the README says (issue 23): a point outside the city is `outside_city` (also when
the row is placed by its point, so it has no grid); inside the city but in no grid we know, or with a code
we do not know, `unknown_grid`."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from config.datums import convert
from etl.source.mapped_read import EventSource
from etl.source.mapping import load_mapping
from etl.source.validate import event_problems

NOW = datetime(2026, 11, 20, 12, 0)


def test_reasons_outside_city_and_unknown_grid(city, tmp_path):
    grid = city.grids().iloc[0]
    # a point-placed source (WGS-84 points, no code, times in UTC): the Open311 example's mapping
    from config.settings import ROOT

    source = EventSource(load_mapping(ROOT / "config" / "sources" / "examples" / "open311.toml"), city)
    glon, glat = convert(np.array([grid["lon"]]), np.array([grid["lat"]]), city.datum, "WGS84")
    df = pd.DataFrame({
        "service_request_id": ["IN", "SHANGHAI", "BEIJING"],
        "status": ["open"] * 3, "service_name": ["Pothole"] * 3, "description": [""] * 3, "address": [""] * 3,
        "agency_responsible": ["Grid office"] * 3,
        "requested_datetime": [NOW - timedelta(hours=10)] * 3, "updated_datetime": [NOW - timedelta(hours=9)] * 3,  # UTC
        "expected_datetime": [NOW + timedelta(hours=20)] * 3,
        "lat": [float(glat[0]), 31.23, 39.90], "long": [float(glon[0]), 121.47, 116.40]})
    rows = source.canonical(df, NOW).set_index("row_id", drop=False).rename_axis(None)
    reason = event_problems(rows, source.placer.known_keys(), city.contains, NOW, timedelta(minutes=5), {})
    assert reason.isna().tolist() == [True, False, False]
    assert reason.tolist()[1:] == ["outside_city", "outside_city"]

    # inside the city: a code nobody knows, or a point in no grid (placement found none) -> unknown_grid
    inside = pd.DataFrame({
        "event_id": ["CODE", "NOGRID", "FAR_WITH_CODE"], "row_id": [1, 2, 3],
        "grid_code": ["320199999999999", None, grid["code"]],
        "lon": [grid["lon"], grid["lon"], 121.47], "lat": [grid["lat"], grid["lat"], 31.23],
        "category": ["城市管理"] * 3, "reported_at": [NOW - timedelta(hours=1)] * 3,
        **{c: [pd.NaT] * 3 for c in ("dispatched_at", "handled_at", "verified_at", "closed_at")},
    }).set_index("row_id", drop=False).rename_axis(None)
    reason = event_problems(inside, source.placer.known_keys(), city.contains, NOW, timedelta(minutes=5), {})
    assert reason.tolist() == ["unknown_grid", "unknown_grid", "outside_city"]

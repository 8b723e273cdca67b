"""The kept medians (etl/state/window_medians.py) equal a pandas median of the cohort after random patches:
rows taken out and put in, equal durations, negative and missing ones, rows outside the city's regions."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from config.region_codes import CODE_LENGTH, grid_key_at
from contract.metrics import MEDIANS, WINDOWS
from etl.state.window_medians import COLUMNS, WindowMedians

pytestmark = pytest.mark.slow  # over 5 s (docs/testing.md: the tiers)

AS_OF = datetime(2026, 12, 4, 15, 0)


def cohort(rng: np.random.Generator, n: int, grid_nos: np.ndarray) -> pd.DataFrame:
    days = pd.Timestamp(AS_OF).normalize() - pd.to_timedelta(rng.integers(0, 40, n), unit="D")
    out = pd.DataFrame({"grid_no": rng.choice(grid_nos, n), "day": days})
    for col in MEDIANS.values():
        v = rng.integers(-5, 400, n) * 60.0 / 60.0 + rng.choice([0.0, 0.5, 1 / 60], n)  # whole seconds
        v[rng.random(n) < 0.2] = np.nan
        out[col] = v
    return out


def expected(facts: pd.DataFrame, regions: pd.DataFrame) -> np.ndarray:
    out = np.full((len(regions), len(WINDOWS), len(MEDIANS)), np.nan)
    pos = {(lv, int(c)): i for i, (c, lv) in enumerate(zip(regions["code"], regions["level"]))}
    for wi, n in enumerate(WINDOWS.values()):
        inw = facts[facts["day"] >= pd.Timestamp(AS_OF).normalize() - pd.Timedelta(days=n - 1)]
        for level in CODE_LENGTH:
            m = inw[list(MEDIANS.values())].groupby(grid_key_at(inw["grid_no"].to_numpy(np.int64), level)).median()
            for key, row in m.iterrows():
                if (level, int(key)) in pos:
                    out[pos[(level, int(key))], wi] = row.to_numpy(float)
    return out


def test_patched_medians_equal_a_median_of_the_cohort(city):
    regions = city.regions
    grids = regions.loc[regions["level"] == "grid", "code"].astype(np.int64).to_numpy()[:40]
    grid_nos = np.concatenate([grids, [320199999999999]])  # the last one is no region of the city
    rng = np.random.default_rng(7)
    facts = cohort(rng, 3000, grid_nos)
    m = WindowMedians(windows=tuple(WINDOWS))  # every window, not only the wall's: the stronger check
    longest = pd.Timestamp(AS_OF).normalize() - pd.Timedelta(days=max(WINDOWS.values()) - 1)
    def kept(facts: pd.DataFrame):
        return lambda: facts[facts["day"] >= longest][COLUMNS]

    got = m.medians(AS_OF, regions, kept(facts))
    np.testing.assert_allclose(got, expected(facts, regions), rtol=0, atol=1e-9)
    for _ in range(20):
        out = rng.choice(len(facts), int(rng.integers(0, 200)), replace=False)
        gone = facts.iloc[out]
        changed = cohort(rng, len(out), grid_nos)
        changed["day"] = gone["day"].to_numpy()  # a row keeps its day of report, mostly
        added = pd.concat([changed, cohort(rng, int(rng.integers(0, 100)), grid_nos)], ignore_index=True)
        m.apply(gone, -1)
        m.apply(added, 1)
        facts = pd.concat([facts.drop(facts.index[out]), added], ignore_index=True)
        got = m.medians(AS_OF, regions, kept(facts))
        np.testing.assert_allclose(got, expected(facts, regions), rtol=0, atol=1e-9)
    assert m.rebuilds == 1  # patched every time
    assert np.isfinite(got).sum() > 100
    # a row to take out that was never in: the state notices and builds itself again
    never = cohort(rng, 5, grid_nos).assign(day=pd.Timestamp(AS_OF).normalize(), **{c: 999_999.0 for c in MEDIANS.values()})
    m.apply(never, -1)
    got = m.medians(AS_OF, regions, kept(facts))
    np.testing.assert_allclose(got, expected(facts, regions), rtol=0, atol=1e-9)
    assert m.rebuilds == 2

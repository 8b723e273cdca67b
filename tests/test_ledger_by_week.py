"""EventLedger's split of a merged batch into its weeks (event_ledger._by_week): a run of rows sliced where a week's
rows are one run of the batch, taken otherwise; either way the same rows as a take per week."""

import numpy as np
import pandas as pd
import pytest

from etl.state.event_ledger import _by_week, week_of


def batch(times) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"row_id": np.arange(100, 100 + n), "reported_at": pd.to_datetime(times),
                         "category": [f"c{i % 3}" for i in range(n)]}).set_index("row_id", drop=False)


def taken_per_week(b: pd.DataFrame, ok: np.ndarray) -> dict:
    weeks = week_of(b["reported_at"].take(ok))
    return {w: b.take(ok[weeks == w]) for w in np.unique(weeks)}


DAYS = pd.date_range("2026-03-02", periods=40, freq="13h")  # a Monday on: 3 weeks, in order


@pytest.mark.parametrize("times,ok", [
    (DAYS, np.arange(40)),                                # in order, all kept: one slice a week
    (DAYS, np.array([0, 1, 2, 5, 6, 20, 21, 39])),         # in order, some quarantined: gaps taken
    (DAYS[::-1], np.arange(40)),                          # out of order: taken week by week
    (DAYS[np.random.default_rng(3).permutation(40)], np.arange(0, 40, 2)),
    (DAYS[:1], np.array([0])),
    (DAYS, np.array([], dtype=np.int64)),
])
def test_the_same_rows_as_a_take_per_week(times, ok):
    b = batch(times)
    got = dict(_by_week(b, ok))
    want = taken_per_week(b, ok)
    assert sorted(got) == sorted(want)
    for w, rows in want.items():
        pd.testing.assert_frame_equal(got[w], rows)
    assert sum(len(r) for r in got.values()) == len(ok)

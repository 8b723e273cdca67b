"""contract/factorize.py gives what pd.factorize gives: rows sharing their strings or not, with missing values of
every kind, sorted or not."""

import numpy as np
import pandas as pd
import pytest

from contract.factorize import SMALL, factorize


def columns():
    rng = np.random.default_rng(11)
    words = ["320102001001001", "320102001001002", "城管", "", " 城管 ", "B", "a", "b"]
    shared = np.array(words, dtype=object)
    n = SMALL * 3
    yield shared[rng.integers(0, len(words), n)]  # one object per distinct value, as a read gives them
    fresh = np.array(["".join(chr(c) for c in w.encode("unicode_escape")) for w in shared[rng.integers(0, 8, n)]],
                     dtype=object)  # equal strings that are different objects
    yield fresh
    mixed = shared[rng.integers(0, len(words), n)]
    mixed[rng.random(n) < 0.1] = None
    mixed[rng.random(n) < 0.05] = np.nan
    mixed[rng.random(n) < 0.05] = float("nan")  # NaNs that are different objects
    mixed[rng.random(n) < 0.05] = "".join(["32010200100100", "1"])  # an equal string made apart
    yield mixed
    yield np.array([None] * n, dtype=object)
    yield np.array([f"E{k}" for k in range(n)], dtype=object)  # all distinct
    yield shared[rng.integers(0, 3, 10)]  # small: pandas as it is
    yield np.array([], dtype=object)
    yield shared[rng.integers(0, len(words), 2 * n)][::2]  # not contiguous


@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize("k", range(8))
def test_the_same_as_pandas(k, sort):
    values = list(columns())[k]
    want_codes, want_uniques = pd.factorize(values, sort=sort)
    for given in (values, pd.Series(values, dtype=object)):
        codes, uniques = factorize(given, sort=sort)
        np.testing.assert_array_equal(codes, want_codes)
        assert list(uniques) == list(want_uniques)
    assert codes.dtype == np.int64


def test_a_categorical_goes_to_pandas():
    cat = pd.Series(pd.Categorical(["b", "a", None, "b"]))
    codes, uniques = factorize(cat)
    want_codes, want_uniques = pd.factorize(cat)
    np.testing.assert_array_equal(codes, want_codes)
    assert list(uniques) == list(want_uniques)

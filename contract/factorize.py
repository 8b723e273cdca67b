"""pd.factorize for the text columns the ETL works on: codes and categories of a few hundred distinct values over
millions of rows, whose rows share one Python string per distinct value (a read makes them so:
etl/source/arrow_read.py shared_objects). pandas hashes and compares every row's string; here the rows are told
apart by their objects' addresses first (an integer hash table, ~10x faster), and only the distinct objects by
their values. The same codes and uniques as pd.factorize, whoever made the strings (equal strings that are
different objects get one code)."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pandas as pd

SMALL = 4096  # fewer rows than this: pd.factorize as it is


def factorize(values, sort: bool = False) -> tuple[np.ndarray, Any]:
    """pd.factorize(values, sort=sort) (codes int64, -1 for a missing value; uniques in order of first appearance,
    or sorted): uniques an object array for an object column, else what pandas gives (an Index, a Categorical)."""
    if isinstance(values, pd.Series | pd.Index):
        if values.dtype != object:  # a categorical, numbers, pandas' own strings: pandas' way is fast or the only one
            return pd.factorize(values, sort=sort)
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values)
    if arr.dtype != object or arr.ndim != 1 or len(arr) < SMALL:
        return pd.factorize(arr, sort=sort)
    arr = np.ascontiguousarray(arr)
    # each row's object address, read without touching the objects (no reference taken): a view of the array's slots
    address = np.ctypeslib.as_array((ctypes.c_uint64 * len(arr)).from_address(arr.ctypes.data))
    by_address, _ = pd.factorize(address)
    # codes come in order of first appearance: a row whose code exceeds every one before it is that code's first
    top = np.maximum.accumulate(by_address)
    first = np.flatnonzero(np.r_[True, top[1:] > top[:-1]])
    by_value, uniques = pd.factorize(arr[first], sort=sort)  # the distinct objects, by value (missing: -1)
    return by_value[by_address], uniques

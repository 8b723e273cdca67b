"""The published department table (条): the city's catalogue (config/departments.py) as the screens read it,
with 未归属 (number 0, code '') first, so a piece's `dept` number names its department."""

from __future__ import annotations

import pandas as pd

from config.departments import UNASSIGNED, Departments


def department_table(catalogue: Departments) -> pd.DataFrame:
    """The `departments` frame: number, code, name, parent, kind, depth; 未归属 first (code '', kind '')."""
    t = catalogue.table
    unassigned = pd.DataFrame({"number": [UNASSIGNED], "code": [""], "name": [""], "parent": [""], "kind": [""],
                               "depth": [0]})
    out = pd.concat([unassigned, t[["number", "code", "name", "parent", "kind", "depth"]]], ignore_index=True)
    return out.astype({"number": "int64", "depth": "int64", "code": object, "name": object, "parent": object,
                       "kind": object})

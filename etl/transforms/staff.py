"""The grids' staff on duty (1+1+N: 网格长, 网格员, the N), from the staff feed's rows (etl/source/mapped_feeds.py
StaffSource): the usable rows as the `grid_staff` frame, by grid then role (STAFF_ROLES' order) then name; the
quarantined ones with their reasons as `staff_quarantine` (no name or phone: a quarantine list is for fixing the
source, not a directory)."""

from __future__ import annotations

import pandas as pd

from contract.domain import STAFF_ROLES

STAFF_FRAME_COLUMNS = ["grid_code", "role", "name", "phone"]
QUARANTINE_COLUMNS = ["source_code", "role", "reason", "detail"]


def grid_staff(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows without a quarantine reason, sorted by grid code, role (leader, worker, then the N), name."""
    ok = rows[rows["reason"].isna()]
    order = ok["role"].map({r: i for i, r in enumerate(STAFF_ROLES)})
    ok = ok.assign(_o=order).sort_values(["grid_code", "_o", "name"], kind="stable")
    return ok[STAFF_FRAME_COLUMNS].astype(str).reset_index(drop=True)


def staff_quarantine(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a quarantine reason: the source's code and role as read, the reason and its detail."""
    bad = rows[rows["reason"].notna()]
    return bad[QUARANTINE_COLUMNS].astype(str).reset_index(drop=True)

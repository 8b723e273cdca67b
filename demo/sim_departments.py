"""Which department (条) the demo's cases go to, by category, and how each department behaves, so the demo tells
a story: 住建 (housing) is slow, gets many extensions (延期) and parks cases (挂账); 水务 (water) bounces cases back
to the street (a high rework share: 返工); the rest are ordinary. Codes are those of the city's departments.csv
(config/cities/nanjing/departments.csv: a district branch is its bureau's code + the district code). Everything
is fixed by the event id (demo/simulator.py _hash_uniform), so a case's department and fate never change."""

from __future__ import annotations

import numpy as np
import pandas as pd

# category -> [(department code, '+district' when the case goes to the bureau's district branch, share)]
BY_CATEGORY = {
    "城市管理": [("CG", True, 0.75), ("ZJ", True, 0.25)],
    "民生服务": [("GS", False, 0.35), ("GD", False, 0.25), ("RQ", False, 0.15), ("SW", False, 0.25)],
    "公共安全": [("GA", True, 0.6), ("JT", False, 0.4)],
    "环保巡查": [("HB", False, 0.8), ("SW", False, 0.2)],
    "平安法治": [("GA", True, 1.0)],
    "矛盾纠纷": [("SD", True, 0.7), ("SJ", True, 0.3)],
    "群众工作": [("SD", True, 1.0)],
    "区域党建": [("SD", True, 1.0)],
}
UNASSIGNED_SHARE = 0.02  # cases the source leaves without a department (未归属)
# department (top-level code) -> behaviour: handle-time factor, rework share, extension share, deferral share,
# share of its slow cases that it parks (挂账)
# share of its slow cases that it parks (挂账), share of cases that get stuck (handled 20 times slower)
BEHAVIOUR = {"ZJ": {"slow": 4.0, "rework": 0.04, "extend": 0.25, "defer": 0.08, "hang": 0.6, "stuck": 0.15},
             "SW": {"slow": 1.3, "rework": 0.30, "extend": 0.03, "defer": 0.0, "hang": 0.1, "stuck": 0.04}}
ORDINARY = {"slow": 1.0, "rework": 0.03, "extend": 0.02, "defer": 0.01, "hang": 0.1, "stuck": 0.04}
EXTENSION_HOURS = 72  # an approved extension moves the deadline this much


def assign_departments(ev: pd.DataFrame, uniform) -> np.ndarray:
    """The department code of each case (None for 未归属), from its category, district and id (`uniform(ids, salt)`)."""
    u = uniform(ev["event_id"], "dept")
    none = uniform(ev["event_id"], "dept0") < UNASSIGNED_SHARE
    district = ev["grid_code"].astype(str).str[:6].to_numpy(dtype=object)
    out = np.full(len(ev), None, dtype=object)
    cat = ev["category"].to_numpy(dtype=object)
    for category, choices in BY_CATEGORY.items():
        m = cat == category
        if not m.any():
            continue
        edges = np.cumsum([share for _, _, share in choices])
        k = np.minimum(np.searchsorted(edges, u[m] * edges[-1]), len(choices) - 1)
        codes = np.array([c for c, _, _ in choices], dtype=object)[k]
        branch = np.array([b for _, b, _ in choices])[k]
        out[m] = np.where(branch, codes + district[m], codes)
    out[none] = None
    return out


def behaviour(departments: np.ndarray, key: str) -> np.ndarray:
    """Each case's department behaviour value `key` (BEHAVIOUR, by the top-level code)."""
    top = np.array([str(d)[:2] if d is not None else "" for d in departments], dtype=object)
    return np.array([BEHAVIOUR.get(t, ORDINARY)[key] for t in top], dtype=float) if len(top) else np.zeros(0)


def with_departments(ev: pd.DataFrame, uniform) -> pd.DataFrame:
    """New cases with their department, extension (the deadline moved EXTENSION_HOURS later) and deferral flags."""
    dept = assign_departments(ev, uniform)
    ext = uniform(ev["event_id"], "extend") < behaviour(dept, "extend")
    ev = ev.assign(department=dept, extended=ext.astype(int),
                   deferred=(uniform(ev["event_id"], "defer") < behaviour(dept, "defer")).astype(int))
    ev["due_at"] = (pd.to_datetime(ev["due_at"]) + pd.to_timedelta(np.where(ext, EXTENSION_HOURS, 0), unit="h")).to_numpy()
    return ev

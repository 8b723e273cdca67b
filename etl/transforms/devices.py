"""Camera and IoT device state of every region: online rates, blind-spot grids, unplaced cameras."""

from __future__ import annotations

import pandas as pd

from contract.metrics import DEVICE_COUNTS, DEVICE_RATES
from contract.rates import rate
from etl.transforms.regions import rolled_up_sums


def device_facts(devices: pd.DataFrame) -> pd.DataFrame:
    """One row per device with 0/1 columns for each device count."""
    cam = devices["kind"] == "camera"
    iot = devices["kind"] == "iot"
    online = devices["status"] == "online"
    return pd.DataFrame({
        "grid_code": devices["grid_code"],
        "cameras": cam.astype(int),
        "cameras_online": (cam & online).astype(int),
        "cameras_untagged": (cam & (devices["tags"].fillna("").str.strip() == "")).astype(int),
        "cameras_unplaced": (cam & (devices["coord_quality"] != "verified")).astype(int),
        "cameras_coord_approx": (cam & (devices["coord_quality"] == "approximate")).astype(int),
        "cameras_coord_missing": (cam & (devices["coord_quality"] == "missing")).astype(int),
        "iot": iot.astype(int),
        "iot_online": (iot & online).astype(int),
    })


def region_device_kpis(devices: pd.DataFrame, grids: pd.DataFrame) -> pd.DataFrame:
    """Device counts, online rates and blind-spot grid counts for every region at every level."""
    facts = device_facts(devices)
    per_grid = facts.groupby("grid_code")[list(DEVICE_COUNTS)].sum()
    per_grid = per_grid.reindex(grids["code"], fill_value=0).rename_axis("grid_code").reset_index()
    per_grid["blind_grids"] = (per_grid["cameras"] == 0).astype(int)
    k = rolled_up_sums(per_grid, [*DEVICE_COUNTS, "blind_grids"])
    for name, (num, den) in DEVICE_RATES.items():
        k[name] = rate(k[num], k[den])
    return k


def blind_grid_list(devices: pd.DataFrame, grids: pd.DataFrame) -> pd.DataFrame:
    """Grids with no camera (code, name)."""
    covered = set(devices.loc[devices["kind"] == "camera", "grid_code"].dropna())
    return grids.loc[~grids["code"].isin(covered), ["code", "name"]].reset_index(drop=True)

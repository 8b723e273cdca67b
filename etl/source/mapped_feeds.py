"""The devices, safety-index and staff feeds through the source mapping (etl/source/mapping.py): small tables
read whole each run, so plain SQLAlchemy + pandas. Our columns come out as the transforms always saw
them (etl/transforms/devices.py, safety.py, staff.py); a device value no map covers leaves that field empty and
is counted (`unmapped`), a safety row whose region the city does not have is dropped and counted, a staff row
whose grid the city does not have, or whose role no map covers, comes with its quarantine reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.city import City
from contract.domain import SAFETY_COMPONENTS, STAFF_ROLES
from etl.source.mapped_read import FeedSource, _specs
from etl.source.mapped_values import Problems, key_text, mapped, raw, text_field, time_field
from etl.source.mapping import SourceMapping
from etl.source.placement import Placer

DEVICE_COLUMNS = ["device_id", "kind", "device_type", "grid_code", "lon", "lat", "tags", "status", "last_seen_at",
                  "coord_quality"]
SAFETY_COLUMNS = ["region_code", "month", "index_value", "public_security", *SAFETY_COMPONENTS]
STAFF_COLUMNS = ["grid_code", "role", "name", "phone", "source_code", "reason", "detail"]


class _Whole(FeedSource):
    def columns(self) -> dict[str, object]:
        """Untyped: times come as the driver gives them and are parsed by pandas (no filter needs a type)."""
        return {s.column: None for s in self.fields.values() if s.column}  # type: ignore[attr-defined]

    def read_raw(self, engine: Engine) -> pd.DataFrame:
        cols = self.columns()
        src = self.from_(cols)
        with engine.connect() as conn:
            return pd.read_sql(select(*(src.c[c] for c in cols)), conn)


class DeviceSource(_Whole):

    def __init__(self, mapping: SourceMapping, city: City, placer: Placer):
        super().__init__(mapping.spec.devices, "devices", city)
        self.fields, self.placer = _specs(self.feed.fields), placer
        g = self.feed.grid
        self.fields.update({f"grid.{k}": s for k, s in (("code", g.code), ("lon", g.lon), ("lat", g.lat)) if s})

    def read(self, engine: Engine, now) -> tuple[pd.DataFrame, int]:
        """Our device rows and how many values no map covered."""
        df = self.read_raw(engine)
        f, g, p = self.fields, self.feed.grid, Problems(df.index)
        out = pd.DataFrame({"device_id": raw(df, f["device_id"]).astype(str)}, index=df.index)
        for name in ("kind", "device_type", "status", "coord_quality"):
            out[name] = mapped(df, f.get(name), name, p)
        out["tags"] = text_field(df, f.get("tags"))
        t = time_field(df, f.get("last_seen_at"), "last_seen_at", self.feed.timezone, self.city.timezone, p)
        out["last_seen_at"] = t.fillna(pd.Timestamp(now))
        lon = pd.to_numeric(raw(df, g.lon, np.nan), errors="coerce").to_numpy(float)
        lat = pd.to_numeric(raw(df, g.lat, np.nan), errors="coerce").to_numpy(float)
        lon, lat = self.placer.to_city(lon, lat, g.datum)
        key = self.placer.by_code(raw(df, g.code), g.codes)[0] if g.code else pd.Series(None, index=df.index, dtype=object)
        need = key.isna().to_numpy() & np.isfinite(lon) & np.isfinite(lat)
        if need.any():
            key[need] = self.placer.by_point(lon[need], lat[need])
        out["grid_code"], out["lon"], out["lat"] = key, lon, lat
        if "coord_quality" not in f:
            out["coord_quality"] = np.where(np.isfinite(lon) & np.isfinite(lat), "verified", "missing")
        return out[DEVICE_COLUMNS], int(p.reason.notna().sum())


class SafetySource(_Whole):

    def __init__(self, mapping: SourceMapping, city: City, placer: Placer):
        super().__init__(mapping.spec.safety, "safety", city)
        self.fields, self.placer = _specs(self.feed.fields), placer

    def read(self, engine: Engine) -> tuple[pd.DataFrame, int]:
        """Our safety-index rows and how many rows named a region the city does not have."""
        df = self.read_raw(engine)
        f, p = self.fields, Problems(df.index)
        code = key_text(raw(df, f["region_code"]))
        if self.feed.codes == "city":
            own = self.placer._city_code_of
            code = code.map(lambda c: own.get(c, c) if c is not None else None)
        out = pd.DataFrame({"region_code": code}, index=df.index)
        month = time_field(df, f["month"], "month", self.feed.timezone, self.city.timezone, p)
        out["month"] = month.dt.to_period("M").dt.to_timestamp()
        for name in SAFETY_COLUMNS[2:]:
            out[name] = pd.to_numeric(raw(df, f.get(name), np.nan), errors="coerce").astype(float)
        known = out["region_code"].isin(self.city.regions["code"]) & out["month"].notna()
        return out[known].reset_index(drop=True)[SAFETY_COLUMNS], int((~known).sum())


class StaffSource(_Whole):
    """The grids' staff (1+1+N: 网格长, 网格员, the N), read whole and read-only like the devices."""

    def __init__(self, mapping: SourceMapping, city: City):
        super().__init__(mapping.spec.staff, "staff", city)
        self.fields = _specs(self.feed.fields)
        self.grids = frozenset(city.regions.loc[city.regions["level"] == "grid", "code"])
        self.city_code_of = city.by_source_code("grid")  # codes = "city": the city's own grid codes

    def read(self, engine: Engine) -> pd.DataFrame:
        """Every row as STAFF_COLUMNS: our grid code, role (contract/domain.py STAFF_ROLES), name and phone as
        text, the source's own code text, and `reason` (etl/source/validate.py REASONS: unknown_grid, a code that
        is not one of the city's grids; unmapped_value, a role no map covers) with its detail, None when usable."""
        df = self.read_raw(engine)
        f, p = self.fields, Problems(df.index)
        src = key_text(raw(df, f["grid_code"]))
        code = src.map(lambda c: self.city_code_of.get(c, c) if c is not None else None) \
            if self.feed.codes == "city" else src
        role = mapped(df, f["role"], "role", p)
        p.add(role.notna() & ~role.isin(STAFF_ROLES), "unmapped_value", "unmapped role '" + role.astype(str) + "'")
        p.add(role.isna(), "unmapped_value", "unmapped role 'NULL'")
        p.add(~code.isin(self.grids), "unknown_grid", "grid '" + src.fillna("NULL").astype(str) + "'")
        # the first problem wins (Problems.add keeps it): role first, then the grid
        out = pd.DataFrame({"grid_code": code.fillna("").astype(str), "role": role.fillna("").astype(str),
                            "name": text_field(df, f["name"]).astype(str).str.strip(),
                            "phone": text_field(df, f.get("phone")).astype(str).str.strip(),
                            "source_code": src.fillna("").astype(str),
                            "reason": p.reason, "detail": p.detail}, index=df.index)
        return out.reset_index(drop=True)[STAFF_COLUMNS]

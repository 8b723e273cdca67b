"""Placing a source row in the city model: from a region code column (our codes, or the city's own
through regions.csv's optional `source_code` column), from coordinates in a stated datum by
point-in-grid (shapely STRtree over geo/grid.geojson, City.grid_at), or both (the code first). A code of a community
or street places the row at that level: it gets that region's placeholder grid key
(config/region_codes.py placeholder_grid), so it counts there and above and never in a grid. Coordinates
are converted to the city model's datum (city.toml `datum`, GCJ02 by default); a row placed by code
alone gets its region's centre, so the city-boundary check still holds for it."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from config.city import City
from config.datums import convert, normalize
from config.region_codes import placeholder_grid
from contract.factorize import factorize

PLACED_LEVELS = ("grid", "community", "street")


class Placer:
    def __init__(self, city: City):
        self.city = city
        self.datum = normalize(getattr(city, "datum", None) or city.settings.get("datum", "GCJ02"))

    @cached_property
    def _code_of(self) -> dict[str, tuple[str, str]]:
        """A source's code -> (the key we place it under, its level), for codes at a placed level."""
        regions = self.city.regions
        rows = regions[regions["level"].isin(PLACED_LEVELS)]
        keys = [c if lv == "grid" else placeholder_grid(c) for c, lv in zip(rows["code"], rows["level"])]
        return dict(zip(rows["code"], zip(keys, rows["level"])))

    @cached_property
    def _city_code_of(self) -> dict[str, str]:
        """The city's own code -> ours (regions.csv `source_code`; without it every code is its own)."""
        out: dict[str, str] = {}
        for level in PLACED_LEVELS:
            out.update(self.city.by_source_code(level))
        return out

    @cached_property
    def centres(self) -> dict[str, tuple[float, float]]:
        """Placement key -> the region's centre (regions.csv lon/lat, in the city's datum)."""
        regions = self.city.regions
        out = {}
        for code, level, lon, lat in zip(regions["code"], regions["level"], regions["lon"], regions["lat"]):
            if level in PLACED_LEVELS:
                out[code if level == "grid" else placeholder_grid(code)] = (float(lon), float(lat))
        return out

    def known_keys(self) -> set[str]:
        """Every grid_code a placed row can carry: the grids and the placeholders of streets and communities."""
        return {key for key, _ in self._code_of.values()}

    def to_city(self, lon, lat, datum: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates from the source's datum (default: the city's) to the city model's."""
        return convert(lon, lat, datum or self.datum, self.datum)

    def by_code(self, codes: pd.Series, scheme: str) -> tuple[pd.Series, pd.Series]:
        """(placement key, level) per row; a code we do not know keeps its text (the ETL quarantines it
        as unknown_grid) with level None; a missing code gives None, None."""
        inverse, uniq = factorize(codes if codes.dtype == object else codes.astype(object))  # one lookup per distinct code
        ours = self._city_code_of if scheme == "city" else {}
        keys: list[str | None] = [None] * (len(uniq) + 1)  # the last: a missing code
        levels: list[str | None] = [None] * (len(uniq) + 1)
        for i, value in enumerate(uniq):
            raw = _code_text(value)
            code = ours.get(raw, raw)  # the city's code, or (absent from source_code) already ours
            keys[i], levels[i] = self._code_of.get(code, (raw or None, None))
        inverse = np.where(inverse < 0, len(uniq), inverse)
        return (pd.Series(np.array(keys, dtype=object)[inverse], index=codes.index, dtype=object),
                pd.Series(np.array(levels, dtype=object)[inverse], index=codes.index, dtype=object))

    def by_point(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The grid code holding each point (in the city's datum; STRtree point-in-polygon over the city's
        grids, City.grid_at), None outside every grid."""
        if len(lon) == 0:
            return np.full(0, None, dtype=object)
        codes = np.asarray(self.city.grid_at(lon, lat), dtype=object)
        codes[codes == ""] = None
        return codes


def _code_text(value) -> str:
    """A code as text: integers stored as numbers (3201020020 or 3.2e14 floats) without a '.0'."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else str(int(value))
    return str(value).strip()

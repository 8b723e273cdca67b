"""Distances on the ground, the one way both tiers measure them (issue 28: the cameras around a point).

A city's coordinates are lon/lat in its datum (config/city.py `datum`: GCJ-02 for the packaged Nanjing). They
are taken to WGS-84 (config/datums.py; GCJ-02's obfuscation is not distance-preserving at the metre level)
and projected with a local transverse Mercator centred on the city (pyproj, scale 1 on the city's central
meridian): within 50 km of it the scale error is under 3e-5, so a 300 m distance is right to a centimetre,
and x/y in metres feed a spatial index (shapely's STRtree) directly. The ETL publishes the cameras' x/y
(etl/transforms/nearby_cameras.py); the web tier projects a query point with the same `Ground`
(queries/nearby.py)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer

from config import datums

# 8 compass points, clockwise from north; labels `compass_<key>` in config/labels.py
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


class Ground:
    """Lon/lat in a city's datum -> x (east) / y (north) in metres on a local transverse Mercator."""

    def __init__(self, datum: str, origin_lon: float, origin_lat: float):
        self.datum = datums.normalize(datum)
        lon0, lat0 = datums.convert([origin_lon], [origin_lat], self.datum, "WGS84")
        self.lon0, self.lat0 = round(float(lon0[0]), 6), round(float(lat0[0]), 6)
        crs = CRS.from_proj4(f"+proj=tmerc +lat_0={self.lat0} +lon_0={self.lon0} +k=1 +x_0=0 +y_0=0 "
                             "+ellps=WGS84 +units=m +no_defs")
        self._to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """x/y in metres of lon/lat arrays in the city's datum (NaN stays NaN)."""
        wlon, wlat = datums.convert(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), self.datum, "WGS84")
        if len(wlon) == 0:
            return np.zeros(0), np.zeros(0)
        x, y = self._to_xy.transform(wlon, wlat)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        bad = ~(np.isfinite(wlon) & np.isfinite(wlat))
        return np.where(bad, np.nan, x), np.where(bad, np.nan, y)


@lru_cache(maxsize=8)
def ground_of(datum: str, origin_lon: float, origin_lat: float) -> Ground:
    """The Ground of a city (its datum and centre), built once per process."""
    return Ground(datum, origin_lon, origin_lat)


def city_ground(city) -> Ground:
    """The Ground of a city model (config/city.py City): its datum, centred on its centre."""
    return ground_of(city.datum, float(city.center[0]), float(city.center[1]))


def compass(dx, dy) -> np.ndarray:
    """The compass point (COMPASS) of each offset east `dx`, north `dy` (metres); "" for no offset."""
    dx, dy = np.asarray(dx, dtype=float), np.asarray(dy, dtype=float)
    deg = np.degrees(np.arctan2(dx, dy)) % 360
    out = np.asarray(COMPASS, dtype=object)[np.round(deg / 45).astype(int) % 8]
    return np.where((dx == 0) & (dy == 0), "", out)

"""Reading one indicator's feed (config/indicators.py) and turning its rows into ours.

A reader is the small interface `read(since) -> raw rows` (SqlFeed: the indicator's SELECT on its named
connection, wrapped so only rows after the watermark come back; HttpFeed: the intranet API's JSON with
its fields named, the watermark passed as a query parameter). `canonical_rows` then validates and places
the rows: times to the city's clock, values outside the declared range quarantined with a reason, a region
code (ours or the city's own) or a point (placed in a grid like events, etl/source/placement.py); a
region the city does not have is counted and the row kept (it counts in the city's value only). The
cockpit only reads: a SELECT in a read-only use of the connection, a GET on the API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import column, select, text
from sqlalchemy.engine import Engine

from config.city import City
from config.indicators import Catalogue, Connection, Indicator
from etl.source.placement import Placer

ROWS = ["time", "value", "site", "region"]  # our rows: local naive time, value, site key, region code or None
QUARANTINE = ["indicator", "time", "value", "site", "reason"]
REASONS = ("bad_time", "bad_value", "out_of_range", "future_time")


class FeedError(RuntimeError):
    """A feed could not be read (down, timed out, garbage); the message says which and why."""


class FeedReader(Protocol):
    def read(self, since: pd.Timestamp) -> pd.DataFrame:
        """The feed's rows after `since` (city-local naive time), columns named as the source spec names them."""
        ...


def _fields(ind: Indicator) -> list[str]:
    s = ind.source
    return [f for f in (s.time, s.value, s.region, s.lon, s.lat, s.site, s.weight) if f]


class SqlFeed:
    """The indicator's SELECT, wrapped: SELECT <fields> FROM (<sql>) q WHERE q.<time> > :since ORDER BY q.<time>."""

    def __init__(self, ind: Indicator, engine: Engine, tz: str, city_tz: str):
        self.ind, self.engine = ind, engine
        self.tz, self.city_tz = tz, city_tz
        cols = _fields(ind)
        self.q = text(ind.source.sql or "").columns(*(column(c) for c in cols)).subquery("q")
        self.cols = cols

    def read(self, since: pd.Timestamp) -> pd.DataFrame:
        t = self.q.c[self.ind.source.time]
        local = _to_zone(since, self.city_tz, self.tz)
        stmt = select(*(self.q.c[c] for c in self.cols)).where(t > f"{local:%Y-%m-%d %H:%M:%S}").order_by(t)
        try:
            with self.engine.connect() as conn:
                return pd.DataFrame(conn.execute(stmt).fetchall(), columns=self.cols)
        except Exception as exc:  # noqa: BLE001 - any driver error is this feed's failure
            raise FeedError(f"{self.ind.id}: SQL read failed: {str(exc).splitlines()[0][:200]}") from exc


class HttpFeed:
    """GET base_url + path with params ("{since}" = the watermark as ISO time), a token header from the
    environment; the records at the dotted path `records` of the JSON body."""

    def __init__(self, ind: Indicator, conn: Connection, tz: str, city_tz: str):
        self.ind, self.conn, self.tz, self.city_tz = ind, conn, tz, city_tz

    def read(self, since: pd.Timestamp) -> pd.DataFrame:
        s = self.ind.source
        iso = _to_zone(since, self.city_tz, self.tz).isoformat()
        params = {k: v.replace("{since}", iso) for k, v in s.params.items()}
        url = (self.conn.base_url or "").rstrip("/") + "/" + (s.path or "").lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        headers = {"Accept": "application/json"}
        if (token := self.conn.secret()) is not None:
            headers[self.conn.token_header] = self.conn.token_prefix + token
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.conn.timeout) as r:
                body = r.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FeedError(f"{self.ind.id}: GET {url} failed: {exc}") from exc
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise FeedError(f"{self.ind.id}: GET {url}: not JSON ({body[:60]!r})") from exc
        for part in filter(None, s.records.split(".")):
            if not isinstance(data, dict) or part not in data:
                raise FeedError(f"{self.ind.id}: GET {url}: no {s.records!r} in the answer")
            data = data[part]
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise FeedError(f"{self.ind.id}: GET {url}: {s.records or 'the body'!r} is not a list of records")
        cols = _fields(self.ind)
        df = pd.DataFrame.from_records(data) if data else pd.DataFrame(columns=cols)
        missing = [c for c in (s.time, s.value) if c not in df.columns]
        if data and missing:
            raise FeedError(f"{self.ind.id}: GET {url}: records have no field(s) {missing}")
        return df.reindex(columns=cols)


def _to_zone(t: pd.Timestamp, src_tz: str, dst_tz: str) -> pd.Timestamp:
    if src_tz == dst_tz:
        return t
    return t.tz_localize(ZoneInfo(src_tz)).tz_convert(ZoneInfo(dst_tz)).tz_localize(None)


def make_readers(cat: Catalogue, city: City, source_url: str, timeout_s: float = 0) -> dict[str, FeedReader]:
    """One reader per indicator; SQL connections opened once per name (engines share their pools)."""
    from etl.source.schema import source_engine

    engines: dict[str, Engine] = {}
    out: dict[str, FeedReader] = {}
    for ind in cat.indicator:
        name = ind.source.connection
        conn = cat.connections[name]
        tz = conn.timezone or city.timezone
        if conn.is_http:
            out[ind.id] = HttpFeed(ind, conn, tz, city.timezone)
            continue
        if name not in engines:
            engines[name] = source_engine(_sql_url(conn, source_url), conn.timeout)
        out[ind.id] = SqlFeed(ind, engines[name], tz, city.timezone)
    return out


def _sql_url(conn: Connection, source_url: str):
    from sqlalchemy.engine import make_url

    if conn.same_as_source:
        return source_url
    url = make_url(conn.url or "")
    secret = conn.secret()
    return url.set(password=secret) if secret is not None else url


def canonical_rows(raw: pd.DataFrame, ind: Indicator, placer: Placer, city: City, now: pd.Timestamp,
                   tz: str, future_tolerance_s: float = 300) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(our rows, quarantined rows with their reason, how many rows named a region the city does not have)."""
    s = ind.source
    if raw.empty:  # most reads of a feed polled more often than its cadence: nothing new
        rows = pd.DataFrame({"time": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                             "site": pd.Series(dtype=object), "region": pd.Series(dtype=object)})
        if s.weight:
            rows["weight"] = pd.Series(dtype=float)
        return rows, pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "time" else float if c == "value"
                                                else object) for c in QUARANTINE}), 0
    t = pd.to_datetime(raw[s.time], errors="coerce", format="mixed")
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        t = t.dt.tz_convert(ZoneInfo(city.timezone)).dt.tz_localize(None)
    elif tz != city.timezone and len(t):
        t = t.dt.tz_localize(ZoneInfo(tz), ambiguous="NaT", nonexistent="NaT") \
            .dt.tz_convert(ZoneInfo(city.timezone)).dt.tz_localize(None)
    t = t.astype("datetime64[ns]")
    v = pd.to_numeric(raw[s.value], errors="coerce").astype(float) * s.scale
    reason = pd.Series(None, index=raw.index, dtype=object)
    reason[t.isna()] = "bad_time"
    reason[reason.isna() & v.isna()] = "bad_value"
    if ind.range is not None:
        lo, hi = ind.range
        reason[reason.isna() & ((v < lo) | (v > hi))] = "out_of_range"
    reason[reason.isna() & (t > now + pd.Timedelta(seconds=future_tolerance_s))] = "future_time"
    region, site, unknown = _placed(raw, ind, placer, city)
    bad = reason.notna()
    quarantined = pd.DataFrame({"indicator": ind.id, "time": t[bad], "value": v[bad], "site": site[bad],
                                "reason": reason[bad]})[QUARANTINE]
    ok = ~bad
    rows = pd.DataFrame({"time": t[ok], "value": v[ok], "site": site[ok], "region": region[ok]})
    if s.weight:
        rows["weight"] = pd.to_numeric(raw.loc[ok, s.weight], errors="coerce").fillna(0.0).astype(float)
    return rows.reset_index(drop=True), quarantined.reset_index(drop=True), int((unknown & ok).sum())


_KNOWN: dict[int, tuple[object, frozenset]] = {}


def _known_codes(city: City) -> frozenset:
    """The city's region codes as a set, built once per city model (a set lookup per row: pandas' isin on
    arrow strings rebuilds the 14,000 codes on every call)."""
    held = _KNOWN.get(id(city))
    if held is None or held[0] is not city:
        held = _KNOWN[id(city)] = (city, frozenset(city.regions["code"].astype(str)))
    return held[1]


def _placed(raw: pd.DataFrame, ind: Indicator, placer: Placer, city: City) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(region code or None, site key, unknown-region flag) per row: by region code, else by point, else the city."""
    s, idx = ind.source, raw.index
    region = pd.Series(None, index=idx, dtype=object)
    unknown = pd.Series(False, index=idx)
    if s.region:
        codes = raw[s.region].map(lambda c: None if c is None or c != c else str(int(c)) if isinstance(c, float) else str(c).strip())
        if s.codes == "city":
            own = placer._city_code_of
            codes = codes.map(lambda c: own.get(c, c) if c is not None else None)
        known = _known_codes(city)
        hit = pd.Series(np.fromiter((c in known for c in codes), bool, len(codes)), index=idx)
        region[hit] = codes[hit]
        unknown = ~hit
        site = codes.fillna("?") if not s.site else raw[s.site].astype(str)
    elif s.lon and s.lat:
        lon = pd.to_numeric(raw[s.lon], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(raw[s.lat], errors="coerce").to_numpy(float)
        lon, lat = placer.to_city(lon, lat, s.datum)
        finite = np.isfinite(lon) & np.isfinite(lat)
        grids = np.full(len(raw), None, dtype=object)
        if finite.any():
            grids[finite] = placer.by_point(lon[finite], lat[finite])
        region[:] = grids
        unknown = region.isna()
        site = raw[s.site].astype(str) if s.site else \
            pd.Series([f"{a:.5f},{b:.5f}" for a, b in zip(lon, lat)], index=idx, dtype=object)
    else:
        region[:] = city.code
        site = raw[s.site].astype(str) if s.site else pd.Series(city.code, index=idx, dtype=object)
    return region, site.astype(object), unknown

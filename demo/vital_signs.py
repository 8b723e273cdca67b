"""The demo's city vital signs (城市体征): feeds with daily and weekly shapes, written by the simulator
into tables of the demo's SQLite source (one table per "system", as a city's would be), plus one feed
served over HTTP by a small endpoint on localhost (the public-opinion system's API), so both kinds of
source run. Read through config/indicators/demo.toml like any city's feeds.

Shapes: people present by district (offices fill on weekdays, homes at night), traffic congestion index
by district (rush hours on weekdays), metro entries, AQI / PM2.5 by monitoring station (points), water
supply pressure (dips at the demand peaks), power load, 12345 calls per hour, public-opinion mentions and
their negative share, rainfall by gauge (points) and waterlogged points on rainy days. A few AQI readings
are a dead sensor's -1 (outside the declared range: quarantined), and one gauge stands outside the city
(an unknown region: counted, not dropped)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
META = MetaData()
TS = lambda: Column("ts", String(19), index=True)  # noqa: E731 - naive local text, as many systems keep it

POPULATION = Table("vs_population", META, TS(), Column("district_code", String(12)), Column("people", Float))
TRAFFIC = Table("vs_traffic", META, TS(), Column("district_code", String(12)), Column("tpi", Float))
METRO = Table("vs_metro", META, TS(), Column("entries", Integer))
AIR = Table("vs_air", META, TS(), Column("station", String(40)), Column("lon", Float), Column("lat", Float),
            Column("aqi", Float), Column("pm25", Float))
UTILITY = Table("vs_utility", META, TS(), Column("metric", String(20)), Column("value", Float))
HOTLINE = Table("vs_hotline", META, TS(), Column("calls", Integer))
RAIN = Table("vs_rain", META, TS(), Column("gauge", String(40)), Column("lon", Float), Column("lat", Float),
             Column("rain_mm", Float))
WATERLOG = Table("vs_waterlog", META, TS(), Column("district_code", String(12)), Column("points", Integer))

# people present (万人) by district at night and their weekday daytime change (offices fill, homes empty)
DISTRICTS = {"320102": (52, 0.35), "320104": (78, 0.25), "320105": (55, 0.30), "320106": (95, 0.20),
             "320111": (118, -0.10), "320113": (100, -0.05), "320114": (62, 0.05), "320115": (195, -0.08),
             "320116": (95, -0.12), "320117": (50, -0.05), "320118": (44, -0.05)}
CENTRAL = {"320102", "320104", "320105", "320106"}
# monitoring stations: name -> (district, offset of lon, lat from the district's centre)
STATIONS = {"玄武湖": ("320102", .0, .0), "瑞金路": ("320104", .0, .0), "奥体中心": ("320105", .0, .0),
            "草场门": ("320106", .0, .0), "浦口": ("320111", .0, .0), "仙林大学城": ("320113", .0, .0),
            "雨花台": ("320114", .0, .0), "江宁": ("320115", .0, .0), "六合雄州": ("320116", .0, .0),
            "溧水永阳": ("320117", .0, .0), "高淳淳溪": ("320118", .0, .0)}
OUTSIDE_GAUGE = ("镇江界", 119.62, 32.05)  # beyond the city's boundary: its rows count as an unknown region
STEP = {POPULATION: 900, TRAFFIC: 300, METRO: 900, AIR: 3600, UTILITY: 300, HOTLINE: 3600, RAIN: 3600, WATERLOG: 3600}
OPINION_STEP_S = 600


def _bump(h: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((h - centre) / width) ** 2)


def _clock(ts: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hour of day as float, weekday flag, day number) of each time."""
    h = ts.hour.to_numpy() + ts.minute.to_numpy() / 60
    return h, (ts.day_of_week.to_numpy() < 5).astype(float), (ts.normalize().asi8 // 86_400_000_000_000)


def _noise(secs: np.ndarray, salt: int) -> np.ndarray:
    """Roughly standard normal noise that depends only on the time (and salt)."""
    u = [np.modf(np.abs(np.sin((secs + 7919 * (salt + k)) * 12.9898)) * 43758.5453)[0] for k in range(3)]
    return (u[0] + u[1] + u[2] - 1.5) * 2.0


def rainy(day: np.ndarray) -> np.ndarray:
    """Rain on about one day in four (by day number), heaviest in the afternoon."""
    return (day * 2654435761 % 97) % 4 == 0


def opinion_rows(start: datetime, end: datetime, seed: int = 3) -> list[dict]:
    """The opinion API's records in (start, end]: mentions per 10 minutes and the negative share,
    a function of time alone (the endpoint keeps no state)."""
    first = pd.Timestamp(start).floor(f"{OPINION_STEP_S}s") + pd.Timedelta(seconds=OPINION_STEP_S)
    ts = pd.date_range(first, pd.Timestamp(end), freq=f"{OPINION_STEP_S}s")
    if len(ts) == 0:
        return []
    h, wd, day = _clock(ts)
    secs = ts.asi8 // 10**9
    noise = np.stack([_noise(secs, seed), _noise(secs, seed + 1)])  # a function of the time: every read agrees
    mentions = 80 + 260 * _bump(h, 12, 3.5) + 180 * _bump(h, 21, 1.5) + 40 * wd + 25 * noise[0]
    neg = 0.17 + 0.05 * np.sin(day / 3.0) + 0.015 * noise[1] + 0.12 * _bump(h, 20.5, 1.2) * ((day % 5) == 0)
    return [{"stat_time": f"{t:%Y-%m-%dT%H:%M:%S}+08:00", "mentions": int(max(m, 0)), "negative_ratio": round(float(n), 4)}
            for t, m, n in zip(ts, mentions, np.clip(neg, 0.02, 0.9))]


class VitalSignsSimulator:
    """Writes the vital-sign tables of the demo source: `backfill` days of history, then `tick` as time goes."""

    def __init__(self, engine: Engine, city, seed: int = 20261122):
        self.engine, self.city, self.seed = engine, city, seed
        regions = city.regions.set_index("code")
        self.centres = {c: (float(regions.at[c, "lon"]), float(regions.at[c, "lat"])) for c in DISTRICTS if c in regions.index}
        self.last: dict[Table, pd.Timestamp] = {}

    def _rng(self, table: Table, t0: pd.Timestamp) -> np.random.Generator:
        return np.random.default_rng([self.seed, len(table.name), int(t0.value // 10**9)])

    def _times(self, table: Table, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        step = f"{STEP[table]}s"
        return pd.date_range(start.floor(step) + pd.Timedelta(step), end, freq=step)

    def _rows(self, table: Table, ts: pd.DatetimeIndex) -> pd.DataFrame:
        h, wd, day = _clock(ts)
        n, r = len(ts), self._rng(table, ts[0])
        text = ts.strftime("%Y-%m-%d %H:%M:%S")
        if table is POPULATION or table is TRAFFIC or table is WATERLOG:
            parts = []
            for code, (base, day_shift) in DISTRICTS.items():
                if table is POPULATION:
                    work = _bump(h, 13.5, 3.2) * (0.4 + 0.6 * wd)
                    v = base * (1 + day_shift * work) * (1 + 0.01 * r.normal(0, 1, n))
                    parts.append(pd.DataFrame({"ts": text, "district_code": code, "people": np.round(v, 2)}))
                elif table is TRAFFIC:
                    amp = 0.95 if code in CENTRAL else 0.45
                    rush = wd * (_bump(h, 8.1, 0.9) + 1.1 * _bump(h, 17.8, 1.1)) + (1 - wd) * 0.45 * _bump(h, 15, 3)
                    v = 1.15 + amp * rush + 0.05 * r.normal(0, 1, n) + 0.25 * rainy(day) * _bump(h, 16, 3)
                    parts.append(pd.DataFrame({"ts": text, "district_code": code, "tpi": np.round(np.maximum(v, 1.0), 2)}))
                else:
                    rain = rainy(day) * _bump(h, 15.5, 2.0) * (2.5 if code in CENTRAL else 1.0)
                    parts.append(pd.DataFrame({"ts": text, "district_code": code,
                                               "points": np.floor(rain * 6 * r.uniform(0.5, 1.2, n)).astype(int)}))
            return pd.concat(parts, ignore_index=True)
        if table is METRO:
            v = 9000 + wd * (95000 * _bump(h, 8.0, 0.8) + 90000 * _bump(h, 18.0, 1.0)) + 42000 * _bump(h, 14, 4) \
                * (1.3 - 0.3 * wd)
            v = np.where((h >= 0.0) & (h < 5.5), 0, v * (1 + 0.03 * r.normal(0, 1, n)) / 4)  # closed at night
            return pd.DataFrame({"ts": text, "entries": v.astype(int)})
        if table is AIR or table is RAIN:
            parts = []
            sites = [(s, *self._at(d, dx, dy)) for s, (d, dx, dy) in STATIONS.items() if d in self.centres]
            if table is RAIN:
                sites.append(OUTSIDE_GAUGE)
            for k, (name, lon, lat) in enumerate(sites):
                if table is AIR:
                    aqi = 55 + 25 * np.sin(day / 2.3 + k / 5) + 18 * _bump(h, 8.5, 2) + 12 * _bump(h, 20, 2.5) \
                        + 6 * r.normal(0, 1, n) - 20 * rainy(day)
                    aqi = np.maximum(aqi, 12)
                    aqi = np.where(r.uniform(size=n) < 0.006, -1.0, np.round(aqi))  # a dead sensor now and then
                    parts.append(pd.DataFrame({"ts": text, "station": name, "lon": lon, "lat": lat, "aqi": aqi,
                                               "pm25": np.where(aqi < 0, -1.0, np.round(aqi * 0.62, 1))}))
                else:
                    mm = rainy(day) * np.maximum(0, 22 * _bump(h, 15.5, 2.2) * r.uniform(0.4, 1.6, n) - 1)
                    parts.append(pd.DataFrame({"ts": text, "gauge": name, "lon": lon, "lat": lat,
                                               "rain_mm": np.round(mm, 1)}))
            return pd.concat(parts, ignore_index=True)
        if table is UTILITY:
            demand = _bump(h, 7.5, 1.2) + 1.2 * _bump(h, 19.5, 1.5)
            pressure = 0.335 - 0.055 * demand + 0.004 * r.normal(0, 1, n)
            load = 820 + 380 * _bump(h, 14, 4) * (0.75 + 0.25 * wd) + 160 * _bump(h, 20, 2) + 12 * r.normal(0, 1, n)
            quarter = (ts.minute.to_numpy() % 15) == 0  # power load every 15 min, pressure every 5
            return pd.concat([pd.DataFrame({"ts": text, "metric": "water_pressure", "value": np.round(pressure, 3)}),
                              pd.DataFrame({"ts": text[quarter], "metric": "power_load", "value": np.round(load[quarter], 1)})],
                             ignore_index=True)
        # 12345 calls in the hour that starts at ts
        v = 45 + 520 * (0.65 + 0.35 * wd) * (_bump(h, 10, 1.6) + 0.8 * _bump(h, 15, 1.8)) + 120 * _bump(h, 20, 1.5)
        return pd.DataFrame({"ts": (ts - pd.Timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
                             "calls": (v * (1 + 0.06 * r.normal(0, 1, n))).astype(int)})

    def _at(self, district: str, dx: float, dy: float) -> tuple[float, float]:
        lon, lat = self.centres[district]
        return round(lon + dx, 6), round(lat + dy, 6)

    def write(self, start: datetime, end: datetime) -> int:
        """Rows of every table for the times in (start, end]; returns how many."""
        n = 0
        with self.engine.begin() as c:
            for table in STEP:
                s = max(pd.Timestamp(start), self.last.get(table, pd.Timestamp(start)))
                ts = self._times(table, s, pd.Timestamp(end))
                if len(ts) == 0:
                    continue
                rows = self._rows(table, ts)
                c.execute(insert(table), [{str(k): v for k, v in r.items()} for r in rows.to_dict("records")])
                self.last[table] = ts[-1]
                n += len(rows)
        return n

    def backfill(self, days: int, now: datetime) -> int:
        """Create the tables and write `days` of history up to `now` (continuing where they stop)."""
        META.create_all(self.engine)
        with self.engine.connect() as c:
            for table in STEP:
                last = c.execute(select(func.max(table.c.ts))).scalar()
                if last is not None:
                    self.last[table] = pd.Timestamp(last) + (pd.Timedelta(hours=1) if table is HOTLINE else pd.Timedelta(0))
        return self.write(pd.Timestamp(now) - timedelta(days=days), now)

    def tick(self, now: datetime) -> int:
        return self.write(min(self.last.values(), default=pd.Timestamp(now)), now)


class _Opinion(BaseHTTPRequestHandler):
    """GET /api/opinion/stats?since=<ISO time>: {"code": 0, "data": {"items": [...]}} (at most 5000 records)."""

    clock = staticmethod(datetime.now)

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        if url.path != "/api/opinion/stats":
            self.send_error(404)
            return
        now = self.clock()
        since_text = parse_qs(url.query).get("since", [""])[0]
        try:
            since = pd.Timestamp(since_text).tz_localize(None) if since_text else pd.Timestamp(now) - pd.Timedelta(days=15)
        except ValueError:
            self.send_error(400, "since: not a time")
            return
        since = max(since, pd.Timestamp(now) - pd.Timedelta(days=30))
        body = json.dumps({"code": 0, "data": {"items": opinion_rows(since, now)[:5000]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):  # quiet: the demo's log is the product's
        pass


class OpinionEndpoint:
    """The public-opinion API on localhost, in a thread: start(), stop(); `url` is its base URL."""

    def __init__(self, port: int = 0, clock=None, timezone: str = "Asia/Shanghai"):
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(timezone)
        handler = type("Opinion", (_Opinion,), {"clock": staticmethod(clock or (lambda: datetime.now(tz).replace(tzinfo=None)))})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="opinion-endpoint", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> OpinionEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

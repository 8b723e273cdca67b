"""What the ETL keeps of the city's vital signs between ticks, and the reads that fill it.

`IndicatorFeeds` owns, per indicator: its reader (etl/source/indicator_feeds.py), its time watermark, its
read schedule and backoff, and its values (`SiteSeries`: per site, times and values in growable numpy
arrays, native resolution for COCKPIT_INDICATORS_NATIVE_DAYS, hourly means after that for a year). Reads
run in a small thread pool in the background: `collect(now)` starts the reads that are due, waits at most
`wait_s` for them, and takes whatever has finished (a read still going is left to finish, never started
twice), so a feed that hangs or fails costs only its own tiles, never another feed's read or the events
job (which shares the ETL's run lock). Each read gets only rows after the watermark. `samples(now)`
answers the as-of lookups the transforms need (the value of every site at now, a day ago, a week ago and
at each of the last 24 hours), which is all that leaves this module."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from config.city import City
from config.indicators import Catalogue, Indicator
from etl.source.indicator_feeds import QUARANTINE, FeedReader, canonical_rows
from etl.source.placement import Placer

log = logging.getLogger(__name__)
KEEP_DAYS = 400  # hourly means kept this long
MAX_RETRY_S = 300.0  # a failing feed is tried again at least this often
KEEP_QUARANTINED = 200  # newest quarantined rows kept per indicator (all are counted)
HOURS = 24
HOUR_NS = 3_600_000_000_000
TREND_DAYS = 120  # days of hourly sums kept per site for the tablet's trends (its custom ranges reach this far)


class Growable:
    """A time-sorted (int64 ns, float) series that grows by appending (capacity doubles)."""

    def __init__(self) -> None:
        self.t, self.v, self.n = np.empty(16, "int64"), np.empty(16, "float64"), 0

    def append(self, t: np.ndarray, v: np.ndarray) -> None:
        if len(t) == 0:
            return
        need = self.n + len(t)
        if need > len(self.t):
            cap = max(need, 2 * len(self.t))
            self.t, self.v = np.resize(self.t, cap), np.resize(self.v, cap)
        self.t[self.n:need], self.v[self.n:need] = t, v
        self.n = need
        if self.n > len(t) and self.t[self.n - len(t) - 1] > t[0]:  # out of order: sort once
            order = np.argsort(self.t[:self.n], kind="stable")
            self.t[:self.n], self.v[:self.n] = self.t[:self.n][order], self.v[:self.n][order]

    def replace(self, t: np.ndarray, v: np.ndarray) -> None:
        self.t, self.v, self.n = np.array(t, "int64"), np.array(v, "float64"), len(t)
        if self.n == 0:
            self.t, self.v = np.empty(16, "int64"), np.empty(16, "float64")

    @property
    def times(self) -> np.ndarray:
        return self.t[:self.n]

    @property
    def values(self) -> np.ndarray:
        return self.v[:self.n]


class HourBins:
    """A site's sum and count of values per hour (hour number = ns // HOUR_NS), from its native values as they
    come in (compaction to hourly means does not touch them): the tablet's trends read hour means from here."""

    def __init__(self) -> None:
        self.h0, self.s, self.c = 0, np.zeros(0), np.zeros(0, "int64")

    def add(self, t: np.ndarray, v: np.ndarray) -> None:
        if len(t) == 0:
            return
        h = t // HOUR_NS
        lo, hi = int(h.min()), int(h.max())
        if len(self.s) == 0:
            self.h0 = lo
        if lo < self.h0:  # a late row before the first bin: grow to the front
            pad = self.h0 - lo
            self.s, self.c = np.concatenate([np.zeros(pad), self.s]), np.concatenate([np.zeros(pad, "int64"), self.c])
            self.h0 = lo
        need = hi - self.h0 + 1
        if need > len(self.s):
            grow = max(need, 2 * len(self.s), 64) - len(self.s)
            self.s, self.c = np.concatenate([self.s, np.zeros(grow)]), np.concatenate([self.c, np.zeros(grow, "int64")])
        np.add.at(self.s, h - self.h0, v)
        np.add.at(self.c, h - self.h0, 1)

    def means(self, first_hour: int, n: int) -> np.ndarray:
        """The mean of each of the n hours from first_hour on (NaN where the site had no value)."""
        out_s, out_c = np.zeros(n), np.zeros(n, "int64")
        a, b = max(first_hour, self.h0), min(first_hour + n, self.h0 + len(self.s))
        if b > a:
            out_s[a - first_hour:b - first_hour] = self.s[a - self.h0:b - self.h0]
            out_c[a - first_hour:b - first_hour] = self.c[a - self.h0:b - self.h0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(out_c > 0, out_s / np.maximum(out_c, 1), np.nan)

    def trim(self, first_hour: int) -> None:
        if first_hour > self.h0 and len(self.s):
            k = min(first_hour - self.h0, len(self.s))
            self.s, self.c, self.h0 = self.s[k:], self.c[k:], self.h0 + k


@dataclass
class SiteSeries:
    """One indicator's kept values, per site (a station, a region code, or the city)."""

    series: dict[str, Growable] = field(default_factory=dict)
    bins: dict[str, HourBins] = field(default_factory=dict)  # per site: hourly sums for the trends
    region: dict[str, str | None] = field(default_factory=dict)
    weight: dict[str, float] = field(default_factory=dict)
    downsampled_to: int = 0  # ns: values before this are hourly means already

    def add(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        rows = rows.sort_values("time", kind="stable")
        for site, part in rows.groupby("site", sort=False):
            g = self.series.setdefault(str(site), Growable())
            t, v = part["time"].to_numpy("datetime64[ns]").astype("int64"), part["value"].to_numpy(float)
            g.append(t, v)
            self.bins.setdefault(str(site), HourBins()).add(t, v)
            self.region[str(site)] = part["region"].iloc[-1]
            if "weight" in part:
                self.weight[str(site)] = float(part["weight"].iloc[-1])

    def points(self) -> int:
        return sum(g.n for g in self.series.values())

    def compact(self, now: pd.Timestamp, native_days: float) -> None:
        """Values older than native_days become hourly means; older than KEEP_DAYS go."""
        cut = int((now - pd.Timedelta(days=native_days)).floor("h").value)
        drop = int((now - pd.Timedelta(days=KEEP_DAYS)).value)
        first_hour = int((now.normalize() - pd.Timedelta(days=TREND_DAYS + 1)).value) // HOUR_NS
        for bins in self.bins.values():
            bins.trim(first_hour)
        if cut <= self.downsampled_to:
            return
        hour = 3_600_000_000_000
        for g in self.series.values():
            t, v = g.times, g.values
            a, b, keep = np.searchsorted(t, self.downsampled_to), np.searchsorted(t, cut), np.searchsorted(t, drop)
            if b <= a and keep == 0:
                continue
            buckets = t[a:b] // hour * hour
            uniq, inv = np.unique(buckets, return_inverse=True)
            means = np.bincount(inv, weights=v[a:b], minlength=len(uniq)) / np.bincount(inv, minlength=len(uniq))
            nt = np.concatenate([t[keep:a] if keep < a else t[:0], uniq, t[b:]])
            nv = np.concatenate([v[keep:a] if keep < a else v[:0], means, v[b:]])
            g.replace(nt, nv)
        self.downsampled_to = cut


@dataclass
class FeedState:
    """A feed's read schedule, outcome and counts."""

    watermark: pd.Timestamp | None = None
    next_read: pd.Timestamp | None = None
    future: Future | None = None
    started: float = 0.0
    failures: int = 0
    error: str | None = None
    last_ok: pd.Timestamp | None = None
    read_s: float | None = None
    rows: int = 0
    quarantined: int = 0
    unknown_regions: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    recent_quarantine: deque = field(default_factory=lambda: deque(maxlen=KEEP_QUARANTINED))


class IndicatorFeeds:
    """Every indicator's reader, state and kept values; reads in the background (see the module doc)."""

    def __init__(self, catalogue: Catalogue, city: City, readers: dict[str, FeedReader], native_days: float = 90.0,
                 wait_s: float = 2.0, workers: int = 4, future_tolerance_s: float = 300.0):
        self.catalogue, self.city, self.readers = catalogue, city, readers
        self.native_days, self.wait_s, self.future_tolerance_s = native_days, wait_s, future_tolerance_s
        self.placer = Placer(city)
        self.tz = {i.id: catalogue.connections[i.source.connection].timezone or city.timezone
                   for i in catalogue.indicator}
        self.values = {i.id: SiteSeries() for i in catalogue.indicator}
        self.state = {i.id: FeedState() for i in catalogue.indicator}
        self.index = {i.id: k for k, i in enumerate(catalogue.indicator)}
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="indicator-read")
        self.changed: set[str] = set()  # indicators with new values since the frames were last built
        self.lock = threading.Lock()  # held by whoever takes reads in and builds frames (etl/jobs.py)
        self.trend_at: pd.Timestamp | None = None  # when the trends frame was last built
        self.built_at: pd.Timestamp | None = None

    @property
    def indicators(self) -> list[Indicator]:
        return self.catalogue.indicator

    def _read(self, ind: Indicator, since: pd.Timestamp) -> tuple[pd.DataFrame, float]:
        t0 = time.perf_counter()
        raw = self.readers[ind.id].read(since)
        return raw, time.perf_counter() - t0

    def collect(self, now: pd.Timestamp | None = None, wait_s: float | None = None) -> set[str]:
        """Start the reads that are due, wait up to wait_s for them, take in every finished read; returns the
        ids whose values changed."""
        now = pd.Timestamp(now if now is not None else pd.Timestamp.now()).tz_localize(None)
        started = []
        for ind in self.indicators:
            st = self.state[ind.id]
            if st.future is None and (st.next_read is None or now >= st.next_read):
                since = st.watermark if st.watermark is not None else now - pd.Timedelta(days=self.native_days)
                st.future, st.started = self.pool.submit(self._read, ind, since), time.perf_counter()
                started.append(st.future)
        budget = self.wait_s if wait_s is None else wait_s
        if started and budget > 0:
            wait(started, timeout=budget)
        changed: set[str] = set()
        for ind in self.indicators:
            st = self.state[ind.id]
            if st.future is None or not st.future.done():
                continue
            fut, st.future = st.future, None
            try:
                raw, secs = fut.result()
                rows, bad, unknown = canonical_rows(raw, ind, self.placer, self.city, now, self.tz[ind.id],
                                                    self.future_tolerance_s)
            except Exception as exc:  # noqa: BLE001 - this feed's failure only: back off, keep its last values
                st.failures += 1
                st.error = str(exc)[:300]
                st.next_read = now + pd.Timedelta(seconds=min(max(ind.poll_s, MAX_RETRY_S),
                                                              2.0 * 2 ** (st.failures - 1)))
                log.warning("indicator %s: read failed (%s); retry at %s", ind.id, st.error, st.next_read)
                continue
            self._take(ind, st, rows, bad, unknown, now, secs)
            if not rows.empty:
                changed.add(ind.id)
        self.changed |= changed
        return changed

    def _take(self, ind: Indicator, st: FeedState, rows: pd.DataFrame, bad: pd.DataFrame, unknown: int,
              now: pd.Timestamp, secs: float) -> None:
        if st.watermark is not None:  # a source that ignores the watermark (or a boundary row): only new rows
            rows = rows[rows["time"] > st.watermark]
        good_times = [rows["time"].max()] if not rows.empty else []
        bad_times = bad.loc[bad["reason"] != "future_time", "time"].dropna()
        newest = max([*good_times, *([bad_times.max()] if not bad_times.empty else [])], default=None)
        if newest is not None and (st.watermark is None or newest > st.watermark):
            st.watermark = pd.Timestamp(newest)
        self.values[ind.id].add(rows)
        st.failures, st.error, st.read_s = 0, None, secs
        # the first read (a backfill, all feeds at once) spreads the next ones over a poll interval, so the feeds
        # are not all read in the same tick ever after
        first = st.last_ok is None
        spread = (self.index[ind.id] % 6) / 6 if first else 0.0
        st.next_read = now + pd.Timedelta(seconds=ind.poll_s * (1 + spread))
        st.last_ok = now
        st.rows += len(rows)
        st.unknown_regions += unknown
        st.quarantined += len(bad)
        for reason, n in bad["reason"].value_counts().items():
            st.reasons[str(reason)] = st.reasons.get(str(reason), 0) + int(n)
        if not bad.empty:
            st.recent_quarantine.extend(bad.assign(seen_at=now).to_dict("records"))

    def frames_due(self, now: pd.Timestamp, every_s: float = 30.0) -> bool:
        """Whether the frames need building: new values came in, or `every_s` passed (statuses and hour marks
        move with the clock). Marks them built."""
        due = bool(self.changed) or self.built_at is None or (now - self.built_at).total_seconds() >= every_s \
            or now < self.built_at
        if due:
            self.changed, self.built_at = set(), now
        return due

    def compact(self, now: pd.Timestamp) -> None:
        for s in self.values.values():
            s.compact(now, self.native_days)

    def samples(self, now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(latest, hourly) as-of samples of every site: latest has value/time now (the newest whatever its age),
        value_day / value_week (at now − 1 day / − 7 days, within the indicator's late_after); hourly has
        each of the last 24 hour marks (on the hour, the last one now) with the value as of then."""
        now = pd.Timestamp(now).tz_localize(None)
        marks = np.array([(now.floor("h") - pd.Timedelta(hours=k)).value for k in range(HOURS - 1, 0, -1)] + [now.value])
        day, week = (now - pd.Timedelta(days=1)).value, (now - pd.Timedelta(days=7)).value
        latest: dict[str, list] = {k: [] for k in ("indicator", "site", "region", "weight", "value", "time",
                                                     "value_day", "value_week")}
        hourly: dict[str, list] = {k: [] for k in ("indicator", "site", "region", "weight", "hour", "value")}
        for ind in self.indicators:
            s, late = self.values[ind.id], int(ind.late_after_s * 1e9)
            for site, g in s.series.items():
                t, v = g.times, g.values
                if len(t) == 0:
                    continue
                i = np.searchsorted(t, now.value, "right") - 1
                if i < 0:
                    continue
                w = s.weight.get(site, 1.0)
                latest["indicator"].append(ind.id)
                latest["site"].append(site)
                latest["region"].append(s.region.get(site))
                latest["weight"].append(w)
                latest["value"].append(v[i])
                latest["time"].append(t[i])
                latest["value_day"].append(_as_of(t, v, np.array([day]), late)[0])
                latest["value_week"].append(_as_of(t, v, np.array([week]), late)[0])
                hv = _as_of(t, v, marks, late)
                hourly["indicator"] += [ind.id] * len(marks)
                hourly["site"] += [site] * len(marks)
                hourly["region"] += [s.region.get(site)] * len(marks)
                hourly["weight"] += [w] * len(marks)
                hourly["hour"].append(marks)
                hourly["value"].append(hv)
        lat = pd.DataFrame(latest)
        lat["time"] = pd.to_datetime(np.asarray(latest["time"], "int64"), unit="ns")
        hours = pd.to_datetime(np.concatenate(hourly.pop("hour")) if hourly["indicator"] else np.empty(0, "int64"),
                               unit="ns")
        values = np.concatenate(hourly.pop("value")) if hourly["indicator"] else np.empty(0)
        return lat, pd.DataFrame(hourly).assign(hour=hours, value=values)

    def trend_due(self, now: pd.Timestamp, every_s: float = 300.0) -> bool:
        """Whether the trends frame needs building: every `every_s`, and when the hour turned (a new hour starts a
        new point). Marks it built."""
        last = self.trend_at
        due = last is None or now < last or (now - last).total_seconds() >= every_s or now.floor("h") != last.floor("h")
        if due:
            self.trend_at = now
        return due

    def hour_means(self, now: pd.Timestamp, days: int = TREND_DAYS) -> tuple[pd.Timestamp, dict]:
        """(first hour, {indicator: (sites' regions, weights, hour means [site, hour])}): each site's mean per hour
        from midnight `days` days before today to now's hour (NaN where it had no value)."""
        now = pd.Timestamp(now).tz_localize(None)
        first = now.normalize() - pd.Timedelta(days=days)
        h0 = int(first.value) // HOUR_NS
        n = int(now.floor("h").value) // HOUR_NS - h0 + 1
        out = {}
        for ind in self.indicators:
            s = self.values[ind.id]
            sites = [k for k in s.series if k in s.bins]
            if not sites:
                continue
            out[ind.id] = ([s.region.get(k) for k in sites], np.array([s.weight.get(k, 1.0) for k in sites]),
                           np.vstack([s.bins[k].means(h0, n) for k in sites]))
        return first, out

    def history(self, last_hour: pd.Timestamp, days: int, ids: set[str] | None = None) -> pd.DataFrame:
        """Hourly as-of samples of every site of the indicators `ids` (all: None) at each hour mark of the `days`
        days up to `last_hour` (on the hour), as `samples`' hourly part: the value as of the mark, within the
        indicator's late_after (NaN when none). The forecast job fits on them (etl/transforms/indicator_forecast.py)."""
        last = pd.Timestamp(last_hour).tz_localize(None).floor("h")
        marks = (last - pd.to_timedelta(np.arange(days * HOURS - 1, -1, -1), unit="h")).as_unit("ns").asi8
        cols: dict[str, list] = {k: [] for k in ("indicator", "site", "region", "weight")}
        hours, values = [], []
        for ind in self.indicators:
            if ids is not None and ind.id not in ids:
                continue
            s, late = self.values[ind.id], int(ind.late_after_s * 1e9)
            for site, g in s.series.items():
                if g.n == 0:
                    continue
                cols["indicator"] += [ind.id] * len(marks)
                cols["site"] += [site] * len(marks)
                cols["region"] += [s.region.get(site)] * len(marks)
                cols["weight"] += [s.weight.get(site, 1.0)] * len(marks)
                hours.append(marks)
                values.append(_as_of(g.times, g.values, marks, late))
        return pd.DataFrame(cols).assign(
            hour=pd.to_datetime(np.concatenate(hours) if hours else np.empty(0, "int64"), unit="ns"),
            value=np.concatenate(values) if values else np.empty(0))

    def read_once(self) -> set[str]:
        """The indicators whose feed has been read at least once (their history is in)."""
        return {i for i, st in self.state.items() if st.last_ok is not None}

    def quarantine_rows(self) -> pd.DataFrame:
        rows = [r for st in self.state.values() for r in st.recent_quarantine]
        df = pd.DataFrame(rows, columns=[*QUARANTINE, "seen_at"])
        return df.astype({"indicator": object, "site": object, "reason": object, "value": float})\
            .assign(time=pd.to_datetime(df["time"]), seen_at=pd.to_datetime(df["seen_at"]))

    def meta(self) -> dict:
        """Per feed: ok, error, last read, its duration, rows, quarantined (by reason), unknown regions."""
        feeds = {}
        for ind in self.indicators:
            st = self.state[ind.id]
            reading = st.future is not None
            feeds[ind.id] = {"ok": st.error is None, "error": st.error,
                             "last_ok": st.last_ok.isoformat() if st.last_ok is not None else None,
                             "watermark": st.watermark.isoformat() if st.watermark is not None else None,
                             "read_s": None if st.read_s is None else round(st.read_s, 3),
                             "reading_s": round(time.perf_counter() - st.started, 1) if reading else None,
                             "rows": st.rows, "quarantined": st.quarantined, "reasons": dict(st.reasons),
                             "unknown_regions": st.unknown_regions, "points": self.values[ind.id].points()}
        return {"feeds": feeds, "quarantined": sum(f["quarantined"] for f in feeds.values()),
                "unknown_regions": sum(f["unknown_regions"] for f in feeds.values()),
                "failing": sorted(k for k, f in feeds.items() if not f["ok"])}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _as_of(t: np.ndarray, v: np.ndarray, at: np.ndarray, late_ns: int) -> np.ndarray:
    """The value of the newest point at or before each `at` and after at − late_ns (NaN when none)."""
    i = np.searchsorted(t, at, "right") - 1
    ok = (i >= 0)
    j = np.where(ok, i, 0)
    ok &= t[j] > at - late_ns
    return np.where(ok, v[j], np.nan)

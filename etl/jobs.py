"""The ETL jobs: pull a source, run the transforms, publish the frames. No scheduling in here."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from config.city import City
from config.clock import now_local
from contract import frames as F
from contract.ground import city_ground
from contract.metrics import SLOW_FRAMES_S, WINDOWS
from contract.windows import window_start
from etl.source.app_db import read_supervisions
from etl.source.mapped_feeds import DEVICE_COLUMNS, SAFETY_COLUMNS, DeviceSource, SafetySource, StaffSource
from etl.source.mapped_read import EventSource
from etl.source.mapping import SourceMapping, load_mapping, provided
from etl.source.placement import Placer
from etl.state.event_ledger import EventLedger, history_start
from etl.state.indicator_series import IndicatorFeeds
from etl.state.step_log import StepLog
from etl.state.timeline_sync import TimelineSync
from etl.state.window_state import WindowState
from etl.transforms.alerts import AlertThresholds, wall_alerts
from etl.transforms.at_risk import at_risk_events
from etl.transforms.departments import department_table
from etl.transforms.devices import blind_grid_list, region_device_kpis
from etl.transforms.forecast import PROFILE_DAYS, daily_counts, event_forecast, expected_by_hour, hourly_profile
from etl.transforms.indicator_forecast import FIT_DAYS, forecast_ids, indicator_forecast, region_series
from etl.transforms.indicators import indicator_hourly, indicator_info, indicator_latest, indicator_trend
from etl.transforms.nearby_cameras import camera_gaps, camera_points, coord_fixes, event_xy, untagged_exposure
from etl.transforms.recurring import recurring_clusters
from etl.transforms.safety import latest_safety, safety_trend
from etl.transforms.staff import grid_staff, staff_quarantine
from etl.transforms.supervision import supervision_outcomes
from snapshots.store import SnapshotStore
from snapshots.timelines import TimelineStore

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 15.0  # a source back from an outage is read again within this many seconds (cockpit.py faults measures it)


def error_text(exc: BaseException, limit: int = 300) -> str:
    """What went wrong, for /health and the screens' stale marker: the innermost cause's message (a source read
    wrapped by pandas and SQLAlchemy says `file is not a database`, not the statement it was running), cut short."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"[:limit]


class Backoff:
    """Exponential backoff after failures: should_try() is false until the wait has passed."""

    def __init__(self, base_s: float):
        self.base_s, self.failures, self.next_try = base_s, 0, 0.0

    def should_try(self) -> bool:
        return time.monotonic() >= self.next_try

    def failed(self) -> float:
        self.failures += 1
        wait = min(MAX_BACKOFF_S, self.base_s * 2 ** (self.failures - 1))
        self.next_try = time.monotonic() + wait
        return wait

    def succeeded(self) -> None:
        self.failures, self.next_try = 0, 0.0


class EtlJobs:
    def __init__(self, engine: Engine, city: City, store: SnapshotStore, future_tolerance_s: float = 300,
                 keep_quarantined: int = 1000, base_backoff_s: float = 2.0,
                 alert_thresholds: AlertThresholds | None = None, history_days: int = 120,
                 timeline_days: int = 30, app_engine: Engine | None = None, mapping: SourceMapping | None = None,
                 windows: WindowState | None = None, nearby_camera_m: float = 300.0,
                 indicators: IndicatorFeeds | None = None):
        self.engine, self.city, self.store = engine, city, store
        self.nearby_camera_m = nearby_camera_m  # 补盲: an event with no online camera this near (metres) is unseen
        # the source through its mapping (etl/source/mapping.py; the demo's own by default): one code path
        self.mapping = mapping or load_mapping()
        spec, placer = self.mapping.spec, Placer(city)
        self.source = EventSource(self.mapping, city, placer)
        self.device_source = DeviceSource(self.mapping, city, placer) if spec.devices is not None else None
        self.safety_source = SafetySource(self.mapping, city, placer) if spec.safety is not None else None
        self.staff_source = StaffSource(self.mapping, city) if spec.staff is not None else None  # optional: 1+1+N
        self.app_engine = app_engine  # the app database, for the supervisions leaders made (督办)
        self.history_days = max(history_days, max(WINDOWS.values()))
        self.timeline_days = min(timeline_days, self.history_days)
        # the events' window state and the frames computed from it (a strategy: the bench passes the old way in)
        self.windows = windows or WindowState()
        self.alert_thresholds = alert_thresholds or AlertThresholds()
        self.ledger = EventLedger(city, self.source, timedelta(seconds=future_tolerance_s), keep_quarantined,
                                  self.history_days)
        steps = self.source.steps if spec.steps is not None else None
        self.timelines = TimelineSync(TimelineStore(store.r, store.prefix),
                                      StepLog(timedelta(seconds=future_tolerance_s), keep_quarantined, source=steps),
                                      self.timeline_days, city.timezone, self.source)
        self.backoff = {name: Backoff(base_backoff_s) for name in ("events", "devices", "safety", "staff", "indicators", "forecast")}
        self.indicators = indicators  # city vital signs (etl/state/indicator_series.py): feeds read in the background
        self.last_frames: dict[str, pd.DataFrame] = {}
        self.published_version: int | None = None
        self.published_after_s: float | None = None  # seconds from a run's start to its snapshot being out
        self.slow_at: dict[str, datetime] = {}
        self.devices_as_of: datetime | None = None  # when the devices job last read the source
        self.forecast_day: pd.Timestamp | None = None  # the day the forecast was last fitted for (etl/transforms/forecast.py)
        # the vital signs' band (etl/transforms/indicator_forecast.py): the day and the feeds read when last fitted (a
        # feed whose first read came after the fit is fitted again at the next check, not the next night)
        self.vitals_fitted: tuple[pd.Timestamp, frozenset[str]] | None = None
        # fit in a thread of its own (the service: a fit at a year's scale takes ~15 s CPU, which would hold the events
        # tick and a new leader's first snapshot); inline by default, so one run_all publishes the forecast
        self.forecast_background = False
        self._forecast_fit: Future | None = None
        # 补盲 and 标签治理 (the slow frames of the devices job, ~2 s CPU at a year's scale): rebuilt in a thread of their
        # own when forecast_background is set (the service), so they never hold the run lock (the events tick)
        self._slow_build: Future | None = None
        self.snapshot_lost = True  # this run's start found Redis without our last snapshot (emptied, or another's)
        self.pending_weeks: set[np.datetime64] = set()  # weeks the events pull changed whose pieces are not built yet
        self.advances = 0  # a hot standby's events runs that read the source (warm runs, nothing published)
        self.rows_pulled = 0  # event rows read from the source by every pull (a backfill reads the history)
        # a hot standby (run(..., publish=False)): every job's frames kept current in last_frames, serialized as they
        # are built; what its publish on taking the lock needs besides them: the jobs' meta and the frames gone since
        self.publishing = True
        self.warmed: set[str] = set()  # jobs whose frames last_frames holds (each has run and given its frames once)
        self.warm_as_of: datetime | None = None  # the clock of the last warm run: the as_of of a warm publish
        self.pending_meta: dict = {}
        self.pending_gone: set[str] = set()
        self.pull_stats: dict | None = None  # the counts of the last events pull

    def clock(self) -> datetime:
        return now_local(self.city.timezone)

    # each job: pull, transform, publish; on a source error keep the last snapshot and say so in meta
    def run(self, name: str | tuple[str, ...], now: datetime | None = None, publish: bool = True) -> dict | None:
        """One job, or several (a tuple of names) in one snapshot: a new leader's first run has every job, so
        no screen shows "—" until a job's interval has passed. A job whose source fails keeps its frames.

        publish=False is a hot standby's run (COCKPIT_STANDBY=hot): the same reads by watermark, the same state
        updates and the same frames, kept in last_frames and serialized, but nothing written to Redis (no
        snapshot, no timelines); publish_warm() puts them out when this process takes the lock."""
        now, started = now or self.clock(), time.perf_counter()
        frames: dict[str, pd.DataFrame] = {}
        meta: dict = {}
        gone: set[str] = set()
        ran: list[str] = []
        self.publishing = publish
        for job in (name,) if isinstance(name, str) else name:
            if not self.backoff[job].should_try():
                continue
            try:
                if publish:
                    current = self.store.manifest()  # is our last snapshot still the one in Redis?
                    self.snapshot_lost = current is None or current.get("version") != self.published_version
                job_frames, job_meta, job_gone = getattr(self, f"_{job}")(now)
            except Exception as exc:  # noqa: BLE001 - any source failure: back off, report, keep serving
                wait = self.backoff[job].failed()
                log.warning("ETL %s%s failed (%s); retry in %.0fs", "" if publish else "standby: ", job, exc, wait,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                status = {f"{job}_status": {"ok": False, "error": error_text(exc), "failed_at": now.isoformat(),
                                            "retry_in_s": wait}}
                if not publish:
                    self.pending_meta |= status
                    continue
                try:
                    self.store.update_meta(status)
                except Exception:  # Redis down too: nothing to tell
                    pass
                continue
            self.backoff[job].succeeded()
            frames |= job_frames
            meta |= job_meta | {f"{job}_status": {"ok": True, "ran_at": now.isoformat()}}
            gone |= job_gone
            ran.append(job)
            if job_frames:
                self.warmed.add(job)
        if not ran:
            return None
        self.last_frames.update(frames)
        for key in gone:
            self.last_frames.pop(key, None)
        frames[F.ALERTS.name] = self.last_frames[F.ALERTS.name] = wall_alerts(
            self.last_frames, self.city.regions, now, self.alert_thresholds, devices_as_of=self.devices_as_of)
        if not publish:
            self.timelines.drop_fill()  # a leader's full write cut short by losing the lock: ours is not to write now
            self.store.forget(gone)
            self.store.prepare(frames)  # serialized now: the publish on taking the lock only writes
            self.pending_meta |= meta
            self.pending_gone = (self.pending_gone | gone) - set(self.last_frames)
            self.warm_as_of = now
            if "events" in ran:
                self.advances += 1
            return None
        if self.snapshot_lost:
            frames = dict(self.last_frames)  # Redis was emptied or someone else published: write everything
            meta = self.pending_meta | meta  # and what a standby's runs found, the frames gone meanwhile
            gone |= self.pending_gone - set(frames)
        manifest = self.store.publish(frames, now, meta, drop=gone)
        self.pending_meta, self.pending_gone = {}, set()
        self.published_version = manifest["version"]
        self.published_after_s = time.perf_counter() - started
        if "events" in ran and (stats := self.timelines.catch_up(self.engine)) is not None:
            if stats["mode"] == "full":
                manifest = self.store.update_meta({"timelines": stats, "quarantine": self._quarantine_counts(now)})
                self.published_version = manifest["version"]
        return manifest

    def warm_complete(self, jobs: tuple[str, ...]) -> bool:
        """Whether a hot standby's state holds the frames of every one of `jobs` (each ran and gave its frames)."""
        return self.warm_as_of is not None and all(job in self.warmed for job in jobs)

    def publish_warm(self) -> dict:
        """A hot standby that took the lock: its kept frames, every one, out at once as the new leader's first
        snapshot (as of its last run, a tick ago at most: it read the source then), without reading the source
        or computing a frame first; the jobs then go on at their intervals. Raises Fenced if the lock is not ours."""
        assert self.warm_as_of is not None, "publish_warm before any warm run"
        frames = dict(self.last_frames)
        manifest = self.store.publish(frames, self.warm_as_of, self.pending_meta,
                                      drop=self.pending_gone - set(frames))
        self.pending_meta, self.pending_gone = {}, set()
        self.published_version = manifest["version"]
        return manifest

    def advance(self, now: datetime | None = None) -> dict | None:
        """A hot standby's events run (run("events", publish=False)): the incremental pull by watermark, the window
        state it updates and the frames, nothing published. The pull's counts, or None (in backoff, or failed)."""
        before = self.advances
        self.run("events", now, publish=False)
        return self.pull_stats if self.advances > before else None

    @property
    def timeline_stats(self) -> dict | None:
        """The counts of the last timeline write (etl/state/timeline_sync.py)."""
        return self.timelines.last_stats

    def _quarantine_counts(self, now: datetime) -> dict[str, int]:
        return {**self.ledger.quarantine_counts(), **self.timelines.steps.quarantine_counts(now)}

    def _events(self, now: datetime):
        t0 = time.perf_counter()
        # a first read comes in parts: the week facts are brought up to date with each while the next is read
        stats = self.pull_stats = self.ledger.pull(
            self.engine, now, on_part=lambda: self.pending_weeks.update(self.windows.update(self.ledger, now)))
        self.rows_pulled += stats["read"]
        t_pull = time.perf_counter()
        led = self.ledger
        # event timelines (etl/state/timeline_sync.py decides full or incremental), written right after this
        # run's snapshot is published (run); a standby writes none (the new leader resumes from the sync marker)
        timelines = (self.timelines.plan(self.engine, led, now, self.snapshot_lost, self._timeline_rows)
                     if self.publishing else {"mode": "standby"})
        self.pending_weeks |= self.windows.update(led, now)  # kept until the frames are built (a failed run keeps them)
        dirty = self.pending_weeks
        # the tablet's windows: one frame per week, republished only when the week changed (the screens merge the
        # weeks a window overlaps); everything else looks back at most 30 days (and at the open events)
        recent = history_start(now, max(WINDOWS.values()) + 1)
        # the week pieces (a backfill's 40-odd weeks: ~1 s, and as much to serialize) built and serialized in a thread
        # beside the other frames, which only read the same week facts: sorts, takes and compression run without the GIL
        def ready_pieces() -> tuple[dict[str, pd.DataFrame], set[str]]:
            pieces, gone = self.windows.pieces(dirty, history_start(now, self.history_days))
            self.store.prepare(pieces)  # the publish then only writes their bytes
            return pieces, gone

        with ThreadPoolExecutor(1, thread_name_prefix="event-pieces") as pool:
            pieces_out = pool.submit(ready_pieces)
            window_frames, open_rows = self.windows.frames(led, self.city.regions, now, recent)
            frames = {
                **window_frames,
                F.AT_RISK.name: at_risk_events(open_rows, now, self.alert_thresholds.at_risk_hours),  # 将超期
                F.SUPERVISIONS.name: self._supervisions(),  # 督办 and how their cases ended
                **self._slow(F.RECURRING.name, now, lambda: recurring_clusters(  # 重复/高发问题
                    led.rows(lambda p: p["reported_at"] >= recent, weeks=self._weeks_since(recent)),
                    now, ref_lat=self.city.center[1])),
                F.QUARANTINE.name: led.quarantine_rows(),
                F.DEPARTMENTS.name: department_table(self.source.departments),  # 条: what a piece's dept number names
                F.QUARANTINE_STEPS.name: self.timelines.steps.quarantine_rows(now),
            }
            pieces, gone = pieces_out.result()
        gone |= {"event_pieces", "spikes"}  # frames of earlier versions, if a snapshot still has them
        frames |= pieces
        t_frames = time.perf_counter()
        meta = {"quarantine": self._quarantine_counts(now), "provided": provided(self.mapping.spec),  # what the source has
                "events_pull": stats, "timelines": timelines,
                "events_total": int(sum(len(p) for p in led.parts.values())),
                # 条: the units the catalogue does not know (counted under 未归属); what the source gives is in provided
                "departments": {"unknown": led.unknown_departments()},
                "events_watermark": str(led.watermark),
                "events_seconds": round(time.perf_counter() - t0, 3),
                "events_split_s": {"pull": round(t_pull - t0, 3), "weeks": len(dirty),
                                   "transforms": round(t_frames - t_pull, 3)}}
        self.pending_weeks = set()
        return frames, meta, gone

    def _supervisions(self) -> pd.DataFrame:
        sup = read_supervisions(self.app_engine)
        return supervision_outcomes(sup, self.ledger.rows_of(sup["event_id"].unique().tolist()))

    def _slow(self, name: str, now: datetime, build) -> dict[str, pd.DataFrame]:
        """{name: build()} when the frame is due, else {} (the last one stays in the snapshot)."""
        if not self._slow_due(name, now):
            return {}
        self.slow_at[name] = now
        return {name: build()}

    def _slow_due(self, name: str, now: datetime) -> bool:
        """Whether a slow frame is due (SLOW_FRAMES_S in contract/metrics.py); if not, the last one stays."""
        last = self.slow_at.get(name)
        return not (last is not None and name in self.last_frames and 0 <= (now - last).total_seconds() < SLOW_FRAMES_S[name])

    def _slow_frames(self, now: datetime, dev: pd.DataFrame, points: pd.DataFrame, ground) -> dict[str, pd.DataFrame]:
        """补盲 (camera_gaps, camera_fixes) and 标签治理 (untagged_events, untagged_cameras) over the last 30 days'
        events, when due. The first build runs here, so the first snapshot has them; each later one (the service:
        forecast_background) in a thread of its own on copies taken here, collected by the next devices run, so
        its seconds of CPU at a year's scale never hold the run lock and with it the events tick (freshness)."""
        done: dict[str, pd.DataFrame] = {}
        if (job := self._slow_build) is not None:
            if not job.done():
                return {}
            self._slow_build = None
            try:
                done = job.result()
            except Exception:
                self.slow_at.clear()  # built again at the next run (after the job's backoff)
                raise
        names = (F.CAMERA_GAPS.name, F.CAMERA_FIXES.name, F.UNTAGGED_EVENTS.name)
        due = tuple(n for n in names if n not in done and self._slow_due(n, now))
        if not due:
            return done
        first = window_start(now, "30d")
        events = self.ledger.rows(lambda p: p["reported_at"] >= first, weeks=self._weeks_since(first))[["grid_code", "lon", "lat"]]
        for n in due:
            self.slow_at[n] = now
        radius = self.nearby_camera_m
        if not self.forecast_background or any(n not in self.last_frames for n in due):
            return {**done, **self._build_slow(due, events, dev, points, ground, radius)}
        pool = ThreadPoolExecutor(1, thread_name_prefix="slow-frames")
        self._slow_build = pool.submit(self._build_slow, due, events, dev, points, ground, radius)
        pool.shutdown(wait=False)  # the thread ends with the build
        return done

    @staticmethod
    def _build_slow(due: tuple[str, ...], events: pd.DataFrame, dev: pd.DataFrame, points: pd.DataFrame, ground,
                    radius_m: float) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        xy = event_xy(events, ground) if {F.CAMERA_GAPS.name, F.UNTAGGED_EVENTS.name} & set(due) else None
        if F.CAMERA_GAPS.name in due:
            out[F.CAMERA_GAPS.name] = camera_gaps(events, points, ground, radius_m, xy)
        if F.CAMERA_FIXES.name in due:
            out[F.CAMERA_FIXES.name] = coord_fixes(dev, events)
        if F.UNTAGGED_EVENTS.name in due:  # one query writes both frames
            out[F.UNTAGGED_EVENTS.name], out[F.UNTAGGED_CAMERAS.name] = untagged_exposure(events, points, ground,
                                                                                          radius_m, xy)
        return out

    def _weeks_since(self, first_day: pd.Timestamp) -> set:
        cut = np.datetime64(first_day.date(), "D") - np.timedelta64(6, "D")
        return {w for w in self.ledger.parts if w >= cut}

    def _timeline_rows(self, now: datetime) -> pd.DataFrame:
        """The events whose timelines Redis keeps: reported in the last timeline_days days, or open."""
        first = history_start(now, self.timeline_days)
        return self.ledger.rows(lambda p: (p["reported_at"] >= first) | p["closed_at"].isna())

    def _devices(self, now: datetime):
        dev, unmapped = (self.device_source.read(self.engine, now) if self.device_source is not None
                         else (pd.DataFrame({c: pd.Series(dtype=object) for c in DEVICE_COLUMNS}), 0))
        self.devices_as_of = now
        grids = self.city.grids()
        # the cameras around a point (etl/transforms/nearby_cameras.py), and 补盲 and 标签治理 over the last 30 days'
        # events: slow frames (SLOW_FRAMES_S: ~2 s CPU at a year's scale), once the events are read
        ground = city_ground(self.city)
        points = camera_points(dev, ground)
        return {F.DEVICE_KPIS.name: region_device_kpis(dev, grids), F.BLIND_GRIDS.name: blind_grid_list(dev, grids),
                F.CAMERA_POINTS.name: points,
                **({} if self.ledger.watermark is None and self.published_version is None else
                   self._slow_frames(now, dev, points, ground))}, \
            {"devices_total": int(len(dev)), "devices_unmapped": unmapped, "nearby_camera_m": self.nearby_camera_m}, set()

    def _staff(self, now: datetime):
        """The grids' staff (etl/transforms/staff.py), only with a staff feed in the mapping (without one nothing is
        published and the screens show no staff section). Rows with an unknown grid or an unmapped role are
        quarantined with their reason and counted (meta `staff`, /health)."""
        if self.staff_source is None:
            return {}, {}, set()
        rows = self.staff_source.read(self.engine)
        bad = staff_quarantine(rows)
        return {F.GRID_STAFF.name: grid_staff(rows), F.STAFF_QUARANTINE.name: bad}, \
            {"staff": {"rows": int(len(rows)), "quarantined": {k: int(n) for k, n in bad["reason"].value_counts().items()}}}, \
            set()

    def _safety(self, now: datetime):
        s, unknown = (self.safety_source.read(self.engine) if self.safety_source is not None
                      else (pd.DataFrame({c: pd.Series(dtype=object if c == "region_code" else "datetime64[us]" if c == "month"
                                                        else "float64") for c in SAFETY_COLUMNS}), 0))
        s["month"] = pd.to_datetime(s["month"])
        return {F.SAFETY_LATEST.name: latest_safety(s), F.SAFETY_TREND.name: safety_trend(s)}, \
            {"safety_unknown_regions": unknown}, set()

    def indicators_prepare(self, now: datetime | None = None) -> bool:
        """The indicators job's work outside the ETL's run lock (etl/scheduler.py calls it before taking the lock):
        take in the feeds' finished reads (waiting up to the feeds' wait_s for the due ones) and build the frames,
        kept for the run that publishes them under the lock, which then costs only the publish. So neither a
        slow feed nor 200 feeds' frames ever hold the events job. Whether there are indicators."""
        feeds = self.indicators
        if feeds is None:
            return False
        stamp = pd.Timestamp(now or self.clock()).tz_localize(None)
        with feeds.lock:
            self._indicators_ready = self._indicator_frames(stamp)
        return True

    def _indicators(self, now: datetime):
        """City vital signs: the frames indicators_prepare built outside the lock, or (a run without it: tests,
        a new leader's first run) built here; never waiting for a prepare in progress (its frames come with the
        indicators job's next run)."""
        feeds = self.indicators
        if feeds is None:
            return {}, {}, set()
        ready, self._indicators_ready = getattr(self, "_indicators_ready", None), None
        if ready is not None:
            return ready
        if not feeds.lock.acquire(blocking=False):
            return {}, {}, set()
        try:
            return self._indicator_frames(pd.Timestamp(now).tz_localize(None))
        finally:
            feeds.lock.release()

    def _indicator_frames(self, stamp: pd.Timestamp):
        """Take in the feeds' finished reads (each feed on its own schedule and backoff, in the background: one slow
        or down feed never holds this job), then the frames from the sites' samples (the trends every 5 min)."""
        feeds = self.indicators
        assert feeds is not None
        feeds.collect(stamp)
        if not feeds.frames_due(stamp):  # nothing new and the frames are recent: the last ones stand
            return {}, {"indicators": feeds.meta()}, set()
        feeds.compact(stamp)
        latest, hourly = feeds.samples(stamp)
        info, regions = indicator_info(feeds.catalogue), self.city.regions
        trend = {}
        if feeds.trend_due(stamp):
            first, means = feeds.hour_means(stamp)
            trend = {F.INDICATOR_TREND.name: indicator_trend(first, means, info, regions, self.city.code, stamp)}
        return {F.INDICATORS.name: indicator_latest(latest, info, regions, self.city.code, stamp),
                F.INDICATOR_HOURLY.name: indicator_hourly(hourly, info, regions, self.city.code), **trend,
                F.INDICATOR_QUARANTINE.name: feeds.quarantine_rows()}, \
            {"indicators": {**feeds.meta(), "trend_at": None if feeds.trend_at is None else feeds.trend_at.isoformat()}}, set()

    def _forecast(self, now: datetime):
        """预警预测: fitted at start and once a day (the first run after midnight), over the kept history's days up to
        yesterday (the per-week facts); today's expected events by hour for the wall's band. The vital signs' band
        (etl/transforms/indicator_forecast.py) with it, and again when a feed's first read came after the fit."""
        today = pd.Timestamp(now).normalize()
        if (fit := self._forecast_fit) is not None:
            if not fit.done():
                return {}, {}, set()
            self._forecast_fit = None
            try:
                return fit.result()
            except Exception:
                self.forecast_day, self.vitals_fitted = None, None  # fitted again at the next run (after the backoff)
                raise
        events_due = not (self.forecast_day == today and F.FORECAST_DAYS.name in self.last_frames)
        vitals = self._vitals_history(now)
        if not events_due and vitals is None:
            return {}, {}, set()
        facts = first = None
        if events_due:
            first = history_start(now, self.history_days)
            facts = self.windows.week_facts.reported_since(first, ["grid_no", "day", "category", "reported_at"])  # a copy
            self.forecast_day = today
        if not self.forecast_background:
            try:
                return self._fit_forecast(facts, first, today, vitals)
            except Exception:
                self.forecast_day, self.vitals_fitted = None, None  # fitted again at the next run (after the backoff)
                raise
        pool = ThreadPoolExecutor(1, thread_name_prefix="forecast")
        self._forecast_fit = pool.submit(self._fit_forecast, facts, first, today, vitals)
        pool.shutdown(wait=False)  # the thread ends with the fit
        return {}, {}, set()

    def _vitals_history(self, now: datetime) -> dict | None:
        """What the vital signs' fit needs (the hourly roll-ups of the forecast indicators, their description), taken
        here in the ETL's thread; None when no fit is due (fitted today with every feed read since)."""
        feeds = self.indicators
        if feeds is None:
            return None
        stamp = pd.Timestamp(now).tz_localize(None)
        ids = forecast_ids(feeds.catalogue)
        if not feeds.lock.acquire(blocking=False):  # the indicators' prepare is reading them: the next check fits
            return None
        try:
            read = frozenset(feeds.read_once() & ids)
            if self.vitals_fitted == (stamp.normalize(), read):
                return None
            self.vitals_fitted = (stamp.normalize(), read)
            last = stamp.floor("h")
            samples = feeds.history(last, FIT_DAYS, set(read))
        finally:
            feeds.lock.release()
        info = indicator_info(feeds.catalogue)
        hist = region_series(indicator_hourly(samples, info, self.city.regions, self.city.code))
        ranges = {i.id: i.range for i in feeds.catalogue.indicator if i.range is not None}
        return {"history": hist, "info": info, "last_hour": last, "ranges": ranges, "now": stamp}

    @staticmethod
    def _fit_forecast(facts: pd.DataFrame | None, first: pd.Timestamp | None, today: pd.Timestamp,
                      vitals: dict | None = None):
        frames: dict[str, pd.DataFrame] = {}
        meta: dict = {}
        if facts is not None and first is not None:
            t0 = time.perf_counter()
            series, days, y = daily_counts(facts, first, today - pd.Timedelta(days=1))
            days_frame = event_forecast(series, days, y)
            recent = facts[facts["day"] >= today - pd.Timedelta(days=PROFILE_DAYS)]
            frames |= {F.FORECAST_DAYS.name: days_frame,
                       F.FORECAST_HOURLY.name: expected_by_hour(days_frame, hourly_profile(recent[recent["day"] < today]),
                                                                today)}
            meta["forecast"] = {"day": str(today.date()), "series": len(series), "days": len(days),
                                "seconds": round(time.perf_counter() - t0, 2)}
        if vitals is not None:
            t0 = time.perf_counter()
            band, series_frame = indicator_forecast(vitals["history"], vitals["info"], vitals["last_hour"],
                                                    vitals["ranges"], fitted_at=vitals["now"])
            frames |= {F.INDICATOR_FORECAST.name: band, F.INDICATOR_FORECAST_SERIES.name: series_frame}
            meta["vitals_forecast"] = {"last_hour": vitals["last_hour"].isoformat(), "series": len(series_frame),
                                       "fitted": int((series_frame["state"] == "fitted").sum()),
                                       "short": int((series_frame["state"] == "short").sum()),
                                       "seconds": round(time.perf_counter() - t0, 2)}
        return frames, meta, set()

    def run_all(self, now: datetime | None = None) -> dict | None:
        return self.run(("events", "devices", "safety", *(("indicators",) if self.indicators is not None else ()),
                         "forecast",  # the indicators read before the forecast fits their history
                         *(("staff",) if self.staff_source is not None else ())), now)

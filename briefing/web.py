"""The briefing in the running product: `/medium/briefing.pdf?region=&day=` (scope-checked with
dashboard/access.require_region like the ranking export; an attachment, so dashboard/security.py writes it
to the audit log) and each morning's build. The build runs in every process that runs the ETL scheduler,
on its own APScheduler job every few minutes: from COCKPIT_BRIEFING_HOUR on, the first process whose
`SET NX` of the day's Redis key succeeds builds the previous day's set once the snapshot has seen the whole
day; the key then says "done" (a failed build deletes it, so the next check retries; a process that died
mid-build lets its claim expire after BUILD_CLAIM_S)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import date, datetime, timedelta
from pathlib import Path

import flask
import redis
from apscheduler.schedulers.background import BackgroundScheduler

from briefing.data import LEVELS
from briefing.pdf import BuildReport, briefing_path, briefing_pdf, build_all, write_atomic
from config.city import City
from config.clock import now_local
from config.settings import Settings
from contract.keys import Keys
from dashboard.access import require_region, user_scope
from dashboard.context import cockpit
from queries.department_views import score_weights as department_weights
from queries.window_views import score_weights
from snapshots.reader import SnapshotReader

log = logging.getLogger(__name__)
CHECK_MINUTES = 5
BUILD_CLAIM_S = 3600  # a claim outlives any build (152 regions take a few minutes)
DONE_KEEP_S = 3 * 86400


def register_briefing(server: flask.Flask) -> None:
    """The on-demand route (the app's Cockpit gives settings, city and snapshot)."""

    @server.get("/medium/briefing.pdf")
    def briefing_download():
        c = cockpit()
        region = require_region(flask.request.args.get("region") or user_scope())
        if region not in c.city or c.city.level_of(region) not in LEVELS:
            flask.abort(400, "region: a briefing is made for the city, a district or a street")
        snap = c.snapshot()
        if snap.version is None:
            flask.abort(503, "no data published yet")
        today = (snap.as_of or c.now()).date()
        day = requested_day(flask.request.args.get("day"), today, c.settings.history_days)
        body = stored_or_built(snap, c.city, c.settings, region, day)
        resp = flask.Response(body, mimetype="application/pdf")
        resp.headers["Content-Disposition"] = f'attachment; filename="briefing_{region}_{day:%Y%m%d}.pdf"'
        return resp


def requested_day(raw: str | None, today: date, history_days: int) -> date:
    """`day=yyyy-mm-dd` (default yesterday): a day of the kept history up to today, else HTTP 400."""
    if not raw:
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        flask.abort(400, "day: expected a date yyyy-mm-dd")
    if day > today or day <= today - timedelta(days=history_days):
        flask.abort(400, f"day: must be one of the last {history_days} days up to {today}")
    return day


def stored_or_built(snap, city: City, settings: Settings, region: str, day: date) -> bytes:
    """The morning's stored briefing if there is one; else built now, and stored when the snapshot has
    seen the whole day (a briefing of today so far is never stored)."""
    path = briefing_path(settings.briefing_dir, region, day)
    if path.exists():
        return path.read_bytes()
    body = briefing_pdf(snap, city, region, day, {**score_weights(settings), **department_weights(settings)}, settings.history_days)
    if snap.as_of is not None and snap.as_of.date() > day:
        write_atomic(path, body)
    return body


class BriefingScheduler:
    """The morning build: one process of the deployment builds each day's set (Redis SET NX per day)."""

    def __init__(self, settings: Settings, city: City, client: redis.Redis, reader: SnapshotReader,
                 root: str | None = None):
        self.settings, self.city, self.client, self.reader = settings, city, client, reader
        self.root = root  # None: the whole city (tests build one street)
        self.keys = Keys(settings.redis_prefix)
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self.sched = BackgroundScheduler(timezone=city.timezone)

    def start(self) -> None:
        # every few minutes, first check at start: a process started after the hour still builds the day
        self.sched.add_job(self.check, "interval", minutes=CHECK_MINUTES, id="briefing", next_run_time=datetime.now(),
                           max_instances=1, coalesce=True)
        self.sched.start()
        log.info("briefing: the morning build runs in this process (checked every %d min from %02d:00)",
                 CHECK_MINUTES, self.settings.briefing_hour)

    def stop(self) -> None:
        self.sched.shutdown(wait=False)

    def check(self, now: datetime | None = None) -> BuildReport | None:
        """Build the previous day's briefings if it is past the hour and nobody has; the report, else None."""
        now = now or now_local(self.city.timezone)
        if now.hour < self.settings.briefing_hour:
            return None
        day = now.date() - timedelta(days=1)
        snap = self.reader.current()
        if snap.version is None or snap.as_of is None or snap.as_of.date() <= day:
            return None  # wait for a snapshot that has seen the whole day
        key = self.keys.briefing_day(day.isoformat())
        try:
            if not self.client.set(key, f"building {self.identity}", nx=True, ex=BUILD_CLAIM_S):
                return None
        except redis.RedisError as exc:
            log.warning("briefing: Redis unavailable (%s)", exc)
            return None
        try:
            report = build_all(snap, self.city, day, Path(self.settings.briefing_dir), {**score_weights(self.settings), **department_weights(self.settings)},
                               self.settings.history_days, self.root)
        except Exception:
            log.exception("briefing: the build for %s failed; the next check retries", day)
            self.client.delete(key)
            return None
        self.client.set(key, f"done {self.identity} {len(report.files)} files {report.seconds:.0f} s", ex=DONE_KEEP_S)
        return report


def start_briefing_scheduler(settings: Settings, city: City, client: redis.Redis,
                             reader: SnapshotReader) -> BriefingScheduler:
    s = BriefingScheduler(settings, city, client, reader)
    s.start()
    return s

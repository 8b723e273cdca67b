"""APScheduler jobs with one leader per deployment: every process may run a scheduler, but only the
holder of a Redis lock (with a TTL, renewed while alive) runs the ETL jobs.

Two rules keep that true under faults. The jobs share EtlJobs' state (last frames, the version
published last), so they run one at a time (a lock around every run); the election, which must
renew the lease on time even while a long tick runs, never takes that lock: a new leader only
marks the state for a reset, applied by the next run under the lock. And the snapshot store is
fenced by the lock (snapshots/store.py Fence): a leader that was paused past its TTL and wakes up
still believing it leads cannot publish over the new leader's snapshots.

A process that does not lead stands by. Hot (COCKPIT_STANDBY=hot, the default), it runs every job on the
leader's schedule without publishing (EtlJobs.run(..., publish=False): the same incremental reads by watermark,
the same state updates, the same frames, serialized; every job once at its start), so the moment it takes the
lock it publishes every frame it holds (EtlJobs.publish_warm: Redis writes only, no read, no computing), then
goes on at the jobs' intervals: a takeover costs the lock's TTL and a write, not a backfill. Cold, it does
nothing until it leads (one source reader per deployment; a takeover then backfills)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC

import redis
from apscheduler.schedulers.background import BackgroundScheduler
from redis.exceptions import LockError

from contract.keys import Keys
from etl.jobs import EtlJobs
from snapshots.store import Fence, Fenced

log = logging.getLogger(__name__)


class _DueWhileRunning(logging.Filter):
    """APScheduler warns each time a job falls due while its last run goes on (max_instances=1): with a tick
    longer than its interval, once a second, for as long as it lasts. One run at a time is the design
    (coalesce, no pile-up), so those lines are noise that hides the warnings that matter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_DueWhileRunning())


class LeaderLock:
    """A Redis lock with a TTL: acquire or renew with `hold()`; another process takes over after TTL."""

    def __init__(self, client: redis.Redis, name: str, ttl_s: float):
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = client.lock(name, timeout=ttl_s, blocking=False, thread_local=False)
        self.fence = Fence(name, self.identity)  # the lock key holds our identity while we lead
        self.is_leader = False

    def hold(self) -> bool:
        """Renew the lock if we hold it, else try to take it; returns whether we lead now."""
        try:
            if self.is_leader:
                self.lock.reacquire()
            else:
                self.is_leader = bool(self.lock.acquire(blocking=False, token=self.identity))
        except LockError:
            self.is_leader = False
        except redis.RedisError as exc:
            log.warning("leader lock: Redis unavailable (%s)", exc)
            self.is_leader = False
        return self.is_leader

    def others_left_s(self) -> float | None:
        """Seconds the lease another process holds has left (None: no lock, or it is ours, or Redis did not say)."""
        try:
            holder, left_ms = self.lock.redis.pipeline(transaction=False).get(self.lock.name).pttl(self.lock.name).execute()
        except redis.RedisError:
            return None
        if holder is None or holder.decode() == self.identity or left_ms is None or left_ms < 0:
            return None
        return left_ms / 1000

    def release(self) -> None:
        if self.is_leader:
            try:
                self.lock.release()
            except (LockError, redis.RedisError):
                pass
            self.is_leader = False


class EtlScheduler:
    """Leader election plus the three ETL jobs on their intervals (each runs only on the leader)."""

    def __init__(self, jobs: EtlJobs, client: redis.Redis, prefix: str, ttl_s: float,
                 intervals: dict[str, float], standby: str = "hot"):
        if standby not in ("hot", "cold"):
            raise ValueError(f"standby must be hot or cold, not {standby!r}")
        self.jobs = jobs
        self.standby = standby
        self.leader = LeaderLock(client, Keys(prefix).leader, ttl_s)
        jobs.store.fence = self.leader.fence  # publish snapshots and timelines only while we hold the lock
        jobs.timelines.store.fence = self.leader.fence
        self.sched = BackgroundScheduler(timezone=jobs.city.timezone)
        self.ttl_s = ttl_s
        self.intervals = intervals
        self.runs = {name: 0 for name in intervals}
        self.fenced = 0  # publishes the fence refused (we had lost the lock)
        self.warm_publishes = 0  # leads taken with a hot standby's state published at once
        self.elect_every_s = max(0.5, min(1.0, ttl_s / 3))  # a standby takes a lock the dead leader left within this
        self.lease_ends: float | None = None  # a standby's: when a lease its holder stopped renewing runs out (monotonic)
        self.warm_s = 0.0  # how long the last warm run took
        self.warm_skipped = 0  # warm runs not started: the lease would run out before they end
        self.run_lock = threading.Lock()  # one job at a time: they share EtlJobs' state
        self._took_lead = False  # set by the election, applied by the next run under run_lock

    def _elect(self) -> None:
        was = self.leader.is_leader
        leads = self.leader.hold()
        if not leads:  # a lease about to run out (its holder died or stalls): try again the moment it does
            left = self.leader.others_left_s()
            # a lease not renewed for two elections or more: its holder is dead or stalled (a live one renews each second)
            stale = left is not None and left < self.ttl_s - 2 * self.elect_every_s - 0.5
            self.lease_ends = time.monotonic() + left if stale and left is not None else None
            if left is not None and left < self.elect_every_s:
                time.sleep(left + 0.005)
                leads = self.leader.hold()
        if was and not leads:
            log.warning("this process (%s) no longer leads the ETL", self.leader.identity)
        if leads and not was:
            log.info("this process (%s) leads the ETL", self.leader.identity)
            self._took_lead = True  # publish a full set at once (reset under the run lock, not from here)
            self.sched.modify_job(next(iter(self.intervals)), next_run_time=_now())  # that run has every job

    def _run(self, name: str) -> None:
        if not self.leader.is_leader:
            if self.standby == "hot":
                self._warm(name)
            return
        if name == "indicators":  # reads taken in and frames built before the lock: only the publish holds it
            try:
                self.jobs.indicators_prepare()
            except Exception as exc:  # noqa: BLE001 - the run below reports it (backoff, meta) as any job's failure
                log.warning("ETL indicators: preparing the frames failed (%s)", exc)
        with self.run_lock:
            if not self.leader.is_leader:
                return
            names: tuple[str, ...] = (name,)
            try:
                if self._took_lead:  # every job in the first snapshot, so no screen waits an interval for a feed
                    self._took_lead = False
                    self.jobs.published_version = None
                    if self.standby == "hot" and self.jobs.warm_complete(tuple(self.intervals)):
                        self.jobs.publish_warm()  # every job's frames as the standby kept them: out at once
                        self.warm_publishes += 1
                        log.info("this process (%s) published its standby state: %d frames",
                                 self.leader.identity, len(self.jobs.last_frames))
                    else:  # cold, or a standby not caught up yet: every job runs now
                        names = tuple(self.intervals)
                manifest = self.jobs.run(names if len(names) > 1 else name)
            except Fenced as exc:
                self.fenced += 1
                self.leader.is_leader = False  # the next election finds out whether we may lead again
                log.warning("ETL %s: %s", name, exc)
                return
        if manifest is not None:
            for job in names:
                self.runs[job] += 1

    def _warm(self, name: str) -> None:
        """A hot standby's run of a job: its reads, state and frames, nothing published (under the run lock: a lead
        taken meanwhile waits for it, then publishes the state it left). Jobs that have not yet given their frames
        run with it, so every job's state is warm within the first events interval (safety's is an hour)."""
        ends = self.lease_ends
        if ends is not None and self.jobs.warm_complete(tuple(self.intervals)) and \
                time.monotonic() + min(self.warm_s, self.ttl_s / 4) + 0.5 > ends:
            self.warm_skipped += 1  # the leader renews no more: keep the run lock free for the publish at its expiry
            return
        with self.run_lock:
            if self.leader.is_leader:
                return
            names = (name, *(j for j in self.intervals if j != name and j not in self.jobs.warmed))
            was = self.jobs.warm_complete(tuple(self.intervals))
            t0 = time.monotonic()
            self.jobs.run(names if len(names) > 1 else name, publish=False)
            if name == "events" and was:  # a tick's length (not the backfill's)
                self.warm_s = time.monotonic() - t0
            if not was and self.jobs.warm_complete(tuple(self.intervals)):
                log.info("this process (%s) stands by hot: every job's state current (%d event rows read)",
                         self.leader.identity, self.jobs.rows_pulled)

    def start(self) -> EtlScheduler:
        for name, seconds in self.intervals.items():
            self.sched.add_job(self._run, "interval", seconds=seconds, args=[name], id=name,
                               max_instances=1, coalesce=True, misfire_grace_time=None)
        # every second (at most a third of the TTL): a standby takes a lock the dead leader left within a second (at
        # once when the lease has less than that left: _elect waits for its end)
        # never skipped for lateness (APScheduler's default misfire grace is 1 s: on a starved machine a renewal due a
        # second ago was dropped, and a leader lost its lease at 10M events with the lock's other renewals late too)
        self.sched.add_job(self._elect, "interval", seconds=self.elect_every_s, id="elect",
                           max_instances=1, coalesce=True, misfire_grace_time=None, next_run_time=_now())
        self.sched.start()
        return self

    def shutdown(self) -> None:
        self.sched.shutdown(wait=True)
        self.leader.release()


def _now():
    from datetime import datetime

    return datetime.now(UTC)

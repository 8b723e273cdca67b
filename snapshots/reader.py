"""Reads the current snapshot from Redis for the web tier, decoding each frame once per version.

If Redis cannot be reached, the last snapshot read stays available and is marked stale, so the
screens keep showing the last good numbers."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import pandas as pd
import redis

from contract.frames import Frame
from contract.keys import Keys
from snapshots.store import ipc_to_frame

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    version: int | None
    as_of: datetime | None
    manifest: dict
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    redis_ok: bool = True
    derived: dict = field(default_factory=dict, repr=False)
    per_frame: dict = field(default_factory=dict, repr=False)  # shared by the versions a frame is in

    # Request threads share a snapshot: a value is built under the lock, so the first requests of a new
    # version build an index once between them instead of once each (reads of a built value take no lock).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # reentrant: builds may nest

    def memo(self, key: str, build):
        """A value derived from this snapshot's frames (an index, say), built once per version."""
        try:
            return self.derived[key]
        except KeyError:
            with self.lock:
                if key not in self.derived:
                    self.derived[key] = build()
                return self.derived[key]

    def frame_memo(self, name: Frame | str, tag: str, build):
        """A value derived from one frame (`tag` names what), built once for as long as that frame is
        unchanged: a new snapshot that carries the frame over reuses it."""
        name = name.name if isinstance(name, Frame) else name
        key = (self.manifest.get("frames", {}).get(name, {}).get("key"), tag)
        try:
            return self.per_frame[key]
        except KeyError:
            with self.lock:
                if key not in self.per_frame:
                    self.per_frame[key] = build(self.frames[name])
                return self.per_frame[key]

    @property
    def meta(self) -> dict:
        return self.manifest.get("meta", {})

    def frame(self, frame: Frame | str) -> pd.DataFrame | None:
        """A frame of this snapshot by its declaration (contract/frames.py), or None if absent."""
        return self.frames.get(frame.name if isinstance(frame, Frame) else frame)

    def source_errors(self) -> list[str]:
        return [f"{k.removesuffix('_status')}: {v.get('error', '')}" for k, v in self.meta.items()
                if k.endswith("_status") and isinstance(v, dict) and not v.get("ok", True)]

    def age_s(self, now: datetime) -> float | None:
        return None if self.as_of is None else (now - self.as_of).total_seconds()

    def is_stale(self, now: datetime, stale_after_s: float) -> bool:
        age = self.age_s(now)
        return (not self.redis_ok) or age is None or age > stale_after_s or bool(self.source_errors())


EMPTY = Snapshot(version=None, as_of=None, manifest={})


class SnapshotReader:
    def __init__(self, client: redis.Redis, prefix: str = "cockpit", min_check_s: float = 0.5,
                 warm: Callable[[Snapshot], None] | None = None):
        self.r = client
        self.prefix = prefix
        self.min_check_s = min_check_s  # callbacks in one burst share one manifest read
        self.warm = warm  # builds the indexes a new snapshot's first requests would need
        self._background_pid: int | None = None
        self._keep_fresh = False
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._memo_lock = threading.RLock()  # one for every snapshot of this reader: they share per_frame
        self._snap = EMPTY
        self._checked = 0.0
        self._cache: dict[str, pd.DataFrame] = {}
        self._per_frame: dict = {}

    def keep_fresh(self) -> None:
        """Load new snapshots in a background thread of each process (every min_check_s) instead of in
        the first request that sees them: requests then never wait for a new version's frames to be
        fetched and decoded (tens of ms every few seconds, the tail of the latency under load)."""
        self._keep_fresh = True

    def current(self) -> Snapshot:
        """The newest snapshot loaded (kept fresh in the background, or checked here at most every
        min_check_s); the last good one, marked, if Redis is down."""
        if self._keep_fresh and self._snap.version is not None:
            if self._background_pid != os.getpid():  # started lazily, so each forked worker has its own
                with self._start_lock:  # by the first request of this process only, however many arrive at once
                    if self._background_pid != os.getpid():
                        threading.Thread(target=self._refresh_forever, name="snapshot-refresh", daemon=True).start()
                        self._background_pid = os.getpid()
            return self._snap
        return self.refresh()

    def _refresh_forever(self) -> None:
        while True:
            time.sleep(self.min_check_s)
            try:
                self.refresh(force=True)
            except Exception:  # noqa: BLE001 - keep serving the last snapshot, try again
                log.exception("snapshot: background refresh failed")

    def refresh(self, force: bool = False) -> Snapshot:
        """Check the manifest (unless checked less than min_check_s ago) and load a new version."""
        with self._lock:
            if not force and time.monotonic() - self._checked < self.min_check_s:
                return self._snap
            try:
                raw = self.r.get(Keys(self.prefix).manifest)
                manifest = json.loads(raw) if raw else None
                if manifest is None:
                    self._snap = Snapshot(None, None, {}, redis_ok=True) if self._snap.version is None else \
                        Snapshot(self._snap.version, self._snap.as_of, self._snap.manifest, self._snap.frames, False,
                                 self._snap.derived, self._snap.per_frame, self._memo_lock)
                elif self._older_than_served(manifest):
                    pass  # a failed-over Redis that lost the last writes: keep what we serve until it moves past it
                elif manifest["version"] != self._snap.version or not self._snap.redis_ok:
                    snap = self._load(manifest)
                    if self.warm is not None and self._keep_fresh:
                        try:
                            self.warm(snap)
                        except Exception:  # noqa: BLE001 - a view builds what it needs itself
                            log.exception("snapshot: warming the new snapshot failed")
                    self._snap = snap
            except (redis.RedisError, OSError) as exc:
                log.warning("snapshot: Redis unavailable (%s); serving the last snapshot", exc)
                s = self._snap
                self._snap = Snapshot(s.version, s.as_of, s.manifest, s.frames, redis_ok=False, derived=s.derived,
                                      per_frame=s.per_frame, lock=self._memo_lock)
            self._checked = time.monotonic()
            return self._snap

    def _older_than_served(self, manifest: dict) -> bool:
        """A manifest behind the one served: a lower version published no later (a replica promoted by Sentinel
        without the last writes holds the snapshot before ours). A lower version published later is a new start
        (Redis emptied, a new ETL process counting again) and is taken."""
        served = self._snap.manifest or {}
        if self._snap.version is None or manifest["version"] >= self._snap.version:
            return False
        return str(manifest.get("published_at") or "") <= str(served.get("published_at") or "")

    def _load(self, manifest: dict) -> Snapshot:
        entries = manifest.get("frames", {})
        keys = [e["key"] for e in entries.values()]
        missing = [k for k in keys if k not in self._cache]
        if missing:
            blobs = self.r.mget(missing)
            for k, blob in zip(missing, blobs):
                if blob is not None:
                    self._cache[k] = ipc_to_frame(cast(bytes, blob))  # no decode_responses: bytes
        self._cache = {k: v for k, v in self._cache.items() if k in keys}
        self._per_frame = {k: v for k, v in self._per_frame.items() if k[0] in self._cache}
        frames = {name: self._cache[e["key"]] for name, e in entries.items() if e["key"] in self._cache}
        as_of = manifest.get("as_of")
        has_data = bool(frames)
        return Snapshot(manifest["version"], datetime.fromisoformat(as_of) if has_data and as_of else None,
                        manifest, frames, per_frame=self._per_frame, lock=self._memo_lock)

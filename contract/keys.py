"""The Redis key layout of a deployment (every key under one prefix, so deployments can share a server).

  {prefix}:manifest          JSON {version, as_of, published_at, frames: {name: {key, as_of, rows}}, meta}
  {prefix}:frame:{name}:{v}  Arrow IPC stream (zstd) of one frame, written once, never changed
  {prefix}:version           counter of snapshot versions
  {prefix}:timeline:{id}     one event's timeline (contract/timeline_format.py), zlib'd JSON
  {prefix}:timelines_synced  JSON: up to which source watermarks the timelines are written (etl/state/timeline_sync.py)
  {prefix}:leader            the ETL leader lock (etl/scheduler.py)
  {prefix}:briefing:{day}    which process builds that day's briefings, then "done" (briefing/web.py, SET NX)
  {prefix}:signin...         failed sign-in counters (dashboard/auth.py, Flask-Limiter)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "cockpit"

    @property
    def manifest(self) -> str:
        return f"{self.prefix}:manifest"

    @property
    def version(self) -> str:
        return f"{self.prefix}:version"

    def frame(self, name: str, version: int) -> str:
        return f"{self.prefix}:frame:{name}:{version}"

    def timeline(self, event_id: str) -> str:
        return f"{self.prefix}:timeline:{event_id}"

    @property
    def timelines(self) -> str:
        """Pattern of every timeline key (for SCAN)."""
        return f"{self.prefix}:timeline:*"

    @property
    def timelines_synced(self) -> str:
        """The timelines' sync marker: a new leader resumes from it instead of rewriting every timeline."""
        return f"{self.prefix}:timelines_synced"

    @property
    def leader(self) -> str:
        return f"{self.prefix}:leader"

    def briefing_day(self, day: str) -> str:
        return f"{self.prefix}:briefing:{day}"

    @property
    def signin_limits(self) -> str:
        return f"{self.prefix}:signin"

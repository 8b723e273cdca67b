"""Event timelines in Redis: one key per event, `Keys.timeline` (contract/keys.py), holding the timeline
(etl/transforms/timelines.py) as zlib-compressed compact JSON, expiring at a given time.

zlib because it saves well over 40% on these values (measured on the demo's 90 days; see README);
`decode` also reads plain JSON, so the format can change without a flush."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import cast

import redis

from contract.keys import Keys
from contract.timeline_format import step_dicts

BATCH = 2000
LEVEL = 1  # zlib level: 6 saves a few more percent at three times the CPU


def encode(timeline: dict) -> bytes:
    return zlib.compress(json.dumps(timeline, ensure_ascii=False, separators=(",", ":")).encode(), LEVEL)


def decode(raw: bytes) -> dict:
    return json.loads(raw if raw[:1] == b"{" else zlib.decompress(raw))


class TimelineStore:
    def __init__(self, client: redis.Redis, prefix: str = "cockpit"):
        self.r = client
        self.prefix = prefix

    def key(self, event_id: str) -> str:
        return Keys(self.prefix).timeline(event_id)

    def write_many(self, items: Iterable[tuple[str, dict, int]], batch: int = BATCH) -> int:
        """Write (event_id, timeline, seconds to live) through a pipeline, `batch` keys a round trip."""
        n = 0
        with self.r.pipeline(transaction=False) as pipe:
            for event_id, timeline, ttl in items:
                pipe.set(self.key(event_id), encode(timeline), ex=int(ttl))
                n += 1
                if n % batch == 0:
                    pipe.execute()
            pipe.execute()
        return n

    def delete_many(self, event_ids: Iterable[str], batch: int = BATCH) -> int:
        keys = [self.key(e) for e in event_ids]
        for i in range(0, len(keys), batch):
            self.r.delete(*keys[i:i + batch])
        return len(keys)

    def write_marker(self, marker: dict) -> None:
        """The sync marker (contract/keys.py timelines_synced): plain JSON, no expiry; gone with a flushed Redis."""
        self.r.set(Keys(self.prefix).timelines_synced, json.dumps(marker, separators=(",", ":")))

    def read_marker(self) -> dict | None:
        raw = self.r.get(Keys(self.prefix).timelines_synced)
        return None if raw is None else json.loads(cast(bytes, raw))

    def read(self, event_id: str) -> dict | None:
        """The event's timeline with its steps as dicts (etl/transforms/timelines.py STEP_FIELDS), or None."""
        raw = self.r.get(self.key(event_id))
        return None if raw is None else step_dicts(decode(cast(bytes, raw)))  # no decode_responses: bytes

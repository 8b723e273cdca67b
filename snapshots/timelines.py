"""Event timelines in Redis: one key per event, `Keys.timeline` (contract/keys.py), holding the timeline
(etl/transforms/timelines.py) as zlib-compressed compact JSON, expiring at a given time.

zlib because it saves well over 40% on these values (measured on the demo's 90 days; see README);
`decode` also reads plain JSON, so the format can change without a flush."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import cast

import redis
from redis.client import Pipeline

from contract.keys import Keys
from contract.timeline_format import step_dicts
from snapshots.store import Fence, fenced_transaction

BATCH = 2000
LEVEL = 1  # zlib level: 6 saves a few more percent at three times the CPU


def encode(timeline: dict) -> bytes:
    return zlib.compress(json.dumps(timeline, ensure_ascii=False, separators=(",", ":")).encode(), LEVEL)


def decode(raw: bytes) -> dict:
    return json.loads(raw if raw[:1] == b"{" else zlib.decompress(raw))


class TimelineStore:
    """Timelines and their sync marker. With a `fence` (set by the ETL scheduler: the leader lock and
    our token, snapshots/store.py) every batch is written only while we hold the lock, like a
    snapshot: an old leader that wakes from a pause rewrites no timeline (it gets Fenced)."""

    def __init__(self, client: redis.Redis, prefix: str = "cockpit", fence: Fence | None = None):
        self.r = client
        self.prefix = prefix
        self.fence = fence

    def key(self, event_id: str) -> str:
        return Keys(self.prefix).timeline(event_id)

    def _send(self, sets: Sequence[tuple[str, bytes | str, int | None]] = (), deletes: Sequence[str] = ()) -> None:
        """SET (key, value, seconds to live or None) and DELETE keys in one round trip: with a fence, as
        one transaction that commits only while we hold the lock."""
        def queue(pipe: Pipeline) -> None:
            for key, value, ttl in sets:
                pipe.set(key, value, ex=ttl)
            if deletes:
                pipe.delete(*deletes)

        if self.fence is None:
            with self.r.pipeline(transaction=False) as pipe:
                queue(pipe)
                pipe.execute()
        else:
            def in_transaction(pipe: Pipeline) -> None:
                pipe.multi()
                queue(pipe)

            fenced_transaction(self.r, self.fence, in_transaction)

    def write_many(self, items: Iterable[tuple[str, dict, int]], batch: int = BATCH) -> int:
        """Write (event_id, timeline, seconds to live), `batch` keys a round trip."""
        n, it = 0, iter(items)
        while sets := [(self.key(e), encode(tl), int(ttl)) for e, tl, ttl in islice(it, batch)]:
            self._send(sets=sets)
            n += len(sets)
        return n

    def delete_many(self, event_ids: Iterable[str], batch: int = BATCH) -> int:
        keys = [self.key(e) for e in event_ids]
        for i in range(0, len(keys), batch):
            self._send(deletes=keys[i:i + batch])
        return len(keys)

    def write_marker(self, marker: dict) -> None:
        """The sync marker (contract/keys.py timelines_synced): plain JSON, no expiry; gone with a flushed Redis."""
        self._send(sets=[(Keys(self.prefix).timelines_synced, json.dumps(marker, separators=(",", ":")), None)])

    def read_marker(self) -> dict | None:
        raw = self.r.get(Keys(self.prefix).timelines_synced)
        return None if raw is None else json.loads(cast(bytes, raw))

    def read(self, event_id: str) -> dict | None:
        """The event's timeline with its steps as dicts (etl/transforms/timelines.py STEP_FIELDS), or None."""
        raw = self.r.get(self.key(event_id))
        return None if raw is None else step_dicts(decode(cast(bytes, raw)))  # no decode_responses: bytes

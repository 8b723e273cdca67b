"""Versioned snapshots in Redis: frames as Arrow IPC, one manifest key flipped atomically.

Key layout: contract/keys.py. Every frame is checked against its declaration (contract/frames.py)
before anything is written. A publish writes its new frames and the new manifest in one MULTI/EXEC, and gives the frames it
replaced a TTL, so a reader that fetched the old manifest can still read the old frames. Frames a
publish does not touch are carried over, so the jobs (events, devices, safety) publish independently.

Fencing: a store given a `Fence` (a key and the token it must hold, e.g. the ETL leader lock and
this process's lock token) publishes only while the key holds that token. The key is WATCHed with the
manifest and read inside the same optimistic transaction, so an old leader that was paused (a GC, a
SIGSTOP, a VM freeze) and woke after another took the lock cannot flip the manifest: the check and the
flip are one atomic step, and a lock that changes hands between them aborts the EXEC."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast

import pandas as pd
import pyarrow as pa
import redis
from redis.client import Pipeline

from contract.frames import check_frame
from contract.keys import Keys

T = TypeVar("T")
IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def frame_to_ipc(frame: pd.DataFrame) -> bytes:
    """A DataFrame as Arrow IPC stream bytes (index dropped)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ipc_to_frame(data: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(data).read_all().to_pandas()


@dataclass(frozen=True)
class Fence:
    """Publish only while Redis key `key` holds `token` (the leader lock's value while we hold it)."""

    key: str
    token: str


class Fenced(RuntimeError):
    """A publish refused: the fence key no longer holds our token (another process leads now)."""


def fenced_transaction(client: redis.Redis, fence: Fence | None, body: Callable[[Pipeline], T],
                       watch: tuple[str, ...] = ()) -> T:
    """Run `body` in one optimistic transaction that commits only while `fence` (if any) holds: the
    fence key (and `watch`) are WATCHed and the token checked first; `body` may read (immediate mode),
    then calls pipe.multi() and queues its writes, which EXEC applies. A change to a watched key
    (another leader, or our own lease renewal) retries the whole step; a lost fence raises Fenced."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*watch, *([fence.key] if fence else []))
                if fence and pipe.get(fence.key) != fence.token.encode():
                    raise Fenced(f"{fence.key} is no longer held by {fence.token}: publish refused")
                result = body(pipe)
                pipe.execute()
                return result
            except redis.WatchError:
                continue


class SnapshotStore:
    def __init__(self, client: redis.Redis, prefix: str = "cockpit", keep_s: int = 60, fence: Fence | None = None):
        self.r = client
        self.prefix = prefix
        self.keep_s = keep_s
        self.keys = Keys(prefix)
        self.fence = fence  # set by the scheduler (etl/scheduler.py): the leader lock and our token
        self.digests: dict[str, bytes] = {}  # frame key in the manifest -> digest of the bytes we wrote there
        self.last_version = 0  # the version this store last published: versions it publishes only grow
        # frame name -> (the frame, its bytes, their digest): a frame published again as the same object is not
        # serialized again (a hot standby prepares its frames as it computes them, so the snapshot it publishes on
        # taking the lock, every frame, costs the writes only; etl/jobs.py publish_warm)
        self.blobs: dict[str, tuple[pd.DataFrame, bytes, bytes]] = {}

    @property
    def manifest_key(self) -> str:
        return self.keys.manifest

    def manifest(self) -> dict | None:
        raw = self.r.get(self.manifest_key)
        return json.loads(raw) if raw else None

    def publish(self, frames: dict[str, pd.DataFrame], as_of: datetime, meta: dict | None = None,
                drop: tuple[str, ...] | set[str] = ()) -> dict:
        """Write frames and flip the manifest; returns the new manifest. Meta entries merge into the old;
        frames named in `drop` leave the snapshot. Raises Fenced (nothing written) if the store has a
        fence whose key does not hold its token."""
        self.prepare(frames)
        blobs = {name: self.blobs[name][1] for name in frames}
        digests = {name: self.blobs[name][2] for name in frames}
        fence = self.fence
        written: dict[str, bytes] = {}

        def flip(pipe: Pipeline) -> dict:
            raw = pipe.get(self.manifest_key)
            old = json.loads(raw) if raw else {"frames": {}, "meta": {}}
            # a frame whose bytes are those already under its key in the manifest keeps the key: not written
            # again, and readers keep what they loaded (most frames of a quiet tick)
            same = {name: e["key"] for name in frames if (e := old["frames"].get(name)) is not None
                    and name not in drop and self.digests.get(e["key"]) == digests[name]}
            if same and int(pipe.exists(*same.values())) != len(same):  # gone from Redis (evicted): write them
                same = {}
            version = int(self.r.incr(self.keys.version))
            if version <= self.last_version:  # the counter went back (Redis emptied, a replica promoted): go on past
                version = self.last_version + 1
                self.r.set(self.keys.version, version)
            entries = {k: v for k, v in old["frames"].items() if k not in drop}
            for name, df in frames.items():
                entries[name] = {"key": same.get(name) or self.keys.frame(name, version), "as_of": as_of.isoformat(),
                                 "rows": len(df)}
            written.clear()
            written.update({entries[name]["key"]: digests[name] for name in frames})
            manifest = {
                "version": version,
                "as_of": max([as_of.isoformat(), *(e["as_of"] for e in entries.values())]),
                "published_at": datetime.now().isoformat(timespec="microseconds"),  # readers order starts by it
                "publisher": fence.token if fence else None,  # which leader flipped it (fenced stores)
                "frames": entries, "meta": {**old.get("meta", {}), **(meta or {})},
            }
            pipe.multi()
            for name, blob in blobs.items():
                if name not in same:
                    pipe.set(entries[name]["key"], blob)
            pipe.set(self.manifest_key, json.dumps(manifest, ensure_ascii=False))
            for name, e in old["frames"].items():
                if entries.get(name, {}).get("key") != e["key"]:
                    pipe.expire(e["key"], self.keep_s)
            return manifest

        manifest = fenced_transaction(self.r, fence, flip, watch=(self.manifest_key,))
        self.forget(set(drop) - set(frames))
        current = {e["key"] for e in manifest["frames"].values()}
        self.digests = {k: d for k, d in {**self.digests, **written}.items() if k in current}
        self.last_version = max(self.last_version, int(manifest["version"]))
        return manifest

    def prepare(self, frames: dict[str, pd.DataFrame]) -> None:
        """Check and serialize the frames not serialized yet (a frame is known by identity: the same object as
        last time costs nothing); publish() then writes these bytes. Raises on a frame that breaks its contract."""
        for name, df in frames.items():
            cached = self.blobs.get(name)
            if cached is not None and cached[0] is df:
                continue
            check_frame(name, df)
            blob = frame_to_ipc(df)
            self.blobs[name] = (df, blob, hashlib.blake2b(blob, digest_size=16).digest())

    def forget(self, names) -> None:
        """Drop the serialized bytes of frames no longer kept."""
        for name in names:
            self.blobs.pop(name, None)

    def update_meta(self, meta: dict) -> dict:
        """Merge meta into the current manifest without new frames (e.g. a source error)."""
        return self.publish({}, datetime.min, meta)

    def read_frame(self, key: str) -> pd.DataFrame | None:
        raw = self.r.get(key)
        return None if raw is None else ipc_to_frame(cast(bytes, raw))  # no decode_responses: bytes

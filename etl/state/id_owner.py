"""Which kept row holds each accepted event id (the ledger's duplicate check, its lookups by event id), without a
Python object per kept event: a dict of millions of ids (a string, an int and a slot each) was the ledger's largest
part at a year's scale (~0.5 GB at 3.3M events). The bulk of the ids (a backfill's) are held as sorted 64-bit
hashes with their row ids and the ids themselves (Arrow text, to confirm a hash match, so a collision never makes
two ids one); what changes after goes to a small dict and a set of ids gone, folded into the arrays when they grow."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FOLD_AT = 200_000  # changes kept beside the arrays before they are folded in
FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def id_hashes(ids: pa.Array) -> np.ndarray:
    """The 64-bit hash of each id (id_text's): FNV-1a over its UTF-8 bytes, computed a byte position at a time over
    all ids straight from the Arrow buffers (no Python string per id); a missing id hashes as the empty one. Equal
    hashes are told apart by their text wherever they are used, so a collision costs a comparison, never an id."""
    ids = ids.cast(pa.string()) if ids.type != pa.string() else ids
    n = len(ids)
    h = np.full(n, FNV_OFFSET, np.uint64)
    if not n:
        return h
    _, offs, data = ids.buffers()
    offsets = np.frombuffer(offs, np.int32, n + 1, ids.offset * 4).astype(np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    if ids.null_count:
        lengths = np.where(ids.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            at = np.flatnonzero(lengths > j) if (lengths <= j).any() else slice(None)
            h[at] = (h[at] ^ raw[starts[at] + j]) * FNV_PRIME
        return h ^ lengths.astype(np.uint64)


def id_hash(event_id: str) -> np.uint64:
    """id_hashes of one id, in plain Python (a lookup of one id costs ~1 µs, not numpy's per-call overhead)."""
    h, data = int(FNV_OFFSET), event_id.encode()
    for byte in data:
        h = ((h ^ byte) * int(FNV_PRIME)) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h ^ len(data))


def id_text(ids) -> pa.Array:
    """Event ids (a column, a list, Arrow) as one Arrow text array: what IdOwner's methods take."""
    return _text(ids)


def _text(ids) -> pa.Array:
    if isinstance(ids, pd.Series):
        ids = pa.array(ids, from_pandas=True)
    a = pa.array(ids, type=pa.string(), from_pandas=True) if not isinstance(ids, (pa.Array, pa.ChunkedArray)) else ids
    if isinstance(a, pa.ChunkedArray):
        a = pa.concat_arrays(a.chunks) if a.num_chunks else pa.array([], pa.string())
    return a.cast(pa.string())


class IdOwner:
    """A mapping event id -> row id with the dict methods the ledger uses (get, in, [], del, update, bool)."""

    def __init__(self) -> None:
        self._hash = np.zeros(0, np.uint64)  # sorted
        self._rid = np.zeros(0, np.int64)  # the row id of each hash
        self._at = np.zeros(0, np.int64)  # the position in _ids of each hash's id
        self._ids = pa.array([], pa.string())  # in the order they were added
        self._extra: dict[str, int] = {}  # set after the arrays were built (wins over them)
        self._gone: set[str] = set()  # in the arrays, but no longer owned
        self.version = 0  # bumped when the arrays' positions change (positions() told before are then stale)

    def __bool__(self) -> bool:
        return bool(self._extra) or len(self._hash) > len(self._gone)

    def _base_of(self, ids, hashes: np.ndarray | None = None) -> np.ndarray:
        """Position in the arrays of each id (-1: not there), whatever _gone says (`hashes`: of the ids, if known)."""
        q = _text(ids)
        if not len(self._hash) or not len(q):
            return np.full(len(q), -1, np.int64)
        h = id_hashes(q) if hashes is None else hashes
        order = np.argsort(h)  # looked up in order: searchsorted then walks the arrays forward (3-5x fewer misses)
        pos = np.empty(len(h), np.int64)
        pos[order] = np.searchsorted(self._hash, h[order], "left")
        out = np.full(len(q), -1, np.int64)
        todo = np.flatnonzero(pos < len(self._hash))
        while len(todo):  # equal hashes sit together: try each of them until the id matches
            p = pos[todo]
            todo, p = todo[self._hash[p] == h[todo]], p[self._hash[p] == h[todo]]
            if not len(todo):
                break
            same = pc.equal(self._ids.take(pa.array(self._at[p])), q.take(pa.array(todo))).fill_null(False).to_numpy(
                zero_copy_only=False)
            out[todo[same]] = p[same]
            todo = todo[~same]
            pos[todo] += 1
            todo = todo[pos[todo] < len(self._hash)]
        return out

    def positions(self, ids, hashes: np.ndarray | None = None) -> np.ndarray:
        """Where each id sits in the arrays (-1: not there), whatever the overlays say: for owners() and add_many()
        of the same ids while `version` is unchanged (the ledger's merge looks its batch up once for both)."""
        return self._base_of(_text(ids), hashes)

    def owners(self, ids, hashes: np.ndarray | None = None, at: np.ndarray | None = None) -> np.ndarray:
        """The row id owning each id, NaN where none (float64: what the duplicate check compares); `at`: the ids'
        positions(), if known."""
        q = _text(ids if isinstance(ids, (pa.Array, pa.ChunkedArray, np.ndarray, pd.Series)) else list(ids))
        at = self._base_of(q, hashes) if at is None else at
        out = np.where(at >= 0, self._rid[np.maximum(at, 0)] if len(self._rid) else 0, np.nan).astype(np.float64)
        if not (self._gone or self._extra):
            return out
        if len(q) <= len(self._gone) + len(self._extra):  # a tick's few ids: looked up one by one
            for k, e in enumerate(q.to_pylist()):
                if e in self._extra:
                    out[k] = self._extra[e]
                elif e in self._gone:
                    out[k] = np.nan
            return out
        if self._gone:  # in the arrays, no longer owned
            out[pc.is_in(q, value_set=pa.array(list(self._gone), pa.string())).to_numpy(zero_copy_only=False)] = np.nan
        if self._extra:  # set after the arrays were built: wins over them
            at = pc.index_in(q, value_set=pa.array(list(self._extra), pa.string())).to_numpy(zero_copy_only=False)
            hit = ~np.isnan(at)
            out[hit] = np.fromiter(self._extra.values(), np.float64, len(self._extra))[at[hit].astype(np.int64)]
        return out

    def get(self, event_id, default=None):
        if event_id in self._extra:
            return self._extra[event_id]
        if not isinstance(event_id, str) or event_id in self._gone or not len(self._hash):
            return default
        h = id_hash(event_id)
        p = int(np.searchsorted(self._hash, h, "left"))
        while p < len(self._hash) and self._hash[p] == h:
            if self._ids[int(self._at[p])].as_py() == event_id:
                return int(self._rid[p])
            p += 1
        return default

    def contains_many(self, ids) -> np.ndarray:
        """Whether each id is owned (a bool per id)."""
        return ~np.isnan(self.owners(ids))

    def __contains__(self, event_id) -> bool:
        return self.get(event_id) is not None

    def __getitem__(self, event_id) -> int:
        rid = self.get(event_id)
        if rid is None:
            raise KeyError(event_id)
        return rid

    def __delitem__(self, event_id) -> None:
        if event_id not in self:
            raise KeyError(event_id)
        self._extra.pop(event_id, None)
        if self._base_of([event_id])[0] >= 0:
            self._gone.add(event_id)
        self._maybe_fold()

    def update(self, pairs: Iterable[tuple[str, int]]) -> None:
        for e, r in pairs:
            self._extra[e] = int(r)
            self._gone.discard(e)
        self._maybe_fold()

    def add_many(self, ids, row_ids: np.ndarray, hashes: np.ndarray | None = None,
                 at: tuple[np.ndarray, int] | None = None) -> None:
        """update(zip(ids, row_ids)) for many ids at once (unique among themselves; `hashes`: theirs, if known):
        straight into the arrays (a backfill read in parts adds each part's ids so). `at`: (their positions(), the
        version then), used if the arrays have not changed since."""
        q = _text(ids)
        rids = np.asarray(row_ids, dtype=np.int64)
        if len(q) < FOLD_AT:
            self.update(zip(q.to_pylist(), rids.tolist()))
            return
        if self._extra or self._gone:
            self._fold()
        h = id_hashes(q) if hashes is None else hashes
        if not len(self._hash):
            self._set_arrays(h, rids, q)
            return
        # ids the arrays hold already: owned by these rows (the duplicate check)
        there = at[0] if at is not None and at[1] == self.version else self._base_of(q, h)
        if (there >= 0).any():
            self._rid[there[there >= 0]] = rids[there >= 0]
            new = np.flatnonzero(there < 0)
            q, h, rids = q.take(pa.array(new)), h[new], rids[new]
        order = np.argsort(h)
        # the arrays and the new ids, each sorted: a stable sort (timsort) of the two runs only merges them
        merged = np.argsort(np.concatenate([self._hash, h[order]]), kind="stable")
        base = len(self._ids)
        self._hash = np.concatenate([self._hash, h[order]])[merged]
        self._rid = np.concatenate([self._rid, rids[order]])[merged]
        self._at = np.concatenate([self._at, base + order])[merged]
        self._ids = pa.concat_arrays([self._ids, q])
        self.version += 1

    def _set_arrays(self, h: np.ndarray, rids: np.ndarray, ids: pa.Array) -> None:
        order = np.argsort(h)  # equal hashes (told apart by their text) may sit in any order
        self._hash, self._rid, self._at, self._ids = h[order], rids[order], order, ids
        self.version += 1

    def _maybe_fold(self) -> None:
        if len(self._extra) + len(self._gone) >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        drop = self._base_of(list(self._gone) + list(self._extra))
        keep = np.ones(len(self._hash), bool)
        keep[drop[drop >= 0]] = False
        new = _text(list(self._extra))
        ids = pa.concat_arrays([self._ids.take(pa.array(self._at[keep])), new])
        h = np.concatenate([self._hash[keep], id_hashes(new)])
        rids = np.concatenate([self._rid[keep], np.fromiter(self._extra.values(), np.int64, len(self._extra))])
        self._extra, self._gone = {}, set()
        self._set_arrays(h, rids, ids)


def contains_many(known, ids) -> np.ndarray:
    """`[e in known for e in ids]` as a bool array: in one go for an IdOwner or a pandas Index."""
    ids = list(ids)
    if isinstance(known, IdOwner):
        return known.contains_many(pd.Series(ids, dtype=object)) if ids else np.zeros(0, bool)
    if isinstance(known, pd.Index):
        return pd.Index(ids, dtype=object).isin(known) if ids else np.zeros(0, bool)
    return np.fromiter((e in known for e in ids), bool, len(ids))

"""etl/state/id_owner.py IdOwner, the ledger's event id -> row id, against a plain dict under the ledger's
operations (a bulk backfill, updates, deletions, lookups one by one and all at once), with the hash forced to
collide often so that a collision never makes two ids one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etl.state import id_owner as mod
from etl.state.id_owner import IdOwner


@pytest.mark.parametrize("collide", [False, True])
def test_id_owner_answers_as_a_dict_does(monkeypatch, collide):
    monkeypatch.setattr(mod, "FOLD_AT", 50)  # fold the changes into the arrays many times
    if collide:
        real, real_one = mod.id_hashes, mod.id_hash
        monkeypatch.setattr(mod, "id_hashes", lambda ids: real(ids) % np.uint64(7))
        monkeypatch.setattr(mod, "id_hash", lambda event_id: real_one(event_id) % np.uint64(7))
    rng = np.random.default_rng(3)
    ids = [f"E{k:07d}" for k in range(400)]
    owner, ref = IdOwner(), {}
    assert not owner
    bulk = ids[:300]
    monkeypatch.setattr(mod, "FOLD_AT", 100)
    owner.add_many(pd.Series(bulk, dtype="str"), np.arange(300, dtype=np.int64) * 10)
    ref.update(zip(bulk, (np.arange(300) * 10).tolist()))
    assert owner and owner._hash.size == 300  # the backfill's ids went straight into the arrays
    monkeypatch.setattr(mod, "FOLD_AT", 50)
    # a backfill read in parts: the next part's ids merged into the arrays (one of them already there, same row)
    part = ids[299:380]
    owner.add_many(pd.Series(part, dtype="str"), np.arange(299, 380, dtype=np.int64) * 10)
    ref.update(zip(part, (np.arange(299, 380) * 10).tolist()))
    assert owner._hash.size == 380
    for step in range(600):
        e = ids[int(rng.integers(0, len(ids)))]
        op = rng.integers(0, 3)
        if op == 0:
            r = int(rng.integers(0, 10_000))
            owner.update([(e, r)])
            ref[e] = r
        elif op == 1 and e in ref:
            del owner[e]
            del ref[e]
        assert owner.get(e) == ref.get(e) and (e in owner) == (e in ref)
        if step % 97 == 0:
            probe = pd.Series(ids + ["nope", None], dtype="str")
            want = np.array([ref.get(x, np.nan) if isinstance(x, str) else np.nan for x in probe.tolist()], float)
            np.testing.assert_array_equal(owner.owners(probe), want)
    for e in ids:
        assert owner.get(e) == ref.get(e)
        if e in ref:
            assert owner[e] == ref[e]
    with pytest.raises(KeyError):
        owner["nope"]
    assert bool(owner) == bool(ref)


def test_add_many_reuses_positions_only_while_the_arrays_are_unchanged(monkeypatch):
    """The ledger's merge looks a part's ids up once (positions) for the duplicate check and add_many; positions told
    before the arrays changed are looked up again, not trusted."""
    monkeypatch.setattr(mod, "FOLD_AT", 10)
    rng = np.random.default_rng(5)
    ids = pd.Series([f"{rng.integers(0, 10**9):09d}-{k}" for k in range(100)], dtype="str")
    fresh, stale, ref = IdOwner(), IdOwner(), IdOwner()
    for o in (fresh, stale, ref):
        o.add_many(ids[:60], np.arange(60, dtype=np.int64))
    part = ids[50:90]  # ten already there (now owned by other rows), thirty new
    rows = np.arange(1050, 1090, dtype=np.int64)
    ref.add_many(part, rows)
    fresh.add_many(part, rows, at=(fresh.positions(part), fresh.version))
    told = (stale.positions(part), stale.version)
    stale.add_many(ids[90:], np.arange(90, 100, dtype=np.int64))  # the arrays change: those positions are stale
    assert (stale.positions(part)[:10] != told[0][:10]).any()
    ref.add_many(ids[90:], np.arange(90, 100, dtype=np.int64))
    stale.add_many(part, rows, at=told)
    probe = pd.Series([*ids, "nope"], dtype="str")
    for o in (fresh, stale):
        np.testing.assert_array_equal(o.owners(probe)[:90], ref.owners(probe)[:90])
    np.testing.assert_array_equal(stale.owners(probe), ref.owners(probe))
    assert fresh.owners(probe)[55] == 1055 and stale.owners(probe)[95] == 95

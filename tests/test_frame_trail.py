"""The trail from a number to its transform holds: every frame's `written_by` (contract/frames.py) names a
function that exists, and that function runs when the default ETL path publishes (every job run once, under
a profiler that records which functions were called). A `written_by` left behind by a refactor fails here."""

from __future__ import annotations

import importlib
import sys
import threading

import pytest
from helpers import NOW

from contract import frames as F
from etl.jobs import EtlJobs
from snapshots.store import SnapshotStore

pytestmark = pytest.mark.slow  # over 25 s: every job run under a profiler (docs/testing.md: the tiers)


def declared_function(written_by: str):
    path, _, qualname = written_by.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_written_by_names_a_function_the_default_path_calls(sim_engine, city, redis_client):
    every = [*F.FRAMES.values(), F.PIECES]
    declared = {frame.name: declared_function(frame.written_by) for frame in every}
    assert len(declared) == len(every) >= 19
    called: set = set()

    def record(frame, event, arg):
        if event == "call":
            called.add(frame.f_code)

    jobs = EtlJobs(sim_engine, city, SnapshotStore(redis_client, "trail"))
    sys.setprofile(record)
    threading.setprofile(record)  # and in the threads the jobs start (the week pieces are built in one)
    try:
        jobs.run_all(NOW)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    manifest = jobs.store.manifest()
    assert manifest is not None
    published = {F.PIECES.name if name.startswith(F.PIECES_PREFIX) else name for name in manifest["frames"]}
    assert len(published) >= 19, published  # the events, devices and safety frames of the simulated source
    # a frame whose feed this source lacks is not published, so its writer need not run
    not_called = [f"{name}: {F.declaration(name).written_by if name in F.FRAMES else F.PIECES.written_by}"
                  for name, fn in declared.items() if name in published and fn.__code__ not in called]
    assert not not_called, "written_by names a function the default path does not call:\n" + "\n".join(not_called)

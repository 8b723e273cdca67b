"""The demo's embedded redis-server goes with its parent (issue 15): a real parent process starts it,
is stopped with SIGTERM (`kill PID`) or killed with SIGKILL, and the redis-server process is gone
soon after, not left behind as an orphan holding its port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import fault_figure

from config.settings import ROOT

pytestmark = pytest.mark.faults  # its parent process killed (docs/testing.md: the tiers)

PARENT = """
import sys, time
from demo.embedded_redis import EmbeddedRedis
server = EmbeddedRedis().start()
print(server.proc.pid, server.port, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for a reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_embedded_redis_goes_with_its_parent(sig, wait_until):
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        redis_pid, port = map(int, parent.stdout.readline().split())
        assert not gone(redis_pid), "the redis-server is running while its parent is"
        os.kill(parent.pid, sig)
        sent = time.monotonic()
        assert parent.wait(15) == -sig  # the parent still dies of the signal, as it would have
        assert wait_until(lambda: gone(redis_pid), timeout_s=15), f"redis-server {redis_pid} outlived its parent ({sig.name})"
        fault_figure(f"the demo's parent process stopped with {sig.name}", "—", time.monotonic() - sent,
                     errors="its embedded redis-server gone (orphaned before the fix)")
    finally:
        parent.kill()
        parent.wait()

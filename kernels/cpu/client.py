"""The parent side of the worker process: start it, send launches, enforce the time limit,
notice a crash, restart it."""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")


class WorkerDied(Exception):
    def __init__(self, returncode: int | None, output: str):
        super().__init__(f"worker exited with {returncode}")
        self.returncode = returncode
        self.output = output


class WorkerTimeout(Exception):
    pass


class Worker:
    """One child process running launches, one at a time."""

    def __init__(self, arena_fd: int):
        self.arena_fd = arena_fd   # the shared arena, inherited by every worker started
        self.proc: subprocess.Popen | None = None
        self.lock = threading.RLock()
        self.out = tempfile.TemporaryFile()   # the worker's stdout+stderr (device printf)
        self.out_pos = 0
        atexit.register(self.stop)

    def start(self) -> None:
        pr, cw = os.pipe()   # parent reads, child writes
        cr, pw = os.pipe()   # child reads, parent writes
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(WORKER), str(cr), str(cw), str(self.arena_fd)],
            pass_fds=(cr, cw, self.arena_fd), stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out,
            close_fds=True)
        os.close(cr)
        os.close(cw)
        self.rfd, self.wfd = pr, pw
        self._recv(timeout=60)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:
            pass
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, msg: dict, timeout: float) -> dict:
        """Send `msg`, wait at most `timeout` seconds for the reply."""
        with self.lock:
            if not self.alive():
                self.stop()
                self.start()
            data = pickle.dumps(msg)
            try:
                os.write(self.wfd, struct.pack("<I", len(data)) + data)
                return self._recv(timeout)
            except KeyboardInterrupt:
                self.stop()
                raise

    def take_output(self) -> str:
        """What the worker printed since the last call."""
        self.out.seek(self.out_pos)
        data = self.out.read()
        self.out_pos += len(data)
        return data.decode("utf-8", "replace")

    def _read(self, n: int, deadline: float) -> bytes:
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise WorkerTimeout()
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.rfd, n - len(buf))
            if not chunk:
                rc = self.proc.wait(timeout=10) if self.proc else None
                self.stop()
                raise WorkerDied(rc, self.take_output())
            buf += chunk
        return buf

    def _recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        n = struct.unpack("<I", self._read(4, deadline))[0]
        return pickle.loads(self._read(n, deadline))


_worker: Worker | None = None


def worker(arena_fd: int) -> Worker:
    global _worker
    if _worker is None:
        _worker = Worker(arena_fd)
    return _worker

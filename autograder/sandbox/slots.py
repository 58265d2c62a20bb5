"""Unprivileged uids for sandboxes: one per running sandbox, held by a file lock.

When the grader runs as root, each sandbox runs as its own uid (61000 + slot), so the
per-uid process limit applies to that sandbox alone and a final sweep (`kill_all`) can
end every process it left, even one that escaped its PID namespace.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path
from typing import Iterator

BASE_UID = 61000
SLOTS = 64


@contextlib.contextmanager
def uid_slot(lock_dir: Path) -> Iterator[int]:
    """Hold a free slot's lock; yields its uid. Waits when all slots are taken."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for slot in range(SLOTS):
            handle = open(lock_dir / f"slot-{slot}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            uid = BASE_UID + slot
            try:
                kill_all(uid)  # whatever an earlier holder left (it should be nothing)
                yield uid
            finally:
                kill_all(uid)
                handle.close()
            return
        time.sleep(0.2)


def processes_of(uid: int) -> list[int]:
    """PIDs of processes whose real uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry.name))
                        break
        except (OSError, ValueError):
            continue
    return pids


def kill_all(uid: int) -> int:
    """SIGKILL every process of `uid` (until none is left); how many were killed."""
    if os.geteuid() != 0:
        return 0
    killed = 0
    for _ in range(20):
        pids = processes_of(uid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.05)
    return killed

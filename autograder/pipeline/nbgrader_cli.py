"""Run nbgrader's own command line in a subprocess, under a wall-clock limit.

Used where isolation matters (autograde: one learner's notebook per process, so a hung or
memory-hungry kernel cannot stall the others) or where the learner-facing command is the
point (submit). Other steps call `nbgrader.apps.NbGraderAPI` in-process (faster).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .course import Course


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    returncode: int | None  # None: killed at the wall-clock limit
    output: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run(course: Course, *args: str, limit: float | None = None,
        env: dict[str, str] | None = None) -> Completed:
    """`nbgrader <args>` in the course root; it and its kernel die at `limit` s."""
    return run_command((sys.executable, "-m", "nbgrader", *args), cwd=course.root,
                       env=env or course.env(), limit=limit, label=args)


def run_command(command, *, cwd, env=None, limit: float | None = None,
                label=None) -> Completed:
    """`command` with stdout+stderr captured; it and all it started die at `limit` s."""
    start = time.monotonic()
    proc = subprocess.Popen(tuple(command), cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=limit)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:  # a survivor holding the pipe open must not hang us in turn
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            output = "(output lost: a process outlived the kill)"
        code = None
    return Completed(tuple(label or command), code, output or "", time.monotonic() - start)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL nbgrader and everything it started.

    jupyter_client starts each kernel in a session of its own, so killing nbgrader's
    process group leaves the kernel running; its descendants are found through /proc
    first (where there is no /proc, ipykernel exits by itself once its parent is gone).
    """
    victims = _descendants(proc.pid)
    for pid in [proc.pid, *victims]:
        try:
            os.killpg(pid, signal.SIGKILL) if pid == proc.pid else os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # already gone
            pass


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: the parent pid follows its ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found

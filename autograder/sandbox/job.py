"""A grading job that must run learner-supplied code: a sandbox of its own.

Lesson 05's kernels are CUDA C strings: data, until a check compiles and runs them. The
check (trusted grader code) runs here in a fresh sandbox: grader packages read-only but
without the references (`autograder/reference`, `autograder/cuda`, `autograder/hidden`
are hidden), a private home and compile cache, no network, its own uid. It reads its
payload (JSON) on stdin and writes its result (JSON) to fd 3, a pipe the processes it
starts (the compiler, the kernel worker running the learner's code) do not inherit; it
also makes itself non-dumpable, so those processes cannot read or patch its memory.

    result = run_job("autograder.kernel_grading.partial:check_partial_kernel", {"source": src})

`target` is `module:function`; the function takes the payload's keys as keyword
arguments and raises AssertionError with a message for the learner, or returns a
JSON-able value. The result is `{"ok": True, "value": ...}` or
`{"ok": False, "message": ..., "type": ...}`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .bwrap import Limits, Sandbox
from .kernel import SLOT_LOCKS
from .slots import uid_slot

GRADER = "/opt/gradclip-grader"
HIDDEN_FROM_JOBS = ("reference", "cuda", "hidden")
MAX_RESULT_BYTES = 4 * 2**20


class JobFailed(RuntimeError):
    """The job died, timed out or wrote no result (the message says which)."""


def run_job(target: str, payload: dict, *, timeout: float = 300, sandbox: bool = True) -> dict:
    """Run `target(**payload)` in a sandbox of its own; its result dict."""
    autograder_dir = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="gc-job-") as job, \
            _maybe_uid(sandbox) as uid:
        home = Path(job) / "home"
        home.mkdir()
        if uid is not None:
            os.chown(home, uid, uid)
        argv = [sys.executable, "-m", "autograder.sandbox.job", target]
        read_fd, write_fd = os.pipe()
        try:
            if sandbox:
                env = (("PYTHONPATH", f"{GRADER}:/opt/gradclip"), ("GRADCLIP_JOB_FD", str(write_fd)))
                cmd = Sandbox(home, uid=uid, limits=Limits(cpu_seconds=int(timeout) + 30),
                              env=env).command(argv)
                cmd = _with_grader_mounts(cmd, autograder_dir)
                cwd = None
            else:
                cmd, cwd = argv, str(home)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, pass_fds=(write_fd,), cwd=cwd,
                                    env=None if sandbox else {**os.environ, "GRADCLIP_JOB_FD": str(write_fd)})
            os.close(write_fd)
            write_fd = -1
            try:
                out, _ = proc.communicate(json.dumps(payload).encode(), timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise JobFailed(f"the check did not finish within {timeout:g} s") from None
            with os.fdopen(read_fd, "rb") as f:
                read_fd = -1
                data = f.read(MAX_RESULT_BYTES + 1)
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        if not data or len(data) > MAX_RESULT_BYTES:
            tail = out.decode(errors="replace").strip().splitlines()[-3:]
            raise JobFailed("the check stopped without a result"
                            + (f": {' | '.join(tail)}" if tail else ""))
        try:
            result = json.loads(data)
        except ValueError:
            raise JobFailed("the check's result was malformed") from None
        if not isinstance(result, dict) or "ok" not in result:
            raise JobFailed("the check's result was malformed")
        return result


def _maybe_uid(sandbox: bool):
    import contextlib

    if sandbox and os.geteuid() == 0:
        return uid_slot(SLOT_LOCKS)
    return contextlib.nullcontext(None)


def _with_grader_mounts(cmd: list[str], autograder_dir: Path) -> list[str]:
    """Insert the grader package (references hidden) before the command separator."""
    mounts = ["--perms", "0755", "--dir", GRADER,
              "--ro-bind", str(autograder_dir), f"{GRADER}/autograder"]
    for name in HIDDEN_FROM_JOBS:
        if (autograder_dir / name).is_dir():
            mounts += ["--tmpfs", f"{GRADER}/autograder/{name}"]
    at = cmd.index("--")
    return cmd[:at] + mounts + cmd[at:]


def main(argv: list[str]) -> int:
    """Inside the sandbox: read the payload, run the target, write the result to the fd."""
    import ctypes
    import importlib

    fd = int(os.environ["GRADCLIP_JOB_FD"])
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4: no ptrace, no /proc/<pid>/mem
    except OSError:
        pass
    os.set_inheritable(fd, False)
    payload = json.loads(sys.stdin.read() or "{}")
    module, _, name = argv[0].partition(":")
    try:
        value = getattr(importlib.import_module(module), name)(**payload)
        result = {"ok": True, "value": value}
    except AssertionError as exc:
        result = {"ok": False, "message": str(exc), "type": "AssertionError"}
    except Exception as exc:  # noqa: BLE001 - reported to the grader, which decides
        result = {"ok": False, "message": f"{type(exc).__name__}: {exc}", "type": type(exc).__name__}
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(result, allow_nan=True, default=str).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

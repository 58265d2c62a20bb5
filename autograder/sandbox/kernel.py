"""A Jupyter kernel manager whose kernel runs in a sandbox (one per graded notebook).

nbgrader's Execute preprocessor starts the learner's kernel through this manager
(`autograder.verdict.execute.VerdictExecute`). For each kernel it makes a job folder:

    <job>/home       the learner's private folder (a copy of the submission's folder,
                     without its notebooks)
    <job>/conn       the connection file and the kernel's IPC sockets (no network inside)
    <job>/requests   hidden tests' requests (read-only inside)
    <job>/replies    the kernel's replies (the one exchange folder it can write)

and, as root, holds an unprivileged uid for it. When the kernel is shut down (or dies)
everything that ran as that uid is killed and the job folder removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from .bwrap import Limits, Sandbox
from .slots import kill_all, uid_slot

SLOT_LOCKS = Path(tempfile.gettempdir()) / "gradclip-sandbox-slots"
#: Limits a graded kernel runs under (seconds of CPU time from GRADCLIP_NOTEBOOK_LIMIT).
def limits_from_env() -> Limits:
    cpu = int(float(os.environ.get("GRADCLIP_NOTEBOOK_LIMIT", 600)) * 2) + 60
    memory = int(float(os.environ.get("GRADCLIP_SANDBOX_MEMORY_GB", 12)) * 2**30)
    return Limits(memory_bytes=memory, cpu_seconds=cpu)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


class SandboxedKernelManager(AsyncKernelManager):
    """AsyncKernelManager over IPC, its kernel wrapped in `Sandbox.command`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stack = contextlib.ExitStack()
        self.job: Path | None = None
        self.uid: int | None = None

    # -- the job folder ----------------------------------------------------------------------
    @property
    def requests(self) -> Path:
        return self.job / "requests"

    @property
    def replies(self) -> Path:
        return self.job / "replies"

    def _prepare(self, cwd: str | None) -> None:
        if self.job is not None:
            return
        if os.geteuid() == 0:
            self.uid = self._stack.enter_context(uid_slot(SLOT_LOCKS))
        self.job = Path(tempfile.mkdtemp(prefix="gc-"))
        home = self.job / "home"
        if cwd and os.path.isdir(cwd):
            # not the notebooks: the one nbgrader is running holds the test cells it restored
            # from the gradebook (hidden test cells included); the kernel never needs it
            shutil.copytree(cwd, home, symlinks=False,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.ipynb"))
        else:
            home.mkdir()
        for name in ("conn", "requests", "replies"):
            (self.job / name).mkdir()
        os.chmod(self.job, 0o711)
        for name in ("conn", "replies"):
            os.chmod(self.job / name, 0o700)
        os.chmod(self.requests, 0o755)
        if self.uid is not None:
            _chown_tree(home, self.uid)
            for name in ("conn", "replies"):
                os.chown(self.job / name, self.uid, self.uid)
        self.transport = "ipc"
        self.ip = str(self.job / "conn" / "k")
        self.connection_file = str(self.job / "conn" / "kernel.json")

    async def _async_pre_start_kernel(self, **kw):
        self._prepare(kw.get("cwd"))
        # a signal to bwrap's process group never reaches the kernel (its own session, its
        # own PID namespace): interrupt it with a control-channel message instead
        if self.kernel_spec is not None:
            self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.uid is not None and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self.uid, self.uid)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        sandbox = Sandbox(home=self.job / "home", rw=(self.job / "conn", self.replies),
                          ro=(self.requests,), uid=self.uid, limits=limits_from_env())
        return sandbox.command(argv)

    # -- the end -------------------------------------------------------------------------------
    def _release(self) -> None:
        if self.uid is not None:
            kill_all(self.uid)
        self._stack.close()
        if self.job is not None:
            shutil.rmtree(self.job, ignore_errors=True)
        self.job, self.uid = None, None

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if not restart:
            self._release()

    cleanup_resources = _async_cleanup_resources

    def __del__(self):
        with contextlib.suppress(Exception):
            self._release()

"""The bubblewrap command line of one sandbox, and whether this machine can run one."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Where the learner's private, writable folder appears inside the sandbox.
HOME = "/home/learner"
#: Where the learner-side packages appear (read-only), first on the sandbox's PYTHONPATH.
PACKAGES = "/opt/gradclip"
LEARNER_PACKAGES = ("course", "kernels")
#: Environment variables passed through from the grader (the kernel backend's knobs).
PASSED_THROUGH = ("KERNELS_BACKEND", "KERNELS_SCHEDULE", "KERNELS_TIMEOUT", "KERNELS_THREADS",
                  "KERNELS_BOUNDS_CHECK", "KERNELS_STACK_KB", "CXX", "LANG", "TZ")
INSTALL_HINT = ("install bubblewrap (`sudo apt-get install bubblewrap`, or "
                "`sudo bash scripts/install_sandbox.sh`)")


class SandboxUnavailable(RuntimeError):
    """This machine cannot run the sandbox; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Per-sandbox resource limits (setrlimit, applied by `prlimit`)."""

    memory_bytes: int = 12 * 2**30  # address space: torch alone maps ~2-3 GiB
    processes: int = 1024  # RLIMIT_NPROC counts threads, per uid
    cpu_seconds: int = 1800
    file_bytes: int = 2 * 2**30
    open_files: int = 4096

    def prlimit_args(self) -> list[str]:
        return [f"--as={self.memory_bytes}", f"--nproc={self.processes}",
                f"--cpu={self.cpu_seconds}", f"--fsize={self.file_bytes}",
                f"--nofile={self.open_files}"]


@dataclass(frozen=True)
class Sandbox:
    """One sandbox: `home` (host folder) is the learner's private folder, `HOME` inside.

    `rw`: more host folders bound writable at the same path (the kernel's connection
    folder, the reply folder); `ro`: host folders bound read-only at the same path (the
    requests folder). `uid`: the unprivileged uid to run as when the grader is root
    (None otherwise: then an unprivileged user namespace keeps the caller's own uid).
    """

    home: Path
    rw: tuple[Path, ...] = ()
    ro: tuple[Path, ...] = ()
    uid: int | None = None
    limits: Limits = field(default_factory=Limits)
    env: tuple[tuple[str, str], ...] = ()

    def command(self, argv: list[str]) -> list[str]:
        """`argv` wrapped: bwrap [namespaces, mounts, env] [drop to uid] prlimit argv."""
        bwrap = require()
        cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
        as_root = os.geteuid() == 0
        if not as_root:
            cmd.append("--unshare-user")
        cmd += _system_mounts()
        cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for real, inside in _python_roots():
            cmd += _dirs_for(inside) + ["--ro-bind", real, inside]
        cmd += ["--perms", "0755", "--dir", PACKAGES]
        for name, path in learner_packages().items():
            cmd += ["--ro-bind", path, f"{PACKAGES}/{name}"]
        for path in self.ro:
            cmd += _dirs_for(str(path)) + ["--ro-bind", str(path), str(path)]
        for path in self.rw:
            cmd += _dirs_for(str(path)) + ["--bind", str(path), str(path)]
        cmd += _dirs_for(HOME) + ["--bind", str(self.home), HOME, "--chdir", HOME]
        for key, value in self.environment().items():
            cmd += ["--setenv", key, value]
        if as_root:
            if self.uid is None:
                raise SandboxUnavailable("running as root, a sandbox needs an unprivileged `uid`")
            cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                    _tool("setpriv"), f"--reuid={self.uid}", f"--regid={self.uid}",
                    "--clear-groups", "--no-new-privs", "--inh-caps=-all"]
        else:
            cmd.append("--")
        return cmd + [_tool("prlimit"), *self.limits.prlimit_args(), "--", *argv]

    def environment(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": HOME,
            "PYTHONPATH": PACKAGES,
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
            "IPYTHONDIR": f"{HOME}/.ipython",
            "GRADCLIP_CACHE_DIR": f"{HOME}/.cache/gradclip-kernels",
            "GRADCLIP_WIDGETS": "0",
            "GRADCLIP_SANDBOXED": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "TMPDIR": "/tmp",
        }
        env.update({k: os.environ[k] for k in PASSED_THROUGH if k in os.environ})
        env.update(dict(self.env))
        return env


def learner_packages() -> dict[str, str]:
    """Folders of the learner-side packages, as the grader's interpreter finds them."""
    found = {}
    for name in LEARNER_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxUnavailable(f"the package `{name}` is not importable here")
        found[name] = str(Path(list(spec.submodule_search_locations)[0]).resolve())
    return found


def _python_roots() -> list[tuple[str, str]]:
    """(host folder, path inside) for the Python install and the venv: each at its real
    path, and a venv reached through a link (a worktree's `.venv -> ...`) at that path too,
    so `sys.executable` works inside as it does outside."""
    pairs: list[tuple[str, str]] = []
    for given in {sys.base_prefix, sys.prefix}:
        real = str(Path(given).resolve())
        for inside in {real, str(Path(given).absolute())}:
            if not inside.startswith("/usr/") and (real, inside) not in pairs:
                pairs.append((real, inside))
    return sorted(pairs, key=lambda pair: len(pair[1]))


def _system_mounts() -> list[str]:
    """/usr and /etc read-only; /bin, /lib, /lib64, /sbin as on the host (links or dirs)."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    return args


def _dirs_for(path: str) -> list[str]:
    """Create `path`'s missing ancestors world-traversable (bwrap's default is 0700)."""
    parts = Path(path).parts[1:-1]
    args: list[str] = []
    current = ""
    for part in parts:
        current += "/" + part
        if current in ("/usr", "/etc", "/tmp", "/proc", "/dev"):
            continue
        args += ["--perms", "0755", "--dir", current]
    return args


def _tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if not found:
        raise SandboxUnavailable(f"`{name}` (util-linux) is missing: the sandbox needs it")
    return found


@functools.lru_cache(maxsize=1)
def _probe() -> str:
    """'' when a trivial sandbox runs here, else why not."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gc-probe-") as home:
        uid = None
        if os.geteuid() == 0:
            uid = 65534
            os.chown(home, uid, uid)
        try:
            cmd = Sandbox(Path(home), uid=uid).command(
                [sys.executable, "-c", "import os, course; open('ok', 'w').write(str(os.getuid()))"])
        except SandboxUnavailable as exc:
            return str(exc)
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if run.returncode != 0 or not os.path.exists(os.path.join(home, "ok")):
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"bubblewrap is installed but a sandbox fails here: {tail[0]}"
    return ""


def available() -> tuple[bool, str]:
    """(True, '') when this machine can sandbox; else (False, the reason)."""
    reason = _probe()
    return (not reason, reason)


def require() -> str:
    """The path of `bwrap`; SandboxUnavailable (with what to do) when it is missing."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}")
    return bwrap

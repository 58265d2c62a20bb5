"""Find a C++ compiler and turn a translation unit into a shared library.

g++ first, then clang++, then the `ziglang` wheel's bundled clang (`python -m ziglang c++`),
or `$CXX`.  Compiler messages are filtered down to the learner's own lines.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import CompileError
from . import cache
from .translate import LAUNCH_FILE, PRELUDE

BASE_FLAGS = ["-std=c++20", "-O2", "-g1", "-gdwarf-4", "-fPIC", "-shared", "-fvisibility=hidden",
              "-fno-math-errno", "-ffp-contract=off", "-fno-strict-aliasing", "-pthread",
              "-w"]  # learners see errors, not the warnings about our generated code


@functools.lru_cache(maxsize=None)
def compiler() -> tuple[str, ...]:
    """The compiler command, e.g. ("g++",); RuntimeError if there is none."""
    env = os.environ.get("CXX")
    if env:
        return tuple(env.split())
    for name in ("g++", "clang++"):
        path = shutil.which(name)
        if path:
            return (path,)
    try:
        import ziglang  # noqa: F401
        return (sys.executable, "-m", "ziglang", "c++")
    except ImportError:
        pass
    raise RuntimeError("the CPU kernel backend needs a C++ compiler: install g++ "
                       "(apt-get install g++, xcode-select --install) or `pip install ziglang`")


@functools.lru_cache(maxsize=None)
def compiler_id() -> str:
    cmd = compiler()
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return " ".join(cmd) + "|" + out.splitlines()[0] if out else " ".join(cmd)


def user_flags(options) -> list[str]:
    """The CuPy/NVRTC options that mean something here: -D, -U, -I; the rest are ignored."""
    flags: list[str] = []
    for opt in options:
        if not isinstance(opt, str):
            raise TypeError(f"`options` must be strings, got {opt!r}")
        if opt.startswith(("-D", "-U", "-I")):
            flags.append(opt)
    return flags


def compile_library(tu: str, source: str, filename: str, name: str, options, out: Path,
                    extra: list[str]) -> None:
    """Compile `tu` into the shared library `out`; CompileError on failure."""
    workdir = out.parent
    (workdir / filename).write_text(source)  # so diagnostics can quote the learner's line
    (workdir / "tu.cpp").write_text(tu)
    tmp = workdir / f".{out.name}.{os.getpid()}.tmp"
    cmd = [*compiler(), *BASE_FLAGS, *extra, *user_flags(options), "-I", str(cache.HERE),
           "-I", str(cache.HERE / "include"), "tu.cpp", "-o", str(tmp)]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        missing = missing_header(proc.stderr, filename)
        if missing:
            raise CompileError(f"{name}: {missing}", source=source, name=name, options=options,
                               log=missing)
        log = learner_log(proc.stderr, filename)
        raise CompileError(f"{name}: the kernel source did not compile:\n{log}",
                           source=source, name=name, options=options, log=log)
    os.replace(tmp, out)


def supported_headers() -> list[str]:
    """The CUDA headers the CPU backend provides (kernels/cpu/include)."""
    root = cache.HERE / "include"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.h") if not p.name.startswith("gc_"))


def missing_header(stderr: str, filename: str) -> str | None:
    """A learner's `#include` of a header we do not have, said in words."""
    m = re.search(rf"^{re.escape(filename)}:(\d+):\d+: fatal error: ([^:\s]+): No such file",
                  stderr, re.M)
    if not m:
        return None
    return (f"line {m.group(1)}: `#include <{m.group(2)}>`: the header {m.group(2)} is not "
            f"supported by the CPU backend (it provides {', '.join(supported_headers())}, and "
            "the C and C++ standard headers)")


_LOC = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s")


def learner_log(stderr: str, filename: str) -> str:
    """Keep diagnostics that point into the learner's file (and the source excerpts that
    follow them); drop the prelude, the generated entry points and include stacks."""
    kept: list[str] = []
    keep = False
    for line in stderr.splitlines():
        m = _LOC.match(line)
        if line.startswith(("In file included from", "                 from")):
            keep = False
            continue
        if m:
            keep = os.path.basename(m.group("file")) == filename
            if keep:
                kept.append(_tidy(line))
            continue
        if re.match(rf"^{re.escape(filename)}: ", line) or line.startswith(f"{filename}: In "):
            kept.append(_tidy(line))
            keep = True
            continue
        if re.match(r"^[^\s].*: (In |At )", line):
            keep = False
            continue
        if keep and (line.startswith(" ") or line.startswith("\t")):
            kept.append(_tidy(line))
    if not any("error" in k for k in kept):
        # nothing pointed at the learner's lines: show the raw log, minus our file paths
        kept = [_tidy(l) for l in stderr.splitlines() if PRELUDE not in l]
    return "\n".join(kept)


def _tidy(line: str) -> str:
    """Speak CUDA: `::gc::ptr<const float>` is `const float*` to the learner."""
    line = re.sub(r"(?:::)?gc::ptr<([^<>]+)>", r"\1*", line)
    line = re.sub(r"(?:::)?gc::shared_array<([^<>,]+), \(?([^<>,)]+)\)?, (?:::)?gc::lit<\d+>\{[^}]*\}>",
                  r"\1[\2]", line)
    line = re.sub(r"(?:::)?gc::extern_shared<([^<>,]+), (?:::)?gc::lit<\d+>\{[^}]*\}>", r"\1[]", line)
    line = re.sub(r"\bgc_user_(\w+)", r"\1", line)
    return line.replace(LAUNCH_FILE, "<launch>")

"""`kernels.check`: run one launch under several thread schedules and compare.

Each schedule runs on fresh copies of the arguments (views of one buffer stay views of one
copy).  If any output differs, the kernel's result depends on the order its threads ran
in, which on a GPU is luck: a RaceError says where.  If they all agree, the launch runs
for real on the caller's arguments.

Shared memory starts as 0xFF bytes in every block (NaN, -1), except in the second
schedule's run, where it starts as zeros: a kernel that reads a `__shared__` slot no thread
wrote in the launch gives different results there.  Such a difference is told apart from a
race by running that schedule again over 0xFF, and explained (array, index, line) by one
more run of a build that traces shared reads: an UninitializedSharedError.  A correct
kernel costs no extra launch for that.

When every schedule agrees, one more launch, of a build with the race detector
(GC_RACECHECK, `kernels/cpu/gc_racecheck.h`), records every shared-memory access per
barrier interval and every access to a written argument per launch, and raises a
RaceError for the first pair of accesses by two threads (or two blocks) that nothing
orders and of which one writes: hazards that give the same wrong (or right) answer under
every thread order.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import numpy as np

from .errors import CompileError, RaceError, UninitializedSharedError
from .raw import RawKernel
from .schedule import parse, schedule

DEFAULT_SCHEDULES = ("forward", "reverse", "random:1", "random:2")


def _copies(args: Sequence[Any]) -> list[Any]:
    """Copy the array arguments, keeping memory shared between them shared."""
    arrays = [(i, a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    spans = sorted(((a.__array_interface__["data"][0], a.nbytes, i, a) for i, a in arrays),
                   key=lambda s: s[0])
    out = list(args)
    groups: list[list] = []
    for start, n, i, a in spans:
        if groups and start < groups[-1][0] + groups[-1][1]:
            g = groups[-1]
            g[1] = max(g[1], start + n - g[0])
            g[2].append((start, i, a))
        else:
            groups.append([start, n, [(start, i, a)]])
    for g_start, g_len, members in groups:
        buf = np.empty(g_len + 64, np.uint8)
        pad = (g_start - buf.__array_interface__["data"][0]) % 64
        buf = buf[pad:pad + g_len]
        from .cpu.arena import host_view
        buf[:] = host_view(g_start, g_len)
        for start, i, a in members:
            view = np.ndarray(a.shape, a.dtype, buffer=buf, offset=start - g_start)
            view.flags.writeable = a.flags.writeable
            out[i] = view
    return out


def _first_difference(a: np.ndarray, b: np.ndarray, rtol: float):
    fa, fb = a.reshape(-1), b.reshape(-1)
    if np.issubdtype(a.dtype, np.floating):
        scale = float(np.nanmax(np.abs(fa))) if fa.size and np.isfinite(fa).any() else 0.0
        same = np.isclose(fa, fb, rtol=rtol, atol=rtol * scale * 1e-2, equal_nan=True)
    else:
        same = fa == fb
    bad = np.flatnonzero(~same)
    return (int(bad[0]), fa[bad[0]].item(), fb[bad[0]].item()) if bad.size else None


ZERO_FILL = 0x00    # the second schedule's shared memory starts as zeros
TRACE_FILL = 0xA5   # the tracing run's: a pattern kernels hardly write themselves


_globals_before: list = []   # (host array, its contents) of get_global variables, per check


def _run(kernel, spec, grid, block, args, shared_mem, fill=None, trace=False, race=False):
    """One launch on copies of `args` under schedule `spec`; returns the copies.  The
    module's `get_global` variables start every run as they were when check() began."""
    from .cpu.launch import POISON, racecheck, shared_fill
    for arr, saved in _globals_before:
        arr[...] = saved
    copies = _copies(args)
    with schedule(spec), shared_fill(POISON if fill is None else fill, trace), \
            (racecheck() if race else _nothing()):
        kernel(grid, block, copies, shared_mem=shared_mem)
    return copies


@contextlib.contextmanager
def _nothing():
    yield


def _difference(params, base, res, rtol):
    """(name, index, value in base, value in res) of the first output that differs."""
    for i, p in enumerate(params):
        if not (p.pointer and isinstance(res[i], np.ndarray)) or p.const:
            continue
        diff = _first_difference(base[i], res[i], rtol)
        if diff is not None:
            return (p.name, *diff)
    return None


def check(kernel: RawKernel, grid, block, args: Sequence[Any], shared_mem: int = 0,
          schedules: Sequence[str] = DEFAULT_SCHEDULES, rtol: float = 1e-5) -> None:
    """Launch under every schedule in `schedules`; RaceError if the outputs differ,
    UninitializedSharedError if they depend on what shared memory held before the launch,
    RaceError if the race detector finds two unordered accesses (one a write) by different
    threads, else run the launch on `args` (updated as a normal launch would).

    Floating-point outputs are compared with relative tolerance `rtol`: atomics on floats
    legitimately sum in different orders."""
    if kernel.backend != "cpu":
        kernel(grid, block, args, shared_mem=shared_mem)
        return
    global _globals_before
    saved = _globals_before
    _globals_before = [(a, a.copy()) for a in getattr(kernel._mod, "globals", {}).values()]
    try:
        _check(kernel, grid, block, args, shared_mem, schedules, rtol)
    finally:
        _globals_before = saved


def _check(kernel, grid, block, args, shared_mem, schedules, rtol) -> None:
    parsed = [parse(s) for s in schedules]
    params = kernel.signature.params
    results = [_run(kernel, sched.spec, grid, block, args, shared_mem,
                    fill=ZERO_FILL if k == 1 else None) for k, sched in enumerate(parsed)]
    base = results[0]
    for k, (sched, res) in enumerate(zip(parsed[1:], results[1:]), 1):
        diff = _difference(params, base, res, rtol)
        if diff is not None and k == 1:
            again = _run(kernel, sched.spec, grid, block, args, shared_mem)
            race = _difference(params, base, again, rtol)
            if race is None:
                _explain_uninitialized(kernel, parsed[0].spec, grid, block, args, shared_mem, diff)
            diff = race
        if diff is not None:
            name, idx, va, vb = diff
            raise RaceError(
                f"{kernel.name}: the result depends on thread order — a missing "
                f"`__syncthreads()`? `{name}`[{idx}] is {va!r} under schedule "
                f"'{parsed[0].spec}' but {vb!r} under '{sched.spec}' (grid {grid}, block "
                f"{block}). Threads may read shared memory only after a barrier that "
                f"follows its write.{_hazard(kernel, parsed[0].spec, grid, block, args, shared_mem)}",
                kernel=kernel.name, argument=name, index=idx)
    try:
        _run(kernel, parsed[0].spec, grid, block, args, shared_mem, race=True)
    except CompileError:
        pass   # the kernel compiled without the detector's hooks: the schedules still ran
    for arr, before in _globals_before:
        arr[...] = before
    with schedule(parsed[0].spec):
        kernel(grid, block, args, shared_mem=shared_mem)


def _hazard(kernel, spec, grid, block, args, shared_mem) -> str:
    """The race detector's account of a launch whose output depends on thread order (the
    two accesses and their lines), as a sentence to append; empty if it finds none."""
    try:
        _run(kernel, spec, grid, block, args, shared_mem, race=True)
    except RaceError as exc:
        return f" The race detector found: {str(exc).split(': ', 1)[-1]}"
    except Exception:   # a second opinion only: never hide the first
        return ""
    return ""


def _explain_uninitialized(kernel, spec, grid, block, args, shared_mem, diff) -> None:
    """Raise an UninitializedSharedError: the traced build names the array, the slot and
    the line; failing that, the output that changed with the initial contents."""
    try:
        _run(kernel, spec, grid, block, args, shared_mem, fill=TRACE_FILL, trace=True)
    except UninitializedSharedError as exc:
        exc.args = (f"{exc.args[0]}. Launch: grid {grid}, block {block}.",)
        raise exc.with_traceback(None) from None
    name, idx, va, vb = diff
    raise UninitializedSharedError(
        f"{kernel.name}: the result depends on what shared memory held before the launch: "
        f"`{name}`[{idx}] is {va!r} when every block's shared memory starts as 0xFF bytes "
        f"but {vb!r} when it starts as zeros (grid {grid}, block {block}). A thread reads a "
        "`__shared__` slot that no thread wrote in this launch (on a GPU: garbage); write "
        "every slot before it is read, and let loop bounds follow blockDim.x.",
        kernel=kernel.name, argument=name, index=idx)

"""`kernels.check`: run one launch under several thread schedules and compare.

Each schedule runs on fresh copies of the arguments (views of one buffer stay views of one
copy).  If any output differs, the kernel's result depends on the order its threads ran
in, which on a GPU is luck: a RaceError says where.  If they all agree, the launch runs
for real on the caller's arguments.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import RaceError
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


def check(kernel: RawKernel, grid, block, args: Sequence[Any], shared_mem: int = 0,
          schedules: Sequence[str] = DEFAULT_SCHEDULES, rtol: float = 1e-5) -> None:
    """Launch under every schedule in `schedules`; RaceError if the outputs differ, else
    run the launch on `args` (updated as a normal launch would).

    Floating-point outputs are compared with relative tolerance `rtol`: atomics on floats
    legitimately sum in different orders."""
    if kernel.backend != "cpu":
        kernel(grid, block, args, shared_mem=shared_mem)
        return
    parsed = [parse(s) for s in schedules]
    params = kernel.signature.params
    results = []
    for sched in parsed:
        copies = _copies(args)
        with schedule(sched.spec):
            kernel(grid, block, copies, shared_mem=shared_mem)
        results.append(copies)
    base = results[0]
    for sched, res in zip(parsed[1:], results[1:]):
        for i, p in enumerate(params):
            if not (p.pointer and isinstance(res[i], np.ndarray)) or p.const:
                continue
            diff = _first_difference(base[i], res[i], rtol)
            if diff is not None:
                idx, va, vb = diff
                raise RaceError(
                    f"{kernel.name}: the result depends on thread order — a missing "
                    f"`__syncthreads()`? `{p.name}`[{idx}] is {va!r} under schedule "
                    f"'{parsed[0].spec}' but {vb!r} under '{sched.spec}' (grid {grid}, block "
                    f"{block}). Threads may read shared memory only after a barrier that "
                    "follows its write.", kernel=kernel.name, argument=p.name, index=idx)
    with schedule(parsed[0].spec):
        kernel(grid, block, args, shared_mem=shared_mem)

"""CUDA C kernels from Python, on a GPU through CuPy or on any machine through a CPU backend.

    k = kernels.RawKernel(code, "k_scale")
    k((blocks,), (threads,), (g, numpy.int64(n), out))

The CPU backend compiles the same source as C++ and runs each block's threads as fibers in
a separate worker process, checking array bounds, barriers and thread-order races; see
docs/kernels.md.
"""

from __future__ import annotations

from .check import DEFAULT_SCHEDULES, check
from .errors import (BarrierError, CompileError, KernelError, KernelTimeout, RaceError,
                     UninitializedSharedError)
from .raw import RawKernel, RawModule
from .schedule import schedule
from .select import backend, cupy_status

__all__ = ["RawKernel", "RawModule", "CompileError", "KernelError", "RaceError",
           "UninitializedSharedError", "BarrierError", "KernelTimeout", "backend", "xp", "schedule", "check",
           "DEFAULT_SCHEDULES", "cupy_status", "last_written", "resident"]


def last_written() -> tuple[str, ...] | None:
    """Names of the array arguments the latest CPU-backend launch wrote to (None before
    any CPU launch).  A scale kernel that must not touch `g` when no clip is needed can be
    checked with `"g" not in kernels.last_written()`."""
    import sys
    launch = sys.modules.get("kernels.cpu.launch")
    return None if launch is None or launch.launches == 0 else launch.last_written


def resident():
    """Context manager: keep array arguments in the CPU backend's kernel worker between
    launches, as they stay in device memory between kernels on a GPU.

        with kernels.resident():
            k1(grid, block, (g, n, partial))
            k2(grid, block, (g, n, partial))    # g and partial are not copied in again

    Within the block, an array an earlier launch of the block already copied into the
    worker (same memory, same size) is not copied again; what a launch writes is still
    copied back after it. The caller promises not to modify those arrays on the host
    between the launches of the block. Launches from other threads wait until the block
    ends; nested blocks join the outer one. CuPy launches are unaffected (their arrays
    already live on the device)."""
    from .cpu.launch import resident as _resident
    return _resident()


def __getattr__(name: str):
    if name == "xp":  # numpy or cupy, following the backend in force
        from .select import array_module
        return array_module()
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")

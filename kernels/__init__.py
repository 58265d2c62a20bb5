"""CUDA C kernels from Python, on a GPU through CuPy or on any machine through a CPU backend.

    k = kernels.RawKernel(code, "k_scale")
    k((blocks,), (threads,), (g, numpy.int64(n), out))

The CPU backend compiles the same source as C++ and runs each block's threads as fibers in
a separate worker process, checking array bounds, barriers and thread-order races; see
docs/kernels.md.
"""

from __future__ import annotations

from .check import DEFAULT_SCHEDULES, check
from .errors import BarrierError, CompileError, KernelError, KernelTimeout, RaceError
from .raw import RawKernel, RawModule
from .schedule import schedule
from .select import backend, cupy_status

__all__ = ["RawKernel", "RawModule", "CompileError", "KernelError", "RaceError",
           "BarrierError", "KernelTimeout", "backend", "xp", "schedule", "check",
           "DEFAULT_SCHEDULES", "cupy_status", "last_written"]


def last_written() -> tuple[str, ...] | None:
    """Names of the array arguments the latest CPU-backend launch wrote to (None before
    any CPU launch).  A scale kernel that must not touch `g` when no clip is needed can be
    checked with `"g" not in kernels.last_written()`."""
    import sys
    launch = sys.modules.get("kernels.cpu.launch")
    return None if launch is None or launch.launches == 0 else launch.last_written


def __getattr__(name: str):
    if name == "xp":  # numpy or cupy, following the backend in force
        from .select import array_module
        return array_module()
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")

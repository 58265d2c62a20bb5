"""Which backend runs kernels: CuPy when it imports and sees a GPU, else the CPU backend.
`KERNELS_BACKEND=cpu|cupy` overrides."""

from __future__ import annotations

import functools
import os

import numpy as np

BACKENDS = ("cupy", "cpu")


@functools.lru_cache(maxsize=None)
def cupy_status() -> tuple[bool, str]:
    """(usable, reason): whether CuPy imports and sees at least one device."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install
        return False, f"CuPy is not installed ({type(e).__name__}: {e})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return False, f"CuPy sees no GPU ({type(e).__name__}: {e})"
    if n < 1:
        return False, "CuPy sees no GPU"
    return True, f"CuPy {cupy.__version__}, {n} device(s)"


def backend() -> str:
    """"cupy" or "cpu"."""
    forced = os.environ.get("KERNELS_BACKEND", "").strip().lower()
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"KERNELS_BACKEND={forced!r}: use 'cpu' or 'cupy'")
        if forced == "cupy":
            ok, why = cupy_status()
            if not ok:
                raise RuntimeError(f"KERNELS_BACKEND=cupy, but {why}")
        return forced
    return "cupy" if cupy_status()[0] else "cpu"


def array_module(name: str | None = None):
    """numpy for the CPU backend, cupy for the CuPy one."""
    if (name or backend()) == "cupy":
        import cupy
        return cupy
    return np

"""Backend parametrisation and compiled-once kernels for the kernels tests.

Every feature test runs on the CPU backend, and on CuPy when CuPy sees a GPU (otherwise
that case is skipped with the reason).  Sources are compiled once per session: the disk
cache under build/kernels-cache makes reruns fast too.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import kernels
from kernels.select import cupy_status

GPU_OK, GPU_REASON = cupy_status()

BACKENDS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cupy", id="cupy", marks=[
        pytest.mark.gpu, pytest.mark.skipif(not GPU_OK, reason=f"no GPU backend: {GPU_REASON}")]),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@functools.lru_cache(maxsize=None)
def module(code: str, backend: str) -> kernels.RawModule:
    """A RawModule compiled once per (source, backend) for the whole session."""
    m = kernels.RawModule(code=code, backend=backend)
    m.compile()
    return m


def kernel(code: str, name: str, backend: str = "cpu") -> kernels.RawKernel:
    return module(code, backend).get_function(name)


def xp_of(backend: str):
    if backend == "cupy":
        import cupy
        return cupy
    return np


def to_numpy(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setenv("KERNELS_TIMEOUT", "1.5")

"""Backend selection."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels.select import cupy_status


def test_backend_and_xp_follow_the_environment(monkeypatch):
    monkeypatch.setenv("KERNELS_BACKEND", "cpu")
    assert kernels.backend() == "cpu" and kernels.xp is np
    monkeypatch.delenv("KERNELS_BACKEND")
    assert kernels.backend() == ("cupy" if cupy_status()[0] else "cpu")


def test_bad_or_unavailable_backend(monkeypatch):
    monkeypatch.setenv("KERNELS_BACKEND", "opencl")
    with pytest.raises(ValueError, match="KERNELS_BACKEND"):
        kernels.backend()
    if not cupy_status()[0]:
        monkeypatch.setenv("KERNELS_BACKEND", "cupy")
        with pytest.raises(RuntimeError, match="KERNELS_BACKEND=cupy"):
            kernels.backend()


def test_kernel_records_its_backend(monkeypatch):
    monkeypatch.setenv("KERNELS_BACKEND", "cpu")
    k = kernels.RawKernel('extern "C" __global__ void k(int* x) {}', "k")
    assert k.backend == "cpu" and "k" in repr(k)
    with pytest.raises(ValueError):
        kernels.RawKernel('extern "C" __global__ void k(int* x) {}', "k", backend="tpu")

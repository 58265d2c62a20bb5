"""The CuPy backend's wrapper logic, run against a stand-in `cupy` module: arguments are
checked before CuPy sees them, and then passed through untouched."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import kernels

SRC = 'extern "C" __global__ void k_axpy(float a, const float* x, float* y, long long n) {}\n'


class FakeArray:
    """Enough of cupy.ndarray for the checks: dtype, flags, strides, the CUDA interface."""

    __module__ = "cupy"

    def __init__(self, a: np.ndarray):
        self._a = a
        self.dtype, self.flags, self.strides, self.size = a.dtype, a.flags, a.strides, a.size
        self.__cuda_array_interface__ = {"shape": a.shape, "typestr": a.dtype.str, "data": (0, False)}

    def __getitem__(self, item):
        return FakeArray(self._a[item])


@pytest.fixture
def fake_cupy(monkeypatch):
    calls = []

    class RawKernel:
        def __init__(self, code, name, options=()):
            self.code, self.name, self.options = code, name, options

        def compile(self):
            calls.append(("compile", self.name))

        def __call__(self, grid, block, args, shared_mem=0):
            calls.append(("launch", self.name, grid, block, args, shared_mem))

    class RawModule:
        def __init__(self, code, options=()):
            self.code = code

        def compile(self):
            calls.append(("compile module",))

        def get_function(self, name):
            return RawKernel(self.code, name)

    mod = types.ModuleType("cupy")
    mod.RawKernel, mod.RawModule = RawKernel, RawModule
    monkeypatch.setitem(sys.modules, "cupy", mod)
    return calls


def test_launch_passes_original_arguments_after_checks(fake_cupy):
    k = kernels.RawKernel(SRC, "k_axpy", backend="cupy")
    x, y = FakeArray(np.zeros(4, np.float32)), FakeArray(np.zeros(4, np.float32))
    k((2,), (32,), (np.float32(2), x, y, 4), shared_mem=0)
    launch = [c for c in fake_cupy if c[0] == "launch"][0]
    assert launch[1:4] == ("k_axpy", (2,), (32,)) and launch[4][1] is x and launch[4][3] == 4


@pytest.mark.parametrize("args,param", [
    ((2.0, "x", "y", 4), "`a`"),                         # Python float for `float`
    ((np.float32(2), "x64", "y", 4), "`x`"),             # float64 array for `const float*`
    ((np.float32(2), "x", "y", np.int32(4)), "`n`"),     # int32 for `long long`
    ((np.float32(2), "np", "y", 4), "`x`"),              # a numpy array on the CuPy backend
    ((np.float32(2), "strided", "y", 4), "`x`"),         # non-contiguous
])
def test_mismatches_never_reach_cupy(fake_cupy, args, param):
    arrays = {"x": FakeArray(np.zeros(4, np.float32)), "y": FakeArray(np.zeros(4, np.float32)),
              "x64": FakeArray(np.zeros(4, np.float64)), "np": np.zeros(4, np.float32),
              "strided": FakeArray(np.zeros(8, np.float32))[::2]}
    args = tuple(arrays.get(a, a) if isinstance(a, str) else a for a in args)
    k = kernels.RawKernel(SRC, "k_axpy", backend="cupy")
    with pytest.raises(TypeError, match=param):
        k((1,), (32,), args)
    assert not [c for c in fake_cupy if c[0] == "launch"]


def test_module_and_check_fall_through_to_cupy(fake_cupy):
    m = kernels.RawModule(code=SRC, backend="cupy")
    k = m.get_function("k_axpy")
    x = FakeArray(np.zeros(4, np.float32))
    kernels.check(k, (1,), (32,), (np.float32(1), x, x, 4))
    assert [c[0] for c in fake_cupy].count("launch") == 1

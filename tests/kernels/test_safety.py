"""Faults in a kernel become KernelErrors that name the kernel, the argument, the index and
the line; the worker is restarted where needed and the next launch works."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_read_past_end(const float* g, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) {
        out[i % n] = g[i];
    }
}
extern "C" __global__ void k_write_past_end(float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = 1.0f;
}
extern "C" __global__ void k_negative_index(const float* g, float* out) {
    out[0] = g[threadIdx.x - 1];
}
extern "C" __global__ void k_shared_past_end(float* out) {
    __shared__ float s[32];
    s[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void k_null_write(float* out) {
    *(int*)0 = 1;
}
extern "C" __global__ void k_spin(float* out) {
    while (1) { }
}
extern "C" __global__ void k_int_div(int* out, int d) {
    out[0] = 100 / d;
}
extern "C" __global__ void k_scale_if(float* g, long long n, float s) {
    if (s >= 1.0f) return;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) g[i] *= s;
}
extern "C" __global__ void k_write_const(const float* g) {
    float* w = (float*)g;
    w[threadIdx.x] = 0.0f;
}
__device__ int deep(int n) {
    volatile char pad[512];
    pad[0] = (char)n;
    return n == 0 ? 0 : deep(n - 1) + pad[0];
}
extern "C" __global__ void k_recurse(int* out, int n) {
    __syncthreads();
    out[threadIdx.x] = deep(n);
}
extern "C" __global__ void k_add_one(float* x, int n) {
    int i = threadIdx.x;
    if (i < n) x[i] += 1.0f;
}
'''


def still_works():
    x = np.zeros(8, np.float32)
    kernel(SRC, "k_add_one")((1,), (8,), (x, np.int32(8)))
    assert (x == 1).all()


def test_out_of_bounds_read_names_argument_index_and_line():
    g = np.ones(1024, np.float32)
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_read_past_end")((5,), (256,), (g, np.zeros(1024, np.float32), np.int32(1024)))
    msg = str(e.value)
    assert "k_read_past_end read `g`[1024] but the array `g` has 1024 elements" in msg
    assert "(line 5," in msg
    assert (e.value.argument, e.value.index, e.value.line) == ("g", 1024, 5)
    still_works()


def test_out_of_bounds_write():
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_write_past_end")((2,), (64,), (np.zeros(100, np.float32), np.int32(100)))
    assert "`out`[100] but the array `out` has 100 elements" in str(e.value) and e.value.line == 10
    still_works()


def test_negative_index():
    with pytest.raises(kernels.KernelError, match=r"`g`\[-1\]|`g`\[4294967295\]"):
        kernel(SRC, "k_negative_index")((1,), (4,), (np.ones(4, np.float32), np.zeros(1, np.float32)))


def test_bounds_are_those_of_the_view_passed():
    base = np.ones(100, np.float32)
    with pytest.raises(kernels.KernelError, match="`g` has 10 elements"):
        kernel(SRC, "k_read_past_end")((1,), (32,), (base[50:60], np.zeros(10, np.float32), np.int32(10)))


def test_shared_memory_out_of_bounds():
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_shared_past_end")((1,), (64,), (np.zeros(64, np.float32),))
    assert "__shared__ array `s` has 32 elements" in str(e.value) and e.value.line == 17
    still_works()


def test_segfault_is_a_kernel_error_and_the_worker_restarts():
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_null_write")((1,), (1,), (np.zeros(1, np.float32),))
    assert "SIGSEGV" in str(e.value) and e.value.line == 22
    still_works()


def test_hang_times_out_and_the_worker_restarts(short_timeout):
    x = np.full(4, 3.0, np.float32)
    with pytest.raises(kernels.KernelTimeout) as e:
        kernel(SRC, "k_spin")((1,), (1,), (x,))
    assert "k_spin did not finish within 1.5 s" in str(e.value)
    assert (x == 3).all()
    still_works()


def test_integer_division_by_zero():
    with pytest.raises(kernels.KernelError, match="SIGFPE"):
        kernel(SRC, "k_int_div")((1,), (1,), (np.zeros(1, np.int32), np.int32(0)))
    still_works()


def test_read_only_array_proves_a_kernel_does_not_write():
    g = np.arange(1000, dtype=np.float32)
    g.flags.writeable = False
    kernel(SRC, "k_scale_if")((1,), (128,), (g, np.int64(g.size), np.float32(1.0)))  # no write: fine
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_scale_if")((1,), (128,), (g, np.int64(g.size), np.float32(0.5)))
    msg = str(e.value)
    assert "k_scale_if wrote to `g`[0], but `g` is a read-only array (writeable=False)" in msg
    assert e.value.line == 32
    assert g[1] == 1.0
    still_works()


def test_writing_through_a_cast_away_const():
    with pytest.raises(kernels.KernelError, match="declared `const float\\*`"):
        kernel(SRC, "k_write_const")((1,), (4,), (np.ones(4, np.float32),))
    still_works()


def test_stack_overflow_on_a_fiber_stack():
    with pytest.raises(kernels.KernelError, match="SIGSEGV"):
        kernel(SRC, "k_recurse")((1,), (4,), (np.zeros(4, np.int32), np.int32(1_000_000)))
    still_works()
    out = np.zeros(4, np.int32)
    kernel(SRC, "k_recurse")((1,), (4,), (out, np.int32(10)))

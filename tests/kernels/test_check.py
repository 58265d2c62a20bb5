"""kernels.check: a tree reduction missing its in-loop __syncthreads() is flagged every
time, across launch shapes (on an H100 such a kernel is wrong in only 4 of 108 shapes)."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_tree_racy(const float* g, long long n, float* partial) {
    __shared__ float sdata[1024];
    unsigned int tid = threadIdx.x;
    float sum = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + tid; i < n; i += (long long)blockDim.x * gridDim.x)
        sum += g[i] * g[i];
    sdata[tid] = sum;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) sdata[tid] += sdata[tid + s];
    }
    if (tid == 0) partial[blockIdx.x] = sdata[0];
}

extern "C" __global__ void k_tree_no_first_sync(const float* g, long long n, float* partial) {
    __shared__ float sdata[1024];
    unsigned int tid = threadIdx.x;
    float sum = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + tid; i < n; i += (long long)blockDim.x * gridDim.x)
        sum += g[i] * g[i];
    sdata[tid] = sum;
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) sdata[tid] += sdata[tid + s];
        __syncthreads();
    }
    if (tid == 0) partial[blockIdx.x] = sdata[0];
}

extern "C" __global__ void k_warp_sync_unsafe(const float* g, float* out) {
    __shared__ float s[64];
    unsigned t = threadIdx.x;
    s[t] = g[t];
    __syncthreads();
    if (t < 32) {
        s[t] += s[t + 32]; s[t] += s[t + 16]; s[t] += s[t + 8];
        s[t] += s[t + 4]; s[t] += s[t + 2]; s[t] += s[t + 1];
    }
    if (t == 0) out[0] = s[0];
}

extern "C" __global__ void k_atomic_sum(const float* g, long long n, float* out) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        atomicAdd(out, g[i]);
}

extern "C" __global__ void k_inplace_neighbour(float* x, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i + 1 < n) x[i] = x[i + 1];
}
'''
SHAPES = [(1, 32, 32), (1, 64, 1000), (3, 128, 1000), (2, 256, 4096), (4, 512, 5000),
          (1, 1024, 1024), (7, 256, 100_003)]


@pytest.mark.parametrize("grid,block,n", SHAPES)
def test_missing_in_loop_syncthreads_is_flagged_every_time(grid, block, n):
    g = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    partial = np.zeros(grid, np.float32)
    with pytest.raises(kernels.RaceError) as e:
        kernels.check(kernel(SRC, "k_tree_racy"), (grid,), (block,), (g, np.int64(n), partial))
    msg = str(e.value)
    assert "depends on thread order" in msg and "__syncthreads()" in msg and "`partial`[" in msg
    assert e.value.argument == "partial"
    assert (partial == 0).all(), "a failed check must not touch the caller's arrays"


@pytest.mark.parametrize("grid,block,n", SHAPES[:4])
def test_missing_sync_before_the_loop_is_flagged(grid, block, n):
    g = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    with pytest.raises(kernels.RaceError):
        kernels.check(kernel(SRC, "k_tree_no_first_sync"), (grid,), (block,),
                      (g, np.int64(n), np.zeros(grid, np.float32)))


def test_warp_synchronous_code_without_volatile_or_syncwarp_is_flagged():
    g = np.random.default_rng(2).random(64).astype(np.float32)
    with pytest.raises(kernels.RaceError):
        kernels.check(kernel(SRC, "k_warp_sync_unsafe"), (1,), (64,), (g, np.zeros(1, np.float32)))


def test_correct_reference_kernel_passes_and_updates_args():
    from autograder.reference import three_kernels as ref
    k = ref.module("cpu").get_function("k_grad_norm_partial")
    g = np.random.default_rng(3).standard_normal(5000).astype(np.float32)
    partial = np.zeros(4, np.float32)
    kernels.check(k, (4,), (256,), (g, np.int64(g.size), partial))
    assert partial.sum() == pytest.approx(float((g.astype(np.float64) ** 2).sum()), rel=1e-5)


def test_float_atomics_in_any_order_are_not_a_race():
    g = np.random.default_rng(4).random(3000).astype(np.float32)
    out = np.zeros(1, np.float32)
    kernels.check(kernel(SRC, "k_atomic_sum"), (3,), (128,), (g, np.int64(g.size), out))
    assert out[0] == pytest.approx(g.sum(dtype=np.float64), rel=1e-5)


def test_read_before_neighbour_writes_is_flagged():
    x = np.arange(64, dtype=np.float32)
    with pytest.raises(kernels.RaceError, match="`x`"):
        kernels.check(kernel(SRC, "k_inplace_neighbour"), (2,), (32,), (x, np.int64(64)))
    assert x.tolist() == list(range(64))


def test_aliased_views_stay_aliased_in_the_copies():
    buf = np.zeros(10, np.float32)
    src = 'extern "C" __global__ void k_alias(float* a, const float* b) { a[0] = b[0] + 1.0f; }\n'
    k = kernels.RawKernel(src, "k_alias", backend="cpu")
    buf[5] = 41
    kernels.check(k, (1,), (1,), (buf[1:], buf[5:]))
    assert buf[1] == 42

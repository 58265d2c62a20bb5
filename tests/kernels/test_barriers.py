"""Barrier misuse that CUDA calls undefined behaviour is reported with its line."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_divergent(float* x) {
    if (threadIdx.x < 16) {
        x[threadIdx.x] = 1.0f;
        __syncthreads();
    } else {
        __syncthreads();
    }
}
extern "C" __global__ void k_early_return(float* x, int n) {
    int i = threadIdx.x;
    if (i >= n) return;
    __shared__ float s[64];
    s[i] = x[i];
    __syncthreads();
    x[i] = s[(i + 1) % n];
}
extern "C" __global__ void k_shfl_after_return(float* x, int n) {
    int i = threadIdx.x;
    if (i >= n) return;
    float v = __shfl_down_sync(0xffffffffu, x[i], 1);
    x[i] = v;
}
extern "C" __global__ void k_sync_in_uniform_branch(float* x, int flag) {
    if (flag) {
        x[threadIdx.x] += 1.0f;
        __syncthreads();
    }
}
'''


def test_syncthreads_in_a_divergent_branch():
    with pytest.raises(kernels.BarrierError) as e:
        kernel(SRC, "k_divergent")((1,), (32,), (np.zeros(32, np.float32),))
    assert "different __syncthreads()" in str(e.value)
    assert "line 5" in str(e.value) and "line 7" in str(e.value)


def test_thread_returning_before_a_barrier_others_wait_at():
    x = np.arange(64, dtype=np.float32)
    with pytest.raises(kernels.BarrierError) as e:
        kernel(SRC, "k_early_return")((1,), (64,), (x, np.int32(40)))
    assert "returned while the others" in str(e.value) and e.value.line == 15


def test_lane_returning_before_a_full_mask_shuffle():
    with pytest.raises(kernels.BarrierError, match="lane .* returned"):
        kernel(SRC, "k_shfl_after_return")((1,), (32,), (np.zeros(32, np.float32), np.int32(20)))


def test_uniform_branch_around_a_barrier_is_fine():
    x = np.zeros(32, np.float32)
    k = kernel(SRC, "k_sync_in_uniform_branch")
    k((1,), (32,), (x, np.int32(1)))
    k((1,), (32,), (x, np.int32(0)))
    assert (x == 1).all()


def test_the_worker_keeps_working_after_barrier_errors():
    with pytest.raises(kernels.BarrierError):
        kernel(SRC, "k_divergent")((2,), (32,), (np.zeros(32, np.float32),))
    x = np.zeros(32, np.float32)
    kernel(SRC, "k_sync_in_uniform_branch")((1,), (32,), (x, np.int32(1)))
    assert (x == 1).all()

"""Uninitialised shared memory: every block's `__shared__` memory (static and dynamic) starts
as poison (0xFF bytes: NaN for float, -1 for ints), never as what an earlier launch or
block left; `kernels.check` tells a kernel that reads unwritten slots from a racy one and
names the array, the slot and the line."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels.cpu.rewrite import rewrite

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_tree128(const float* g, long long n, float* partial) {
    __shared__ float sums[256];
    const unsigned int t = threadIdx.x;
    float acc = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + t; i < n; i += (long long)blockDim.x * gridDim.x)
        acc += g[i] * g[i];
    sums[t] = acc;
    __syncthreads();
    for (unsigned int half = 128; half > 0; half >>= 1) {   // right only for 256 threads
        if (t < half) sums[t] += sums[t + half];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = sums[0];
}
extern "C" __global__ void k_tree(const float* g, long long n, float* partial) {
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;
    float acc = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + t; i < n; i += (long long)blockDim.x * gridDim.x)
        acc += g[i] * g[i];
    sums[t] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) sums[t] += sums[t + half];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = sums[0];
}
extern "C" __global__ void k_dyn128(const float* g, long long n, float* partial) {
    extern __shared__ float dsums[];
    const unsigned int t = threadIdx.x;
    dsums[t] = t < n ? g[t] : 0.0f;
    __syncthreads();
    for (unsigned int half = 128; half > 0; half >>= 1) {
        if (t < half) dsums[t] += dsums[t + half];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = dsums[0];
}
extern "C" __global__ void k_peek(int* out) {        // no barrier: plain calls
    __shared__ int slots[64];
    if (threadIdx.x == 0 && blockIdx.x == 0) slots[5] = 7;
    out[blockIdx.x * blockDim.x + threadIdx.x] = slots[threadIdx.x];
}
extern "C" __global__ void k_matrix(int* out) {
    __shared__ int tile[4][8];
    tile[threadIdx.y][threadIdx.x] = threadIdx.y * 8 + threadIdx.x;
    __syncthreads();
    out[threadIdx.y * 8 + threadIdx.x] = tile[3 - threadIdx.y][7 - threadIdx.x];
}
'''
LINE_OF_THE_READ = 11   # `if (t < half) sums[t] += sums[t + half];` in k_tree128


def partials(name, threads, g, blocks=3, shared_mem=0):
    partial = np.zeros(blocks, np.float32)
    kernel(SRC, name)((blocks,), (threads,), (g, np.int64(g.size), partial), shared_mem=shared_mem)
    return partial


def test_a_launch_never_sees_what_an_earlier_launch_left():
    """32 threads after 256: slots 32..255 were written by the earlier launch; on a GPU they
    hold garbage, here poison, every time and whichever launch came first."""
    g = np.ones(5000, np.float32)
    right = partials("k_tree128", 256, g)
    assert np.isfinite(right).all() and right.sum() == pytest.approx(5000)
    for _ in range(3):
        assert np.isnan(partials("k_tree128", 32, g)).all()
        assert np.isfinite(partials("k_tree128", 256, g)).all()


def test_dynamic_shared_memory_too():
    g = np.ones(300, np.float32)
    assert np.isfinite(partials("k_dyn128", 256, g, shared_mem=4 * 256)).all()
    assert np.isnan(partials("k_dyn128", 32, g, shared_mem=4 * 256)).all()


def test_every_block_starts_poisoned_also_without_fibers():
    k = kernel(SRC, "k_peek")
    out = np.zeros(4 * 64, np.int32)
    with kernels.schedule("forward"):
        k((4,), (64,), (out,))
    got = out.reshape(4, 64)
    assert got[0, 5] == 7 and (np.delete(got[0], 5) == -1).all()
    assert (got[1:] == -1).all()      # block 0's write is not seen by later blocks


def test_check_names_the_array_the_slot_and_the_line():
    g = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    k = kernel(SRC, "k_tree128")
    kernels.check(k, (3,), (256,), (g, np.int64(g.size), np.zeros(3, np.float32)))
    for _ in range(2):   # every time, also right after a correct 256-thread launch
        kernels.check(k, (3,), (256,), (g, np.int64(g.size), np.zeros(3, np.float32)))
        with pytest.raises(kernels.UninitializedSharedError) as info:
            kernels.check(k, (3,), (32,), (g, np.int64(g.size), np.zeros(3, np.float32)))
        err = info.value
        assert isinstance(err, kernels.KernelError) and not isinstance(err, kernels.RaceError)
        assert (err.kernel, err.argument, err.line) == ("k_tree128", "sums", LINE_OF_THE_READ)
        assert 32 <= err.index < 256
        msg = str(err)
        assert f"k_tree128 read __shared__ `sums`[{err.index}] before any thread wrote it" in msg
        assert f"line {LINE_OF_THE_READ}" in msg and "blockDim.x" in msg


def test_check_on_dynamic_shared_memory():
    g = np.ones(300, np.float32)
    with pytest.raises(kernels.UninitializedSharedError, match=r"`dsums`\[\d+\]"):
        kernels.check(kernel(SRC, "k_dyn128"), (2,), (32,), (g, np.int64(g.size), np.zeros(2, np.float32)),
                      shared_mem=4 * 256)


@pytest.mark.parametrize("threads", [32, 64, 128, 256, 512, 1024])
def test_correct_kernels_pass_check_after_any_earlier_launch(threads):
    g = np.random.default_rng(threads).standard_normal(10_007).astype(np.float32)
    partial = np.zeros(5, np.float32)
    kernels.check(kernel(SRC, "k_tree"), (5,), (1024,), (g, np.int64(g.size), partial))
    kernels.check(kernel(SRC, "k_tree"), (5,), (threads,), (g, np.int64(g.size), partial))
    owner = (np.arange(g.size) // threads) % 5
    want = np.bincount(owner, weights=g.astype(np.float64) ** 2, minlength=5)
    np.testing.assert_allclose(partial, want, rtol=1e-5)


def test_two_dimensional_arrays_keep_their_layout():
    out = np.zeros(32, np.int32)
    kernels.check(kernel(SRC, "k_matrix"), (1,), (8, 4), (out,))
    assert out.tolist() == list(range(31, -1, -1))


def test_a_missing_barrier_is_still_a_race_not_an_uninitialised_read():
    src = SRC.replace("if (t < half) sums[t] += sums[t + half];\n        __syncthreads();",
                      "if (t < half) sums[t] += sums[t + half];")
    assert src != SRC
    g = np.random.default_rng(1).standard_normal(4096).astype(np.float32)
    with pytest.raises(kernels.RaceError):
        kernels.check(kernel(src, "k_tree"), (4,), (256,), (g, np.int64(g.size), np.zeros(4, np.float32)))


def test_rewrite_fills_function_scope_arrays_only():
    out = rewrite('__shared__ float top[4];\nnamespace a { __shared__ int b[3]; }\n'
                  '__global__ void k() { __shared__ float s[2][8]; }\n')
    lines = out.splitlines()
    assert len(lines) == 3
    assert "shared_enter" not in lines[0] and "shared_enter" not in lines[1]
    assert "::gc::shared_enter(&s, sizeof(s), s__gc_block);" in lines[2]

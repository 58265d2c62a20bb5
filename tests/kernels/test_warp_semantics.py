"""Warp operations give a GPU's answers on the CPU backend: votes over the lanes that took
part, `__activemask()` where lanes converge, shuffles that read outside their mask are
errors, and `volatile` warp-synchronous code runs its lanes in step."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

SRC = r'''
extern "C" __global__ void k_votes(const int* pred, int* out) {
    int t = threadIdx.x;
    out[4 * t + 0] = __all_sync(0xffffffffu, 1);
    out[4 * t + 1] = __all_sync(0xffffffffu, pred[t]);
    out[4 * t + 2] = __any_sync(0xffffffffu, pred[t]);
    out[4 * t + 3] = (int)__ballot_sync(0xffffffffu, pred[t]);
}

extern "C" __global__ void k_activemask_after_return(unsigned* out, int n) {
    int t = threadIdx.x;
    if (t >= n) return;
    out[t] = __activemask();
}

extern "C" __global__ void k_activemask_divergent(unsigned* out) {
    int t = threadIdx.x;
    if ((t & 31) < 16) out[t] = __activemask();
    else out[t] = __activemask() | 1u;
}

extern "C" __global__ void k_vote_over_active(const int* pred, int* out, int n) {
    int t = threadIdx.x;
    if (t >= n) return;
    unsigned m = __activemask();
    out[t] = __all_sync(m, pred[t]);
}

// cuda-samples reduction, reduce7's final warp (BSD-3-Clause): written here in the same
// form.  `narrow` picks the mask from a ballot of the lanes holding a warp's sum, as the
// sample does, so the shuffle with offset 16 reads lanes outside it.
extern "C" __global__ void k_final_warp(const float* g, float* out, int narrow) {
    __shared__ float sdata[32];
    unsigned t = threadIdx.x;
    float v = g[blockIdx.x * blockDim.x + t];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((t & 31) == 0) sdata[t / 32] = v;
    __syncthreads();
    unsigned extent = blockDim.x / 32;
    unsigned mask = narrow ? __ballot_sync(0xffffffffu, t < extent) : 0xffffffffu;
    if (t < 32) {
        v = t < extent ? sdata[t] : 0.0f;
        if (narrow) {
            if (t < extent)
                for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(mask, v, o);
        } else {
            for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(mask, v, o);
        }
    }
    if (t == 0) out[blockIdx.x] = v;
}

// Harris, "Optimizing Parallel Reduction in CUDA" (NVIDIA cuda-samples, BSD-3-Clause),
// reduction #6: the last warp unrolled over a volatile pointer, no __syncwarp.
__device__ void warp_reduce(volatile float* s, unsigned t) {
    s[t] += s[t + 32]; s[t] += s[t + 16]; s[t] += s[t + 8];
    s[t] += s[t + 4]; s[t] += s[t + 2]; s[t] += s[t + 1];
}
extern "C" __global__ void k_reduce6(const float* g, float* out, unsigned n) {
    extern __shared__ float sdata[];
    unsigned t = threadIdx.x;
    unsigned i = blockIdx.x * (blockDim.x * 2) + t;
    unsigned grid = blockDim.x * 2 * gridDim.x;
    float sum = 0.0f;
    while (i < n) {
        sum += g[i];
        if (i + blockDim.x < n) sum += g[i + blockDim.x];
        i += grid;
    }
    sdata[t] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 32; s >>= 1) {
        if (t < s) sdata[t] += sdata[t + s];
        __syncthreads();
    }
    if (t < 32) warp_reduce(sdata, t);
    if (t == 0) out[blockIdx.x] = sdata[0];
}
'''


def test_all_sync_over_a_full_warp_is_true_in_every_lane():
    pred = np.ones(64, np.int32)
    pred[[7, 40]] = 0
    out = np.zeros(4 * 64, np.int32)
    kernel(SRC, "k_votes")((1,), (64,), (pred, out))
    got = out.reshape(64, 4)
    assert (got[:, 0] == 1).all()
    assert (got[:, 1] == 0).all(), "each warp has a lane with pred 0"
    assert (got[:, 2] == 1).all()
    ballots = got[:, 3].astype(np.uint32)
    assert (ballots[:32] == np.uint32(0xFFFFFFFF ^ (1 << 7))).all()
    assert (ballots[32:] == np.uint32(0xFFFFFFFF ^ (1 << 8))).all()


@pytest.mark.parametrize("sched", ["forward", "reverse", "random:3"])
@pytest.mark.parametrize("n", [1, 20, 32, 45])
def test_activemask_excludes_lanes_that_returned_and_only_those(sched, n):
    out = np.zeros(64, np.uint32)
    with kernels.schedule(sched):
        kernel(SRC, "k_activemask_after_return")((1,), (64,), (out, np.int32(n)))
    lanes = np.arange(64)
    live = lanes < n
    expect = np.zeros(64, np.uint64)
    for w in range(2):
        m = 0
        for lane in range(32):
            if live[32 * w + lane]:
                m |= 1 << lane
        expect[32 * w:32 * w + 32] = m
    np.testing.assert_array_equal(out[live], expect[live].astype(np.uint32))


def test_activemask_in_a_divergent_branch_names_the_lanes_of_that_branch():
    out = np.zeros(64, np.uint32)
    kernel(SRC, "k_activemask_divergent")((1,), (64,), (out,))
    lane = np.arange(64) % 32
    np.testing.assert_array_equal(out[lane < 16], 0x0000FFFF)
    np.testing.assert_array_equal(out[lane >= 16], 0xFFFF0000 | 1)


@pytest.mark.parametrize("n", [5, 32, 50])
def test_all_sync_over_the_active_mask(n):
    pred = np.ones(64, np.int32)
    out = np.full(64, -1, np.int32)
    kernel(SRC, "k_vote_over_active")((1,), (64,), (pred, out, np.int32(n)))
    assert (out[:n] == 1).all() and (out[n:] == -1).all()


def test_shuffle_reading_a_lane_outside_its_mask_is_an_error_naming_both_lanes():
    g = np.random.default_rng(0).random(256).astype(np.float32)
    with pytest.raises(kernels.KernelError) as e:
        kernel(SRC, "k_final_warp")((1,), (256,), (g, np.zeros(1, np.float32), np.int32(1)))
    msg = str(e.value)
    assert "lane 0 of warp 0 reads lane 16 with __shfl_down_sync" in msg
    assert "mask 0x000000ff does not name lane 16" in msg and "undefined" in msg
    assert e.value.line == SRC[:SRC.index("v += __shfl_down_sync(mask, v, o);\n        }")].count("\n") + 1


@pytest.mark.parametrize("blocks,threads", [(1, 64), (3, 256), (2, 1024)])
def test_final_warp_with_a_full_mask_sums_right(blocks, threads):
    g = np.random.default_rng(threads).random(blocks * threads).astype(np.float32)
    out = np.zeros(blocks, np.float32)
    kernels.check(kernel(SRC, "k_final_warp"), (blocks,), (threads,), (g, out, np.int32(0)))
    np.testing.assert_allclose(out, g.reshape(blocks, threads).sum(1), rtol=1e-5)


@pytest.mark.parametrize("sched", ["forward", "reverse", "random:7"])
@pytest.mark.parametrize("n,blocks,threads", [(1000, 2, 64), (4096, 4, 128), (77777, 5, 256), (40, 1, 64)])
def test_volatile_warp_synchronous_reduction_sums_right_in_a_plain_launch(sched, n, blocks, threads):
    g = np.random.default_rng(n).random(n).astype(np.float32)
    out = np.zeros(blocks, np.float32)
    with kernels.schedule(sched):
        kernel(SRC, "k_reduce6")((blocks,), (threads,), (g, out, np.uint32(n)), shared_mem=4 * threads)
    np.testing.assert_allclose(out.sum(dtype=np.float64), g.sum(dtype=np.float64), rtol=1e-5)


def test_volatile_warp_synchronous_reduction_is_a_hazard_for_check():
    g = np.random.default_rng(1).random(1000).astype(np.float32)
    out = np.zeros(2, np.float32)
    with pytest.raises(kernels.RaceError) as e:
        kernels.check(kernel(SRC, "k_reduce6"), (2,), (64,), (g, out, np.uint32(1000)), shared_mem=256)
    msg = str(e.value)
    assert "__shared__ `sdata`[" in msg and "__syncwarp()" in msg and "lanes of one warp" in msg
    assert (out == 0).all()

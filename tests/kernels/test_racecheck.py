"""kernels.check's race detector: hazards that give the same output under every thread
order are still reported (array, index, both threads, both lines), and correct kernels
that synchronise through barriers, warp operations, atomics or fences are not.

Kernels are written here in the form of well-known ones, each cited where it is defined;
each broken copy differs from its correct one by one line."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kernels

from .conftest import kernel

# NVIDIA cuda-samples, shfl_scan (BSD-3-Clause): a block-wide inclusive scan, warps scan
# with shuffles, warp 0 scans the warp totals, every warp adds its predecessors' total.
SCAN = r'''
extern "C" __global__ void k_shfl_scan(const int* in, int* out, int n) {
    __shared__ int sums[32];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int v = i < n ? in[i] : 0;
    for (int o = 1; o < 32; o <<= 1) {
        int u = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += u;
    }
    if (lane == 31) sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int w = lane < blockDim.x / 32 ? sums[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            int u = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += u;
        }
        if (lane < blockDim.x / 32) sums[lane] = w;
    }
    BARRIER
    if (warp > 0) v += sums[warp - 1];
    if (i < n) out[i] = v;
}
'''

# llm.c dev/cuda/softmax_forward.cu, softmax_forward_kernel4 (MIT): one block per row, warp
# reductions with shuffles, one shared slot per warp reused for the max and then the sum.
SOFTMAX = r'''
__device__ float warp_max(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}
__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
extern "C" __global__ void k_softmax4(float* out, const float* inp, int N, int C) {
    extern __shared__ float shared[];
    int idx = blockIdx.x, tid = threadIdx.x;
    int warpId = tid / 32, laneId = tid % 32, warpsPerBlock = blockDim.x / 32;
    float* max_or_sum_storage = shared;
    const float* x = inp + idx * C;
    float maxval = -INFINITY;
    for (int i = tid; i < C; i += blockDim.x) maxval = fmaxf(maxval, x[i]);
    maxval = warp_max(maxval);
    if (laneId == 0) max_or_sum_storage[warpId] = maxval;
    __syncthreads();
    if (tid == 0) {
        float val = max_or_sum_storage[tid];
        for (int i = 1; i < warpsPerBlock; i++) val = fmaxf(val, max_or_sum_storage[i]);
        max_or_sum_storage[0] = val;
    }
    __syncthreads();
    float offset = max_or_sum_storage[0];
    for (int i = tid; i < C; i += blockDim.x) out[idx * C + i] = expf(x[i] - offset);
    x = out + idx * C;
    float sumval = 0.0f;
    for (int i = tid; i < C; i += blockDim.x) sumval += x[i];
    sumval = warp_sum(sumval);
    BARRIER
    if (laneId == 0) max_or_sum_storage[warpId] = sumval;
    __syncthreads();
    if (tid == 0) {
        float val = max_or_sum_storage[tid];
        for (int i = 1; i < warpsPerBlock; ++i) val += max_or_sum_storage[i];
        max_or_sum_storage[0] = val;
    }
    __syncthreads();
    float sum = max_or_sum_storage[0];
    for (int i = tid; i < C; i += blockDim.x) out[idx * C + i] = x[i] / sum;
}
'''

# NVIDIA cuda-samples, histogram (BSD-3-Clause): per-block histogram in shared memory with
# shared atomics, merged into the global one with global atomics.
HISTOGRAM = r'''
extern "C" __global__ void k_histogram(const unsigned char* data, int n, unsigned* hist) {
    __shared__ unsigned s_hist[64];
    for (int b = threadIdx.x; b < 64; b += blockDim.x) s_hist[b] = 0;
    BARRIER
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(&s_hist[data[i] % 64], 1u);
    __syncthreads();
    for (int b = threadIdx.x; b < 64; b += blockDim.x) atomicAdd(&hist[b], s_hist[b]);
}
'''

# NVIDIA cuda-samples, threadFenceReduction (BSD-3-Clause): each block writes its partial
# sum, fences, counts itself in; the last block to arrive sums the partials.
FENCE = r'''
__device__ unsigned int retirementCount = 0;
extern "C" __global__ void k_fence_sum(const float* g, int n, float* partial, float* out) {
    __shared__ float s[256];
    __shared__ bool amLast;
    unsigned t = threadIdx.x;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += blockDim.x * gridDim.x) v += g[i];
    s[t] = v;
    __syncthreads();
    for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
        if (t < h) s[t] += s[t + h];
        __syncthreads();
    }
    if (t == 0) {
        partial[blockIdx.x] = s[0];
        FENCE_LINE
        unsigned ticket = atomicInc(&retirementCount, gridDim.x);
        amLast = (ticket == gridDim.x - 1);
    }
    __syncthreads();
    if (amLast && t == 0) {
        float total = 0.0f;
        for (unsigned b = 0; b < gridDim.x; ++b) total += partial[b];
        out[0] = total;
        retirementCount = 0;
    }
}
'''

# A grid-wide sum where every block adds its share into out[0]: with an atomic (correct),
# or with a plain read-modify-write (the CUDA C Programming Guide's lost-update example).
BLOCK_SUM = r'''
extern "C" __global__ void k_block_sum(const float* g, int n, float* out) {
    __shared__ float s[128];
    unsigned t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    s[t] = i < n ? g[i] : 0.0f;
    __syncthreads();
    for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
        if (t < h) s[t] += s[t + h];
        __syncthreads();
    }
    if (t == 0) ADD
}
'''

# Harris's reduction #6 made safe for independent thread scheduling (NVIDIA's "Using CUDA
# Warp-Level Primitives", 2018): a register carries the sum, __syncwarp() between steps.
WARP_SAFE = r'''
extern "C" __global__ void k_reduce_syncwarp(const float* g, float* out) {
    __shared__ float s[64];
    unsigned t = threadIdx.x;
    s[t] = g[blockIdx.x * 64 + t];
    __syncthreads();
    if (t < 32) {
        float v = s[t] + s[t + 32];
        for (int o = 16; o > 0; o >>= 1) {
            __syncwarp();
            s[t] = v;
            __syncwarp();
            v += s[t + o];
        }
        if (t == 0) out[blockIdx.x] = v;
    }
}
'''


def src(code: str, **subs: str) -> str:
    for k, v in subs.items():
        code = code.replace(k, v)
    return code


def line_of(code: str, text: str) -> int:
    return code[:code.index(text)].count("\n") + 1


def racy(code: str, name: str, grid, block, args, shared_mem=0):
    with pytest.raises(kernels.RaceError) as e:
        kernels.check(kernel(code, name), grid, block, args, shared_mem=shared_mem)
    return e.value


def same_under_every_schedule(code, name, grid, block, make_args, shared_mem=0):
    """The broken kernels below fool the schedules: every order gives the same output."""
    outs = []
    for spec in kernels.DEFAULT_SCHEDULES:
        args = make_args()
        with kernels.schedule(spec):
            kernel(code, name)(grid, block, args, shared_mem=shared_mem)
        outs.append([a.copy() for a in args if isinstance(a, np.ndarray)])
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            np.testing.assert_allclose(a, b, rtol=1e-6)   # float sums in another block order


# ---- shuffle scan -------------------------------------------------------------------

SCAN_OK = src(SCAN, BARRIER="__syncthreads();")
SCAN_BROKEN = src(SCAN, BARRIER="/* barrier removed */")


@pytest.mark.parametrize("n,threads", [(1000, 256), (64, 64), (4097, 1024), (300, 128)])
def test_shuffle_scan_correct_passes_and_matches_numpy(n, threads):
    x = np.random.default_rng(n).integers(-50, 50, n).astype(np.int32)
    out = np.zeros(n, np.int32)
    blocks = -(-n // threads)
    kernels.check(kernel(SCAN_OK, "k_shfl_scan"), (blocks,), (threads,), (x, out, np.int32(n)))
    pad = np.zeros(blocks * threads, np.int64)
    pad[:n] = x
    expect = np.cumsum(pad.reshape(blocks, threads), axis=1).reshape(-1)[:n]
    np.testing.assert_array_equal(out, expect)


def test_shuffle_scan_without_its_second_barrier_is_reported():
    n, threads = 1000, 256
    x = np.random.default_rng(5).integers(1, 9, n).astype(np.int32)
    same_under_every_schedule(SCAN_BROKEN, "k_shfl_scan", (4,), (threads,),
                              lambda: (x.copy(), np.zeros(n, np.int32), np.int32(n)))
    out = np.zeros(n, np.int32)
    e = racy(SCAN_BROKEN, "k_shfl_scan", (4,), (threads,), (x, out, np.int32(n)))
    msg = str(e)
    assert "write-after-read hazard on __shared__ `sums`[" in msg
    assert e.argument == "sums"
    write_line = line_of(SCAN_BROKEN, "if (lane < blockDim.x / 32) sums[lane] = w;")
    read_line = line_of(SCAN_BROKEN, "if (warp > 0) v += sums[warp - 1];")
    assert f"read it on line {read_line}" in msg and f"wrote it on line {write_line}" in msg
    assert "__syncthreads()" in msg and "different warps" in msg
    assert e.hazard == "write-after-read" and (e.line, e.other_line) == (write_line, read_line)
    threads_named = re.findall(r"thread \((\d+), 0, 0\)", msg)
    assert len(threads_named) == 2 and int(threads_named[1]) < 32 <= int(threads_named[0])
    assert (out == 0).all(), "a failed check must not touch the caller's arrays"


# ---- llm.c softmax_forward_kernel4 ---------------------------------------------------

SOFTMAX_BROKEN = src(SOFTMAX, BARRIER="")
SOFTMAX_OK = src(SOFTMAX, BARRIER="__syncthreads();")


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("N,C,threads", [(4, 100, 64), (3, 1000, 256), (2, 31, 32), (5, 513, 128)])
def test_softmax_kernel4_with_the_barrier_passes_and_matches_numpy(N, C, threads):
    x = np.random.default_rng(C).standard_normal((N, C)).astype(np.float32) * 3
    out = np.zeros((N, C), np.float32)
    kernels.check(kernel(SOFTMAX_OK, "k_softmax4"), (N,), (threads,),
                  (out, x, np.int32(N), np.int32(C)), shared_mem=4 * (threads // 32))
    np.testing.assert_allclose(out, softmax(x.astype(np.float64)), rtol=2e-5, atol=1e-7)


def test_softmax_kernel4_write_after_read_on_the_shared_slot_is_reported():
    N, C, threads = 3, 700, 128
    x = np.random.default_rng(2).standard_normal((N, C)).astype(np.float32)
    same_under_every_schedule(SOFTMAX_BROKEN, "k_softmax4", (N,), (threads,),
                              lambda: (np.zeros((N, C), np.float32), x, np.int32(N), np.int32(C)),
                              shared_mem=16)
    out = np.zeros((N, C), np.float32)
    e = racy(SOFTMAX_BROKEN, "k_softmax4", (N,), (threads,), (out, x, np.int32(N), np.int32(C)),
             shared_mem=16)
    msg = str(e)
    assert "write-after-read hazard on __shared__ `shared`[0]" in msg
    assert f"read it on line {line_of(SOFTMAX_BROKEN, 'float offset = max_or_sum_storage[0];')}" in msg
    assert f"wrote it on line {line_of(SOFTMAX_BROKEN, 'if (laneId == 0) max_or_sum_storage[warpId] = sumval;')}" in msg
    assert "then thread (0, 0, 0) wrote it" in msg


# ---- shared-memory atomics -----------------------------------------------------------

HIST_OK = src(HISTOGRAM, BARRIER="__syncthreads();")
HIST_BROKEN = src(HISTOGRAM, BARRIER="")


@pytest.mark.parametrize("n,blocks,threads", [(5000, 4, 128), (77, 2, 32), (10000, 3, 1024)])
def test_histogram_with_shared_atomics_passes_and_matches_numpy(n, blocks, threads):
    data = np.random.default_rng(n).integers(0, 256, n).astype(np.uint8)
    hist = np.zeros(64, np.uint32)
    kernels.check(kernel(HIST_OK, "k_histogram"), (blocks,), (threads,), (data, np.int32(n), hist))
    np.testing.assert_array_equal(hist, np.bincount(data % 64, minlength=64))


def test_histogram_without_the_barrier_after_zeroing_is_reported():
    # the schedules notice (the zeroing of one warp lands after another's atomics); the
    # race detector then names the two accesses
    data = np.random.default_rng(3).integers(0, 256, 4000).astype(np.uint8)
    e = racy(HIST_BROKEN, "k_histogram", (2,), (64,), (data, np.int32(4000), np.zeros(64, np.uint32)))
    msg = str(e)
    assert "depends on thread order" in msg and "The race detector found" in msg
    assert "hazard on __shared__ `s_hist`[" in msg
    assert f"line {line_of(HIST_BROKEN, 's_hist[b] = 0;')}" in msg
    assert f"line {line_of(HIST_BROKEN, 'atomicAdd(&s_hist[')}" in msg


# ---- warp-level synchronisation ------------------------------------------------------

@pytest.mark.parametrize("blocks", [1, 3])
def test_syncwarp_orders_a_warps_shared_accesses(blocks):
    g = np.random.default_rng(blocks).random(64 * blocks).astype(np.float32)
    out = np.zeros(blocks, np.float32)
    kernels.check(kernel(WARP_SAFE, "k_reduce_syncwarp"), (blocks,), (64,), (g, out))
    np.testing.assert_allclose(out, g.reshape(blocks, 64).sum(1), rtol=1e-5)


def test_a_removed_syncwarp_is_reported_as_a_lane_hazard():
    code = WARP_SAFE.replace("            __syncwarp();\n            v += s[t + o];",
                             "            v += s[t + o];")
    assert code != WARP_SAFE
    g = np.random.default_rng(0).random(64).astype(np.float32)
    e = racy(code, "k_reduce_syncwarp", (1,), (64,), (g, np.zeros(1, np.float32)))
    msg = str(e)
    assert "write-after-read hazard on __shared__ `s`[16]" in msg
    assert "lanes of one warp" in msg and "__syncwarp()" in msg


# ---- global memory across blocks -----------------------------------------------------

@pytest.mark.parametrize("fence", [True, False])
def test_thread_fence_reduction(fence):
    code = FENCE.replace("FENCE_LINE", "__threadfence();" if fence else "")
    n, blocks = 3000, 5
    g = np.random.default_rng(4).random(n).astype(np.float32)
    partial = np.zeros(blocks, np.float32)
    out = np.zeros(1, np.float32)
    k = kernel(code, "k_fence_sum")
    if fence:
        kernels.check(k, (blocks,), (256,), (g, np.int32(n), partial, out))
        assert out[0] == pytest.approx(g.sum(dtype=np.float64), rel=1e-5)
    else:
        e = racy(code, "k_fence_sum", (blocks,), (256,), (g, np.int32(n), partial, out))
        assert "read-after-write hazard on `partial`[" in str(e) and "between blocks" in str(e)


def test_atomic_grid_sum_passes():
    n = 1000
    g = np.random.default_rng(6).random(n).astype(np.float32)
    out = np.zeros(1, np.float32)
    code = src(BLOCK_SUM, ADD="atomicAdd(out, s[0]);")
    kernels.check(kernel(code, "k_block_sum"), (8,), (128,), (g, np.int32(n), out))
    assert out[0] == pytest.approx(g.sum(dtype=np.float64), rel=1e-5)


def test_plain_read_modify_write_across_blocks_is_reported(monkeypatch):
    # blocks on one OS thread, so the schedules cannot lose an update by real parallelism
    # (with several, a loaded machine sometimes does: the race is real)
    monkeypatch.setenv("KERNELS_THREADS", "1")
    n = 1000
    g = np.random.default_rng(6).random(n).astype(np.float32)
    code = src(BLOCK_SUM, ADD="out[0] += s[0];")
    same_under_every_schedule(code, "k_block_sum", (8,), (128,),
                              lambda: (g, np.int32(n), np.zeros(1, np.float32)))
    e = racy(code, "k_block_sum", (8,), (128,), (g, np.int32(n), np.zeros(1, np.float32)))
    msg = str(e)
    assert "hazard on `out`[0] between blocks" in msg and "atomic" in msg
    assert e.argument == "out" and e.index == 0
    assert msg.count(f"line {line_of(code, 'out[0] += s[0];')}") == 2


def test_the_reference_kernels_pass_the_race_detector():
    from autograder.reference import three_kernels as ref
    m = ref.module("cpu")
    g = np.random.default_rng(7).standard_normal(10_000).astype(np.float32)
    partial = np.zeros(8, np.float32)
    kernels.check(m.get_function("k_grad_norm_partial"), (8,), (256,), (g, np.int64(g.size), partial))
    assert partial.sum() == pytest.approx(float((g.astype(np.float64) ** 2).sum()), rel=1e-5)


# ---- no false reports on the language suite's correct kernels ------------------------

def _language_cases():
    from . import test_language as L
    rng = np.random.default_rng(11)
    f32 = lambda n: rng.random(n).astype(np.float32)
    return L.SRC, [
        ("k_static_shared_reverse", (3,), (256,), lambda: (f32(700), np.zeros(700, np.float32), np.int32(700)), 0),
        ("k_extern_shared_sum", (3,), (128,), lambda: (f32(384), np.zeros(3, np.float32)), 512),
        ("k_shared_2d_transpose", (1,), (16, 16), lambda: (f32(256), np.zeros(256, np.float32), np.int32(16)), 0),
        ("k_syncthreads_count", (1,), (64,), lambda: (rng.integers(0, 2, 64).astype(np.int32), np.zeros(3, np.int32)), 0),
        ("k_shuffles", (1,), (64,), lambda: (f32(64), np.zeros(320, np.float32)), 0),
        ("k_warp_reduce", (5,), (256,), lambda: (f32(4097), np.zeros(1, np.float32), np.int64(4097)), 0),
        ("k_ballot", (1,), (64,), lambda: (rng.integers(0, 2, 64).astype(np.int32), np.zeros(6, np.uint32)), 0),
        ("k_atomics_int", (3,), (64,), lambda: (np.zeros(6, np.int32), np.zeros(7, np.uint32), np.zeros(2, np.uint64)), 0),
        ("k_atomics_float", (4,), (128,), lambda: (np.zeros(3, np.float32), np.zeros(1, np.float64)), 0),
    ]


@pytest.mark.parametrize("case", range(9))
def test_correct_kernels_of_the_language_suite_pass_the_race_detector(case):
    from kernels.cpu.launch import racecheck
    code, cases = _language_cases()
    name, grid, block, make, shared = cases[case]
    with racecheck():   # the detector alone: no schedule comparison in between
        kernel(code, name)(grid, block, make(), shared_mem=shared)

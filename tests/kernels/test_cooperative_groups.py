"""Cooperative groups on the CPU backend: thread blocks, tiled_partition<N> with its
shuffles and votes, cg::reduce; barrier misuse through them is reported at the learner's
line."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

# NVIDIA cuda-samples, reduction_kernel.cu, cg flavour of reduce4/reduce6 (BSD-3-Clause):
# block sync through cg::sync(cta), the last warp through tiled_partition<32> shuffles.
CG_REDUCE = r'''
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
extern "C" __global__ void k_cg_reduce(const float* g, float* out, unsigned n) {
    cg::thread_block cta = cg::this_thread_block();
    __shared__ float sdata[1024];
    unsigned tid = cta.thread_rank();
    float sum = 0.0f;
    for (unsigned i = blockIdx.x * cta.size() + tid; i < n; i += cta.size() * gridDim.x) sum += g[i];
    sdata[tid] = sum;
    cg::sync(cta);
    for (unsigned s = cta.size() / 2; s > 32; s >>= 1) {
        if (tid < s) sdata[tid] = sum = sum + sdata[tid + s];
        cta.sync();
    }
    cg::thread_block_tile<32> tile32 = cg::tiled_partition<32>(cta);
    if (cta.thread_rank() < 32) {
        if (cta.size() >= 64) sum += sdata[tid + 32];
        for (int offset = tile32.size() / 2; offset > 0; offset /= 2)
            sum += tile32.shfl_down(sum, offset);
    }
    if (cta.thread_rank() == 0) out[blockIdx.x] = sum;
}
'''

# llm.c dev/cuda/layernorm_forward.cu, layernorm_forward_kernel3 (MIT): one warp per row,
# cg::reduce with cg::plus, cache-hinted loads and stores.
LAYERNORM = r'''
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
namespace cg = cooperative_groups;
extern "C" __global__ void k_layernorm3(float* __restrict__ out, float* __restrict__ mean,
        float* __restrict__ rstd, const float* __restrict__ inp, const float* __restrict__ weight,
        const float* __restrict__ bias, int N, int C) {
    cg::thread_block block = cg::this_thread_block();
    cg::thread_block_tile<32> warp = cg::tiled_partition<32>(block);
    int idx = blockIdx.x * warp.meta_group_size() + warp.meta_group_rank();
    if (idx >= N) return;
    const float* x = inp + idx * C;
    float sum = 0.0f;
    for (int i = warp.thread_rank(); i < C; i += warp.size()) sum += x[i];
    sum = cg::reduce(warp, sum, cg::plus<float>{});
    float m = sum / C;
    if (warp.thread_rank() == 0 && mean != nullptr) __stcs(mean + idx, m);
    sum = 0.0f;
    for (int i = warp.thread_rank(); i < C; i += warp.size()) {
        float diff = x[i] - m;
        sum += diff * diff;
    }
    sum = cg::reduce(warp, sum, cg::plus<float>{});
    float s = rsqrtf(sum / C + 1e-5f);
    if (warp.thread_rank() == 0 && rstd != nullptr) __stcs(rstd + idx, s);
    float* o = out + idx * C;
    for (int c = warp.thread_rank(); c < C; c += warp.size()) {
        float n = s * (__ldcs(x + c) - m);
        __stcs(o + c, n * weight[c] + bias[c]);
    }
}
'''

TILES = r'''
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
namespace cg = cooperative_groups;
extern "C" __global__ void k_tiles(const int* v, int* out) {
    cg::thread_block b = cg::this_thread_block();
    cg::thread_block_tile<8> t8 = cg::tiled_partition<8>(b);
    int x = v[b.thread_rank()];
    int r = b.thread_rank();
    out[6 * r + 0] = t8.thread_rank();
    out[6 * r + 1] = t8.meta_group_rank();
    out[6 * r + 2] = cg::reduce(t8, x, cg::greater<int>());
    out[6 * r + 3] = t8.shfl(x, 0);
    out[6 * r + 4] = t8.all(x > 0);
    out[6 * r + 5] = (int)t8.ballot(x % 2);
}
extern "C" __global__ void k_divergent_sync(float* x) {
    cg::thread_block b = cg::this_thread_block();
    if (b.thread_rank() < 16) {
        x[b.thread_rank()] = 1.0f;
        b.sync();
    } else {
        b.sync();
    }
}
'''


@pytest.mark.parametrize("n,blocks,threads", [(1000, 2, 64), (100_003, 7, 256), (40, 1, 1024)])
def test_cg_block_reduction_matches_numpy(n, blocks, threads):
    g = np.random.default_rng(n).random(n).astype(np.float32)
    out = np.zeros(blocks, np.float32)
    kernels.check(kernel(CG_REDUCE, "k_cg_reduce"), (blocks,), (threads,), (g, out, np.uint32(n)))
    assert out.sum(dtype=np.float64) == pytest.approx(g.sum(dtype=np.float64), rel=1e-5)


@pytest.mark.parametrize("N,C,threads", [(8, 100, 128), (5, 768, 64), (3, 31, 256)])
def test_llm_c_layernorm_kernel3_matches_numpy(N, C, threads):
    rng = np.random.default_rng(C)
    inp = rng.standard_normal((N, C)).astype(np.float32)
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    out, mean, rstd = np.zeros((N, C), np.float32), np.zeros(N, np.float32), np.zeros(N, np.float32)
    warps = threads // 32
    kernels.check(kernel(LAYERNORM, "k_layernorm3"), (-(-N // warps),), (threads,),
                  (out, mean, rstd, inp, w, b, np.int32(N), np.int32(C)))
    x = inp.astype(np.float64)
    m = x.mean(1)
    s = 1 / np.sqrt(((x - m[:, None]) ** 2).mean(1) + 1e-5)
    np.testing.assert_allclose(mean, m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rstd, s, rtol=1e-5)
    np.testing.assert_allclose(out, (x - m[:, None]) * s[:, None] * w + b, rtol=1e-4, atol=1e-5)


def test_tiles_of_eight_ranks_reduce_shuffle_and_votes():
    v = np.random.default_rng(0).integers(-20, 100, 64).astype(np.int32)
    v[8:16] = np.abs(v[8:16]) + 1
    out = np.zeros(6 * 64, np.int32)
    kernel(TILES, "k_tiles")((1,), (64,), (v, out))
    got = out.reshape(64, 6)
    r = np.arange(64)
    tiles = v.reshape(8, 8)
    np.testing.assert_array_equal(got[:, 0], r % 8)
    np.testing.assert_array_equal(got[:, 1], r // 8)
    np.testing.assert_array_equal(got[:, 2], np.repeat(tiles.max(1), 8))
    np.testing.assert_array_equal(got[:, 3], np.repeat(tiles[:, 0], 8))
    np.testing.assert_array_equal(got[:, 4], np.repeat((tiles > 0).all(1), 8))
    bits = ((tiles % 2 != 0) * (1 << np.arange(8))).sum(1)
    np.testing.assert_array_equal(got[:, 5], np.repeat(bits, 8))


def test_a_block_sync_in_a_divergent_branch_names_the_learners_lines():
    with pytest.raises(kernels.BarrierError) as e:
        kernel(TILES, "k_divergent_sync")((1,), (32,), (np.zeros(32, np.float32),))
    lines = [TILES[:TILES.index(m)].count("\n") + 1 for m in ("b.sync();\n    } else", "b.sync();\n    }\n}")]
    assert f"line {lines[0]}" in str(e.value) and f"line {lines[1]}" in str(e.value)

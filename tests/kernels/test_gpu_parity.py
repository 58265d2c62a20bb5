"""The same kernels on both backends give the same results up to float rounding.
Skipped without a GPU (CuPy importable and a device visible)."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from autograder.reference import three_kernels as ref

from .conftest import GPU_OK, GPU_REASON, kernel

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not GPU_OK, reason=f"no GPU backend: {GPU_REASON}")]

SUITE = r'''
extern "C" __global__ void k_smem_reduce(const float* g, long long n, float* partial) {
    extern __shared__ float s[];
    float v = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        v += g[i] * g[i];
    s[threadIdx.x] = v;
    __syncthreads();
    for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
extern "C" __global__ void k_shfl_reduce(const float* g, long long n, float* out) {
    float v = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        v += g[i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, v);
}
extern "C" __global__ void k_histogram(const int* x, long long n, unsigned int* bins, int nbins) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        atomicAdd(&bins[x[i] % nbins], 1u);
}
extern "C" __global__ void k_axpy(float a, const float* x, float* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        y[i] = fmaf(a, x[i], y[i]);
}
'''
SIZES = [1, 31, 1000, 65_537, 1_000_003]


def both(fn):
    import cupy
    return fn(np, "cpu"), fn(cupy, "cupy")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("threads", [32, 256, 1024])
def test_shared_memory_reduction(n, threads):
    g = np.random.default_rng(n).standard_normal(n).astype(np.float32)

    def run(xp, b):
        p = xp.zeros(7, dtype=np.float32)
        kernel(SUITE, "k_smem_reduce", b)((7,), (threads,), (xp.asarray(g), np.int64(n), p), shared_mem=4 * threads)
        return p.get() if b == "cupy" else p
    cpu, gpu = both(run)
    np.testing.assert_allclose(cpu, gpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", SIZES)
def test_shuffle_reduction(n):
    g = np.random.default_rng(n).random(n).astype(np.float32)

    def run(xp, b):
        out = xp.zeros(1, dtype=np.float32)
        kernel(SUITE, "k_shfl_reduce", b)((13,), (128,), (xp.asarray(g), np.int64(n), out))
        return float(out[0])
    cpu, gpu = both(run)
    assert cpu == pytest.approx(gpu, rel=1e-5)


@pytest.mark.parametrize("n", SIZES)
def test_atomic_histogram_and_grid_stride_axpy(n):
    x = np.random.default_rng(n).integers(0, 1000, n).astype(np.int32)
    y0 = np.random.default_rng(n + 1).random(n).astype(np.float32)

    def run(xp, b):
        bins = xp.zeros(17, dtype=np.uint32)
        kernel(SUITE, "k_histogram", b)((9,), (64,), (xp.asarray(x), np.int64(n), bins, np.int32(17)))
        y = xp.asarray(y0.copy())
        kernel(SUITE, "k_axpy", b)((5,), (96,), (np.float32(0.5), xp.asarray(y0), y, np.int64(n)))
        return (bins.get(), y.get()) if b == "cupy" else (bins, y)
    (cb, cy), (gb, gy) = both(run)
    np.testing.assert_array_equal(cb, gb)
    np.testing.assert_allclose(cy, gy, rtol=1e-6)


@pytest.mark.parametrize("sizes", [[0, 1, 257], [1_000_003, 255, 4096]])
@pytest.mark.parametrize("threads", [32, 256, 1024])
def test_reference_clip(sizes, threads):
    import cupy
    host = [np.random.default_rng(s).standard_normal(s).astype(np.float32) for s in sizes]
    cg = [h.copy() for h in host]
    gg = [cupy.asarray(h) for h in host]
    assert ref.clip_grad_norm(cg, 1.0, threads) == pytest.approx(
        ref.clip_grad_norm(gg, 1.0, threads), rel=1e-5)
    for c, g in zip(cg, gg):
        np.testing.assert_allclose(c, g.get(), rtol=1e-5, atol=1e-7)


def test_argument_checks_run_before_cupy():
    import cupy
    k = kernels.RawKernel(SUITE, "k_axpy", backend="cupy")
    with pytest.raises(TypeError, match="`a`"):
        k((1,), (32,), (0.5, cupy.zeros(4, cupy.float32), cupy.zeros(4, cupy.float32), 4))

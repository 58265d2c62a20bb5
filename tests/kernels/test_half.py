"""__half (cuda_fp16.h) and __nv_bfloat16 (cuda_bf16.h): storage, conversions rounded to
nearest even, arithmetic rounded after every operation, as on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import kernel

SRC = r'''
#include <cuda_fp16.h>
#include <cuda_bf16.h>
// llm.c-style mixed precision: half storage, float accumulation
extern "C" __global__ void k_axpy_half(const __half* x, __half* y, __half a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __hfma(a, x[i], y[i]);
}
extern "C" __global__ void k_half_ops(const float* f, __half* h, float* back, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    h[i] = __float2half(f[i]);
    __half2 p = __floats2half2_rn(f[i], -f[i]);
    back[3 * i + 0] = __half2float(h[i]);
    back[3 * i + 1] = __half2float(__hadd(__low2half(p), __high2half(p)));
    back[3 * i + 2] = __half2float(h[i] * h[i] + __float2half(1.0f));
}
extern "C" __global__ void k_bf16(const float* f, __nv_bfloat16* b, float* back, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    b[i] = __float2bfloat16(f[i]);
    back[i] = __bfloat162float(b[i]) * 2.0f;
}
'''


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, round to nearest even (the reference)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def samples(n, seed):
    rng = np.random.default_rng(seed)
    f = (rng.standard_normal(n) * 10 ** rng.uniform(-6, 4, n)).astype(np.float32)
    edge = np.array([0.0, -0.0, 65504.0, 70000.0, 1e-7, 6e-8, 2049.0, 2051.0], np.float32)
    f[:min(n, edge.size)] = edge[:n]   # max half, overflow, subnormals, ties to even
    return f


@pytest.mark.parametrize("n", [1, 8, 1000])
def test_half_conversions_and_arithmetic_match_numpy_float16(n):
    f = samples(n, n)
    h = np.zeros(n, np.float16)
    back = np.zeros(3 * n, np.float32)
    kernel(SRC, "k_half_ops")((-(-n // 128),), (128,), (f, h, back, np.int32(n)))
    with np.errstate(over="ignore", invalid="ignore"):   # 70000 overflows to inf, as in CUDA
        want = f.astype(np.float16)
        sums = (want + (-f).astype(np.float16)).astype(np.float32)
        squares = (want * want + np.float16(1)).astype(np.float32)
    np.testing.assert_array_equal(h.view(np.uint16), want.view(np.uint16))
    got = back.reshape(n, 3)
    np.testing.assert_array_equal(got[:, 0], want.astype(np.float32))
    np.testing.assert_array_equal(got[:, 1], sums)
    np.testing.assert_array_equal(got[:, 2], squares)


def test_half_fma_axpy():
    n = 500
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n).astype(np.float16), rng.standard_normal(n).astype(np.float16)
    y0 = y.copy()
    kernel(SRC, "k_axpy_half")((4,), (128,), (x, y, np.float16(0.5), np.int32(n)))
    want = (np.float32(0.5) * x.astype(np.float32) + y0.astype(np.float32)).astype(np.float16)
    np.testing.assert_array_equal(y, want)


def test_bfloat16_round_trip_to_nearest_even():
    n = 777
    f = samples(n, 3)
    bits = np.zeros(n, np.uint16)
    back = np.zeros(n, np.float32)
    kernel(SRC, "k_bf16")((7,), (128,), (f, bits, back, np.int32(n)))
    np.testing.assert_array_equal(bits, bf16_bits(f))
    np.testing.assert_array_equal(back, (bf16_bits(f).astype(np.uint32) << 16).view(np.float32) * 2)


def test_bfloat16_arrays_must_be_their_bits():
    with pytest.raises(TypeError, match="bfloat16.*uint16"):
        kernel(SRC, "k_bf16")((1,), (32,), (np.zeros(4, np.float32), np.zeros(4, np.float32),
                                            np.zeros(4, np.float32), np.int32(4)))

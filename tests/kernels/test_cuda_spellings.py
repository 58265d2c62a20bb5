"""Valid CUDA spellings from real sources compile and run on the CPU backend: typedef'd
scalar parameters, default arguments, `extern float __shared__ s[]`, a user `lerp`, the
cuda-samples SharedMemory<T> helper (BSD-3-Clause, written here in the same form), CUDA
headers; a header we do not have is named as such."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import kernel

SRC = r'''
#include <cuda_runtime.h>
#include <device_launch_parameters.h>
typedef unsigned int index_t;
using real = float;

// cuda-samples' SharedMemory<T> (reduction_kernel.cu): dynamic shared memory as T*
template <class T> struct SharedMemory {
    __device__ inline operator T*() { extern __shared__ int __smem[]; return (T*)__smem; }
    __device__ inline operator const T*() const { extern __shared__ int __smem[]; return (T*)__smem; }
};

// helper_math.h in cuda-samples defines its own lerp
__device__ inline float lerp(float a, float b, float t) { return a + t * (b - a); }

__device__ float first_or(const float* p = NULL, float d = 2.0f) { return p ? p[0] : d; }

extern "C" __global__ void k_block_sum(const real* g, real* out, uint n) {
    real* s = SharedMemory<real>();
    index_t t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    s[t] = i < n ? g[i] : 0.0f;
    __syncthreads();
    for (index_t h = blockDim.x / 2; h > 0; h >>= 1) {
        if (t < h) s[t] += s[t + h];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

extern "C" __global__ void k_lerp(const float* a, const float* b, float* out, ushort n, index_t bias) {
    extern float __shared__ tile[];
    unsigned t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? a[i] : 0.0f;
    __syncthreads();
    if (i < n) out[i] = lerp(tile[t], b[i], 0.25f) + first_or() + first_or(b + i) + bias;
}
'''


@pytest.mark.parametrize("n,threads", [(1000, 128), (64, 64), (5, 32)])
def test_shared_memory_helper_typedefs_and_uint(n, threads):
    g = np.random.default_rng(n).random(n).astype(np.float32)
    blocks = -(-n // threads)
    out = np.zeros(blocks, np.float32)
    kernels.check(kernel(SRC, "k_block_sum"), (blocks,), (threads,), (g, out, n), shared_mem=4 * threads)
    pad = np.zeros(blocks * threads, np.float32)
    pad[:n] = g
    np.testing.assert_allclose(out, pad.reshape(blocks, threads).sum(1), rtol=1e-5)


def test_user_lerp_default_arguments_and_shared_after_the_type():
    n = 300
    rng = np.random.default_rng(1)
    a, b = rng.random(n).astype(np.float32), rng.random(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    kernel(SRC, "k_lerp")((3,), (128,), (a, b, out, np.uint16(n), 5), shared_mem=512)
    np.testing.assert_allclose(out, a + 0.25 * (b - a) + 2 + b + 5, rtol=1e-6)


def test_typedef_parameters_are_checked_as_the_type_they_name():
    k = kernel(SRC, "k_block_sum")
    with pytest.raises(TypeError, match="`n`.*does not fit"):
        k((1,), (32,), (np.zeros(4, np.float32), np.zeros(1, np.float32), -1))
    with pytest.raises(TypeError, match="`g`.*float32"):
        k((1,), (32,), (np.zeros(4, np.float64), np.zeros(1, np.float32), 4))


def test_a_missing_header_is_said_to_be_unsupported():
    code = 'extern "C" __global__ void k(float* x) { x[0] = 1; }\n'
    with pytest.raises(kernels.CompileError) as e:
        kernels.RawKernel('#include <thrust/device_vector.h>\n' + code, "k", backend="cpu").compile()
    msg = str(e.value)
    assert "line 1" in msg and "thrust/device_vector.h" in msg
    assert "not supported by the CPU backend" in msg and "cuda_runtime.h" in msg


def test_a_compile_error_in_a_user_lerp_names_lerp_not_our_rename():
    code = '__device__ float lerp(float a, float b) { return a + b }\n' \
           'extern "C" __global__ void k(float* x) { x[0] = lerp(1, 2); }\n'
    with pytest.raises(kernels.CompileError) as e:
        kernels.RawKernel(code, "k", backend="cpu").compile()
    assert "gc_user" not in e.value.log and "expected" in e.value.log

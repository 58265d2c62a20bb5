"""The kernel language on each backend: every feature is a small self-checking kernel
compared with a NumPy expression."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import kernel, to_numpy, xp_of

SRC = r"""
extern "C" __global__ void k_index3d(int* out) {
    int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int nt = blockDim.x * blockDim.y * blockDim.z;
    int i = b * nt + t;
    out[4 * i + 0] = threadIdx.x + 10 * threadIdx.y + 100 * threadIdx.z;
    out[4 * i + 1] = blockIdx.x + 10 * blockIdx.y + 100 * blockIdx.z;
    out[4 * i + 2] = blockDim.x + 10 * blockDim.y + 100 * blockDim.z;
    out[4 * i + 3] = gridDim.x + 10 * gridDim.y + 100 * gridDim.z + 1000 * (warpSize == 32);
}

extern "C" __global__ void k_dim3(int* out) {
    dim3 d(4, 2);
    uint3 t = threadIdx;
    out[0] = d.x * 100 + d.y * 10 + d.z;
    out[1] = t.x;
}

__device__ __forceinline__ float square(float v) { return v * v; }

extern "C" __global__ void k_static_shared_reverse(const float* in, float* out, int n) {
    __shared__ float tile[256];
    int t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? in[i] : 0.0f;
    __syncthreads();
    int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - t);
    if (j < n) out[j] = square(tile[t]);
}

extern "C" __global__ void k_extern_shared_sum(const float* in, float* out) {
    extern __shared__ float buf[];
    int t = threadIdx.x;
    buf[t] = in[blockIdx.x * blockDim.x + t];
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = buf[0];
}

extern "C" __global__ void k_shared_2d_transpose(const float* in, float* out, int w) {
    __shared__ float tile[16][17];
    int x = threadIdx.x, y = threadIdx.y;
    tile[y][x] = in[y * w + x];
    __syncthreads();
    out[y * w + x] = tile[x][y];
}

extern "C" __global__ void k_syncthreads_count(const int* flags, int* out) {
    int c = __syncthreads_count(flags[threadIdx.x]);
    int a = __syncthreads_and(flags[threadIdx.x]);
    int o = __syncthreads_or(flags[threadIdx.x]);
    if (threadIdx.x == 0) { out[0] = c; out[1] = a; out[2] = o; }
}

extern "C" __global__ void k_shuffles(const float* in, float* out) {
    int t = threadIdx.x;
    float v = in[t];
    out[5 * t + 0] = __shfl_sync(0xffffffffu, v, 3);
    out[5 * t + 1] = __shfl_up_sync(0xffffffffu, v, 1);
    out[5 * t + 2] = __shfl_down_sync(0xffffffffu, v, 2);
    out[5 * t + 3] = __shfl_xor_sync(0xffffffffu, v, 1);
    out[5 * t + 4] = __shfl_down_sync(0xffffffffu, v, 1, 8);
}

extern "C" __global__ void k_warp_reduce(const float* in, float* out, long long n) {
    float v = 0.0f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)blockDim.x * gridDim.x)
        v += in[i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) atomicAdd(out, v);
}

extern "C" __global__ void k_ballot(const int* pred, unsigned int* out) {
    int t = threadIdx.x;
    unsigned b = __ballot_sync(0xffffffffu, pred[t]);
    int any = __any_sync(0xffffffffu, pred[t]);
    int all = __all_sync(0xffffffffu, pred[t]);
    __syncwarp();
    if ((t & 31) == 0) { out[3 * (t / 32)] = b; out[3 * (t / 32) + 1] = any; out[3 * (t / 32) + 2] = all; }
}

extern "C" __global__ void k_atomics_int(int* i, unsigned int* u, unsigned long long* ull) {
    int t = threadIdx.x + blockIdx.x * blockDim.x;
    atomicAdd(&i[0], 1);
    atomicAdd(&u[0], 2u);
    atomicAdd(&ull[0], 3ull);
    atomicMax(&i[1], t);
    atomicMin(&i[2], -t);
    atomicMax(&u[1], (unsigned)t);
    atomicMin(&u[2], (unsigned)t);
    atomicSub(&i[3], 1);
    atomicOr(&u[3], 1u << (t % 32));
    atomicAnd(&i[4], ~(1 << (t % 8)));
    atomicXor(&u[4], 1u);
    atomicCAS(&i[5], 0, t + 1);
    atomicExch(&u[5], 7u);
    atomicInc(&u[6], 9u);
    atomicMax(&ull[1], (unsigned long long)t);
}

extern "C" __global__ void k_atomics_float(float* f, double* d) {
    atomicAdd(&f[0], 0.5f);
    atomicAdd(&d[0], 0.25);
    atomicAdd(f + 1, 1.0f);
    atomicExch(&f[2], 3.0f);
}

extern "C" __global__ void k_math(const float* x, float* out) {
    int i = threadIdx.x;
    float v = x[i];
    float a = fabsf(v) + 1.0f;
    out[12 * i + 0] = sqrtf(a);
    out[12 * i + 1] = rsqrtf(a);
    out[12 * i + 2] = fminf(v, 0.5f);
    out[12 * i + 3] = fmaxf(v, 0.5f);
    out[12 * i + 4] = __fdividef(v, a);
    out[12 * i + 5] = expf(v);
    out[12 * i + 6] = __expf(v);
    out[12 * i + 7] = isfinite(v / (v - v)) ? 1.0f : 0.0f;
    out[12 * i + 8] = min(i, 3) + max(v, -1.0f);
    out[12 * i + 9] = (float)(isinf(INFINITY) && isnan(NAN));
    out[12 * i + 10] = logf(a) + tanhf(v) + powf(a, 1.5f);
    out[12 * i + 11] = __ldg(&x[i]) + __ldg(x + i);
}

extern "C" __global__ void k_vectors(const float4* in, float2* out2, int4* iout) {
    int i = threadIdx.x;
    float4 v = in[i];
    out2[i] = make_float2(v.x + v.y, v.z * v.w);
    iout[i] = make_int4(i, 2 * i, 3 * i, 4 * i);
}

extern "C" __global__ void k_float4_view(const float* g, float* out, int n4) {
    const float4* g4 = reinterpret_cast<const float4*>(g);
    int i = threadIdx.x;
    if (i < n4) { float4 v = g4[i]; out[i] = v.x + v.y + v.z + v.w; }
}

extern "C" __global__ void k_scalars(double* out, double d, long long ll, unsigned int u, bool b, unsigned long long big) {
    out[0] = d; out[1] = (double)ll; out[2] = (double)u; out[3] = b ? 1.0 : 0.0; out[4] = (double)(big >> 40);
}

extern "C" __global__ void k_printf(int* out) {
    printf("thread %d says hi\n", (int)threadIdx.x);
    out[threadIdx.x] = 1;
}
"""


def k(name, backend):
    return kernel(SRC, name, backend)


def test_thread_and_block_indices_in_3d(backend):
    xp = xp_of(backend)
    grid, block = (2, 3, 2), (4, 2, 3)
    total = 12 * 24
    out = xp.zeros(4 * total, dtype=np.int32)
    k("k_index3d", backend)(grid, block, (out,))
    got = to_numpy(out).reshape(-1, 4)
    tz, ty, tx = np.meshgrid(range(3), range(2), range(4), indexing="ij")
    tid = (tx + 10 * ty + 100 * tz).reshape(-1)
    bz, by, bx = np.meshgrid(range(2), range(3), range(2), indexing="ij")
    bid = (bx + 10 * by + 100 * bz).reshape(-1)
    np.testing.assert_array_equal(got[:, 0], np.tile(tid, 12))
    np.testing.assert_array_equal(got[:, 1], np.repeat(bid, 24))
    assert (got[:, 2] == 4 + 20 + 300).all()
    assert (got[:, 3] == 2 + 30 + 200 + 1000).all()


def test_dim3_defaults_and_uint3(backend):
    xp = xp_of(backend)
    out = xp.zeros(2, dtype=np.int32)
    k("k_dim3", backend)((1,), (1,), (out,))
    assert to_numpy(out).tolist() == [421, 0]


@pytest.mark.parametrize("n", [1, 255, 256, 700])
def test_static_shared_memory_and_device_function(backend, n):
    xp = xp_of(backend)
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = xp.full(n, -1, dtype=np.float32)
    blocks = -(-n // 256)
    k("k_static_shared_reverse", backend)((blocks,), (256,), (xp.asarray(x), out, np.int32(n)))
    pad = np.zeros(blocks * 256, np.float32)
    pad[:n] = x
    expect = (pad.reshape(blocks, 256)[:, ::-1] ** 2).reshape(-1)[:n]
    np.testing.assert_allclose(to_numpy(out), expect, rtol=1e-6)


@pytest.mark.parametrize("threads", [32, 128, 1024])
def test_extern_shared_memory_reduction(backend, threads):
    xp = xp_of(backend)
    x = np.random.default_rng(threads).random(3 * threads).astype(np.float32)
    out = xp.zeros(3, dtype=np.float32)
    k("k_extern_shared_sum", backend)((3,), (threads,), (xp.asarray(x), out), shared_mem=4 * threads)
    np.testing.assert_allclose(to_numpy(out), x.reshape(3, threads).sum(1), rtol=1e-5)


def test_two_dimensional_shared_array(backend):
    xp = xp_of(backend)
    x = np.arange(256, dtype=np.float32)
    out = xp.zeros(256, dtype=np.float32)
    k("k_shared_2d_transpose", backend)((1,), (16, 16), (xp.asarray(x), out, np.int32(16)))
    np.testing.assert_array_equal(to_numpy(out), x.reshape(16, 16).T.reshape(-1))


def test_syncthreads_count_and_or(backend):
    xp = xp_of(backend)
    flags = np.zeros(64, np.int32)
    flags[[1, 5, 9]] = 1
    out = xp.zeros(3, dtype=np.int32)
    k("k_syncthreads_count", backend)((1,), (64,), (xp.asarray(flags), out))
    assert to_numpy(out).tolist() == [3, 0, 1]


def test_shuffle_variants(backend):
    xp = xp_of(backend)
    v = np.arange(64, dtype=np.float32) * 1.5
    out = xp.zeros(5 * 64, dtype=np.float32)
    k("k_shuffles", backend)((1,), (64,), (xp.asarray(v), out))
    got = to_numpy(out).reshape(64, 5)
    lane = np.arange(64) % 32
    base = np.arange(64) - lane
    np.testing.assert_array_equal(got[:, 0], v[base + 3])
    np.testing.assert_array_equal(got[:, 1], np.where(lane >= 1, v[np.maximum(np.arange(64) - 1, 0)], v))
    np.testing.assert_array_equal(got[:, 2], np.where(lane + 2 < 32, v[np.minimum(np.arange(64) + 2, 63)], v))
    np.testing.assert_array_equal(got[:, 3], v[np.arange(64) ^ 1])
    seg = lane % 8
    np.testing.assert_array_equal(got[:, 4], np.where(seg + 1 < 8, v[np.minimum(np.arange(64) + 1, 63)], v))


@pytest.mark.parametrize("n,grid,block", [(1000, 3, 64), (4097, 5, 256), (31, 1, 32)])
def test_warp_shuffle_reduction_with_atomics(backend, n, grid, block):
    xp = xp_of(backend)
    x = np.random.default_rng(n).random(n).astype(np.float32)
    out = xp.zeros(1, dtype=np.float32)
    k("k_warp_reduce", backend)((grid,), (block,), (xp.asarray(x), out, np.int64(n)))
    np.testing.assert_allclose(to_numpy(out)[0], x.astype(np.float64).sum(), rtol=1e-5)


def test_ballot_any_all(backend):
    xp = xp_of(backend)
    pred = np.zeros(64, np.int32)
    pred[[0, 3, 31]] = 1
    pred[32:] = 1
    out = xp.zeros(6, dtype=np.uint32)
    k("k_ballot", backend)((1,), (64,), (xp.asarray(pred), out))
    got = to_numpy(out).tolist()
    assert got == [(1 << 0) | (1 << 3) | (1 << 31), 1, 0, 0xFFFFFFFF, 1, 1]


def test_integer_atomics(backend):
    xp = xp_of(backend)
    i = xp.asarray(np.array([0, -5, 5, 0, -1, 0], np.int32))
    u = xp.asarray(np.array([0, 0, 1000, 0, 0, 0, 0], np.uint32))
    ull = xp.zeros(2, dtype=np.uint64)
    grid, block = 3, 64
    n = grid * block
    k("k_atomics_int", backend)((grid,), (block,), (i, u, ull))
    gi, gu, gl = to_numpy(i), to_numpy(u), to_numpy(ull)
    assert gi[0] == n and gu[0] == 2 * n and gl[0] == 3 * n
    assert gi[1] == n - 1 and gi[2] == -(n - 1)
    assert gu[1] == n - 1 and gu[2] == 0
    assert gi[3] == -n and gu[3] == 0xFFFFFFFF and gi[4] == -1 & ~0xFF
    assert gu[4] == n % 2 and 1 <= gi[5] <= n and gu[5] == 7
    assert gu[6] == n % 10 and gl[1] == n - 1


def test_float_and_double_atomics(backend):
    xp = xp_of(backend)
    f = xp.zeros(3, dtype=np.float32)
    d = xp.zeros(1, dtype=np.float64)
    k("k_atomics_float", backend)((4,), (128,), (f, d))
    assert to_numpy(f).tolist() == [256.0, 512.0, 3.0]
    assert to_numpy(d).tolist() == [128.0]


def test_math_functions_and_intrinsics(backend):
    xp = xp_of(backend)
    x = np.linspace(-3, 3, 32).astype(np.float32)
    out = xp.zeros(12 * 32, dtype=np.float32)
    k("k_math", backend)((1,), (32,), (xp.asarray(x), out))
    got = to_numpy(out).reshape(32, 12)
    a = np.abs(x) + np.float32(1)
    i = np.arange(32)
    expect = np.stack([np.sqrt(a), 1 / np.sqrt(a), np.minimum(x, 0.5), np.maximum(x, 0.5), x / a,
                       np.exp(x), np.exp(x), np.zeros(32), np.minimum(i, 3) + np.maximum(x, -1),
                       np.ones(32), np.log(a) + np.tanh(x) + a ** 1.5, 2 * x], axis=1)
    np.testing.assert_allclose(got, expect, rtol=2e-6 if backend == "cpu" else 1e-5, atol=1e-6)


def test_vector_types(backend):
    xp = xp_of(backend)
    v = np.arange(32, dtype=np.float32)
    out2 = xp.zeros(16, dtype=np.float32)
    iout = xp.zeros(32, dtype=np.int32)
    k("k_vectors", backend)((1,), (8,), (xp.asarray(v), out2, iout))
    q = v.reshape(8, 4)
    np.testing.assert_array_equal(to_numpy(out2).reshape(8, 2), np.stack([q[:, 0] + q[:, 1], q[:, 2] * q[:, 3]], 1))
    np.testing.assert_array_equal(to_numpy(iout).reshape(8, 4), np.arange(8)[:, None] * np.arange(1, 5))


def test_reinterpret_cast_to_float4_keeps_working(backend):
    xp = xp_of(backend)
    g = np.arange(16, dtype=np.float32)
    out = xp.zeros(4, dtype=np.float32)
    k("k_float4_view", backend)((1,), (4,), (xp.asarray(g), out, np.int32(4)))
    np.testing.assert_array_equal(to_numpy(out), g.reshape(4, 4).sum(1))


def test_scalars_keep_their_width(backend):
    xp = xp_of(backend)
    out = xp.zeros(5, dtype=np.float64)
    k("k_scalars", backend)((1,), (1,), (out, 2.5, 7, np.uint32(9), True, np.uint64(3 << 40)))
    assert to_numpy(out).tolist() == [2.5, 7.0, 9.0, 1.0, 3.0]


def test_printf_reaches_python_stdout(capfd):
    out = np.zeros(2, np.int32)
    k("k_printf", "cpu")((1,), (2,), (out,))
    text = capfd.readouterr().out
    assert "thread 0 says hi" in text and "thread 1 says hi" in text

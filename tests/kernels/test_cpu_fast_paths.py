"""The CPU backend's fast paths keep its guarantees: per-kernel plain calls (no fibers for a
kernel without barriers), threadIdx/blockIdx read from the fiber's stack slot, and the
reference clip keeping its arrays in the shared arena between its three kernels."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from autograder.reference import three_kernels as ref
from kernels.cpu import launch
from kernels.cpu.translate import fiber_kernels, translation_unit

MIXED = r'''
__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
__device__ void sync_helper() { __syncthreads(); }

extern "C" __global__ void k_ids(int* out) {            // no barrier: plain calls
    int i = (blockIdx.y * gridDim.x + blockIdx.x) * (blockDim.x * blockDim.y)
            + threadIdx.y * blockDim.x + threadIdx.x;
    out[3 * i] = threadIdx.x; out[3 * i + 1] = threadIdx.y; out[3 * i + 2] = blockIdx.x + 100 * blockIdx.y;
}
extern "C" __global__ void k_ids_sync(int* out) {       // a barrier through a helper
    int i = (blockIdx.y * gridDim.x + blockIdx.x) * (blockDim.x * blockDim.y)
            + threadIdx.y * blockDim.x + threadIdx.x;
    sync_helper();
    out[3 * i] = threadIdx.x; out[3 * i + 1] = threadIdx.y; out[3 * i + 2] = blockIdx.x + 100 * blockIdx.y;
}
extern "C" __global__ void k_warp(const float* x, float* out) {
    float s = warp_sum(x[threadIdx.x]);
    if ((threadIdx.x & 31) == 0) out[threadIdx.x / 32] = s;
}
'''


def test_fiber_kernels_per_kernel():
    assert fiber_kernels(ref.source()) == {"k_grad_norm_partial", "k_grad_norm_final"}
    found = fiber_kernels(MIXED)
    assert {"k_ids_sync", "k_warp"} <= found and "k_ids" not in found
    tu = translation_unit(ref.source(), "grad_clip.cu")
    assert "launch_kernel(&k_grad_scale, d, names, false)" in tu
    assert "launch_kernel(&k_grad_norm_partial, d, names, true)" in tu


@pytest.mark.parametrize("code", [
    # a barrier hidden in a macro, or a function declared before its body: all use fibers
    '#define SYNC __syncthreads()\n__global__ void a(int* x) { SYNC; }\n__global__ void b(int* x) {}',
    '__device__ void h();\n__global__ void a(int* x) { h(); }\n__device__ void h() { __syncthreads(); }',
])
def test_fiber_kernels_falls_back_to_fibers_when_unsure(code):
    assert fiber_kernels(code) is None


@pytest.mark.parametrize("name", ["k_ids", "k_ids_sync"])
@pytest.mark.parametrize("spec", ["forward", "reverse", "random:3"])
def test_thread_and_block_indices_in_both_modes(name, spec):
    k = kernels.RawModule(code=MIXED, backend="cpu").get_function(name)
    grid, block = (3, 2), (8, 4)
    n = 3 * 2 * 8 * 4
    out = np.full(3 * n, -1, np.int32)
    with kernels.schedule(spec):
        k(grid, block, (out,))
    got = out.reshape(n, 3)
    want = [(tx, ty, bx + 100 * by) for by in range(2) for bx in range(3)
            for ty in range(4) for tx in range(8)]
    assert [tuple(r) for r in got] == want


def test_warp_operation_through_a_device_function():
    k = kernels.RawModule(code=MIXED, backend="cpu").get_function("k_warp")
    x = np.arange(128, dtype=np.float32)
    out = np.zeros(4, np.float32)
    kernels.check(k, (1,), (128,), (x, out))
    np.testing.assert_allclose(out, x.reshape(4, 32).sum(1))


def test_larger_fiber_stacks(monkeypatch):
    monkeypatch.setenv("KERNELS_STACK_KB", "512")
    k = kernels.RawModule(code=MIXED, backend="cpu").get_function("k_ids_sync")
    out = np.full(3 * 64, -1, np.int32)
    k((1,), (64,), (out,))
    assert list(out.reshape(64, 3)[:, 0]) == list(range(64))


def norm64(arrays):
    return float(np.sqrt(sum((np.asarray(a, np.float64) ** 2).sum() for a in arrays)))


def test_clip_with_the_same_array_twice_and_overlapping_views():
    rng = np.random.default_rng(5)
    g = rng.standard_normal(5000).astype(np.float32)
    want = g.astype(np.float64)
    norm = ref.clip_grad_norm([g, g], 1.0)   # g counts twice and is scaled twice
    s = 1.0 / (np.sqrt(2 * (want ** 2).sum()) + 1e-6)
    assert norm == pytest.approx(np.sqrt(2 * (want ** 2).sum()), rel=1e-5)
    np.testing.assert_allclose(g, want * s * s, rtol=1e-5)

    base = rng.standard_normal(3000).astype(np.float32)
    a, b = base[:2000], base[1000:]   # overlap in [1000, 2000)
    exact = base.astype(np.float64)
    norm = ref.clip_grad_norm([a, b], 1.0)
    total = np.sqrt((exact[:2000] ** 2).sum() + (exact[1000:] ** 2).sum())
    assert norm == pytest.approx(total, rel=1e-5)
    s = np.float32(1.0 / (total + 1e-6))
    expect = exact.astype(np.float32)
    expect[:2000] *= s          # k_grad_scale on a
    expect[1000:] *= s          # then on b, which sees a's result in the overlap
    np.testing.assert_allclose(base, expect, rtol=1e-5)


def test_clip_after_a_failed_launch_and_with_read_only_gradients():
    g = np.random.default_rng(6).standard_normal(4096).astype(np.float32)
    ro = g.copy()
    ro.flags.writeable = False
    with pytest.raises(kernels.KernelError, match="read-only"):
        ref.clip_grad_norm([ro], 1.0)
    assert np.array_equal(ro, g)
    h = g.copy()
    norm = ref.clip_grad_norm([h], 1.0)
    assert norm == pytest.approx(norm64([g]), rel=1e-5)
    np.testing.assert_allclose(h, g * np.float32(1.0 / (norm + 1e-6)), rtol=1e-6)


@pytest.fixture
def copied(monkeypatch) -> list[int]:
    """The sizes, in bytes, of the regions copied into the shared arena, as they happen."""
    sizes: list[int] = []
    original = launch.arena_mod.Arena.copy_in

    def spy(self, regions):
        sizes.extend(r.nbytes for r in regions)
        return original(self, regions)

    monkeypatch.setattr(launch.arena_mod.Arena, "copy_in", spy)
    return sizes


def test_resident_arrays_are_copied_only_once_per_pipeline(copied):
    g = np.random.default_rng(7).standard_normal(1 << 16).astype(np.float32)
    ref.clip_grad_norm([g], 1e9)              # no clip: g is not written
    assert copied.count(g.nbytes) == 1               # in for the partial norm only
    copied.clear()
    g0 = g.copy()
    norm = ref.clip_grad_norm([g], 1.0)
    assert copied.count(g.nbytes) == 1
    np.testing.assert_allclose(g, g0 * np.float32(1.0 / (norm + 1e-6)), rtol=1e-6)
    assert launch._session is None
    # outside the pipeline every launch copies its arguments in again
    copied.clear()
    k = ref.module("cpu").get_function("k_grad_scale")
    out = np.array([0.0, 2.0], np.float32)
    k((2,), (64,), (g, np.int64(g.size), out))
    k((2,), (64,), (g, np.int64(g.size), out))
    assert copied.count(g.nbytes) == 2


def test_kernels_resident_is_a_generic_public_facility(copied):
    """`kernels.resident()` keeps any kernel's arrays in the worker across launches; what a
    launch writes still comes back, and a nested block joins the outer one."""
    src = r'''
extern "C" __global__ void k_add(float* y, const float* x, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}
'''
    k = kernels.RawKernel(src, "k_add", backend="cpu")
    x = np.arange(1000, dtype=np.float32)
    y = np.zeros(1000, np.float32)
    with kernels.resident():
        for _ in range(3):
            with kernels.resident():
                k((4,), (256,), (y, x, np.int64(x.size)))
            np.testing.assert_array_equal(y[:3], x[:3] * (_ + 1))   # written back each time
    assert copied.count(x.nbytes) == 2          # x and y, once each
    assert launch._session is None

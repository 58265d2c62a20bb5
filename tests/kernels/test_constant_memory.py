"""`__constant__` and `__device__` variables set from the host through RawModule.get_global."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

# NVIDIA cuda-samples, convolutionSeparable (BSD-3-Clause): the filter taps live in
# constant memory, set from the host; written here in the same form (rows only).
CONV = r'''
#define KERNEL_RADIUS 4
#define KERNEL_LENGTH (2 * KERNEL_RADIUS + 1)
__constant__ float c_Kernel[9];
__device__ unsigned int launches_seen;
extern "C" __global__ void k_conv_rows(const float* src, float* dst, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i == 0) launches_seen += 1;
    if (i >= n) return;
    float sum = 0.0f;
    for (int k = -KERNEL_RADIUS; k <= KERNEL_RADIUS; k++) {
        int j = min(max(i + k, 0), n - 1);
        sum += c_Kernel[KERNEL_RADIUS - k] * src[j];
    }
    dst[i] = sum;
}
'''


def reference(x, taps):
    r = len(taps) // 2
    pad = np.concatenate([np.full(r, x[0]), x, np.full(r, x[-1])]).astype(np.float64)
    return np.array([np.dot(taps[::-1], pad[i:i + 2 * r + 1]) for i in range(len(x))])


@pytest.mark.parametrize("n", [1, 100, 1000])
def test_constant_filter_set_from_the_host(n):
    mod = kernels.RawModule(code=CONV, backend="cpu")
    taps = mod.get_global("c_Kernel")
    assert taps.shape == (9,) and taps.dtype == np.float32
    k = mod.get_function("k_conv_rows")
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    for seed in (1, 2):   # a new filter between launches is what the next launch sees
        taps[...] = np.random.default_rng(seed).random(9).astype(np.float32)
        out = np.zeros(n, np.float32)
        kernels.check(k, (-(-n // 128),), (128,), (x, out, np.int32(n)))
        np.testing.assert_allclose(out, reference(x, taps.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_device_variable_is_copied_back_after_each_launch():
    mod = kernels.RawModule(code=CONV, backend="cpu")
    seen = mod.get_global("launches_seen")
    seen[...] = 40
    k = mod.get_function("k_conv_rows")
    x = np.ones(10, np.float32)
    k((1,), (32,), (x, np.zeros(10, np.float32), np.int32(10)))
    k((1,), (32,), (x, np.zeros(10, np.float32), np.int32(10)))
    assert int(seen) == 42


def test_check_starts_every_run_from_the_hosts_values():
    mod = kernels.RawModule(code=CONV, backend="cpu")
    seen = mod.get_global("launches_seen")
    seen[...] = 7
    mod.get_global("c_Kernel")[...] = 1.0
    kernels.check(mod.get_function("k_conv_rows"), (1,), (32,),
                  (np.ones(10, np.float32), np.zeros(10, np.float32), np.int32(10)))
    assert int(seen) == 8, "only the real launch counts, as on a GPU"


def test_unknown_global_is_named():
    mod = kernels.RawModule(code=CONV, backend="cpu")
    with pytest.raises(kernels.CompileError, match="no file-scope `__constant__`.*`c_kernel`"):
        mod.get_global("c_kernel")

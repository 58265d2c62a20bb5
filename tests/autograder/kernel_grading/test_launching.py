"""`autograder.kernel_grading.launching`: compile errors, contract signatures, and the
runtime's findings (race, uninitialized shared memory, argument types) in words."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from autograder.kernel_grading import launching
from autograder.kernel_grading.inputs import Shape
from autograder.reference import three_kernels as ref
from course import kernel_lab

from .support import LOOP_BARRIER, cpu_only, without


def test_unanswered_and_broken_sources():
    with pytest.raises(AssertionError, match="not written yet"):
        launching.compiled(None, "k_grad_scale", "K_GRAD_SCALE")
    with pytest.raises(AssertionError, match="K_GRAD_SCALE.*does not compile"):
        launching.compiled(ref.K_GRAD_SCALE.replace("return;", "return"), "k_grad_scale",
                           "K_GRAD_SCALE")
    with pytest.raises(AssertionError, match="does not define `k_grad_scale`"):
        launching.compiled(ref.K_GRAD_NORM_FINAL, "k_grad_scale", "K_GRAD_SCALE")


def test_a_signature_off_the_contract_is_named():
    source = ref.K_GRAD_NORM_FINAL.replace("int num_partials", "long long num_partials")
    with pytest.raises(AssertionError, match=r"must be declared `k_grad_norm_final\(const float\* "
                                             r"partial, int num_partials.*long long num_partials"):
        launching.compiled(source, "k_grad_norm_final", "K_GRAD_NORM_FINAL")


def test_const_is_not_part_of_the_type_check():
    source = ref.K_GRAD_SCALE.replace("const float* out", "float* out")
    launching.compiled(source, "k_grad_scale", "K_GRAD_SCALE")


def test_launch_gives_dynamic_shared_memory():
    """A kernel that uses `extern __shared__` memory gets blockDim.x doubles' worth."""
    source = r'''
extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    extern __shared__ double slots[];
    slots[threadIdx.x] = out[1];
    __syncthreads();
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        g[i] *= (float)slots[blockDim.x - 1 - threadIdx.x];
    }
}
'''
    kernel = launching.compiled(source, "k_grad_scale", "K_GRAD_SCALE")
    g = kernel_lab.to_device(np.ones(300, np.float32))
    out = kernel_lab.to_device(np.array([2.0, 0.5], np.float32))
    launching.launch(kernel, Shape(300, 2, 1024), (g, np.int64(300), out), what="`k`")
    np.testing.assert_array_equal(kernel_lab.to_host(g), np.full(300, 0.5, np.float32))


@cpu_only
def test_missing_barrier_is_a_thread_order_failure():
    kernel = launching.compiled(without(ref.K_GRAD_NORM_PARTIAL, LOOP_BARRIER),
                                "k_grad_norm_partial", "K_GRAD_NORM_PARTIAL")
    g = kernel_lab.to_device(np.ones(4096, np.float32))
    partial = kernel_lab.to_device(np.zeros(2, np.float32))
    with pytest.raises(AssertionError, match="depends on thread order.*__syncthreads"):
        launching.launch(kernel, Shape(4096, 2, 256), (g, np.int64(4096), partial), what="`k`")


def test_argument_type_errors_are_kernels_own():
    """The grader's launches use `kernels.marshal`'s checks; a mismatch reads as its words."""
    kernel = launching.compiled(ref.K_GRAD_SCALE, "k_grad_scale", "K_GRAD_SCALE")
    g = kernel_lab.to_device(np.ones(4, np.float32))
    with pytest.raises(AssertionError, match=r"`k` with n=4.*TypeError: .*numpy\.int64"):
        launching.launch(kernel, Shape(4, 1, 32), (g, np.int32(4), g), what="`k`")


def test_uninitialized_message_without_a_traced_slot_quotes_the_runtime():
    """Without the traced run's slot and line, the runtime's own words say what changed."""
    exc = kernels.UninitializedSharedError("`partial`[0] is 1.0 when ... but 2.0 when ...",
                                           kernel="k", argument="partial", index=0)
    message = launching.uninitialized_message(exc, "`k` with n=1")
    assert message.startswith("`k` with n=1: your kernel reads shared memory that was never "
                              "written — `partial`[0] is 1.0")
    assert message.endswith(launching.UNINITIALIZED_HINT)

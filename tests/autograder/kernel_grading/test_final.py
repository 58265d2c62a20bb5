"""`autograder.kernel_grading.final`: the reference, the rule without the guard and an
`extern __shared__` kernel pass; each plausible mistake fails with words that name it."""

from __future__ import annotations

import pytest

from autograder.kernel_grading import final
from autograder.kernel_grading.final import check_final_kernel
from autograder.reference import three_kernels as ref

from .support import without


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_passes(seed):
    check_final_kernel(ref.K_GRAD_NORM_FINAL, seed)


def test_extern_shared_memory_passes():
    check_final_kernel(without(ref.K_GRAD_NORM_FINAL, "__shared__ float sums[1024];",
                               "extern __shared__ float sums[];"), 3)


def test_without_the_guard_is_accepted():
    check_final_kernel(without(ref.K_GRAD_NORM_FINAL, "max_norm / (norm + 1e-6f)",
                               "max_norm / norm"), 9)


def test_reading_one_partial_per_thread():
    source = without(ref.K_GRAD_NORM_FINAL, "i < num_partials; i += blockDim.x",
                     "i < num_partials && i < (int)blockDim.x; i += blockDim.x")
    with pytest.raises(AssertionError, match=r"only partial\[threadIdx.x\] was read"):
        check_final_kernel(source, 7)


def test_scaling_up_small_gradients():
    source = without(ref.K_GRAD_NORM_FINAL, "(norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f",
                     "max_norm / norm")
    with pytest.raises(AssertionError, match="never scales small gradients up"):
        check_final_kernel(source, 8)


def test_comparing_the_squared_norm_with_max_norm():
    """`sums[0] > max_norm` agrees with `norm > max_norm` only where the norm is 1."""
    source = without(ref.K_GRAD_NORM_FINAL, "(norm > max_norm)", "(sums[0] > max_norm)")
    with pytest.raises(AssertionError, match=r"out\[1\]"):
        check_final_kernel(source, 10)


def test_max_norm_is_never_one():
    assert 1.0 not in final.FACTORS

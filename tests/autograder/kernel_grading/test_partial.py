"""`autograder.kernel_grading.partial`: the reference and an `extern __shared__` kernel pass;
each plausible mistake fails with words that name it."""

from __future__ import annotations

import re

import pytest

from autograder.kernel_grading.partial import check_partial_kernel
from autograder.reference import three_kernels as ref

from .support import LOOP_BARRIER, cpu_only, without

EXTERN_SHARED = without(ref.K_GRAD_NORM_PARTIAL, "__shared__ float sums[1024];",
                        "extern __shared__ float sums[];")


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_passes(seed):
    check_partial_kernel(ref.K_GRAD_NORM_PARTIAL, seed)


def test_extern_shared_memory_passes():
    check_partial_kernel(EXTERN_SHARED, 3)


@cpu_only
def test_missing_barrier_is_a_thread_order_failure():
    with pytest.raises(AssertionError, match="depends on thread order.*__syncthreads") as e:
        check_partial_kernel(without(ref.K_GRAD_NORM_PARTIAL, LOOP_BARRIER), 4)
    assert "never written" not in str(e.value) and "blockDim.x / 2" not in str(e.value)


@cpu_only
def test_fixed_tree_start_is_an_uninitialized_read():
    """A tree that starts at 512 reads slots a 32-thread block never wrote: reported as an
    uninitialized read (slot, line, the fix), not as a race or as a generic error."""
    source = without(ref.K_GRAD_NORM_PARTIAL, "half = blockDim.x / 2;", "half = 512;")
    with pytest.raises(AssertionError) as e:
        check_partial_kernel(source, 4)
    message = str(e.value)
    assert re.search(r"reads shared memory that was never written — line \d+ of your kernel "
                     r"reads `sums\[\d+\]`", message), message
    assert "blockDim.x / 2" in message
    assert "UninitializedSharedError" not in message and "thread order" not in message


def test_idle_blocks_must_write():
    source = without(ref.K_GRAD_NORM_PARTIAL, "    if (t == 0) {\n        partial",
                     "    if (t == 0 && blockIdx.x * blockDim.x < n) {\n        partial")
    with pytest.raises(AssertionError, match=r"partial\[\d+\] still holds the NaN"):
        check_partial_kernel(source, 5)


def test_without_grid_stride_loop():
    source = without(ref.K_GRAD_NORM_PARTIAL, "i += stride", "i += n")  # one pass only
    with pytest.raises(AssertionError, match="grid-stride"):
        check_partial_kernel(source, 6)

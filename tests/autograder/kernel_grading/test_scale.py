"""`autograder.kernel_grading.scale`: the reference passes; a kernel that divides by the
norm, decides from the norm alone, or always writes fails with words that name it."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.kernel_grading import scale
from autograder.kernel_grading.scale import check_scale_kernel
from autograder.reference import three_kernels as ref

from .support import without


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_passes(seed):
    check_scale_kernel(ref.K_GRAD_SCALE, seed)


def test_dividing_by_the_norm_is_caught():
    """With max_norm = 1, out[1] == 1 / out[0] and the two agree; here they never do."""
    source = without(ref.K_GRAD_SCALE, "g[i] *= scale;", "g[i] /= out[0];")
    with pytest.raises(AssertionError, match=r"divided by out\[0\]"):
        check_scale_kernel(source, 11)


def test_deciding_from_the_norm_alone_is_caught():
    source = without(ref.K_GRAD_SCALE, "if (scale >= 1.0f)", "if (out[0] <= 1.0f)")
    with pytest.raises(AssertionError):
        check_scale_kernel(source, 12)


def test_always_writing_is_caught():
    source = without(ref.K_GRAD_SCALE, "    if (scale >= 1.0f) {\n"
                     "        return;  // no clip needed: skip every read and write of g\n    }\n")
    with pytest.raises(AssertionError, match="must not touch g"):
        check_scale_kernel(source, 10)


def test_out_is_never_one_over_the_norm():
    rng = np.random.default_rng(0)
    for k in range(200):
        norm, s = (float(v) for v in scale.clip_out(rng, small_norm=k % 2 == 0))
        assert s < 1 and abs(norm * s - 1.0) > 0.04

"""`course.launch_log`: the launch hooks leave `kernels` as they found it, log and
substitute by name, and the asynchronous model hides the norm until the scale launch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kernels
from autograder.kernel_grading.launcher import POISONS
from autograder.reference import three_kernels as ref
from course import kernel_lab
from course.launch_log import launch_recorder, observe_launcher


def test_recorder_restores_the_kernel_class_after_an_error():
    original = vars(kernels.RawKernel)["__call__"]
    with pytest.raises(ZeroDivisionError):
        with launch_recorder():
            assert vars(kernels.RawKernel)["__call__"] is not original
            1 / 0
    assert vars(kernels.RawKernel)["__call__"] is original


def test_recorder_logs_and_substitutes_by_name():
    broken = kernels.RawKernel(ref.K_GRAD_SCALE.replace("g[i] *= scale;", "g[i] = 0.0f;"),
                               "k_grad_scale")
    g = kernel_lab.to_device(np.ones(100, np.float32))
    out = kernel_lab.to_device(np.array([2.0, 0.5], np.float32))
    with launch_recorder(substitute={"k_grad_scale": ref._compiled()[2]}) as rec:
        broken((2,), (64,), (g, np.int64(100), out))
    assert rec.names() == ["k_grad_scale"] and rec.launches[0].grid == (2,)
    assert rec.launches[0].to_data() == {"name": "k_grad_scale", "grid": [2], "block": [64],
                                         "shared_mem": 0}
    np.testing.assert_array_equal(kernel_lab.to_host(g), np.full(100, 0.5, np.float32))


def test_argument_types_fail_at_the_launch_that_made_them():
    final_k = ref._compiled()[1]
    partial = kernel_lab.to_device(np.ones(3, np.float32))
    out = kernel_lab.to_device(np.zeros(2, np.float32))
    with launch_recorder(defer_with=float("nan")):
        with pytest.raises(TypeError, match=r"max_norm.*numpy\.float32"):
            final_k((1,), (32,), (partial, np.int32(3), 1.0, out))


@pytest.mark.parametrize("poison", POISONS)
def test_deferral_hides_results_until_the_scale_launch(poison):
    partial_k, final_k, scale_k = ref._compiled()
    g = kernel_lab.to_device(np.full(1000, 2.0, np.float32))
    partial = kernel_lab.to_device(np.zeros(4, np.float32))
    out = kernel_lab.to_device(np.zeros(2, np.float32))
    with launch_recorder(defer_with=poison) as rec:
        partial_k((4,), (64,), (g, np.int64(1000), partial))
        final_k((1,), (64,), (partial, np.int32(4), np.float32(10.0), out))
        seen = kernel_lab.to_host(out)                        # a host read: the poison
        assert len(rec.pending) == 2
        scale_k((4,), (64,), (g, np.int64(1000), out))        # runs the deferred launches first
        assert not rec.pending
    np.testing.assert_array_equal(seen, np.full(2, poison, np.float32))
    assert float(kernel_lab.to_host(out)[0]) == pytest.approx(math.sqrt(4000.0))
    np.testing.assert_allclose(kernel_lab.to_host(g), 2.0 * 10.0 / (math.sqrt(4000.0) + 1e-6),
                               rtol=1e-6)


def test_deferral_handles_overlapping_views():
    """`partial[offset:]` views (as `ref.clip_grad_norm` passes them) overlap later launches'
    regions; the flush must not put a poison back over a result already written."""
    partial_k = ref._compiled()[0]
    a = kernel_lab.to_device(np.full(64, 1.0, np.float32))
    b = kernel_lab.to_device(np.full(64, 2.0, np.float32))
    partial = kernel_lab.to_device(np.zeros(3, np.float32))
    with launch_recorder(defer_with=float("nan")) as rec:
        partial_k((1,), (32,), (a, np.int64(64), partial[0:]))
        partial_k((2,), (32,), (b, np.int64(64), partial[1:]))
        rec.flush()
    np.testing.assert_array_equal(kernel_lab.to_host(partial), [64.0, 128.0, 128.0])


def test_observations_are_data():
    grads = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(0, np.float32)]
    seen = observe_launcher(
        ref.clip_grad_norm_kernels, [{"grads": grads, "max_norm": 2.0, "threads": 32,
                                      "poison": None}],
        substitute={"k_grad_scale": ref.K_GRAD_SCALE}, lend={})
    (one,) = seen
    assert one["raised"] is None and one["same_list"]
    assert one["returned"] == {"type": "float", "real": True,
                               "value": pytest.approx(math.sqrt(55.0), rel=1e-6)}
    assert [launch["name"] for launch in one["launches"]] == [
        "k_grad_norm_partial", "k_grad_norm_final", "k_grad_scale"]
    assert one["grads"][0].shape == (2, 3) and one["grads"][1].shape == (0,)
    np.testing.assert_array_equal(grads[0], np.arange(6).reshape(2, 3))  # inputs untouched
    assert vars(kernels.RawKernel)["__call__"] is vars(kernels.RawKernel)["__call__"]

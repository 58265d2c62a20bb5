"""Hidden tests of lesson 03 (the scale factor), run outside the learner's kernel."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import checks
from ..reference import scale_factor as ref
from ..verdict import hidden_test

RULE = "expected max_norm / total_norm when total_norm > max_norm, else 1.0"


@hidden_test("test_clip_scale_hidden")
def clip_scale(learner, rng):
    f = learner.function("clip_scale")
    for total, max_norm in [(1e-5, 1e-6), (3e-7, 1e-7)]:
        name = f"clip_scale({total}, {max_norm})"
        checks.assert_answer(checks.call(f, total, max_norm, name=name),
                             ref.clip_scale(total, max_norm), name=name, rounded_within=0,
                             mistakes=[(ref.torch_clip_scale(total, max_norm),
                                        "that is PyTorch's max_norm / (total_norm + 1e-6); this "
                                        "exercise asks for the exact rule max_norm / total_norm, "
                                        "which needs no epsilon (it only divides when "
                                        "total_norm > max_norm > 0).")])
    for _ in range(50):
        max_norm = float(10 ** rng.uniform(-3, 3))
        total = float(max_norm * 10 ** rng.uniform(-3, 3))
        checks.same_as_reference(f, ref.clip_scale, (total, max_norm), name="clip_scale",
                                 atol=0, hint=f"({RULE}; random inputs)")
    for total, max_norm in [(2.0, 2.0), (0.0, 0.5), (1e300, 1e-3), (1e-300, 1e-301),
                            (7.0, 1e300), (2.0000001, 2.0), (0.7, 0.25)]:
        checks.same_as_reference(f, ref.clip_scale, (total, max_norm), name="clip_scale",
                                 atol=0, hint=f"({RULE}; a tie, zero, or a huge or tiny norm)")
    for _ in range(5):
        bad = -float(10 ** rng.uniform(-3, 3))
        checks.assert_raises(ValueError, f, 1.0, bad, name=f"clip_scale(1.0, {bad:.3g})",
                             why="max_norm must be > 0")
        checks.assert_raises(ValueError, f, bad, 1.0, name=f"clip_scale({bad:.3g}, 1.0)",
                             why="a norm is never negative")
    checks.assert_raises(ValueError, f, 3.0, 0.0, name="clip_scale(3.0, 0.0)",
                         why="max_norm must be > 0")
    for value in (math.inf, math.nan, 1e308 * 10):
        checks.assert_raises(FloatingPointError, f, value, float(rng.uniform(0.1, 10)),
                             name=f"clip_scale({value}, ...)",
                             why="a non-finite norm has no factor")


def _value_test(grade_id: str, name: str, expected: float, mistakes):
    @hidden_test(grade_id)
    def probe(learner, rng):
        checks.assert_answer(learner.value(name), expected, name=name, mistakes=mistakes)

    probe.__name__ = name
    return probe


scale_a = _value_test("test_scale_a_hidden", "scale_a", ref.scale_a, [
    (3.5, "that is total_norm / max_norm; the factor is max_norm / total_norm."),
    (1.0, "3.5 is above max_norm 1.0, so the gradient is scaled down."),
    (1.0 / 0.4, "that is the factor for the norm 0.4 (and it scales up, which clipping never "
                "does).")])

norm_after_b = _value_test("test_norm_after_b_hidden", "norm_after_b", ref.norm_after_b, [
    (3.5, "that is the norm before scaling; multiply it by the factor."),
    (ref.scale_a, "that is the factor, not the norm after scaling."),
    (3.5 / ref.scale_a, "you divided by the factor; multiply by it.")])

scale_c = _value_test("test_scale_c_hidden", "scale_c", ref.scale_c, [
    (1.0 / 0.4, "0.4 is below max_norm, and clipping never scales up."),
    (0.4, "that is the norm, not the factor."),
    (0.4 / 1.0, "that is the norm, not the factor.")])

norm_after_c = _value_test("test_norm_after_c_hidden", "norm_after_c", ref.norm_after_c, [
    (1.0, "clipping does not raise a small norm to max_norm; 0.4 is left alone."),
    (0.4 * 0.4, "you multiplied by 0.4 twice; the factor for 0.4 is 1.0."),
    (1.0 / 0.4, "that is the upward factor 2.5; a small norm is left alone.")])


@hidden_test("test_max_param_step_sgd_hidden")
def max_param_step_sgd(learner, rng):
    f = learner.function("max_param_step_sgd")
    for _ in range(30):
        lr, max_norm = float(10 ** rng.uniform(-6, 0)), float(10 ** rng.uniform(-2, 2))
        if abs(max_norm - 1.0) < 1e-3:
            continue
        name = f"max_param_step_sgd({lr:.3g}, {max_norm:.3g})"
        got = checks.call(f, lr, max_norm, name=name)
        checks.assert_answer(got, ref.max_param_step_sgd(lr, max_norm), rounded_within=0,
                             name=name, mistakes=[
            (lr, "that is lr alone; the clipped entry can be as large as max_norm."),
            (lr / max_norm, "that is lr / max_norm; the bound grows with max_norm."),
            (lr * max_norm**2, "max_norm appears once: |g_i| <= max_norm, times lr."),
            (lr * max_norm / 2**0.5, "the bound is reached when one entry holds the whole "
                                     "norm.")])
    # the bound is what torch.optim.SGD does to a one-hot spike after clip_grad_norm_
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    w.grad = torch.tensor([0.0, -4e4, 0.0], dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_([w], 2.5)
    torch.optim.SGD([w], lr=0.02).step()
    got = checks.call(f, 0.02, 2.5, name="max_param_step_sgd(0.02, 2.5)")
    checks.assert_close(got, float(w.detach().abs().max()), rtol=1e-5,
                        name="max_param_step_sgd(0.02, 2.5)",
                        hint="(compared with torch.optim.SGD after clip_grad_norm_ on a one-hot "
                             "spike)")


guard_reduction_factor = _value_test(
    "test_guard_reduction_factor_hidden", "guard_reduction_factor", ref.guard_reduction_factor, [
        (1 / ref.guard_reduction_factor, "the ratio is upside down (guarded / unguarded)."),
        ((3e-4 * 50) / (1.5e-7 * 50), "with clipping the spike's norm 50 is capped at 1.0."),
        ((3e-4 * 50) / (3e-4 * 1.0), "with warmup the lr at step 1 is 1.5e-7, not 3e-4."),
        (3e-4 * 50, "that is the unguarded step itself; divide it by the guarded one.")])


@hidden_test("test_clipped_fraction_hidden")
def clipped_fraction(learner, rng):
    f = learner.function("clipped_fraction")
    hint = "(count the norms > max_norm, divide by the number of steps)"
    for trial in range(30):
        n = int(rng.integers(1, 200))
        max_norm = float(10 ** rng.uniform(-2, 2))
        norms = max_norm * np.exp(rng.normal(0, 1, n))
        ties = rng.random(n) < 0.2
        norms[ties] = max_norm                        # exact ties: not clipped
        if trial % 3 == 0:
            norms[int(rng.integers(0, n))] = np.inf   # an overflowed step exceeds any threshold
        data = norms.tolist() if trial % 2 else norms
        got = checks.same_as_reference(f, ref.clipped_fraction, (data, max_norm),
                                       name="clipped_fraction", hint=hint)
        if not 0.0 <= float(checks.assert_scalar(got, name="clipped_fraction")) <= 1.0:
            raise AssertionError("`clipped_fraction` must return a fraction in [0, 1]")
    for data, max_norm in [([], 1.0), ((), 0.5), (np.array([]), 2.0), ([2.0, 2.0], 2.0),
                           ([1e300, 1e-300], 1.0), ((3.0,), 2.0), ([0.5, 3.0, 3.0, 0.1], 0.4)]:
        checks.same_as_reference(f, ref.clipped_fraction, (data, max_norm),
                                 name="clipped_fraction",
                                 hint="(empty logs, ties, huge and tiny norms)")

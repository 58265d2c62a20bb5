"""Hidden tests of lesson 04 (Adam after a spike), run outside the learner's kernel."""

from __future__ import annotations

import numpy as np

from .. import checks
from ..reference import adam_after_a_spike as ref
from ..verdict import hidden_test


@hidden_test("test_adam_moments_hidden")
def adam_moments(learner, rng):
    f = learner.function("adam_moments")
    for trial in range(25):
        n = int(rng.integers(1, 80))
        grads = rng.standard_normal(n) * 10 ** rng.uniform(-3, 3)
        if trial % 4 == 0:
            grads[int(rng.integers(0, n))] *= 1e3          # a spike
        b1, b2 = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.9, 0.9999))
        m0, v0 = float(rng.normal()), float(rng.uniform(0, 2))
        data = grads.tolist() if trial % 2 else grads
        checks.same_as_reference(f, ref.adam_moments, (data, b1, b2, m0, v0),
                                 name="adam_moments", rtol=1e-7, atol=1e-12,
                                 hint="(m = beta1*m + (1-beta1)*g, v = beta2*v + (1-beta2)*g**2)")
    for grads in ([], [0.0], [1e150, -1e150], [1e-200, 3e-200], (0.5, 50.0, 0.5),
                  [float("nan"), 1.0]):
        checks.same_as_reference(f, ref.adam_moments, (grads,), name="adam_moments",
                                 hint="(defaults beta1=0.9, beta2=0.999; empty, huge, tiny, NaN)")
        result = checks.call(f, grads, name=f"adam_moments({checks.describe(grads)})")
        if not (isinstance(result, tuple) and len(result) == 2):
            raise AssertionError("`adam_moments` should return a tuple (m, v) of two arrays")
        m, v = result
        checks.assert_type(m, np.ndarray, name="m")
        checks.assert_type(v, np.ndarray, name="v")
        if not (m.dtype == np.float64 and v.dtype == np.float64):
            raise AssertionError("m and v must be float64 arrays")
    # betas far apart, and a start away from 0: a swap of beta1/beta2 or of m0/v0 shows
    checks.same_as_reference(f, ref.adam_moments, ([3.0, -1.0, 2.0], 0.6, 0.95, -2.0, 4.0),
                             name="adam_moments", rtol=1e-7, atol=1e-12,
                             hint="(start m from m0 and v from v0)")


@hidden_test("test_m_trace_after_spike_hidden")
def m_trace_after_spike(learner, rng):
    got = checks.as_float64(learner.value("m_trace_after_spike"), name="m_trace_after_spike")
    want = np.asarray(ref.m_trace_after_spike)
    if got.shape != want.shape:
        raise AssertionError("`m_trace_after_spike` needs 11 values")
    if np.isclose(got[0], 5.0):
        raise AssertionError("m_trace_after_spike[0] is 5.0: m had settled at 0.5 before the "
                             "spike, so start from m = 0.5, not 0.")
    if np.isclose(got[0], 0.9 * want[0] + 0.05):
        raise AssertionError("`m_trace_after_spike` starts one step late: the first value is m "
                             "on the spike step itself.")
    if np.isclose(got[0], 0.1 * 0.5 + 0.9 * 50.0):
        raise AssertionError("m_trace_after_spike[0] is 45.05: (1 - beta1) and beta1 are "
                             "swapped; the spike enters with weight 1 - beta1 = 0.1.")
    checks.assert_close(got, want, name="m_trace_after_spike", rtol=1e-6,
                        hint="(m = 0.9*m + 0.1*g, from m = 0.5, with g = 50 then ten 0.5s)")


@hidden_test("test_steps_to_recover_hidden")
def steps_to_recover(learner, rng):
    f = learner.function("steps_to_recover")
    for _ in range(40):
        typical = float(10 ** rng.uniform(-3, 3))
        spike = typical * float(10 ** rng.uniform(0, 4))
        beta = float(1 - 10 ** rng.uniform(-4, -0.3))
        tol = float(10 ** rng.uniform(-2, 0))
        args = (spike, typical, beta, tol)
        got = checks.same_as_reference(f, ref.steps_to_recover, args, name="steps_to_recover",
                                       rtol=0, atol=0,
                                       hint="(the smallest k >= 0 where the excess is <= tol * "
                                            "typical)")
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise AssertionError("`steps_to_recover` must return an int")
    for args in [(2500.0, 0.25, 0.999), (2500.0, 0.25, 0.95), (1.0, 0.5, 0.9), (0.1, 0.5, 0.9),
                 (5.0, 1.0, 0.5, 0.25), (1e6, 1e-3, 0.9999), (3.0, 1.0, 0.5, 0.5)]:
        checks.same_as_reference(f, ref.steps_to_recover, args, rtol=0, atol=0,
                                 name="steps_to_recover",
                                 hint="(ties at tol * typical count as recovered; no spike gives 0)")


@hidden_test("test_adam_step_sizes_hidden")
def adam_step_sizes(learner, rng):
    f = learner.function("adam_step_sizes")
    for trial in range(20):
        n = int(rng.integers(1, 60))
        grads = rng.standard_normal(n) * 10 ** rng.uniform(-9, 3)
        if trial % 3 == 0:
            grads[int(rng.integers(0, n))] *= 100
        lr = float(10 ** rng.uniform(-5, 0))
        b1, b2 = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.9, 0.9999))
        eps = float(10 ** rng.uniform(-10, -3))
        data = grads.tolist() if trial % 2 else grads
        checks.same_as_reference(f, ref.adam_step_sizes, (data, lr, b1, b2, eps),
                                 name="adam_step_sizes", rtol=1e-6, atol=0,
                                 hint="(bias-corrected Adam, |lr * m_hat / (sqrt(v_hat) + eps)|)")
    for grads in ([], [0.0, 0.0], [5.0], [1e-12] * 5, [1e150, -1e150],
                  [0.5] * 5 + [50.0] + [0.5] * 5):
        checks.same_as_reference(f, ref.adam_step_sizes, (grads, 1e-3),
                                 name="adam_step_sizes", rtol=1e-6, atol=0,
                                 hint="(empty, zero, tiny and huge gradients, a spike)")


@hidden_test("test_moments_with_clipping_hidden")
def moments_with_clipping(learner, rng):
    f = learner.function("moments_with_clipping")
    for trial in range(25):
        n = int(rng.integers(1, 80))
        max_norm = float(10 ** rng.uniform(-2, 2))
        grads = rng.standard_normal(n) * max_norm * 10 ** rng.uniform(-1, 1)
        grads[rng.random(n) < 0.1] = max_norm                   # exact ties: unchanged
        grads[rng.random(n) < 0.1] *= 1e3                       # spikes, both signs
        b1, b2 = float(rng.uniform(0.5, 0.99)), float(rng.uniform(0.9, 0.9999))
        data = grads.tolist() if trial % 2 else grads
        checks.same_as_reference(f, ref.moments_with_clipping, (data, max_norm, b1, b2),
                                 name="moments_with_clipping", rtol=1e-7, atol=1e-12,
                                 hint="(clip each g to norm max_norm, keeping its sign, then "
                                      "the Adam moments)")
    for grads, max_norm in [([], 1.0), ([0.0, -0.0], 0.5), ([2.0, -2.0], 2.0),
                            ([1e300, -1e300], 1.0), ((0.5, 50.0, 0.5), 1.0),
                            ([-7.0, 0.3, 7.0], 2.5)]:
        checks.same_as_reference(f, ref.moments_with_clipping, (grads, max_norm),
                                 name="moments_with_clipping",
                                 hint="(empty, zero, ties at max_norm, huge spikes)")

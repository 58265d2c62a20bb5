"""The reference of lesson 04 against torch.optim.Adam, float64 closed forms and brute force."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.reference import adam_after_a_spike as ref

betas = st.floats(min_value=0.0, max_value=0.9999)
grad_lists = st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=40)


def torch_adam(grads, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, max_norm=None):
    """Run torch.optim.Adam on a float64 scalar; return exp_avg, exp_avg_sq and |update| per step."""
    p = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    m, v, steps = [], [], []
    for g in grads:
        p.grad = torch.tensor(float(g), dtype=torch.float64)
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_([p], max_norm)
        before = float(p.detach())
        opt.step()
        m.append(float(opt.state[p]["exp_avg"]))
        v.append(float(opt.state[p]["exp_avg_sq"]))
        steps.append(abs(float(p.detach()) - before))
    return np.array(m), np.array(v), np.array(steps)


def test_moments_by_hand():
    m, v = ref.adam_moments([1.0, 2.0], beta1=0.5, beta2=0.75, m0=2.0, v0=4.0)
    assert m.tolist() == [1.5, 1.75]
    assert v.tolist() == [0.75 * 4 + 0.25, 0.75 * 3.25 + 0.25 * 4]
    assert m.dtype == np.float64 and v.dtype == np.float64


def test_moments_empty():
    m, v = ref.adam_moments([])
    assert m.shape == (0,) and v.shape == (0,) and m.dtype == np.float64


@settings(max_examples=50, deadline=None)
@given(grad_lists, st.floats(min_value=0.0, max_value=0.99), st.floats(min_value=0.0,
                                                                        max_value=0.9999))
def test_moments_match_closed_form(grads, beta1, beta2):
    m, v = ref.adam_moments(grads, beta1, beta2)
    g = np.asarray(grads, dtype=np.float64)
    for t in range(len(g)):
        weights1 = (1 - beta1) * beta1 ** np.arange(t, -1, -1)
        weights2 = (1 - beta2) * beta2 ** np.arange(t, -1, -1)
        assert m[t] == pytest.approx(float(weights1 @ g[: t + 1]), rel=1e-9, abs=1e-9)
        assert v[t] == pytest.approx(float(weights2 @ g[: t + 1] ** 2), rel=1e-9, abs=1e-9)


def test_moments_match_torch_state():
    rng = np.random.default_rng(0)
    grads = rng.standard_normal(50) * 10 ** rng.uniform(-3, 3, 50)
    m, v = ref.adam_moments(grads, 0.8, 0.99)
    tm, tv, _ = torch_adam(grads, beta1=0.8, beta2=0.99)
    np.testing.assert_allclose(m, tm, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(v, tv, rtol=1e-12, atol=1e-300)


def test_m_trace_after_spike():
    trace = ref.m_trace_after_spike
    assert len(trace) == 11 and all(isinstance(x, float) for x in trace)
    assert trace[0] == pytest.approx(0.9 * 0.5 + 0.1 * 50.0)
    excess = [0.1 * 49.5 * 0.9**k for k in range(11)]
    np.testing.assert_allclose(np.array(trace) - 0.5, excess, rtol=1e-12)


@pytest.mark.parametrize("args,expected", [
    ((50.0, 0.5, 0.9), 44), ((2500.0, 0.25, 0.999), 4603), ((2500.0, 0.25, 0.95), 167),
    ((0.5, 0.5, 0.9), 0), ((0.1, 0.5, 0.9), 0), ((3.0, 1.0, 0.5, 0.125), 3)])
def test_steps_to_recover(args, expected):
    assert ref.steps_to_recover(*args) == expected


@settings(max_examples=200, deadline=None)
@given(spike=st.floats(min_value=1e-3, max_value=1e6), typical=st.floats(min_value=1e-3,
                                                                          max_value=1e3),
       beta=st.floats(min_value=0.0, max_value=0.999), tol=st.floats(min_value=1e-3,
                                                                     max_value=10))
def test_steps_to_recover_is_the_smallest(spike, typical, beta, tol):
    k = ref.steps_to_recover(spike, typical, beta, tol)
    excess = lambda j: (1 - beta) * (spike - typical) * beta**j  # noqa: E731
    assert isinstance(k, int) and k >= 0
    assert excess(k) <= tol * typical
    if k > 0:
        assert excess(k - 1) > tol * typical
    if excess(0) > tol * typical and 0 < beta:
        closed = math.log(tol * typical / ((1 - beta) * (spike - typical))) / math.log(beta)
        assert abs(k - math.ceil(closed)) <= 1  # the closed form, up to rounding at ties


def test_adam_step_sizes_match_torch():
    rng = np.random.default_rng(1)
    for _ in range(5):
        grads = rng.standard_normal(40) * 10 ** rng.uniform(-6, 3)
        grads[rng.integers(0, 40)] *= 100
        lr, b1, b2, eps = 10 ** rng.uniform(-4, -1), rng.uniform(0.5, 0.99), \
            rng.uniform(0.9, 0.9999), 10 ** rng.uniform(-10, -4)
        _, _, steps = torch_adam(grads, lr, b1, b2, eps)
        np.testing.assert_allclose(ref.adam_step_sizes(grads, lr, b1, b2, eps), steps,
                                   rtol=1e-9, atol=1e-18)


def test_adam_step_sizes_edges():
    assert ref.adam_step_sizes([], 1e-3).shape == (0,)
    assert ref.adam_step_sizes([0.0, 0.0], 1e-3).tolist() == [0.0, 0.0]
    assert ref.adam_step_sizes([5.0], 1e-3)[0] == pytest.approx(1e-3 * 5 / (5 + 1e-8))
    # eps outside the square root matters for tiny gradients
    tiny = ref.adam_step_sizes([1e-9], 1.0)[0]
    assert tiny == pytest.approx(1e-9 / (1e-9 + 1e-8))


def test_moments_with_clipping_match_torch():
    rng = np.random.default_rng(2)
    grads = rng.standard_normal(60) * 3
    grads[10], grads[30] = 50.0, -80.0
    m, v = ref.moments_with_clipping(grads, 1.0, 0.9, 0.999)
    tm, tv, _ = torch_adam(grads, max_norm=1.0)
    # torch scales by max_norm / (|g| + 1e-6): relative 1e-6 / |g| from the exact rule
    np.testing.assert_allclose(m, tm, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v, tv, rtol=1e-5, atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(grad_lists, st.floats(min_value=1e-3, max_value=1e3), betas, betas)
def test_moments_with_clipping_is_adam_moments_of_clipped(grads, max_norm, beta1, beta2):
    m, v = ref.moments_with_clipping(grads, max_norm, beta1, beta2)
    em, ev = ref.adam_moments(np.clip(grads, -max_norm, max_norm), beta1, beta2)
    np.testing.assert_allclose(m, em, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(v, ev, rtol=1e-12, atol=1e-300)
    assert np.all(np.abs(m) <= max_norm * (1 + 1e-12)) and np.all(v <= max_norm**2 * (1 + 1e-12))

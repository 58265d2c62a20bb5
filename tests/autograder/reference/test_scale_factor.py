"""The reference of lesson 03 against float64 arithmetic, PyTorch and its own contract."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.reference import scale_factor as ref

positive = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False)
norms = st.floats(min_value=0.0, max_value=1e30, allow_nan=False, allow_infinity=False)


def torch_coefficient(total_norm: float, max_norm: float) -> float:
    """The factor `torch.nn.utils.clip_grad_norm_` applies to a one-entry gradient."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([total_norm], dtype=torch.float64)
    returned = torch.nn.utils.clip_grad_norm_([p], max_norm)
    assert float(returned) == pytest.approx(total_norm)  # the pre-clip norm comes back
    return float(p.grad[0]) / total_norm if total_norm else 1.0


@pytest.mark.parametrize("total,max_norm,expected", [
    (3.5, 1.0, 1 / 3.5), (0.4, 1.0, 1.0), (1.0, 1.0, 1.0), (0.0, 1.0, 1.0),
    (1e300, 1.0, 1e-300), (1e-300, 1e-301, 0.1), (2.0, 0.5, 0.25)])
def test_clip_scale_values(total, max_norm, expected):
    assert ref.clip_scale(total, max_norm) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("total,max_norm,error", [
    (1.0, 0.0, ValueError), (1.0, -1.0, ValueError), (-0.5, 1.0, ValueError),
    (math.inf, 1.0, FloatingPointError), (math.nan, 1.0, FloatingPointError)])
def test_clip_scale_errors(total, max_norm, error):
    with pytest.raises(error):
        ref.clip_scale(total, max_norm)


@settings(max_examples=200, deadline=None)
@given(total=norms, max_norm=positive)
def test_clip_scale_properties(total, max_norm):
    s = ref.clip_scale(total, max_norm)
    assert 0 < s <= 1
    assert (s == 1.0) == (total <= max_norm)
    assert total * s <= max_norm * (1 + 1e-12)
    if total > max_norm:
        assert total * s == pytest.approx(max_norm, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(total=st.floats(min_value=1e-1, max_value=1e8), max_norm=st.floats(min_value=1e-2,
                                                                          max_value=1e4))
def test_clip_scale_agrees_with_torch_when_norms_are_not_tiny(total, max_norm):
    # torch divides by total + 1e-6: the rules differ by about 1e-6 / total, relative
    ours = ref.clip_scale(total, max_norm)
    theirs = torch_coefficient(total, max_norm)
    assert theirs == pytest.approx(ours, rel=2e-5)
    assert ref.torch_clip_scale(total, max_norm) == pytest.approx(theirs, rel=1e-12)


def test_torch_differs_when_norms_are_tiny():
    assert ref.clip_scale(1e-5, 1e-6) == pytest.approx(0.1)
    assert torch_coefficient(1e-5, 1e-6) == pytest.approx(1e-6 / 1.1e-5)


def test_seed_answers():
    assert ref.scale_a == pytest.approx(0.2857142857, rel=1e-9)
    assert ref.norm_after_b == pytest.approx(1.0)
    assert ref.scale_c == 1.0
    assert ref.norm_after_c == pytest.approx(0.4)


def test_guard_reduction_factor():
    assert ref.guard_reduction_factor == pytest.approx(1e5)
    assert 3e-4 * 50 == pytest.approx(0.015) and 1.5e-7 * 1.0 == pytest.approx(1.5e-7)


@pytest.mark.parametrize("lr,max_norm", [(3e-4, 1.0), (0.1, 2.5), (1.0, 0.5)])
def test_max_param_step_sgd_is_reached_by_torch_sgd(lr, max_norm):
    """A one-hot spike, clipped by torch, then `torch.optim.SGD`: the change is the bound."""
    p = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([0.0, 0.0, -1e4, 0.0, 0.0], dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_([p], max_norm)
    torch.optim.SGD([p], lr=lr).step()
    bound = ref.max_param_step_sgd(lr, max_norm)
    assert float(p.detach().abs().max()) == pytest.approx(bound, rel=1e-6)


def test_max_param_step_sgd_bounds_dense_gradients():
    rng = np.random.default_rng(1)
    for _ in range(20):
        lr, max_norm = 10 ** rng.uniform(-5, 0), 10 ** rng.uniform(-2, 1)
        params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in (3, (4, 2))]
        for q in params:
            q.grad = torch.as_tensor(rng.standard_normal(q.shape) * 10 ** rng.uniform(-3, 3))
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        torch.optim.SGD(params, lr=lr).step()
        largest = max(float(q.detach().abs().max()) for q in params)
        assert largest <= ref.max_param_step_sgd(lr, max_norm) * (1 + 1e-9)


def test_clipped_fraction_cases():
    assert ref.clipped_fraction([], 1.0) == 0.0
    assert ref.clipped_fraction([1.0, 1.0, 2.0, 0.5], 1.0) == 0.25  # ties are not clipped
    assert ref.clipped_fraction([math.inf, 0.1], 1.0) == 0.5
    assert ref.clipped_fraction(np.array([3.0, 4.0]), 2.0) == 1.0
    assert isinstance(ref.clipped_fraction((0.5,), 1.0), float)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50), positive)
def test_clipped_fraction_matches_numpy(values, max_norm):
    expected = float(np.mean(np.asarray(values) > max_norm)) if values else 0.0
    assert ref.clipped_fraction(values, max_norm) == pytest.approx(expected)

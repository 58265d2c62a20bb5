"""The lesson-02 references against float64 numpy and against PyTorch's own clipping,
plus PyTorch's `test_clip_grad_norm` cases (test/test_nn.py) adapted to the L2 norm."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from autograder import checks
from autograder.reference import global_vs_per_tensor as ref

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def grad_lists(draw, allow_none: bool = True, dtype=torch.float32):
    """Lists of 0–5 tensors (shapes up to 3 dims, some `None`), one scale per list."""
    scale = 10.0 ** draw(st.floats(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draw(st.integers(0, 5))):
        if allow_none and draw(st.booleans()) and draw(st.booleans()):
            out.append(None)
            continue
        shape = tuple(draw(st.lists(st.integers(1, 6), max_size=3)))
        out.append(torch.as_tensor(rng.standard_normal(shape) * scale, dtype=dtype))
    return out


def numpy_norm(grads) -> float:
    flat = [g.double().numpy().ravel() for g in grads if g is not None]
    return float(np.linalg.norm(np.concatenate(flat))) if flat else 0.0


def params_holding(grads):
    params = []
    for g in grads:
        p = nn.Parameter(torch.zeros(g.shape if g is not None else (2,),
                                     dtype=g.dtype if g is not None else torch.float32))
        p.grad = None if g is None else g.clone()
        params.append(p)
    return params


# -- global_l2_norm ------------------------------------------------------------------------

@SETTINGS
@given(grad_lists())
def test_global_l2_norm_matches_numpy_float64(grads):
    assert ref.global_l2_norm(grads) == pytest.approx(numpy_norm(grads), rel=1e-12, abs=0)


@SETTINGS
@given(grad_lists(allow_none=False))
def test_global_l2_norm_matches_torch_get_total_norm(grads):
    expected = torch.nn.utils.get_total_norm(grads).item() if grads else 0.0
    assert ref.global_l2_norm(grads) == pytest.approx(expected, rel=1e-5)


def test_global_l2_norm_edge_cases():
    assert ref.global_l2_norm([]) == 0.0
    assert ref.global_l2_norm([None, None]) == 0.0
    assert ref.global_l2_norm([torch.tensor([3.0, 4.0]), torch.tensor([[12.0]])]) == 13.0
    assert math.isinf(ref.global_l2_norm([torch.tensor([1.0, float("inf")])]))
    assert math.isnan(ref.global_l2_norm([torch.tensor([float("nan")])]))
    # float64 inside: squares that overflow float32 still give the right norm
    assert ref.global_l2_norm([torch.full((4,), 1e20)]) == pytest.approx(2e20)
    assert ref.global_l2_norm([torch.full((4,), 1e-23)]) == pytest.approx(2e-23)
    assert isinstance(ref.global_l2_norm([torch.ones(2)]), float)


# -- clip_by_global_norm / clip_per_tensor ----------------------------------------------------

@SETTINGS
@given(grad_lists(), st.floats(0.01, 100.0))
def test_clip_by_global_norm_against_float64_formula(grads, factor):
    norm = numpy_norm(grads)
    max_norm = norm * factor if norm else 1.0
    before = [None if g is None else g.clone() for g in grads]
    out = ref.clip_by_global_norm(grads, max_norm)
    scale = max_norm / norm if norm > max_norm else 1.0
    for g, b, o in zip(grads, before, out):
        if g is None:
            assert o is None
            continue
        assert torch.equal(g, b), "input changed"
        assert o is not g and o.dtype == g.dtype and o.shape == g.shape
        np.testing.assert_allclose(o.double().numpy(), b.double().numpy() * scale, rtol=1e-6)
    if norm > max_norm:
        assert ref.global_l2_norm(out) == pytest.approx(max_norm, rel=1e-5)


@SETTINGS
@given(grad_lists(allow_none=False), st.floats(0.01, 100.0))
def test_clip_by_global_norm_matches_torch_clip_grad_norm_(grads, factor):
    norm = numpy_norm(grads)
    max_norm = max(norm * factor, 1.0) if norm else 1.0  # clipped norms >= 1: rules agree to 1e-6
    params = params_holding(grads)
    returned = torch.nn.utils.clip_grad_norm_(params, max_norm)
    out = ref.clip_by_global_norm(grads, max_norm)
    assert float(returned) == pytest.approx(norm, rel=1e-5)
    for p, o in zip(params, out):
        torch.testing.assert_close(o, p.grad, rtol=1e-5, atol=1e-8)


@SETTINGS
@given(grad_lists(), st.floats(1e-3, 1e3))
def test_torch_rule_variant_matches_torch_exactly_enough(grads, max_norm):
    """The `_torch_rule` variant reproduces torch's +1e-6 even for tiny norms."""
    present = [g for g in grads if g is not None]
    params = params_holding(present)
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    out = [o for o in ref.clip_by_global_norm_torch_rule(grads, max_norm) if o is not None]
    for p, o in zip(params, out):
        torch.testing.assert_close(o, p.grad, rtol=1e-5, atol=0)


def test_the_two_rules_differ_by_1e6_over_norm():
    g = [torch.tensor([0.006, 0.008], dtype=torch.float64)]  # norm 0.01, clipped to 0.005
    ours = ref.clip_by_global_norm(g, 0.005)[0]
    theirs = ref.clip_by_global_norm_torch_rule(g, 0.005)[0]
    assert float((ours - theirs).abs().max() / ours.abs().max()) == pytest.approx(1e-4, rel=1e-3)


def test_clip_by_global_norm_edge_cases():
    assert ref.clip_by_global_norm([], 1.0) == []
    assert ref.clip_by_global_norm([None], 1.0) == [None]
    zero = ref.clip_by_global_norm([torch.zeros(3)], 1.0)[0]
    assert torch.equal(zero, torch.zeros(3))
    at_max = ref.clip_by_global_norm([torch.tensor([3.0, 4.0])], 5.0)[0]
    assert torch.equal(at_max, torch.tensor([3.0, 4.0]))  # not strictly above: untouched
    small = ref.clip_by_global_norm([torch.tensor([0.3, 0.4])], 1.0)[0]
    assert torch.equal(small, torch.tensor([0.3, 0.4]))  # never scaled up
    with_inf = ref.clip_by_global_norm([torch.tensor([1.0, float("inf")])], 1.0)[0]
    assert with_inf[0] == 0 and math.isnan(with_inf[1])  # as torch: 0 * inf
    with_nan = ref.clip_by_global_norm([torch.tensor([float("nan"), 1.0])], 1.0)[0]
    assert math.isnan(with_nan[0]) and with_nan[1] == 1.0  # NaN > max_norm is False
    all_nan = ref.clip_by_global_norm_torch_rule([torch.tensor([float("nan"), 1.0])], 1.0)[0]
    assert torch.isnan(all_nan).all()  # torch multiplies by a NaN coefficient


@SETTINGS
@given(grad_lists(), st.floats(1e-3, 1e3))
def test_clip_per_tensor_is_global_clipping_of_each_tensor(grads, max_norm):
    out = ref.clip_per_tensor(grads, max_norm)
    for g, o in zip(grads, out):
        if g is None:
            assert o is None
            continue
        expected = ref.clip_by_global_norm([g], max_norm)[0]
        torch.testing.assert_close(o, expected)
        assert ref.global_l2_norm([o]) <= max_norm * (1 + 1e-6) or \
            ref.global_l2_norm([o]) == pytest.approx(ref.global_l2_norm([g]))


def test_clip_per_tensor_matches_torch_per_parameter():
    rng = np.random.default_rng(0)
    grads = [torch.as_tensor(rng.standard_normal((5, 4)) * s, dtype=torch.float32)
             for s in (0.01, 1.0, 50.0)]
    out = ref.clip_per_tensor(grads, 1.0)
    for g, o in zip(grads, out):
        p = params_holding([g])[0]
        torch.nn.utils.clip_grad_norm_([p], 1.0)
        torch.testing.assert_close(o, p.grad)


# -- flat_cosine -----------------------------------------------------------------------------

@SETTINGS
@given(grad_lists(allow_none=False), st.integers(0, 2**32 - 1))
def test_flat_cosine_matches_torch_cosine_similarity(a, seed):
    rng = np.random.default_rng(seed)
    b = [g * rng.uniform(-1, 1) + torch.as_tensor(rng.standard_normal(tuple(g.shape)),
                                                   dtype=g.dtype) for g in a]
    if not a:
        assert ref.flat_cosine(a, b) == 0.0
        return
    u = torch.cat([g.double().reshape(-1) for g in a])
    v = torch.cat([g.double().reshape(-1) for g in b])
    expected = torch.nn.functional.cosine_similarity(u, v, dim=0, eps=1e-300).item()
    assert ref.flat_cosine(a, b) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_flat_cosine_edge_cases():
    big, small = torch.full((50,), 3.0), torch.tensor([1.0])
    # per-tensor mean would be 0; the flat vector is dominated by the big tensor
    assert ref.flat_cosine([big, small], [big, -small]) == pytest.approx((450 - 1) / 451)
    assert ref.flat_cosine([torch.ones(3)], [-2 * torch.ones(3)]) == pytest.approx(-1.0)
    assert ref.flat_cosine([], []) == 0.0
    assert ref.flat_cosine([torch.zeros(2)], [torch.ones(2)]) == 0.0
    assert ref.flat_cosine([None, torch.ones(2)], [None, torch.ones(2)]) == pytest.approx(1.0)
    # a None facing a tensor counts as zeros: it adds to that side's norm only
    assert ref.flat_cosine([None, torch.ones(1)], [torch.ones(1), torch.ones(1)]) == \
        pytest.approx(1 / math.sqrt(2))
    with pytest.raises(ValueError):
        ref.flat_cosine([torch.ones(1)], [])


# -- clip_grad_norm_ ---------------------------------------------------------------------------

@SETTINGS
@given(grad_lists(), st.floats(0.01, 100.0), st.sampled_from(["list", "tuple", "generator"]))
def test_clip_grad_norm__matches_torch(grads, factor, container):
    norm = numpy_norm(grads)
    max_norm = max(norm * factor, 1.0) if norm else 1.0
    mine, theirs = params_holding(grads), params_holding(grads)
    wrap = {"list": list, "tuple": tuple, "generator": lambda ps: (p for p in ps)}[container]
    got = ref.clip_grad_norm_(wrap(mine), max_norm)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert isinstance(got, torch.Tensor) and got.dim() == 0
    torch.testing.assert_close(got.double(), want.double(), rtol=1e-5, atol=1e-8)
    for p, q in zip(mine, theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-8)


@SETTINGS
@given(grad_lists(), st.floats(1e-3, 1e3))
def test_clip_grad_norm_torch_rule_matches_torch_at_any_norm(grads, max_norm):
    mine, theirs = params_holding(grads), params_holding(grads)
    got = ref.clip_grad_norm_torch_rule_(iter(mine), max_norm)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    torch.testing.assert_close(got.double(), want.double(), rtol=1e-5, atol=1e-8)
    for p, q in zip(mine, theirs):
        if q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=0)


def test_clip_grad_norm__works_in_place_and_keeps_grad_objects():
    params = params_holding([torch.full((3,), 10.0), None])
    grad = params[0].grad
    ref.clip_grad_norm_(params, 1.0)
    assert params[0].grad is grad and params[1].grad is None
    assert ref.global_l2_norm([grad]) == pytest.approx(1.0)


def test_clip_grad_norm__empty_and_nonfinite_like_torch():
    assert float(ref.clip_grad_norm_([], 1.0)) == float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0
    for value in (float("inf"), float("nan")):
        mine = params_holding([torch.tensor([1.0, value])])
        theirs = params_holding([torch.tensor([1.0, value])])
        got = ref.clip_grad_norm_(mine, 1.0)
        want = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        torch.testing.assert_close(got, want, equal_nan=True)
    mine = params_holding([torch.tensor([1.0, float("inf")])])
    theirs = params_holding([torch.tensor([1.0, float("inf")])])
    ref.clip_grad_norm_(mine, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    torch.testing.assert_close(mine[0].grad, theirs[0].grad, equal_nan=True)  # [0, nan]


class TestPyTorchClipGradNorm:
    """PyTorch's test/test_nn.py `test_clip_grad_norm`, L2 norm only, run against the
    reference (both rules) with PyTorch's own values: a Linear(10, 10) whose weight
    gradient is arange(1, 101) and bias gradient ones / 1000, max_norm 2 — plus 0.5."""

    @staticmethod
    def layer_with(grads):
        layer = nn.Linear(10, 10)
        for p, g in zip(layer.parameters(), grads):
            p.grad = g.clone().view_as(p)
        return layer

    @staticmethod
    def norm(layer) -> float:
        return math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in layer.parameters()))

    @staticmethod
    def common_scale(layer, grads) -> float:
        ratios = torch.cat([(p.grad / g.view_as(p)).reshape(-1)
                            for p, g in zip(layer.parameters(), grads)])
        assert float(ratios.std()) == pytest.approx(0.0, abs=1e-6), "tensors scaled differently"
        return float(ratios[0])

    @pytest.mark.parametrize("clip", [ref.clip_grad_norm_, ref.clip_grad_norm_torch_rule_])
    @pytest.mark.parametrize("max_norm", [2.0, 0.5])
    def test_large_gradients_are_scaled_to_max_norm(self, clip, max_norm):
        grads = (torch.arange(1.0, 101).view(10, 10), torch.ones(10).div(1000))
        layer = self.layer_with(grads)
        before = self.norm(layer)
        returned = clip(layer.parameters(), max_norm)
        assert float(returned) == pytest.approx(before, rel=1e-6)  # the pre-clip norm
        assert self.norm(layer) == pytest.approx(max_norm, rel=1e-5)
        assert self.common_scale(layer, grads) == pytest.approx(max_norm / before, rel=1e-5)
        twin = self.layer_with(grads)
        torch.nn.utils.clip_grad_norm_(twin.parameters(), max_norm)
        for p, q in zip(layer.parameters(), twin.parameters()):
            torch.testing.assert_close(p.grad, q.grad)

    @pytest.mark.parametrize("clip", [ref.clip_grad_norm_, ref.clip_grad_norm_torch_rule_])
    def test_small_gradients_are_left_unchanged(self, clip):
        torch.manual_seed(0)
        grads = (torch.rand(10, 10).div(10000), torch.ones(10).div(500))
        layer = self.layer_with(grads)
        before = self.norm(layer)
        returned = clip(layer.parameters(), 2.0)
        assert float(returned) == pytest.approx(before, rel=1e-6)
        assert self.norm(layer) == pytest.approx(before, rel=1e-6)
        assert self.common_scale(layer, grads) == pytest.approx(1.0, rel=1e-6)

    @pytest.mark.parametrize("clip", [ref.clip_grad_norm_, ref.clip_grad_norm_torch_rule_])
    def test_a_single_tensor_is_accepted(self, clip):
        p1, p2 = torch.randn(10, 10), torch.randn(10, 10)
        g = torch.arange(1.0, 101).view(10, 10)
        p1.grad, p2.grad = g.clone(), g.clone()
        clip(p1, 2.0)
        clip([p2], 2.0)
        torch.testing.assert_close(p1.grad, p2.grad)


def test_clip_grad_value_contrast():
    """Value clipping, for the lesson's contrast: element-wise clamp, direction changes."""
    g = torch.tensor([4.0, 0.5])
    p = params_holding([g])[0]
    torch.nn.utils.clip_grad_value_([p], 1.0)
    assert torch.equal(p.grad, torch.tensor([1.0, 0.5]))
    assert ref.flat_cosine([p.grad], [g]) < 0.95
    assert ref.flat_cosine(ref.clip_by_global_norm([g], 1.0), [g]) == pytest.approx(1.0)


# -- the checks this lesson added to autograder.checks ----------------------------------------

def test_same_as_one_of_accepts_any_variant_and_reports_the_first():
    grads = [torch.tensor([0.006, 0.008], dtype=torch.float64)]  # norm 0.01: the rules differ
    rules = [ref.clip_by_global_norm, ref.clip_by_global_norm_torch_rule]
    for rule in rules:
        checks.same_as_one_of(rule, rules, (grads, 0.005), name="clip_by_global_norm")
    with pytest.raises(AssertionError, match="clip_by_global_norm"):
        checks.same_as_one_of(lambda g, m: [x * 0.9 for x in g], rules, (grads, 0.005),
                              name="clip_by_global_norm")


def test_same_as_one_of_catches_mutation():
    def mutating(grads, max_norm):
        for g in grads:
            g.mul_(0.5)
        return grads
    with pytest.raises(AssertionError, match="modified in place"):
        checks.same_as_one_of(mutating, [ref.clip_by_global_norm],
                              ([torch.tensor([3.0, 4.0])], 2.5), name="clip_by_global_norm")


def test_same_in_place_compares_returned_value_and_state():
    def setup():
        params = params_holding([torch.tensor([3.0, 4.0]), None])
        return (params, 1.0), lambda r: {"norm": r, "grad 0": params[0].grad,
                                         "grad 1": params[1].grad}
    checks.same_in_place(ref.clip_grad_norm_, [ref.clip_grad_norm_torch_rule_], setup, name="c")

    def forgets_to_scale(params, max_norm):
        return torch.tensor(ref.global_l2_norm([p.grad for p in params if p.grad is not None]))
    with pytest.raises(AssertionError, match="grad 0 after c"):
        checks.same_in_place(forgets_to_scale, [ref.clip_grad_norm_], setup, name="c")

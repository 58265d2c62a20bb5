"""The lesson-01 references against independent computations (torch.func, float64, brute
force), and the diagnoses hidden tests print against the mistakes they name."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call, grad, vmap

from autograder.reference import spike_sources as ref

# --------------------------------------------------------------------------------------
# per_example_grad_norms
# --------------------------------------------------------------------------------------


def func_per_sample_norms(model, loss_fn, xs, ys) -> torch.Tensor:
    """Per-sample gradient norms the torch.func way: functional_call + vmap + grad."""
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}

    def one(params, x, y):
        out = functional_call(model, (params, frozen), (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0))(trainable, xs, ys)
    return sum(g.double().reshape(len(xs), -1).pow(2).sum(1) for g in grads.values()).sqrt()


def _state(model):
    return [(p.detach().clone(), None if p.grad is None else p.grad.clone(), p.requires_grad)
            for p in model.parameters()]


def _same_state(a, b) -> bool:
    return all(torch.equal(pa, pb) and fa == fb
               and ((ga is None and gb is None) or (ga is not None and gb is not None
                                                   and torch.equal(ga, gb)))
               for (pa, ga, fa), (pb, gb, fb) in zip(a, b))


@pytest.mark.parametrize("seed", range(12))
def test_per_example_matches_torch_func(seed):
    rng = np.random.default_rng(seed)
    model, loss_fn, xs, ys, desc = ref.random_model_case(rng, unused=seed % 4 == 0)
    before = _state(model)
    got = ref.per_example_grad_norms(model, loss_fn, xs, ys)
    assert _same_state(before, _state(model)), f"the reference changed the model ({desc})"
    want = func_per_sample_norms(model, loss_fn, xs, ys)
    assert got.shape == (len(xs),)
    np.testing.assert_allclose(got.double().numpy(), want.numpy(), rtol=1e-5, atol=1e-7,
                               err_msg=desc)


def test_per_example_linear_closed_form():
    torch.manual_seed(0)
    lin = nn.Linear(4, 1)
    xs, ys = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    lin.double()
    got = ref.per_example_grad_norms(lin, nn.MSELoss(), xs, ys)
    with torch.no_grad():
        r = (lin(xs) - ys).squeeze(1)
    want = 2 * r.abs() * torch.sqrt((xs ** 2).sum(1) + 1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_per_example_all_frozen_is_zero():
    lin = nn.Linear(3, 1).requires_grad_(False)
    got = ref.per_example_grad_norms(lin, nn.MSELoss(), torch.randn(4, 3), torch.randn(4, 1))
    assert torch.equal(got, torch.zeros(4))


def test_per_example_under_no_grad():
    lin = nn.Linear(3, 1)
    xs, ys = torch.randn(3, 3), torch.randn(3, 1)
    with torch.no_grad():
        got = ref.per_example_grad_norms(lin, nn.MSELoss(), xs, ys)
    assert torch.isfinite(got).all() and (got > 0).all()


def _mistake_outputs(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    per = []
    for i in range(len(xs)):
        g = torch.autograd.grad(loss_fn(model(xs[i:i + 1]), ys[i:i + 1]), params)
        per.append([t.double() for t in g])
    batch = torch.autograd.grad(loss_fn(model(xs), ys), params)
    batch_norm = math.sqrt(sum(float(t.pow(2).sum()) for t in batch))
    run, cum = None, []
    for g in per:
        run = g if run is None else [a + b for a, b in zip(run, g)]
        cum.append(math.sqrt(sum(float(t.pow(2).sum()) for t in run)))
    return {
        "whole batch": torch.full((len(xs),), batch_norm),
        "accumulate": torch.tensor(cum),
        "largest per-tensor": torch.tensor([max(float(t.norm()) for t in g) for g in per]),
        "sum of per-tensor": torch.tensor([sum(float(t.norm()) for t in g) for g in per]),
    }


@pytest.mark.parametrize("mistake", ["whole batch", "accumulate", "largest per-tensor",
                                     "sum of per-tensor"])
def test_diagnose_per_example_names_the_mistake(mistake):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    xs, ys = torch.randn(4, 3), torch.randn(4, 2)
    xs[1] *= 30
    got = _mistake_outputs(model, nn.MSELoss(), xs, ys)[mistake]
    why = ref.diagnose_per_example_grad_norms(model, nn.MSELoss(), xs, ys, got)
    assert mistake in why, why
    right = ref.per_example_grad_norms(model, nn.MSELoss(), xs, ys)
    assert ref.diagnose_per_example_grad_norms(model, nn.MSELoss(), xs, ys, right * 1.5) == ""


def test_diagnose_per_example_frozen():
    torch.manual_seed(4)
    lin = nn.Linear(3, 1)
    xs, ys = torch.randn(4, 3), torch.randn(4, 1)
    want_with_frozen = ref.per_example_grad_norms(lin, nn.MSELoss(), xs, ys)
    lin.bias.requires_grad_(False)
    why = ref.diagnose_per_example_grad_norms(lin, nn.MSELoss(), xs, ys, want_with_frozen)
    assert "frozen" in why
    assert not lin.bias.requires_grad, "the diagnosis must restore requires_grad"


def test_random_model_case_variety():
    rng = np.random.default_rng(0)
    cases = [ref.random_model_case(rng) for _ in range(40)]
    assert any(not p.requires_grad for c in cases for p in c[0].parameters())
    assert any(p.grad is not None for c in cases for p in c[0].parameters())
    assert any(p.grad is None and p.requires_grad for c in cases for p in c[0].parameters())
    assert all(any(p.requires_grad for p in c[0].parameters()) for c in cases)
    assert {c[4].split(" (")[0] for c in cases} == {"a regression MLP", "a classifier MLP",
                                                   "a token classifier"}
    assert len(ref.random_model_case(rng, batch=1)[2]) == 1


# --------------------------------------------------------------------------------------
# stable_softmax_fp16 and smallest_overflowing_logit
# --------------------------------------------------------------------------------------


def test_smallest_overflowing_logit():
    x = ref.smallest_overflowing_logit
    assert type(x) is int and x == 12
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(np.float16(x)))
        assert np.isfinite(np.exp(np.float16(x - 1)))
    # consistent with the IEEE 754 binary16 maximum, (2 - 2**-10) * 2**15 = 65504
    assert math.floor(math.log((2 - 2 ** -10) * 2 ** 15)) + 1 == x


def _float64_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx]
        m = max(v for v in row)
        e = np.array([math.exp(v - m) for v in row])
        out[idx] = e / e.sum()
    return out


@pytest.mark.parametrize("seed", range(30))
def test_stable_softmax_vs_float64(seed):
    x = ref.random_logits(np.random.default_rng(seed))
    before = x.copy()
    got = ref.stable_softmax_fp16(x)
    assert np.array_equal(x, before, equal_nan=True)
    assert got.dtype == np.float16 and got.shape == x.shape
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.astype(np.float64), _float64_softmax(x), rtol=0, atol=1e-3)
    np.testing.assert_allclose(ref.softmax_float64(x), _float64_softmax(x), rtol=1e-12,
                               atol=1e-300)


def test_stable_softmax_vs_torch():
    x = (np.random.default_rng(1).standard_normal((4, 9)) * 20).astype(np.float16)
    want = torch.softmax(torch.from_numpy(x).double(), dim=-1).numpy()
    np.testing.assert_allclose(ref.stable_softmax_fp16(x).astype(np.float64), want, atol=1e-3)


def test_stable_softmax_extremes_and_masks():
    x = np.array([[60000, -60000, 60000], [-60000, -60000, -60000]], dtype=np.float16)
    np.testing.assert_array_equal(ref.stable_softmax_fp16(x),
                                  np.array([[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]], np.float16))
    masked = np.array([[-np.inf, 0.0, -np.inf, 0.0]], dtype=np.float16)
    np.testing.assert_array_equal(ref.stable_softmax_fp16(masked), [[0, 0.5, 0, 0.5]])
    with np.errstate(invalid="ignore"):
        all_masked = ref.stable_softmax_fp16(np.full((1, 3), -np.inf, dtype=np.float16))
    assert np.isnan(all_masked).all(), "a fully masked row has no softmax (NaN, as in torch)"
    assert torch.isnan(torch.softmax(torch.full((3,), -torch.inf), 0)).all()


def test_random_logits_cover_the_range():
    rng = np.random.default_rng(0)
    xs = [ref.random_logits(rng) for _ in range(200)]
    finite = np.concatenate([x[np.isfinite(x)].ravel() for x in xs]).astype(np.float64)
    assert finite.max() > 30000 and finite.min() < -30000 and np.abs(finite).max() <= 60000
    assert any(np.isneginf(x).any() for x in xs)
    assert all(np.isfinite(x).any(axis=-1).all() for x in xs), "every row keeps a finite logit"
    assert {x.ndim for x in xs} == {1, 2, 3}


# --------------------------------------------------------------------------------------
# spike_steps
# --------------------------------------------------------------------------------------


def brute_spike_steps(g, window, factor):
    return [i for i in range(1, len(g))
            if g[i] > factor * statistics.median(g[max(0, i - window):i])]


norms_st = st.lists(st.one_of(st.floats(0.0, 1e3, allow_nan=False),
                              st.sampled_from([0.5, 1.0, 2.0, 4.0])), max_size=60)


@settings(max_examples=200, deadline=None)
@given(norms_st, st.integers(1, 40), st.sampled_from([1.5, 2.0, 3.0, 5.0]))
def test_spike_steps_brute_force(g, window, factor):
    assert ref.spike_steps(g, window, factor) == brute_spike_steps(g, window, factor)


@settings(max_examples=100, deadline=None)
@given(norms_st, st.integers(1, 40), st.sampled_from([1.5, 2.0, 3.0, 5.0]))
def test_spike_steps_properties(g, window, factor):
    out = ref.spike_steps(g, window, factor)
    assert out == sorted(set(out)) and all(1 <= i < len(g) for i in out)
    assert all(type(i) is int for i in out)
    # causal: a step's verdict does not depend on later steps
    for cut in range(len(g) + 1):
        assert ref.spike_steps(g[:cut], window, factor) == [i for i in out if i < cut]
    # scaling every norm by a power of two changes nothing (exact in floating point)
    assert ref.spike_steps([v * 8 for v in g], window, factor) == out
    # a window longer than the history is the whole history
    assert ref.spike_steps(g, len(g) + 5, factor) == ref.spike_steps(g, 10 ** 6, factor)
    # a larger factor flags a subset
    assert set(ref.spike_steps(g, window, factor * 2)) <= set(out)


def test_spike_steps_edge_cases():
    assert ref.spike_steps([]) == [] and ref.spike_steps([9.0]) == []
    assert ref.spike_steps([2, 2, 2, 10]) == []            # tie at the threshold
    assert ref.spike_steps([2, 2, 2, 10.000001]) == [3]
    assert ref.spike_steps([1.0, 10.0], window=2) == [1]   # window excludes step i
    assert ref.spike_steps([1, 3, 9], window=2) == []      # even window: mean of the middle two
    assert ref.spike_steps(np.array([1.0, 1.0, 6.0])) == [2]
    g = [1.0] * 30 + [100.0] + [1.0] * 5 + [6.0]
    assert ref.spike_steps(g) == [30, 36]                  # the median ignores the earlier spike


MISTAKE_IMPLS = {
    "exclude step i": lambda g, w, f: [i for i in range(1, len(g))
                                       if g[i] > f * np.median(g[max(0, i - w + 1):i + 1])],
    "not the mean": lambda g, w, f: [i for i in range(1, len(g))
                                     if g[i] > f * np.mean(g[max(0, i - w):i])],
    "off by one": lambda g, w, f: [i for i in range(1, len(g))
                                   if g[i] > f * np.median(g[max(0, i - w - 1):i])],
    "not with >=": lambda g, w, f: [i for i in range(1, len(g))
                                    if g[i] >= f * np.median(g[max(0, i - w):i])],
    "two middle": lambda g, w, f: [i for i in range(1, len(g))
                                   if g[i] > f * float(torch.median(torch.tensor(g[max(0, i - w):i])))],
}
DIAGNOSIS_WORDS = {"exclude step i": "must exclude step i", "not the mean": "not the mean",
                   "off by one": "off by one", "not with >=": ">, not >=",
                   "two middle": "two middle"}


@pytest.mark.parametrize("mistake", sorted(MISTAKE_IMPLS))
def test_diagnose_spike_steps_names_the_mistake(mistake):
    rng = np.random.default_rng(0)
    named = 0
    for _ in range(300):
        g, w, f = ref.random_norm_trace(rng)
        g = np.asarray(g, dtype=np.float64)
        got = MISTAKE_IMPLS[mistake](g, w, f)
        if got == ref.spike_steps(g, w, f):
            continue
        why = ref.diagnose_spike_steps(g, w, f, got).lower()
        assert "you flagged" in why or "you missed" in why
        named += DIAGNOSIS_WORDS[mistake] in why
    assert named >= 5, f"the diagnosis named `{mistake}` only {named} times"


def test_diagnose_spike_steps_out_of_range_and_garbage():
    assert "not an index" in ref.diagnose_spike_steps([1.0, 1.0], 20, 5.0, [7])
    assert ref.diagnose_spike_steps([1.0, 1.0], 20, 5.0, None) == ""

"""The lesson 07 references, on the cases the lesson shows, and against the authors' own
packages where they are installed (`pip install zclip timm autoclip`; skipped otherwise:
they are not course dependencies)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder.reference import beyond_global_norm as ref


# -- AutoClip ---------------------------------------------------------------------------------

def test_autoclip_first_step_is_the_current_norm():
    assert ref.autoclip_threshold([], 3.5, 10.0) == 3.5
    assert ref.autoclip_package_threshold([], 0.1) == math.inf


def test_autoclip_interpolates_and_leaves_history_alone():
    history = [1.0, 2.0, 3.0, 4.0]
    assert ref.autoclip_threshold(history, 100.0, 10.0) == pytest.approx(1.4)
    assert history == [1.0, 2.0, 3.0, 4.0]


def test_autoclip_nan_history_gives_nan():
    assert math.isnan(ref.autoclip_threshold([1.0, float("nan")], 2.0, 10.0))


def test_autoclip_package_matches_quantileclip():
    quantile = pytest.importorskip("autoclip.torch.quantile")
    p = torch.nn.Parameter(torch.zeros(3))
    clipper = quantile.QuantileClip([p], quantile=0.25, history_length=1000)
    rng = np.random.default_rng(0)
    history: list[float] = []
    for step in range(40):
        g = torch.as_tensor(rng.standard_normal(3) * (30.0 if step % 9 == 8 else 1.0),
                            dtype=torch.float32)
        p.grad = g.clone()
        norm = float(g.norm())
        threshold = ref.autoclip_package_threshold(history, 0.25)
        clipper.step()
        want = norm if norm <= threshold else threshold
        assert float(p.grad.norm()) == pytest.approx(want, rel=1e-5)
        history.append(norm)


# -- ZClip ------------------------------------------------------------------------------------

def test_zclip_warmup_passes_and_spike_goes_to_adaptive_threshold():
    norms = [0.9, 1.1, 1.0, 1.0, 3.0]
    out = ref.zclip_clipped_norms(norms, alpha=0.9, warmup_steps=4)
    assert out[:4].tolist() == norms[:4]
    mu, sigma = 1.0, math.sqrt(0.005)
    z = (3.0 - mu) / (sigma + 1e-6)
    assert out[4] == pytest.approx(mu + 2.5 ** 2 * sigma / z)


def test_zclip_inf_goes_to_mean_and_nan_poisons():
    quiet = [1.0, 1.1, 0.9, 1.0, 1.05]
    out = ref.zclip_clipped_norms(quiet + [math.inf], warmup_steps=5)
    assert out[-1] == pytest.approx(np.mean(quiet))
    out = ref.zclip_clipped_norms(quiet + [math.nan, 100.0], warmup_steps=5)
    assert math.isnan(out[5]) and out[6] == 100.0


def _zclip_package_run(norms, **kw):
    zclip = pytest.importorskip("zclip")
    model = torch.nn.Linear(1, 1, bias=False)
    clipper = zclip.ZClip(max_grad_norm=None, **kw)
    passed, means = [], []
    for g in norms:
        model.weight.grad = torch.tensor([[float(g)]], dtype=torch.float64).float()
        clipper.step(model)
        passed.append(abs(float(model.weight.grad)))
        means.append(clipper.mean)
    return np.array(passed), means


@pytest.mark.parametrize("seed", range(5))
def test_zclip_matches_the_authors_package(seed):
    rng = np.random.default_rng(seed)
    n = 120
    norms = np.exp(rng.normal(0, 0.3, n))
    norms[rng.choice(n, 8, replace=False)] *= rng.uniform(3, 100, 8)
    kw = dict(alpha=float(rng.uniform(0.85, 0.99)), z_thresh=float(rng.uniform(1.5, 3.0)),
              warmup_steps=int(rng.integers(1, 30)))
    got, _ = _zclip_package_run(norms.astype(np.float32), **kw)
    want = ref.zclip_clipped_norms(norms.astype(np.float32).astype(np.float64), **kw)
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_zclip_package_on_inf_and_nan():
    quiet = [1.0, 1.1, 0.9, 1.0, 1.05]
    got, means = _zclip_package_run(quiet + [math.inf, 1.0], warmup_steps=5)
    want = ref.zclip_clipped_norms(quiet + [math.inf, 1.0], warmup_steps=5)
    assert math.isnan(got[5])  # the package multiplies an inf gradient by 0: NaN
    assert want[5] == pytest.approx(np.mean(quiet), rel=1e-6)  # ... after clipping it to mu
    assert got[6] == pytest.approx(want[6], rel=1e-5)
    got, _ = _zclip_package_run(quiet + [math.nan, 100.0], warmup_steps=5)
    want = ref.zclip_clipped_norms(quiet + [math.nan, 100.0], warmup_steps=5)
    assert math.isnan(got[5]) and math.isnan(want[5]) and got[6] == want[6] == 100.0


# -- AGC --------------------------------------------------------------------------------------

def _params(rng, zero=False):
    specs = [(5, 4), (5,), (3, 2, 3, 3), (), (4, 1)]
    params = []
    for shape in specs:
        p = torch.nn.Parameter(torch.zeros(shape) if zero else
                               torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32))
        p.grad = torch.as_tensor(rng.standard_normal(shape) * 0.03, dtype=torch.float32)
        params.append(p)
    return params


def test_agc_units_and_eps():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0], [6.0, 8.0]]))
    w.grad = torch.tensor([[0.6, 0.8], [0.3, 0.4]])
    grad = w.grad
    ref.agc_([w], clipping=0.1)
    assert w.grad is grad
    torch.testing.assert_close(w.grad, torch.tensor([[0.3, 0.4], [0.3, 0.4]]))
    z = torch.nn.Parameter(torch.zeros(2, 3))
    z.grad = torch.ones(2, 3)
    ref.agc_([z])
    torch.testing.assert_close(z.grad.norm(dim=1), torch.full((2,), 1e-5))


def test_agc_nan_rules_differ_as_the_codes_do():
    w = torch.nn.Parameter(torch.ones(1, 3))
    for rule, all_nan in ((ref.agc_, False), (ref.agc_timm_rule_, True)):
        w.grad = torch.tensor([[float("nan"), 1.0, 1.0]])
        rule([w])
        assert bool(torch.isnan(w.grad).all()) is all_nan


def _timm_agc():
    """timm's `timm/utils/agc.py` on its own (it needs only torch; importing the whole
    `timm` package would need torchvision)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("timm is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "utils" / "agc.py"
    module_spec = importlib.util.spec_from_file_location("timm_agc_alone", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("zero", [False, True])
def test_agc_matches_timm(zero):
    agc = _timm_agc()
    rng = np.random.default_rng(1)
    ours = _params(rng, zero)
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for p, q in zip(ours, theirs):
        q.grad = p.grad.clone()
    ref.agc_(ours)
    agc.adaptive_clip_grad(theirs)
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-9)


# -- dual norms and the generalized step ------------------------------------------------------

def test_dual_norms():
    d = torch.diag(torch.tensor([3.0, 4.0]))
    assert ref.dual_norm(d, "euclidean") == pytest.approx(5.0)
    assert ref.dual_norm(d, "spectral") == pytest.approx(7.0)
    assert ref.dual_norm(d, "sign") == pytest.approx(7.0)
    g = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    for kind in ref.DUAL_NORM_KINDS:  # <lmo(g), g> is the dual norm
        assert float((ref.lmo(g, kind) * g).sum()) == pytest.approx(ref.dual_norm(g, kind), rel=1e-5)
    with pytest.raises(ValueError, match="kind"):
        ref.dual_norm(g, "frobenius")


def test_generalized_step_on_one_euclidean_layer_is_a_global_clip():
    g = torch.randn(8, 4, generator=torch.Generator().manual_seed(1)) * 3.0
    lr, rho = 0.1, 2.0
    (step,) = ref.generalized_clip_step([g], ["euclidean"], lr, rho)
    norm = float(g.norm())
    clipped = g * min(1.0, rho / norm)
    torch.testing.assert_close(step, (lr / rho) * clipped)


# -- the sharded norm, single-process expectation ------------------------------------------------

def test_expected_sharded_is_the_concatenated_clip():
    shards = [[torch.tensor([3.0, 4.0])], [], [torch.tensor([[12.0]])]]
    e = ref.expected_sharded(shards, 6.5)
    assert e["norms"] == [13.0, 13.0, 13.0]
    torch.testing.assert_close(e["shards"][0][0], torch.tensor([1.5, 2.0]))
    g = ref.expected_sharded(shards, 1.0, groups=[[0, 1], [2]])
    assert g["norms"] == [5.0, 5.0, 12.0]

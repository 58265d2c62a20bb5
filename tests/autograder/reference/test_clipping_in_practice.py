"""The lesson-06 references against independent computations: a full-batch backward, Kronos'
own slicing loop, a hand-written loss-scaled step, PyTorch's clip per group, and the real
trainers for the framework options."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from autograder.reference import clipping_in_practice as ref
from course import frameworks as fw
from course import models
from course.amp import amp_scenario


@pytest.mark.parametrize("rule", [ref.accumulate_and_clip_, ref.accumulate_and_clip_torch_rule_])
@pytest.mark.parametrize("k,max_norm", [(1, 0.3), (3, 0.3), (4, 1e6)])
def test_accumulation_equals_one_full_batch(rule, k, max_norm):
    model = models.TinyMLP(d_in=5, d_hidden=7, depth=2, seed=1)
    full = copy.deepcopy(model)
    x, y = models.outlier_regression_batch(batch=3 * k, d_in=5, seed=2)
    for p in model.parameters():
        p.grad = torch.ones_like(p)          # stale: must be cleared
    norm = rule(model, F.mse_loss, [(x[3 * i:3 * i + 3], y[3 * i:3 * i + 3]) for i in range(k)],
                max_norm)
    F.mse_loss(full(x), y).backward()
    want = torch.nn.utils.clip_grad_norm_(full.parameters(), max_norm)
    assert norm.dim() == 0 and math.isclose(float(norm), float(want), rel_tol=1e-5)
    for p, q in zip(model.parameters(), full.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-7)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(1, 16), st.data())
def test_kronos_rows_match_its_loop(batch_size, world_size, data):
    accumulation_steps = data.draw(st.integers(1, batch_size))
    seen = 0
    x = torch.arange(batch_size)
    for j in range(accumulation_steps):            # train_tokenizer.py, its indexing only
        start = j * (x.shape[0] // accumulation_steps)
        end = (j + 1) * (x.shape[0] // accumulation_steps)
        seen += len(x[start:end])
    assert ref.kronos_rows_per_step(batch_size, world_size, accumulation_steps) == seen * world_size
    assert ref.kronos_logged_batch_size(batch_size, world_size, accumulation_steps) >= seen * world_size


def test_amp_reference_matches_a_step_without_a_scaler():
    """The unscaled clip inside a GradScaler step equals plain fp32 clipping."""
    trace = amp_scenario(ref.amp_clip_step, seed=3, max_norm=0.4, init_scale=2.0 ** 10, steps=2,
                         overflow_at=None, lr=0.05)
    plain = models.TinyMLP(d_in=6, d_hidden=16, d_out=1, depth=2, seed=3)
    opt = torch.optim.SGD(plain.parameters(), lr=0.05)
    from course.amp import scenario_batch

    for step in range(2):
        opt.zero_grad(set_to_none=True)
        x, y = scenario_batch(step, seed=3)
        F.mse_loss(plain(x), y).backward()
        norm = float(torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.4))
        opt.step()
        assert math.isclose(trace["returned"][step], norm, rel_tol=1e-4)
        for a, b in zip(trace["params"][step], plain.parameters()):
            torch.testing.assert_close(a, b.detach(), rtol=1e-4, atol=1e-6)


def test_amp_reference_skips_an_overflow_and_halves_the_scale():
    trace = amp_scenario(ref.amp_clip_step, seed=0, steps=4, overflow_at=1, init_scale=256.0,
                         growth_interval=100)
    assert not math.isfinite(trace["returned"][1])
    assert trace["scale"] == [256.0, 128.0, 128.0, 128.0]
    for a, b in zip(trace["params"][1], trace["params"][0]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("rule", [ref.per_component_clip_, ref.per_component_clip_torch_rule_])
def test_per_component_equals_torch_per_group(rule):
    rng = np.random.default_rng(0)
    def params(n):
        out = []
        for _ in range(n):
            p = torch.nn.Parameter(torch.zeros(3, 2))
            p.grad = torch.as_tensor(rng.standard_normal((3, 2)) * 4, dtype=torch.float32)
            out.append(p)
        return out
    a, b = params(2), params(3)
    def twin(ps):
        out = []
        for p in ps:
            q = torch.nn.Parameter(p.detach().clone())
            q.grad = p.grad.clone()
            out.append(q)
        return out
    a2, b2 = twin(a), twin(b)
    got = rule({"a": iter(a), "b": b, "none": [torch.nn.Parameter(torch.zeros(1))]},
               {"none": 1.0, "b": 2.0, "a": 0.5})
    want_a = torch.nn.utils.clip_grad_norm_(a2, 0.5)
    want_b = torch.nn.utils.clip_grad_norm_(b2, 2.0)
    assert math.isclose(float(got["a"]), float(want_a), rel_tol=1e-5)
    assert math.isclose(float(got["b"]), float(want_b), rel_tol=1e-5)
    assert float(got["none"]) == 0.0
    for p, q in zip(a + b, a2 + b2):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("framework,train", [("hf", fw.hf_train), ("lightning", fw.lightning_train)])
def test_framework_options_clip_the_real_trainers(framework, train):
    rows = fw.token_rows(4, seed=2)
    run = train(fw.tiny_lm(1), rows, steps=2, batch_size=2,
                **ref.framework_clip_kwargs(framework, 0.21))
    assert all(math.isclose(n, 0.21, rel_tol=1e-4) for n in run.received_norms)


def test_framework_options_by_schema_and_unknown_framework():
    assert ref.framework_clip_kwargs("deepspeed", 0.4) == {"gradient_clipping": 0.4}
    assert ref.framework_clip_kwargs("axolotl", 0.4) == {"max_grad_norm": 0.4}
    with pytest.raises(ValueError, match="framework"):
        ref.framework_clip_kwargs("keras", 0.4)

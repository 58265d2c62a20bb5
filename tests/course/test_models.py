"""course.models: tiny seeded models, batches and gradient helpers."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from course import models


def test_models_are_seeded_and_leave_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = models.TinyMLP(seed=3), models.TinyMLP(seed=3)
    c = models.TinyMLP(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    t1, t2 = models.TinyTransformer(seed=1), models.TinyTransformer(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(t1.parameters(), t2.parameters()))


def test_tiny_mlp_shapes_and_names():
    mlp = models.TinyMLP(d_in=8, d_hidden=16, d_out=2, depth=3)
    assert mlp(torch.zeros(5, 8)).shape == (5, 2)
    assert models.parameter_names(mlp) == [f"layers.{i}.{k}" for i in range(4)
                                           for k in ("weight", "bias")]
    with pytest.raises(ValueError, match="depth"):
        models.TinyMLP(depth=0)


def test_tiny_transformer_is_causal():
    model = models.TinyTransformer(vocab=16, d_model=16, n_heads=2, context=8)
    tokens, _ = models.token_batch(batch=2, context=8, vocab=16)
    logits = model(tokens)
    assert logits.shape == (2, 8, 16)
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 16
    torch.testing.assert_close(model(changed)[:, :-1], logits[:, :-1])  # the past ignores the future
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        models.TransformerBlock(10, 3)


def test_outlier_batch_differs_from_clean_only_at_the_outlier():
    x, y = models.outlier_regression_batch(batch=16, d_in=4, outlier_scale=30.0, outlier_index=2)
    xc, yc = models.clean_regression_batch(batch=16, d_in=4)
    keep = [i for i in range(16) if i != 2]
    assert torch.equal(x[keep], xc[keep]) and torch.equal(y[keep], yc[keep])
    torch.testing.assert_close(x[2], 30.0 * xc[2])
    torch.testing.assert_close(y[2], -10.0 * yc[2] - 5.0)
    with pytest.raises(ValueError):
        models.outlier_regression_batch(batch=4, outlier_index=4)


def test_token_batch_targets_are_shifted_inputs():
    inputs, targets = models.token_batch(batch=3, context=5, vocab=7, seed=1)
    assert inputs.shape == targets.shape == (3, 5)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    assert int(inputs.max()) < 7


def test_loss_gradients_match_autograd_and_restore_grads():
    mlp = models.TinyMLP(seed=0)
    x, y = models.outlier_regression_batch(seed=0)
    sentinel = torch.full_like(mlp.layers[0].weight, 7.0)
    mlp.layers[0].weight.grad = sentinel
    grads = models.loss_gradients(mlp, F.mse_loss, x, y)
    assert mlp.layers[0].weight.grad is sentinel and mlp.layers[1].weight.grad is None
    expected = torch.autograd.grad(F.mse_loss(mlp(x), y), list(mlp.parameters()))
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e)


def test_loss_gradients_gives_none_for_unused_parameters():
    frozen = models.TinyMLP(seed=0)
    frozen.layers[2].bias.requires_grad_(False)
    grads = models.loss_gradients(frozen, F.mse_loss, torch.zeros(2, 8), torch.zeros(2, 1))
    assert grads[-1] is None and grads[0] is not None


def test_outlier_inflates_the_gradient():
    mlp = models.TinyMLP(seed=0)
    norm = lambda gs: torch.sqrt(sum((g.double() ** 2).sum() for g in gs)).item()  # noqa: E731
    spiky = models.loss_gradients(mlp, F.mse_loss, *models.outlier_regression_batch(seed=0))
    calm = models.loss_gradients(mlp, F.mse_loss, *models.clean_regression_batch(seed=0))
    assert norm(spiky) > 3 * norm(calm)


def test_set_gradients_copies_and_validates():
    mlp = models.TinyMLP(seed=0)
    grads = [torch.ones_like(p) for p in mlp.parameters()]
    grads[1] = None
    models.set_gradients(mlp, grads)
    params = list(mlp.parameters())
    assert params[1].grad is None and torch.equal(params[0].grad, grads[0])
    assert params[0].grad is not grads[0]
    with pytest.raises(ValueError, match="parameters"):
        models.set_gradients(mlp, grads[:-1])
    with pytest.raises(ValueError, match="shape"):
        models.set_gradients(mlp, [torch.ones(1)] * len(params))

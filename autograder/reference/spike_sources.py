"""Reference solutions for `01_spike_sources`, plus diagnoses that hidden tests print.

Each exercise has the contract's name and signature. The `diagnose_*` helpers recompute
the plausible mistakes of an exercise and name the one a learner's answer matches, so a
failed hidden test can say *why* and not only *that* the answer differs.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------------------
# per_example_grad_norms
# --------------------------------------------------------------------------------------


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def per_example_grad_norms(model: nn.Module, loss_fn, xs: torch.Tensor,
                           ys: torch.Tensor) -> torch.Tensor:
    """Global L2 norm of the gradient of each example's loss w.r.t. every trainable parameter.

    Entry `i` is `sqrt(sum over trainable p of ||d loss_fn(model(xs[i:i+1]), ys[i:i+1]) / dp||^2)`.
    Frozen parameters (`requires_grad=False`) have no gradient and do not count; a trainable
    parameter the loss does not reach contributes 0. `torch.autograd.grad` returns the
    gradients without touching any `p.grad`, so every `.grad` is left as it was.
    """
    params = _trainable(model)
    dtype = params[0].dtype if params else torch.float32
    norms = torch.zeros(len(xs), dtype=torch.float64)
    if not params:
        return norms.to(dtype)
    with torch.enable_grad():
        for i in range(len(xs)):
            loss = loss_fn(model(xs[i:i + 1]), ys[i:i + 1])
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            total = sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None)
            norms[i] = math.sqrt(total)
    return norms.to(dtype)


def _per_example_grads(model, loss_fn, xs, ys, params) -> list[list[torch.Tensor]]:
    out = []
    with torch.enable_grad():
        for i in range(len(xs)):
            loss = loss_fn(model(xs[i:i + 1]), ys[i:i + 1])
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            out.append([torch.zeros_like(p) if g is None else g.detach().double()
                        for p, g in zip(params, grads)])
    return out


def _norm(tensors) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))


def diagnose_per_example_grad_norms(model: nn.Module, loss_fn, xs: torch.Tensor,
                                    ys: torch.Tensor, got) -> str:
    """Name the plausible mistake whose output matches `got` ("" if none does)."""
    got = np.asarray(torch.as_tensor(got).detach().double().cpu()).reshape(-1)
    params = _trainable(model)
    if not params or got.shape != (len(xs),):
        return ""
    per = _per_example_grads(model, loss_fn, xs, ys, params)
    with torch.enable_grad():
        batch = torch.autograd.grad(loss_fn(model(xs), ys), params, allow_unused=True)
    batch_norm = _norm(g for g in batch if g is not None)
    running = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    cumulative = []
    for grads in per:
        running = [r + g for r, g in zip(running, grads)]
        cumulative.append(_norm(running))
    candidates = {
        "every entry equals the norm of the whole batch's gradient: compute one gradient per "
        "example (`xs[i:i+1]`), not one for the batch":
            np.full(len(xs), batch_norm),
        "example 0 is right but later ones grow: gradients accumulate across examples. "
        "Zero them between examples, or use `torch.autograd.grad`, which returns fresh ones":
            np.asarray(cumulative),
        "this is the largest per-tensor norm, not the global norm: add the squares of every "
        "parameter's gradient, then take one square root":
            np.asarray([max(float(g.pow(2).sum().sqrt()) for g in grads) for grads in per]),
        "this is the sum of per-tensor norms, not the global norm: add the squares of every "
        "parameter's gradient, then take one square root":
            np.asarray([sum(float(g.pow(2).sum().sqrt()) for g in grads) for grads in per]),
    }
    frozen = [p for p in model.parameters() if not p.requires_grad]
    if frozen:
        all_params = list(model.parameters())
        for p in frozen:
            p.requires_grad_(True)
        try:
            with_frozen = [_norm(g) for g in _per_example_grads(model, loss_fn, xs, ys, all_params)]
        finally:
            for p in frozen:
                p.requires_grad_(False)
        candidates["you included frozen parameters (`requires_grad=False`); they receive no "
                   "gradient and clipping never sees them: use only parameters that require "
                   "grad"] = np.asarray(with_frozen)
    for why, values in candidates.items():
        if np.allclose(got, values, rtol=1e-4, atol=1e-10):
            return why
    return ""


# --------------------------------------------------------------------------------------
# spike_steps
# --------------------------------------------------------------------------------------


def spike_steps(grad_norms: Sequence[float], window: int = 20, factor: float = 5.0) -> list[int]:
    """Steps `i >= 1` whose norm exceeds `factor` times the median of the `window` steps before.

    The trailing window is `grad_norms[max(0, i - window):i]`; it excludes step `i`, so a
    spike cannot raise its own threshold. A norm exactly equal to the threshold is no spike.
    """
    g = np.asarray(grad_norms, dtype=np.float64).reshape(-1)
    out = []
    for i in range(1, len(g)):
        if g[i] > factor * float(np.median(g[max(0, i - window):i])):
            out.append(i)
    return out


def _spikes_with(g: np.ndarray, window: int, factor: float, *,
                 lo: Callable[[int], int], hi: Callable[[int], int],
                 center: Callable[[np.ndarray], float], strict: bool = True,
                 start: int = 1) -> list[int]:
    out = []
    for i in range(start, len(g)):
        trailing = g[max(0, lo(i)):hi(i)]
        if len(trailing) == 0:
            continue
        threshold = factor * center(trailing)
        if g[i] > threshold or (not strict and g[i] == threshold):
            out.append(i)
    return out


def _lower_median(values: np.ndarray) -> float:
    return float(np.sort(values)[(len(values) - 1) // 2])


def diagnose_spike_steps(grad_norms: Sequence[float], window: int, factor: float, got) -> str:
    """Explain how `got` differs from the reference answer, naming a likely mistake."""
    g = np.asarray(grad_norms, dtype=np.float64).reshape(-1)
    expected = spike_steps(g, window, factor)
    try:
        got_list = [int(i) for i in got]
    except TypeError:
        return ""
    lines = []
    extra = sorted(set(got_list) - set(expected))
    missing = sorted(set(expected) - set(got_list))
    for i, kind in [(i, "flagged") for i in extra[:2]] + [(i, "missed") for i in missing[:2]]:
        if 0 <= i < len(g):
            lo = max(0, i - window)
            trailing = g[lo:i]
            med = float(np.median(trailing)) if len(trailing) else float("nan")
            lines.append(f"you {kind} step {i}: grad_norms[{i}] = {g[i]:.6g}, the median of "
                         f"grad_norms[{lo}:{i}] is {med:.6g}, so the threshold "
                         f"factor * median = {factor * med:.6g}")
        else:
            lines.append(f"you {kind} step {i}, which is not an index of the input "
                         f"(length {len(g)})")
    mean = lambda v: float(np.mean(v))  # noqa: E731
    med = lambda v: float(np.median(v))  # noqa: E731
    mistakes = [
        ("the trailing window must exclude step i: use grad_norms[max(0, i-window):i]",
         dict(lo=lambda i: i - window + 1, hi=lambda i: i + 1, center=med)),
        ("use the median of the trailing window, not the mean (one earlier spike inflates a "
         "mean and hides the next spike)",
         dict(lo=lambda i: i - window, hi=lambda i: i, center=mean)),
        ("the window is off by one: use exactly the `window` steps before i, "
         "grad_norms[max(0, i-window):i]",
         dict(lo=lambda i: i - window - 1, hi=lambda i: i, center=med)),
        ("the window is off by one: use exactly the `window` steps before i, "
         "grad_norms[max(0, i-window):i]",
         dict(lo=lambda i: i - window + 1, hi=lambda i: i, center=med)),
        ("a norm exactly equal to factor * median is not a spike: compare with >, not >=",
         dict(lo=lambda i: i - window, hi=lambda i: i, center=med, strict=False)),
        ("for an even number of values the median is the mean of the two middle ones "
         "(torch.median returns the lower one; use np.median or statistics.median)",
         dict(lo=lambda i: i - window, hi=lambda i: i, center=_lower_median)),
    ]
    causes: list[str] = []
    for why, kw in mistakes:
        if (got_list != expected and _spikes_with(g, window, factor, **kw) == got_list
                and why not in causes):
            causes.append(why)
    if causes:
        lines.append("likely cause: " + "; or: ".join(causes))
    text = "; ".join(lines)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------
# stable_softmax_fp16 and smallest_overflowing_logit
# --------------------------------------------------------------------------------------


def stable_softmax_fp16(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, returned as float16, computed in float64 after a shift.

    Subtracting each row's maximum leaves the softmax unchanged (it cancels between the
    numerator and the denominator) and makes every exponent <= 0, so nothing overflows.
    Entries of -inf (masked) get probability 0; a row that is entirely -inf has no softmax
    and gives NaN, as in torch.
    """
    x = np.asarray(logits).astype(np.float64)
    with np.errstate(invalid="ignore"):
        shifted = x - x.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float16)


def softmax_float64(logits: np.ndarray) -> np.ndarray:
    """The float64 softmax over the last axis that `stable_softmax_fp16` is held to."""
    x = np.asarray(logits).astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _smallest_overflowing_logit() -> int:
    x = 0
    with np.errstate(over="ignore"):
        while np.isfinite(np.exp(np.float16(x))):
            x += 1
    return x


smallest_overflowing_logit = _smallest_overflowing_logit()


# --------------------------------------------------------------------------------------
# Random cases for hidden tests
# --------------------------------------------------------------------------------------


def random_model_case(rng: np.random.Generator, *, batch: int | None = None,
                      unused: bool = False):
    """`(model, loss_fn, xs, ys, description)`: a small random model and batch.

    Some parameters are frozen, some carry an earlier `.grad`, the rest have `.grad = None`;
    one input row is often an outlier. `unused=True` adds a parameter the loss never reaches.
    The model is built with `course.wire.build` (a `course.models` class whose arguments
    hold everything, frozen parameters included) and the loss is a function of
    `torch.nn.functional`, so both can be sent to a learner's kernel.
    """
    from course import wire

    seed = int(rng.integers(2 ** 31))
    gen = torch.Generator().manual_seed(seed)
    b = int(batch if batch is not None else rng.integers(2, 7))
    kind = ["regression MLP", "classifier MLP", "token classifier"][int(rng.integers(3))]
    d, h = int(rng.integers(2, 7)), int(rng.integers(2, 9))
    spare = 2 if unused else 0
    if kind == "regression MLP":
        out = int(rng.integers(1, 4))
        path, kw = "course.models.SmallMLP", dict(d_in=d, d_hidden=h, d_out=out, activation="tanh")
        xs = torch.randn(b, d, generator=gen)
        ys = torch.randn(b, out, generator=gen)
        loss_fn = torch.nn.functional.mse_loss
    elif kind == "classifier MLP":
        out = int(rng.integers(2, 5))
        path, kw = "course.models.SmallMLP", dict(d_in=d, d_hidden=h, d_out=out, activation="relu")
        xs = torch.randn(b, d, generator=gen)
        ys = torch.randint(0, out, (b,), generator=gen)
        loss_fn = torch.nn.functional.cross_entropy
    else:
        out, vocab, length = int(rng.integers(2, 5)), 11, int(rng.integers(1, 6))
        path, kw = "course.models.TokenClassifier", dict(vocab=vocab, d=d, classes=out)
        xs = torch.randint(0, vocab, (b, length), generator=gen)
        ys = torch.randint(0, out, (b,), generator=gen)
        loss_fn = torch.nn.functional.cross_entropy
    if kind != "token classifier" and b > 1 and rng.random() < 0.6:
        xs[int(rng.integers(b))] *= float(rng.choice([20.0, 100.0]))
    names = [n for n, _ in wire.build(path, **kw, spare=spare, seed=seed).named_parameters()]
    frozen, with_grad = [], []
    for name in names:
        r = rng.random()
        if r < 0.25:
            frozen.append(name)
        elif r < 0.55:
            with_grad.append(name)
    if len(frozen) == len(names):
        frozen.pop()
    model = wire.build(path, **kw, spare=spare, frozen=frozen, seed=seed)
    for name, p in model.named_parameters():
        if name in with_grad:
            p.grad = torch.randn(p.shape, generator=gen)
    params = list(model.parameters())
    n_frozen = sum(not p.requires_grad for p in params)
    n_grad = sum(p.grad is not None for p in params)
    desc = (f"a {kind} (batch {b}, {n_frozen} frozen tensors, {n_grad} with an earlier .grad"
            f"{', one parameter the loss never reaches' if unused else ''})")
    return model, loss_fn, xs, ys, desc


def random_logits(rng: np.random.Generator) -> np.ndarray:
    """A float16 array of logits (1-3 dims) anywhere in ±60000, some entries masked to -inf."""
    dims = int(rng.integers(1, 4))
    shape = tuple(int(s) for s in rng.integers(1, 5, size=dims - 1)) + (int(rng.integers(1, 40)),)
    scale = float(10 ** rng.uniform(-1, 4.8))
    x = rng.standard_normal(shape) * scale
    if rng.random() < 0.4:
        x = x + rng.uniform(-60000, 60000, size=shape[:-1] + (1,))
    x = np.clip(x, -60000, 60000).astype(np.float16)
    if rng.random() < 0.3 and shape[-1] > 1:
        mask = rng.random(shape) < 0.3
        mask[..., 0] = False          # every row keeps at least one finite logit
        x[mask] = -np.inf
    return x


def random_norm_trace(rng: np.random.Generator) -> tuple[list[float] | np.ndarray, int, float]:
    """`(grad_norms, window, factor)`: a heavy-tailed trace with spikes and, often, ties."""
    n = int(rng.integers(0, 120))
    window = int(rng.integers(1, 30))
    factor = float(rng.choice([1.5, 2.0, 2.5, 3.0, 4.0, 5.0]))
    if rng.random() < 0.4:
        # small powers of two: medians and factor * median are exact, so ties happen
        g = 2.0 ** rng.integers(-1, 4, size=n)
    else:
        g = rng.lognormal(0.0, 0.5, size=n) * np.linspace(3, 1, n)
        spikes = rng.random(n) < 0.05
        g[spikes] *= rng.uniform(3, 60, size=int(spikes.sum()))
    return (g.tolist() if rng.random() < 0.5 else g), window, factor

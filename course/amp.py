"""Mixed precision on CPU: a loss-scaled training run that calls a clip-step function.

`amp_scenario(step_fn, ...)` trains a small MLP for a few steps with plain SGD and a
`torch.amp.GradScaler` on CPU (the forward under float16 autocast when `autocast` is on),
calling `step_fn(model, optimizer, scaler, loss, max_norm)` once a step, as a training
loop would. One step can be made to overflow (its loss times inf), which the scaler must
skip. It returns what happened, as data: the value `step_fn` returned, the parameters and
the scale after each step. A grader runs it with the learner's function and with the
reference and compares; the lesson runs it to show what each ordering does.

Nothing here holds an exercise's answer: the scenario only *calls* `step_fn`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.nn import functional as F

from .models import TinyMLP


def scenario_batch(step: int, *, seed: int, batch: int = 16, d_in: int = 6,
                   outlier: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A regression batch with one outlier row (so the gradient norm is well above 1)."""
    g = torch.Generator().manual_seed(1000 * int(seed) + int(step))
    x = torch.randn(batch, d_in, generator=g)
    y = x[:, :1] * 0.5 + 0.1 * torch.randn(batch, 1, generator=g)
    y[0] += outlier
    return x, y


def amp_scenario(step_fn: Callable, *, seed: int = 0, max_norm: float = 0.5,
                 init_scale: float = 2.0 ** 12, steps: int = 4, overflow_at: int | None = 2,
                 lr: float = 0.05, growth_interval: int = 2, autocast: bool = False) -> dict:
    """Run `steps` SGD steps, each `zero_grad` -> forward -> `step_fn(...)`; returns
    `{"returned": [...], "params": [[...] per step], "scale": [...], "loss": [...]}`."""
    model = TinyMLP(d_in=6, d_hidden=16, d_out=1, depth=2, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)
    out: dict = {"returned": [], "params": [], "scale": [], "loss": []}
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        x, y = scenario_batch(step, seed=seed)
        with torch.autocast("cpu", dtype=torch.float16, enabled=autocast):
            prediction = model(x)
        loss = F.mse_loss(prediction.float(), y)
        if overflow_at is not None and step == overflow_at:
            loss = loss * math.inf  # an overflow, as a float16 backward can produce
        returned = step_fn(model, optimizer, scaler, loss, max_norm)
        out["returned"].append(float(returned) if isinstance(returned, (int, float, torch.Tensor))
                               else returned)
        out["params"].append([p.detach().clone() for p in model.parameters()])
        out["scale"].append(float(scaler.get_scale()))
        out["loss"].append(float(loss.detach()))
    return out

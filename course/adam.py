"""Adam's moments and step sizes, traced step by step for plots.

Lesson 04 draws what Adam (Kingma & Ba, 2015, Algorithm 1) does after a gradient spike:
the first moment `m`, the second moment `v`, and the size of each update. Two tracers
return the same `AdamTrace`:

* `adam_trace` runs the recursions in float64 NumPy: fast enough to redraw a widget on
  every slider move;
* `torch_adam_trace` runs `torch.optim.Adam` itself on one scalar parameter and reads its
  state (`exp_avg`, `exp_avg_sq`) and the change of the parameter after every step, so a
  lesson can show that the plots are what PyTorch does.

These are the lesson's plotting helpers. The exercises of lesson 04 ask you to write the
recursions yourself; their tests check your functions, and calling these from an answer
teaches you nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Adam's defaults in the paper and in `torch.optim.Adam`.
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class AdamTrace:
    """Adam's state after each step `t = t0 + 1, ..., t0 + T` on one scalar parameter.

    `grads` are the gradients Adam saw (after clipping, when `max_norm` is set) and
    `clipped[i]` says whether step `i` was clipped. `m` and `v` are the raw moments,
    `m_hat` and `v_hat` the bias-corrected ones, `step` the absolute parameter update.
    """

    grads: np.ndarray
    clipped: np.ndarray
    m: np.ndarray
    v: np.ndarray
    m_hat: np.ndarray
    v_hat: np.ndarray
    step: np.ndarray
    lr: float
    beta1: float
    beta2: float
    eps: float
    max_norm: float | None

    def __len__(self) -> int:
        return len(self.grads)


def spike_stream(spike: float = 50.0, typical: float = 0.5, *, before: int = 0,
                 after: int = 100) -> np.ndarray:
    """`before` gradients equal to `typical`, one equal to `spike`, then `after` more."""
    if before < 0 or after < 0:
        raise ValueError(f"`before` and `after` must be >= 0, got {before} and {after}")
    grads = np.full(before + 1 + after, float(typical))
    grads[before] = float(spike)
    return grads


def steady_state(typical: float, *, steps: int = 10**6) -> dict[str, float]:
    """Keyword arguments that start a tracer as if `steps` gradients equal to `typical` had
    already been seen: `m0 = typical`, `v0 = typical**2`, `t0 = steps` (bias corrections
    then equal 1 to machine precision)."""
    return {"m0": float(typical), "v0": float(typical) ** 2, "t0": int(steps)}


def clip_scalar(g: float, max_norm: float | None) -> float:
    """A scalar gradient clipped to norm `max_norm` (its norm is its absolute value)."""
    if max_norm is None or not abs(g) > max_norm:
        return float(g)
    return math.copysign(float(max_norm), g)


def _check(beta1: float, beta2: float, max_norm: float | None) -> None:
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"`{name}` must be in [0, 1), got {beta!r}")
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"`max_norm` must be > 0 (or None for no clipping), got {max_norm!r}")


def adam_trace(grads: Sequence[float], *, lr: float = LR, beta1: float = BETA1,
               beta2: float = BETA2, eps: float = EPS, max_norm: float | None = None,
               m0: float = 0.0, v0: float = 0.0, t0: int = 0) -> AdamTrace:
    """Adam on one scalar parameter fed `grads`, in float64 NumPy.

    With `max_norm`, each gradient is clipped to `max_norm` (the rule: scale by
    `max_norm / |g|` when `|g| > max_norm`) before it reaches the moments. `m0`, `v0` and
    `t0` start from a state already reached (see `steady_state`).
    """
    _check(beta1, beta2, max_norm)
    raw = np.asarray(grads, dtype=np.float64).reshape(-1)
    count = raw.size
    seen = np.empty(count)
    out = {k: np.empty(count) for k in ("m", "v", "m_hat", "v_hat", "step")}
    m, v = float(m0), float(v0)
    for i, g in enumerate(raw.tolist()):
        g = clip_scalar(g, max_norm)
        t = t0 + i + 1
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        m_hat = m / (1.0 - beta1**t)
        v_hat = v / (1.0 - beta2**t)
        seen[i] = g
        out["m"][i], out["v"][i], out["m_hat"][i], out["v_hat"][i] = m, v, m_hat, v_hat
        out["step"][i] = abs(lr * m_hat / (math.sqrt(v_hat) + eps))
    clipped = np.abs(raw) > max_norm if max_norm is not None else np.zeros(count, dtype=bool)
    return AdamTrace(grads=seen, clipped=clipped, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                     max_norm=max_norm, **out)


def torch_adam_trace(grads: Sequence[float], *, lr: float = LR, beta1: float = BETA1,
                     beta2: float = BETA2, eps: float = EPS, max_norm: float | None = None,
                     m0: float = 0.0, v0: float = 0.0, t0: int = 0,
                     dtype=None) -> AdamTrace:
    """The same trace, recorded from `torch.optim.Adam` on a 0-dim parameter.

    Each step sets `p.grad`, clips with `torch.nn.utils.clip_grad_norm_` when `max_norm`
    is set (PyTorch's rule: scale by `min(1, max_norm / (|g| + 1e-6))`), calls
    `optimizer.step()`, and reads `exp_avg`, `exp_avg_sq` and the parameter's change.
    `dtype` is the parameter's dtype (float64 by default; float32 as in most training).
    The parameter is reset to 0 before each step: plain Adam's update does not depend on
    the parameter's value, and the update is then read without the rounding a subtraction
    of two nearby parameter values would add.
    A non-zero `m0`, `v0`, `t0` is written into the optimizer's state before the first
    step. About 50 microseconds a step: use `adam_trace` for long traces.
    """
    import torch

    _check(beta1, beta2, max_norm)
    dtype = torch.float64 if dtype is None else dtype
    raw = np.asarray(grads, dtype=np.float64).reshape(-1)
    p = torch.zeros((), dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, foreach=False)
    if m0 or v0 or t0:
        opt.state[p] = {"step": torch.tensor(float(t0)),
                        "exp_avg": torch.tensor(float(m0), dtype=dtype),
                        "exp_avg_sq": torch.tensor(float(v0), dtype=dtype)}
    count = raw.size
    cols = {k: np.empty(count) for k in ("grads", "m", "v", "m_hat", "v_hat", "step")}
    for i, g in enumerate(raw.tolist()):
        p.grad = torch.tensor(g, dtype=dtype)
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_([p], max_norm)
        with torch.no_grad():
            p.zero_()  # without weight decay the update does not depend on p: read it exactly
        opt.step()
        state = opt.state[p]
        t = float(state["step"])
        cols["grads"][i] = float(p.grad)
        cols["m"][i] = float(state["exp_avg"])
        cols["v"][i] = float(state["exp_avg_sq"])
        cols["m_hat"][i] = cols["m"][i] / (1.0 - beta1**t)
        cols["v_hat"][i] = cols["v"][i] / (1.0 - beta2**t)
        cols["step"][i] = abs(float(p.detach()))
    clipped = np.abs(raw) > max_norm if max_norm is not None else np.zeros(count, dtype=bool)
    return AdamTrace(clipped=clipped, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                     max_norm=max_norm, **cols)


def plot_trace(traces: dict[str, AdamTrace], *, typical: float | None = None, axes=None,
               title: str = ""):
    """Three panels (m, v, step size) for one or more labelled traces; returns the figure.

    With `typical`, dashed lines mark the steady state a stream of `typical` gradients
    would hold (m = typical, v = typical**2, step = lr).
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    else:
        fig = axes[0].figure
    for index, (label, tr) in enumerate(traces.items()):
        x = np.arange(1, len(tr) + 1)
        color = f"C{index % 10}"
        axes[0].plot(x, tr.m, color=color, label=label)
        axes[1].plot(x, tr.v, color=color, label=label)
        axes[2].plot(x, tr.step / tr.lr, color=color, label=label)
    if typical is not None:
        for ax, level in zip(axes, (typical, typical**2, 1.0)):
            ax.axhline(level, color="0.5", lw=0.8, ls="--")
    axes[0].set_title("first moment m")
    axes[1].set_title("second moment v")
    axes[2].set_title("|update| / lr")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

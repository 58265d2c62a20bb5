"""Reference implementations for lesson `07_beyond_global_norm`.

Same names and signatures as the lesson's exercises, each written to agree with its
authors' code (read, not copied) on the cases the lesson shows:

* AutoClip — pseeth/autoclip, `autoclip.py` (the paper's version, used with pytorch-ignite):
  the current norm is appended to the history, then ``np.percentile(history, p)``.
  The later package (`autoclip/torch/quantile.py`, `QuantileClip`) differs: it takes
  ``torch.quantile`` of the history *before* the current norm (no clipping on the first
  step, threshold ``inf``), keeps only the last 1000 norms and takes a fraction 0–1.
* ZClip — bluorion-com/ZClip, `zclip/zclip.py` (`ZClip`, mode "zscore",
  clip_option "adaptive_scaling", `max_grad_norm=None`).
* AGC — google-deepmind/deepmind-research, `nfnets/optim.py` (`unitwise_norm`,
  `SGD_AGC.update_param`: ``trigger = grad_norm > max_norm``) on PyTorch's layout as
  huggingface/pytorch-image-models `timm/utils/agc.py` (`unitwise_norm`,
  `adaptive_clip_grad`) lays it out. timm keeps a gradient only when
  ``grad_norm < max_norm`` (``torch.where``), so a unit whose norm is NaN comes back all
  NaN there, and unchanged (but for its NaN entries) in the NFNets rule:
  `agc_timm_rule_` is accepted too.
* dual norms — LIONS-EPFL/ClippedScion, `clippedscion.py`: the clip uses
  ``sum_l <lmo(g_l), g_l>``; at radius 1 and without layer scalings that is the Frobenius
  norm (Euclidean ball), the nuclear norm (spectral ball: ``<U V^T, G> = sum sigma_i``)
  and the l1 norm (max-norm ball: ``<sign G, G>``).
* sharded clip — the global norm over processes: all-reduce (SUM) of the local sums of
  squares, as ZClip's `_compute_grad_norm` does for FSDP and as PyTorch's
  `clip_grad_norm_` does on DTensor gradients.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

#: PyTorch's guard in ``clip_coef = max_norm / (total_norm + 1e-6)``.
TORCH_EPS = 1e-6
#: ZClip's `eps` in ``z = (g - mean) / (std + eps)``.
ZCLIP_EPS = 1e-6


# -- AutoClip ---------------------------------------------------------------------------------

def autoclip_threshold(history: Sequence[float], current: float, percentile: float) -> float:
    """AutoClip's threshold: ``np.percentile(history + [current], percentile)``."""
    return float(np.percentile(np.asarray(list(history) + [current], dtype=np.float64),
                               percentile))


def autoclip_package_threshold(history: Sequence[float], quantile: float) -> float:
    """What `QuantileClip` (the later package) clips at: ``torch.quantile`` of the history
    before the current norm, `quantile` a fraction; ``inf`` on the first step."""
    if len(history) == 0:
        return math.inf
    return float(torch.quantile(torch.as_tensor(list(history), dtype=torch.float64), quantile))


# -- ZClip ------------------------------------------------------------------------------------

def zclip_clipped_norms(norms: Sequence[float], alpha: float = 0.97, z_thresh: float = 2.5,
                        warmup_steps: int = 25) -> np.ndarray:
    """The norm ZClip lets through at each step (z-score mode, adaptive scaling,
    clip_factor 1, no absolute cap), as its `step` computes it with Python floats."""
    out: list[float] = []
    buffer: list[float] = []
    mean = var = 0.0
    initialized = False
    for g in norms:
        g = float(g)
        if not initialized:
            buffer.append(g)
            if len(buffer) >= warmup_steps:
                mean = sum(buffer) / len(buffer)
                var = sum((x - mean) ** 2 for x in buffer) / len(buffer)
                initialized = True
            out.append(g)
            continue
        std = var ** 0.5
        z = (g - mean) / (std + ZCLIP_EPS)
        if z > z_thresh:
            eta = z / z_thresh
            effective = mean + (z_thresh * std) / eta
        else:
            effective = g
        out.append(effective)
        mean = alpha * mean + (1 - alpha) * effective
        var = alpha * var + (1 - alpha) * (effective - mean) ** 2
    return np.asarray(out, dtype=np.float64)


# -- AGC --------------------------------------------------------------------------------------

def unitwise_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm per output unit on PyTorch's layout: over every axis but the first for a
    weight, over the whole tensor for one with at most one dimension (kept broadcastable)."""
    x = x.detach().to(torch.float64)
    if x.ndim <= 1:
        return x.pow(2).sum().sqrt()
    return x.pow(2).sum(dim=tuple(range(1, x.ndim)), keepdim=True).sqrt()


def _agc(parameters: Iterable[torch.nn.Parameter], clipping: float, eps: float, *,
         timm: bool) -> None:
    for p in parameters:
        if p.grad is None:
            continue
        g = p.grad.detach().to(torch.float64)
        max_norm = unitwise_norm(p).clamp(min=eps) * clipping
        grad_norm = unitwise_norm(p.grad)
        clipped = g * (max_norm / grad_norm.clamp(min=1e-6))
        if timm:
            new = torch.where(grad_norm < max_norm, g, clipped)
        else:
            new = torch.where(grad_norm > max_norm, clipped, g)
        with torch.no_grad():
            p.grad.copy_(new.to(p.grad.dtype))


def agc_(parameters: Iterable[torch.nn.Parameter], clipping: float = 0.01,
         eps: float = 1e-3) -> None:
    """Unit-wise adaptive gradient clipping, in place (NFNets' trigger ``>``)."""
    _agc(parameters, clipping, eps, timm=False)


def agc_timm_rule_(parameters: Iterable[torch.nn.Parameter], clipping: float = 0.01,
                   eps: float = 1e-3) -> None:
    """timm's `adaptive_clip_grad`: keep only where ``grad_norm < max_norm``."""
    _agc(parameters, clipping, eps, timm=True)


# -- dual norms -------------------------------------------------------------------------------

DUAL_NORM_KINDS = ("euclidean", "spectral", "sign")


def dual_norm(g: torch.Tensor, kind: str) -> float:
    """The dual norm generalized clipping measures a layer's gradient with (radius 1)."""
    x = g.detach().to(torch.float64)
    if kind == "euclidean":
        return float(x.pow(2).sum().sqrt())
    if kind == "sign":
        return float(x.abs().sum())
    if kind == "spectral":
        if x.ndim > 2:
            x = x.reshape(x.shape[0], -1)
        elif x.ndim < 2:
            x = x.reshape(1, -1)
        return float(torch.linalg.svdvals(x).sum())
    raise ValueError(f"`kind` must be one of {DUAL_NORM_KINDS}, got {kind!r}")


def lmo(g: torch.Tensor, kind: str) -> torch.Tensor:
    """The unit-norm direction the generalized method steps along (radius 1): the
    minimiser of <d, g> over the norm ball is -lmo(g). <lmo(g), g> = dual_norm(g, kind)."""
    x = g.detach().to(torch.float64)
    if kind == "euclidean":
        n = x.pow(2).sum().sqrt()
        return (x / n if n > 0 else torch.zeros_like(x)).to(g.dtype)
    if kind == "sign":
        return torch.sign(x).to(g.dtype)
    if kind == "spectral":
        m = x.reshape(x.shape[0], -1) if x.ndim > 2 else (x if x.ndim == 2 else x.reshape(1, -1))
        u, _, vh = torch.linalg.svd(m, full_matrices=False)
        return (u @ vh).reshape(g.shape).to(g.dtype)
    raise ValueError(f"`kind` must be one of {DUAL_NORM_KINDS}, got {kind!r}")


def generalized_clip_step(grads: Sequence[torch.Tensor], kinds: Sequence[str], lr: float,
                          rho: float) -> list[torch.Tensor]:
    """The update UnconstrainedClippedScion subtracts (momentum 1, scale 1):
    ``lr * min(1, sum_l dual_norm(g_l) / rho) * lmo(g_l)`` for each layer l."""
    total = sum(dual_norm(g, k) for g, k in zip(grads, kinds))
    eta = min(1.0, total / rho)
    return [lr * eta * lmo(g, k) for g, k in zip(grads, kinds)]


# -- the sharded global norm ------------------------------------------------------------------

def sharded_clip_grad_norm_(local_grads: list[torch.Tensor], max_norm: float,
                            group=None) -> torch.Tensor:
    """All-reduce (SUM) the local sum of squares over `group`, take the root, clip the
    local shard in place (the course's rule); the global pre-clip norm, 0-dim."""
    import torch.distributed as dist

    sq = torch.zeros((), dtype=torch.float64)
    for g in local_grads:
        sq += g.detach().to(torch.float64).pow(2).sum()
    dist.all_reduce(sq, op=dist.ReduceOp.SUM, group=group)
    total = sq.sqrt()
    norm = float(total)
    if norm > max_norm:
        scale = max_norm / norm
        with torch.no_grad():
            for g in local_grads:
                g.copy_((g.to(torch.float64) * scale).to(g.dtype))
    return total.to(torch.float32)


def expected_sharded(shards: Sequence[Sequence[torch.Tensor]], max_norm: float,
                     groups: Sequence[Sequence[int]] | None = None, *, torch_rule: bool = False
                     ) -> dict:
    """What a correct sharded clip leaves on each rank, computed in one process: the norm
    of the concatenation of the shards of the rank's group, and each shard clipped by it
    (the course's rule, or PyTorch's ``min(max_norm / (norm + 1e-6), 1)``)."""
    world = len(shards)
    groups = [list(range(world))] if groups is None else [list(g) for g in groups]
    norms: list[float] = [0.0] * world
    clipped: list[list[torch.Tensor]] = [[] for _ in range(world)]
    for group in groups:
        sq = sum(float(g.detach().to(torch.float64).pow(2).sum()) for r in group
                 for g in shards[r])
        norm = math.sqrt(sq)
        if torch_rule:
            scale = min(max_norm / (norm + TORCH_EPS), 1.0)
        else:
            scale = max_norm / norm if norm > max_norm else 1.0
        for r in group:
            norms[r] = norm
            clipped[r] = [(g.detach().to(torch.float64) * scale).to(g.dtype) for g in shards[r]]
    return {"norms": norms, "shards": clipped}

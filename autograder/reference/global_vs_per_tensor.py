"""Reference implementations for lesson `02_global_vs_per_tensor`.

Same names and signatures as the lesson's exercises. Norms are computed in float64 so the
reference is the most accurate answer a learner can be compared with; results keep the
dtype of the gradients they were given.

Two scaling rules are in use in the wild, and the lesson accepts both:

* the contract's rule (llm.c, Megatron-LM): scale by ``max_norm / norm`` only when
  ``norm > max_norm`` — `clip_by_global_norm`, `clip_per_tensor`, `clip_grad_norm_`;
* PyTorch's rule (``torch/nn/utils/clip_grad.py``, ``_clip_grads_with_norm_``): always
  multiply by ``min(max_norm / (norm + 1e-6), 1)`` — the ``*_torch_rule`` functions below.

They agree to a relative 1e-6 / norm, so within the course's 1e-5 tolerance whenever a
clipped norm is at least 0.1. Hidden tests accept either (`autograder.checks.same_as_one_of`).
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

#: PyTorch's guard against division by zero in ``clip_coef = max_norm / (total_norm + 1e-6)``.
TORCH_EPS = 1e-6


def _sum_of_squares(tensor: torch.Tensor) -> float:
    return float(tensor.detach().to(torch.float64).pow(2).sum())


def global_l2_norm(grads: list[torch.Tensor | None]) -> float:
    """sqrt of the sum of squares of every element of every tensor (`None` skipped)."""
    return math.sqrt(sum(_sum_of_squares(g) for g in grads if g is not None))


def _scale(norm: float, max_norm: float, eps: float = 0.0) -> float:
    """The factor the contract's rule applies (eps=0) or PyTorch's rule (eps=1e-6)."""
    if eps:
        return min(max_norm / (norm + eps), 1.0)  # PyTorch: always multiplies, NaN stays NaN
    return max_norm / norm if norm > max_norm else 1.0


def _times(g: torch.Tensor | None, scale: float) -> torch.Tensor | None:
    if g is None:
        return None
    if scale == 1.0:
        return g.detach().clone()
    return (g.detach().to(torch.float64) * scale).to(g.dtype)


def clip_by_global_norm(grads: list[torch.Tensor | None], max_norm: float
                        ) -> list[torch.Tensor | None]:
    """New tensors: every gradient times ``max_norm / norm`` if the global norm exceeds it."""
    scale = _scale(global_l2_norm(grads), max_norm)
    return [_times(g, scale) for g in grads]


def clip_by_global_norm_torch_rule(grads: list[torch.Tensor | None], max_norm: float
                                   ) -> list[torch.Tensor | None]:
    """`clip_by_global_norm` with PyTorch's ``min(max_norm / (norm + 1e-6), 1)``."""
    scale = _scale(global_l2_norm(grads), max_norm, TORCH_EPS)
    return [_times(g, scale) for g in grads]


def clip_per_tensor(grads: list[torch.Tensor | None], max_norm: float
                    ) -> list[torch.Tensor | None]:
    """Each tensor clipped by its own L2 norm; `None` stays `None`."""
    return [None if g is None else _times(g, _scale(global_l2_norm([g]), max_norm))
            for g in grads]


def clip_per_tensor_torch_rule(grads: list[torch.Tensor | None], max_norm: float
                               ) -> list[torch.Tensor | None]:
    """`clip_per_tensor` with PyTorch's ``min(max_norm / (norm + 1e-6), 1)``."""
    return [None if g is None else _times(g, _scale(global_l2_norm([g]), max_norm, TORCH_EPS))
            for g in grads]


def flat_cosine(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> float:
    """Cosine similarity of two gradient lists seen as one flat vector each.

    A `None` counts as zeros (a parameter without a gradient adds nothing to the dot
    product or to either norm). If either vector is all zeros the cosine is 0.0, as
    ``torch.nn.functional.cosine_similarity`` returns.
    """
    if len(a) != len(b):
        raise ValueError(f"`a` has {len(a)} tensors and `b` has {len(b)}: they must pair up")
    dot = 0.0
    for x, y in zip(a, b):
        if x is None or y is None:
            continue
        if x.shape != y.shape:
            raise ValueError(f"paired tensors differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        dot += float((x.detach().to(torch.float64) * y.detach().to(torch.float64)).sum())
    norms = global_l2_norm(a) * global_l2_norm(b)
    if norms == 0.0:
        return 0.0
    return dot / norms


def _as_list(parameters: Iterable[nn.Parameter] | torch.Tensor) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):  # torch accepts a single tensor too
        return [parameters]
    return list(parameters)  # a generator can be iterated only once


def clip_grad_norm_(parameters: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """In place on every ``p.grad`` (skipping `None`); returns the pre-clip total norm.

    The contract's rule; the return value is a 0-dim tensor in the gradients' dtype, like
    ``torch.nn.utils.clip_grad_norm_`` (``tensor(0.)`` when there is no gradient).
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm = global_l2_norm(grads)
    scale = _scale(norm, max_norm)
    with torch.no_grad():
        if scale != 1.0:
            for g in grads:
                g.copy_(g.to(torch.float64) * scale)
    dtype = grads[0].dtype if grads else torch.get_default_dtype()
    return torch.tensor(norm, dtype=dtype)


def clip_grad_norm_torch_rule_(parameters: Iterable[nn.Parameter], max_norm: float
                               ) -> torch.Tensor:
    """`clip_grad_norm_` with PyTorch's rule: always multiply by the clamped coefficient."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    norm = global_l2_norm(grads)
    scale = _scale(norm, max_norm, TORCH_EPS)
    with torch.no_grad():
        for g in grads:
            g.copy_(g.to(torch.float64) * scale)
    dtype = grads[0].dtype if grads else torch.get_default_dtype()
    return torch.tensor(norm, dtype=dtype)

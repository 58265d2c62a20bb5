"""Reference answers for lesson 04_adam_after_a_spike (Adam's moments after a spike).

Adam as in Kingma & Ba (2015), Algorithm 1, and `torch.optim.Adam`:
m_t = beta1 m_{t-1} + (1 - beta1) g_t,  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,
update_t = lr * m_hat_t / (sqrt(v_hat_t) + eps) with m_hat_t = m_t / (1 - beta1^t) and
v_hat_t = v_t / (1 - beta2^t).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def adam_moments(grads: Sequence[float], beta1: float = 0.9, beta2: float = 0.999,
                 m0: float = 0.0, v0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """m_t and v_t for t = 1..T (no bias correction), float64 arrays of length T."""
    g = np.asarray(grads, dtype=np.float64).reshape(-1)
    m = np.empty_like(g)
    v = np.empty_like(g)
    m_prev, v_prev = float(m0), float(v0)
    for t, gt in enumerate(g.tolist()):
        m_prev = beta1 * m_prev + (1.0 - beta1) * gt
        v_prev = beta2 * v_prev + (1.0 - beta2) * gt * gt
        m[t], v[t] = m_prev, v_prev
    return m, v


#: the seed's question: steady state m = 0.5, one gradient of 50.0, then ten of 0.5.
SPIKE, TYPICAL, AFTER = 50.0, 0.5, 10
m_trace_after_spike = [float(x) for x in
                       adam_moments([SPIKE] + [TYPICAL] * AFTER, beta1=0.9, m0=TYPICAL)[0]]


def steps_to_recover(spike: float, typical: float, beta: float, tol: float = 0.1) -> int:
    """Smallest k >= 0 with (1 - beta) * (spike - typical) * beta**k <= tol * typical."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"`beta` must be in [0, 1), got {beta!r}: otherwise the excess never decays")
    if not (typical > 0 and tol > 0):
        raise ValueError(f"`typical` and `tol` must be > 0, got {typical!r} and {tol!r}")
    k = 0
    while (1.0 - beta) * (spike - typical) * beta**k > tol * typical:
        k += 1
    return k


def adam_step_sizes(grads: Sequence[float], lr: float, beta1: float = 0.9,
                    beta2: float = 0.999, eps: float = 1e-8) -> np.ndarray:
    """|update| of one scalar parameter at each step of bias-corrected Adam."""
    m, v = adam_moments(grads, beta1, beta2)
    t = np.arange(1, m.size + 1, dtype=np.float64)
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return np.abs(lr * m_hat / (np.sqrt(v_hat) + eps))


def clip_scalar(g: float, max_norm: float) -> float:
    """A scalar gradient clipped to norm max_norm (its norm is |g|)."""
    return math.copysign(max_norm, g) if abs(g) > max_norm else float(g)


def moments_with_clipping(grads: Sequence[float], max_norm: float, beta1: float = 0.9,
                          beta2: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
    """adam_moments of the gradients, each clipped to max_norm first."""
    clipped = [clip_scalar(g, max_norm) for g in np.asarray(grads, dtype=np.float64).reshape(-1)]
    return adam_moments(clipped, beta1, beta2)

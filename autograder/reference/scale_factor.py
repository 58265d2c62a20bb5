"""Reference answers for lesson 03_scale_factor (scale-factor arithmetic).

The clip rule is the contract's: scale by `max_norm / total_norm` only when
`total_norm > max_norm` (as llm.c and Megatron do). PyTorch's `clip_grad_norm_` always
multiplies by `min(1, max_norm / (total_norm + 1e-6))`; the two agree to about
`1e-6 / total_norm` relative (see `torch_clip_scale`).
"""

from __future__ import annotations

import math
from typing import Sequence

# -- the seed's question: total norm 3.5 (then 0.4), max_norm 1.0 ----------------------
SEED_MAX_NORM = 1.0
SEED_NORM_B = 3.5
SEED_NORM_C = 0.4

# -- warmup and clipping at step 1 (the seed's numbers) -----------------------------------
PEAK_LR = 3e-4
WARM_LR = 1.5e-7
SPIKE_NORM = 50.0
GUARD_MAX_NORM = 1.0


def clip_scale(total_norm: float, max_norm: float) -> float:
    """The factor global clipping multiplies every gradient by."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    if total_norm < 0:
        raise ValueError(f"total_norm must be >= 0, got {total_norm!r}")
    if not math.isfinite(total_norm):
        raise FloatingPointError(f"total_norm is not finite ({total_norm!r}): skip this step")
    return max_norm / total_norm if total_norm > max_norm else 1.0


def torch_clip_scale(total_norm: float, max_norm: float) -> float:
    """PyTorch's coefficient, `min(max_norm / (total_norm + 1e-6), 1)` (no checks)."""
    return min(max_norm / (total_norm + 1e-6), 1.0)


scale_a = clip_scale(SEED_NORM_B, SEED_MAX_NORM)
norm_after_b = SEED_NORM_B * scale_a
scale_c = clip_scale(SEED_NORM_C, SEED_MAX_NORM)
norm_after_c = SEED_NORM_C * scale_c


def max_param_step_sgd(lr: float, max_norm: float) -> float:
    """Largest |change| of one parameter in a plain-SGD step after global clipping.

    After clipping the whole gradient has L2 norm <= max_norm, so no single entry exceeds
    max_norm; SGD moves that parameter by lr times it. Reached when one entry holds all of
    the gradient.
    """
    return lr * max_norm


#: worst first step with neither guard (peak lr, spike norm) over the one with both.
guard_reduction_factor = (PEAK_LR * SPIKE_NORM) / (WARM_LR * GUARD_MAX_NORM)


def clipped_fraction(grad_norms: Sequence[float], max_norm: float) -> float:
    """Fraction of steps whose norm exceeds max_norm (a tie is not clipped)."""
    norms = list(grad_norms)
    if not norms:
        return 0.0
    return sum(1 for n in norms if n > max_norm) / len(norms)

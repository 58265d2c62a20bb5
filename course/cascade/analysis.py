"""Measurements on traces that the lesson and docs quote (none is a graded exercise)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def norm_jumps(grad_norms: Sequence[float], window: int = 20, factor: float = 3.0) -> list[int]:
    """Steps `i >= 1` whose norm exceeds `factor` times the median of the `window` steps
    before it (lesson 01's trailing-median rule; the window excludes step `i`)."""
    if window < 1:
        raise ValueError(f"`window` must be >= 1, got {window}")
    if factor <= 0:
        raise ValueError(f"`factor` must be > 0, got {factor}")
    norms = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(norms))
            if norms[i] > factor * np.median(norms[max(0, i - window):i])]


def switch_lift(values: Sequence[float], boundaries: Sequence[int], *, after: int = 3,
                before: int = 5) -> np.ndarray:
    """Per boundary `b`: max of `values[b : b+after]` over the median of `values[b-before : b]`.

    Boundaries without `before` steps ahead of them or `after` steps behind are skipped.
    """
    v = np.asarray(values, dtype=np.float64)
    out = [v[b:b + after].max() / np.median(v[b - before:b]) for b in boundaries
           if b - before >= 0 and b + after <= len(v)]
    return np.asarray(out)


def switch_loss_jump(loss: Sequence[float], boundaries: Sequence[int], *, before: int = 3) -> np.ndarray:
    """Per boundary `b`: `loss[b]` minus the mean loss of the `before` steps ahead of it (nats)."""
    v = np.asarray(loss, dtype=np.float64)
    return np.asarray([v[b] - v[b - before:b].mean() for b in boundaries if b - before >= 0])


def final_eval_loss(eval_loss: np.ndarray) -> float:
    """Mean over sources of the last held-out evaluation (nats per byte)."""
    return float(np.asarray(eval_loss)[-1].mean())


def largest_jump(grad_norms: Sequence[float], window: int = 20) -> tuple[int, float]:
    """`(step, ratio)` of the largest norm over its trailing-window median."""
    norms = np.asarray(grad_norms, dtype=np.float64)
    ratios = [norms[i] / np.median(norms[max(0, i - window):i]) for i in range(1, len(norms))]
    i = int(np.argmax(ratios))
    return i + 1, float(ratios[i])


def moment_response(m_norm: Sequence[float], v_sum: Sequence[float], step: int, *,
                    before: int = 5, horizon: int = 100) -> dict:
    """How Adam's moments answer a spike at `step`.

    `v_ratio`: peak of `v_sum` within `horizon` steps over its median in the `before` steps
    ahead; `v_ratio_end`: the same at the end of the horizon; `m_ratio`: peak of `m_norm`
    over its baseline; `m_recovery`: steps until `m_norm` is back within 1.5x its baseline.
    """
    m = np.asarray(m_norm, dtype=np.float64)
    v = np.asarray(v_sum, dtype=np.float64)
    lo, hi = max(0, step - before), min(len(m), step + horizon)
    m0, v0 = np.median(m[lo:step]), np.median(v[lo:step])
    back = np.nonzero(m[step:hi] <= 1.5 * m0)[0]
    return dict(v_ratio=float(v[step:hi].max() / v0), v_ratio_end=float(v[hi - 1] / v0),
                m_ratio=float(m[step:hi].max() / m0),
                m_recovery=int(back[0]) if len(back) else None)


def select_runs(runs: dict, *, size: str, recipe: str, mixer: str = "bandit") -> list:
    """The traces of one configuration across seeds, by seed."""
    chosen = [t for t in runs.values() if t.meta["config"]["size"] == size
              and t.meta["config"]["recipe"] == recipe and t.meta["config"]["mixer"] == mixer
              and t.meta["config"].get("max_norm") is None]
    return sorted(chosen, key=lambda t: t.meta["config"]["seed"])


def switch_free_steps(boundaries: Sequence[int], steps: int, *, start: int = 50,
                      before: int = 5, after: int = 3) -> list[int]:
    """Steps `p >= start` whose window `[p - before, p + after)` holds no boundary: where
    `switch_lift` measures what noise alone gives, inside the same run."""
    bounds = np.asarray(list(boundaries), dtype=np.int64)
    return [p for p in range(max(start, before), steps - after + 1)
            if not ((bounds >= p - before) & (bounds < p + after)).any()]

"""A synthetic trace factory: replay and plot tests need no training."""

from __future__ import annotations

import numpy as np
import pytest

from course.cascade.trace import Trace


def make_trace(name: str = "toy", steps: int = 30, phase_lengths=(7, 14, 21),
               dominant=(0, 2, 1), clipped_at=(3, 4), max_norm: float | None = 1.0,
               sample_steps=(9, 19, 29)) -> Trace:
    rng = np.random.default_rng(0)
    starts = np.cumsum(phase_lengths)[:-1]
    clipped = np.zeros(steps, bool)
    clipped[list(clipped_at)] = True
    weights = np.zeros((steps, 3))
    t = 0
    for length, dom in zip(phase_lengths, dominant):
        weights[t:t + length, :] = 0.05
        weights[t:t + length, dom] = 0.9
        t += length
    return Trace(
        meta=dict(name=name, phase_lengths=list(phase_lengths), dominant=list(dominant),
                  boundaries=[int(s) for s in starts if s < steps], max_norm=max_norm),
        loss=np.linspace(5, 2, steps), grad_norm=rng.uniform(0.5, 2, steps), clipped=clipped,
        lr=np.full(steps, 1e-3), m_norm=rng.uniform(0.1, 1, steps),
        v_sum=rng.uniform(0.01, 0.1, steps), weights=weights[:steps],
        sample_steps=np.asarray(sample_steps),
        samples={"greedy": [f"g{s}" for s in sample_steps], "temp1": [f"<t{s}>" for s in sample_steps]},
        sample_rep={"greedy": np.zeros(len(sample_steps)), "temp1": np.zeros(len(sample_steps))},
        eval_steps=np.asarray([steps - 1]), eval_loss=np.full((1, 3), 2.0))


@pytest.fixture
def toy_traces():
    return {"a": make_trace("a", steps=30), "b": make_trace("b", steps=20, clipped_at=(),
                                                              max_norm=None)}

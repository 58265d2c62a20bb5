"""Source weights over time: a bandit-style schedule of phases, or a static mixture.

The bandit schedule draws each phase's length from ``PHASE_LENGTHS`` and puts weight
``dominant`` (0.9) on one source, a different one from the phase before; the rest is shared
equally. The static control keeps 1/3 each but records the same nominal phase lengths, so
"near a boundary" means the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASE_LENGTHS = (7, 14, 21, 28, 42)


@dataclass(frozen=True)
class Schedule:
    """Per-step source weights (`weights[t]` sums to 1) and the phases that made them."""

    weights: np.ndarray          # [steps, n_sources]
    phase_lengths: tuple[int, ...]
    dominant: tuple[int, ...]    # dominant source per phase (-1 for the static mixture)

    @property
    def boundaries(self) -> list[int]:
        """Step at which each phase after the first begins (within the run)."""
        starts = np.cumsum(self.phase_lengths)[:-1]
        return [int(s) for s in starts if s < len(self.weights)]


def _phases(steps: int, rng: np.random.Generator) -> list[int]:
    lengths: list[int] = []
    while sum(lengths) < steps:
        lengths.append(int(rng.choice(PHASE_LENGTHS)))
    return lengths


def bandit_schedule(steps: int, n_sources: int = 3, *, seed: int,
                    dominant: float = 0.9) -> Schedule:
    """Phases of 7-42 steps; each puts `dominant` weight on a new source."""
    if steps < 1:
        raise ValueError(f"`steps` must be >= 1, got {steps}")
    if not 1 / n_sources <= dominant <= 1:
        raise ValueError(f"`dominant` must lie in [1/n_sources, 1], got {dominant}")
    rng = np.random.default_rng([seed, 1])
    lengths = _phases(steps, rng)
    rows, chosen, current = [], [], -1
    for length in lengths:
        current = int(rng.choice([s for s in range(n_sources) if s != current]))
        w = np.full(n_sources, (1 - dominant) / (n_sources - 1))
        w[current] = dominant
        rows.append(np.tile(w, (length, 1)))
        chosen.append(current)
    return Schedule(np.concatenate(rows)[:steps], tuple(lengths), tuple(chosen))


def static_schedule(steps: int, n_sources: int = 3, *, seed: int) -> Schedule:
    """Equal weights every step; nominal phases drawn exactly as in `bandit_schedule`."""
    nominal = bandit_schedule(steps, n_sources, seed=seed)
    weights = np.full((steps, n_sources), 1 / n_sources)
    return Schedule(weights, nominal.phase_lengths, (-1,) * len(nominal.phase_lengths))


def sample_batch(sources: list[bytes], weights: np.ndarray, batch: int, length: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`batch` windows of `length` bytes: each row's source drawn from `weights`.

    Returns `(tokens [batch, length] uint8, source index per row [batch])`.
    """
    which = rng.choice(len(sources), size=batch, p=weights)
    rows = np.empty((batch, length), dtype=np.uint8)
    for i, s in enumerate(which):
        data = sources[s]
        start = int(rng.integers(0, len(data) - length))
        rows[i] = np.frombuffer(data, dtype=np.uint8, count=length, offset=start)
    return rows, which

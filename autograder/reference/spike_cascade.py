"""Reference implementations for lesson 08_spike_cascade."""

from __future__ import annotations

from collections import Counter
from typing import Sequence


def phase_boundaries(phase_lengths: Sequence[int]) -> list[int]:
    """The step index at which each phase after the first begins."""
    out, start = [], 0
    for length in list(phase_lengths)[:-1]:
        start += int(length)
        out.append(start)
    return out


def spikes_near_boundaries(spike_steps: Sequence[int], boundaries: Sequence[int],
                           within: int = 3) -> float:
    """Fraction of spike steps `s` with a boundary `b` such that `0 <= s - b <= within`."""
    spikes = list(spike_steps)
    if not spikes:
        return 0.0
    near = sum(any(0 <= s - b <= within for b in boundaries) for s in spikes)
    return near / len(spikes)


def repetition_score(tokens: Sequence[int]) -> float:
    """Share of the most frequent token among `tokens` (0.0 if empty)."""
    tokens = list(tokens)
    if not tokens:
        return 0.0
    return Counter(tokens).most_common(1)[0][1] / len(tokens)

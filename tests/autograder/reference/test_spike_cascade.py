"""The lesson-08 reference against independent numpy formulations and hand-worked cases."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from autograder.reference.spike_cascade import (phase_boundaries, repetition_score,
                                                spikes_near_boundaries)


def test_phase_boundaries_by_hand():
    assert phase_boundaries([7, 14, 21]) == [7, 21]
    assert phase_boundaries([42]) == []
    assert phase_boundaries([]) == []
    assert phase_boundaries((3, 3, 3, 3)) == [3, 6, 9]


@given(st.lists(st.integers(1, 50), max_size=30))
def test_phase_boundaries_is_the_cumulative_sum_without_the_end(lengths):
    assert phase_boundaries(lengths) == [int(x) for x in np.cumsum(lengths)[:-1]]


def test_spikes_near_boundaries_by_hand():
    assert spikes_near_boundaries([7, 10, 11, 30], [7, 21]) == 0.5   # 7 (+0), 10 (+3)
    assert spikes_near_boundaries([6, 22], [7, 21], within=1) == 0.5  # 6 is before 7
    assert spikes_near_boundaries([], [7]) == 0.0
    assert spikes_near_boundaries([5, 5], []) == 0.0
    assert spikes_near_boundaries([7, 7, 50], [7]) == 2 / 3          # duplicates count twice


@given(st.lists(st.integers(0, 200), max_size=40), st.lists(st.integers(0, 200), max_size=10),
       st.integers(0, 10))
def test_spikes_near_boundaries_matches_a_vectorised_form(spikes, bounds, within):
    got = spikes_near_boundaries(spikes, bounds, within)
    if not spikes:
        assert got == 0.0
        return
    d = np.asarray(spikes)[:, None] - np.asarray(bounds, dtype=int).reshape(1, -1)
    want = ((d >= 0) & (d <= within)).any(axis=1).mean() if bounds else 0.0
    assert np.isclose(got, want)


def test_repetition_score_by_hand():
    assert repetition_score([]) == 0.0
    assert repetition_score([5]) == 1.0
    assert repetition_score([1, 2, 2, 3]) == 0.5
    assert repetition_score(np.array([9, 9, 9, 1])) == 0.75


@given(st.lists(st.integers(0, 5), max_size=60))
def test_repetition_score_matches_bincount(tokens):
    want = np.bincount(tokens).max() / len(tokens) if tokens else 0.0
    assert np.isclose(repetition_score(tokens), want)


def test_inputs_are_not_mutated():
    lengths, spikes, bounds, toks = [7, 14], [7, 9], [7], [1, 1, 2]
    phase_boundaries(lengths), spikes_near_boundaries(spikes, bounds), repetition_score(toks)
    assert (lengths, spikes, bounds, toks) == ([7, 14], [7, 9], [7], [1, 1, 2])

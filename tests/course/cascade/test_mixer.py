import numpy as np
import pytest

from course.cascade.mixer import PHASE_LENGTHS, bandit_schedule, sample_batch, static_schedule


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_bandit_phases_have_allowed_lengths_and_a_new_dominant_source(seed):
    s = bandit_schedule(300, seed=seed)
    assert s.weights.shape == (300, 3)
    np.testing.assert_allclose(s.weights.sum(axis=1), 1.0)
    assert set(s.phase_lengths) <= set(PHASE_LENGTHS) and sum(s.phase_lengths) >= 300
    assert all(a != b for a, b in zip(s.dominant, s.dominant[1:]))
    assert s.boundaries == [int(b) for b in np.cumsum(s.phase_lengths)[:-1] if b < 300]
    for start, dom in zip([0] + s.boundaries, s.dominant):
        assert s.weights[start, dom] == pytest.approx(0.9)


def test_weights_change_exactly_at_boundaries():
    s = bandit_schedule(200, seed=3)
    changes = [t for t in range(1, 200) if not np.allclose(s.weights[t], s.weights[t - 1])]
    assert changes == s.boundaries


def test_same_seed_same_schedule_other_seed_differs():
    a, b, c = bandit_schedule(100, seed=5), bandit_schedule(100, seed=5), bandit_schedule(100, seed=6)
    assert a.phase_lengths == b.phase_lengths and np.array_equal(a.weights, b.weights)
    assert a.phase_lengths != c.phase_lengths or a.dominant != c.dominant


def test_static_control_is_uniform_with_the_same_nominal_phases():
    s, b = static_schedule(120, seed=2), bandit_schedule(120, seed=2)
    np.testing.assert_allclose(s.weights, 1 / 3)
    assert s.boundaries == b.boundaries and set(s.dominant) == {-1}


@pytest.mark.parametrize("kwargs,word", [(dict(steps=0, seed=0), "steps"),
                                         (dict(steps=5, seed=0, dominant=0.2), "dominant")])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        bandit_schedule(**kwargs)


def test_sample_batch_takes_windows_from_the_chosen_sources():
    sources = [b"a" * 100, b"b" * 100, b"c" * 100]
    rows, which = sample_batch(sources, np.array([0.0, 1.0, 0.0]), 8, 10, np.random.default_rng(0))
    assert rows.shape == (8, 10) and set(which) == {1} and set(rows.ravel()) == {ord("b")}

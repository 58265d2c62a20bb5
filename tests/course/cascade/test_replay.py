import numpy as np
import pytest

from course.cascade import replay

from .conftest import make_trace


def test_initial_state_selects_first_two_runs_paused_at_the_opening_step(toy_traces):
    state = replay.initial_state(toy_traces)
    # run "a": first sample at 9, second switch at 21 -> opens at 21, not at step 0
    assert state == replay.ReplayState(step=21, playing=False, selection=("a", "b"))
    assert replay.initial_state(toy_traces, step=0).step == 0
    assert replay.initial_state(toy_traces, ["b"], step=99).step == 19   # clamped


def test_opening_step_shows_a_sample_and_two_switches():
    """The first selected run decides: the later of its first sample and second switch,
    so the opening view has both; a tenth of the run without either; clamped to the end."""
    late_sample = {"t": make_trace("t", steps=30, sample_steps=(25,))}
    assert replay.opening_step(late_sample, ["t"]) == 25
    one_phase = {"t": make_trace("t", steps=30, phase_lengths=(30,), dominant=(0,),
                                 sample_steps=())}
    assert replay.opening_step(one_phase, ["t"]) == 3
    beyond = {"t": make_trace("t", steps=30, sample_steps=(40,))}
    assert replay.opening_step(beyond, ["t"]) == 29
    assert replay.opening_step(beyond, []) == 0
    view = replay.run_view(make_trace(), replay.opening_step({"t": make_trace()}, ["t"]))
    assert view.sample_step is not None and len(view.phases) >= 2


def test_select_rejects_unknown_runs_and_names_them(toy_traces):
    state = replay.initial_state(toy_traces)
    with pytest.raises(KeyError, match="nope"):
        replay.select(state, ["a", "nope"], toy_traces)


def test_select_clamps_step_to_shorter_selection(toy_traces):
    state = replay.set_step(replay.initial_state(toy_traces, ["a"]), 25, 30)
    state = replay.select(state, ["b", "b"], toy_traces)
    assert state.selection == ("b",) and state.step == 19


@pytest.mark.parametrize("step,expected", [(-4, 0), (0, 0), (12, 12), (29, 29), (99, 29)])
def test_set_step_clamps(step, expected):
    assert replay.set_step(replay.ReplayState(), step, 30).step == expected


def test_play_ticks_forward_and_stops_at_the_end():
    state = replay.toggle_play(replay.ReplayState(step=20, speed=4), total=30)
    assert state.playing
    state = replay.tick(state, 30)
    assert (state.step, state.playing) == (24, True)
    state = replay.tick(replay.tick(state, 30), 30)
    assert (state.step, state.playing) == (29, False)
    assert replay.tick(state, 30) == state  # paused: no change


def test_play_at_the_end_restarts_and_pause_keeps_step():
    state = replay.toggle_play(replay.ReplayState(step=29), total=30)
    assert (state.step, state.playing) == (0, True)
    paused = replay.toggle_play(replay.ReplayState(step=7, playing=True), total=30)
    assert (paused.step, paused.playing) == (7, False)


def test_speed_and_max_norm_validate():
    with pytest.raises(ValueError, match="speed"):
        replay.set_speed(replay.ReplayState(), 0)
    with pytest.raises(ValueError, match="max_norm"):
        replay.set_max_norm(replay.ReplayState(), -1.0)
    assert replay.set_max_norm(replay.ReplayState(), 0.5).max_norm == 0.5


def test_run_view_covers_steps_up_to_current():
    trace = make_trace(steps=30, clipped_at=(3, 4, 25))
    view = replay.run_view(trace, 10)
    assert view.step == 10 and len(view.x) == len(view.loss) == len(view.grad_norm) == 11
    np.testing.assert_array_equal(view.clipped_steps, [3, 4])
    np.testing.assert_array_equal(view.m_norm, trace.m_norm[:11])


def test_run_view_carries_the_rest_of_the_run():
    """`ahead` covers step..end (joining the part played), so an early view is not blank."""
    trace = make_trace(steps=30, phase_lengths=(7, 14, 21), dominant=(0, 2, 1))
    view = replay.run_view(trace, 0)
    assert len(view.x) == 1                                    # played: a single point...
    np.testing.assert_array_equal(view.ahead_x, np.arange(30))  # ...the rest: all of it
    for name in replay.SERIES:
        np.testing.assert_array_equal(view.ahead[name], getattr(trace, name))
    assert view.phases_ahead == ((1, 7, 0), (7, 21, 2), (21, 30, 1))
    view = replay.run_view(trace, 10)
    np.testing.assert_array_equal(view.ahead_x, np.arange(10, 30))
    np.testing.assert_array_equal(view.ahead["grad_norm"], trace.grad_norm[10:])
    assert view.phases_ahead == ((11, 21, 2), (21, 30, 1))


def test_run_view_past_the_end_stops_at_last_step():
    view = replay.run_view(make_trace(steps=20), 50)
    assert view.step == 19 and len(view.loss) == 20
    assert len(view.ahead_x) == 0 and all(len(a) == 0 for a in view.ahead.values())
    assert view.phases_ahead == ()


def test_phase_spans_cut_at_current_step():
    trace = make_trace(steps=30, phase_lengths=(7, 14, 21), dominant=(0, 2, 1))
    assert replay.phase_spans(trace, 3) == ((0, 4, 0),)
    assert replay.phase_spans(trace, 7) == ((0, 7, 0), (7, 8, 2))
    assert replay.phase_spans(trace, 29) == ((0, 7, 0), (7, 21, 2), (21, 30, 1))


@pytest.mark.parametrize("upto", [0, 6, 7, 20, 28, 29])
def test_phases_begun_and_ahead_tile_the_run(upto):
    trace = make_trace(steps=30, phase_lengths=(7, 14, 21), dominant=(0, 2, 1))
    spans = replay.phase_spans(trace, upto) + replay.phases_after(trace, upto)
    assert spans[0][0] == 0 and spans[-1][1] == 30
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))   # no gap, no overlap
    assert all(start < stop for start, stop, _ in spans)


def test_latest_sample_is_the_most_recent_at_or_before_step():
    trace = make_trace(sample_steps=(9, 19, 29))
    assert replay.latest_sample(trace, 8) == (None, {})
    assert replay.latest_sample(trace, 9) == (9, {"greedy": "g9", "temp1": "<t9>"})
    assert replay.latest_sample(trace, 28)[0] == 19


def test_views_follow_selection_order(toy_traces):
    state = replay.set_step(replay.initial_state(toy_traces, ["b", "a"]), 5, 30)
    assert [v.name for v in replay.views(toy_traces, state)] == ["b", "a"]

import numpy as np
import pytest

from course.cascade import replay

from .conftest import make_trace


def test_initial_state_selects_first_two_runs_paused_at_zero(toy_traces):
    state = replay.initial_state(toy_traces)
    assert state == replay.ReplayState(step=0, playing=False, selection=("a", "b"))


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


def test_run_view_past_the_end_stops_at_last_step():
    view = replay.run_view(make_trace(steps=20), 50)
    assert view.step == 19 and len(view.loss) == 20


def test_phase_spans_cut_at_current_step():
    trace = make_trace(steps=30, phase_lengths=(7, 14, 21), dominant=(0, 2, 1))
    assert replay.phase_spans(trace, 3) == ((0, 4, 0),)
    assert replay.phase_spans(trace, 7) == ((0, 7, 0), (7, 8, 2))
    assert replay.phase_spans(trace, 29) == ((0, 7, 0), (7, 21, 2), (21, 30, 1))


def test_latest_sample_is_the_most_recent_at_or_before_step():
    trace = make_trace(sample_steps=(9, 19, 29))
    assert replay.latest_sample(trace, 8) == (None, {})
    assert replay.latest_sample(trace, 9) == (9, {"greedy": "g9", "temp1": "<t9>"})
    assert replay.latest_sample(trace, 28)[0] == 19


def test_views_follow_selection_order(toy_traces):
    state = replay.set_step(replay.initial_state(toy_traces, ["b", "a"]), 5, 30)
    assert [v.name for v in replay.views(toy_traces, state)] == ["b", "a"]

"""Visible tests of the seed's own questions (lessons 03, 04) check the learner's working.

They fail on an answer inconsistent with the learner's own steps, with a message that
names the step, and pass an answer that is consistent but wrong (only the hidden test
knows the value): the visible test gives nothing away.
"""

from __future__ import annotations

import pytest

from .harness import run_exercise

INCONSISTENT = [
    ("03_scale_factor", "scale_a", "scale_a = 1.0 / 3.0", "test_scale_a", "clip_scale(3.5, 1.0)"),
    ("03_scale_factor", "norm_after_b", "norm_after_b = 0.9", "test_norm_after_b",
     "3.5 times your `scale_a`"),
    ("03_scale_factor", "norm_after_c", "norm_after_c = 0.5", "test_norm_after_c",
     "0.4 times your `scale_c`"),
    ("03_scale_factor", "guard_reduction_factor", "guard_reduction_factor = 3e-4 / 1.5e-7",
     "test_guard_reduction_factor", "leave one guard out"),
    ("04_adam_after_a_spike", "m_trace_after_spike",
     "m = 0.5\nm_trace_after_spike = []\nfor g in [50.0] + [0.5] * 10:\n"
     "    m = 0.1 * m + 0.9 * g\n    m_trace_after_spike.append(m)",
     "test_m_trace_after_spike", "0.9 * m_trace_after_spike"),
]

CONSISTENT_BUT_WRONG = [  # the visible test passes; the hidden one fails
    ("04_adam_after_a_spike", "m_trace_after_spike",
     "m_trace_after_spike = [0.5 + 0.1 * 50.0 * 0.9 ** k for k in range(11)]"),
    ("03_scale_factor", "guard_reduction_factor", "guard_reduction_factor = 2000.0 + 50.0"),
]


@pytest.mark.parametrize("lesson, exercise, source, cell, fragment", INCONSISTENT,
                         ids=[f"{e}" for _, e, *_ in INCONSISTENT])
def test_visible_test_catches_inconsistent_working(lesson, exercise, source, cell, fragment):
    run = run_exercise(lesson, exercise, source)
    assert not run[cell].passed, f"{cell} passed `{source}`"
    assert fragment in run[cell].error, run[cell].error


@pytest.mark.parametrize("lesson, exercise, source", CONSISTENT_BUT_WRONG,
                         ids=[e for _, e, _ in CONSISTENT_BUT_WRONG])
def test_visible_test_gives_nothing_away(lesson, exercise, source):
    run = run_exercise(lesson, exercise, source)
    assert run[f"test_{exercise}"].passed, run[f"test_{exercise}"].error
    assert run.any_failed, f"no test of `{exercise}` failed `{source}`"

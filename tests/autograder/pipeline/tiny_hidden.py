"""Hidden tests of the synthetic lesson `00_tiny` (graded outside the learner's kernel)."""

from __future__ import annotations

import math

from autograder.verdict import hidden_test

CASES = (0.5, -3.0, 1e6, 7.25)


def _check(learner, name: str, expected) -> None:
    f = learner.function(name)
    for x in CASES:
        got = f(x)
        if not isinstance(got, (int, float)) or not math.isclose(got, expected(x)):
            raise AssertionError(f"`{name}({x})` returned {got!r}, expected {expected(x)}")


@hidden_test("test_double_hidden")
def double(learner, rng):
    _check(learner, "double", lambda x: 2 * x)


@hidden_test("test_halve_hidden")
def halve(learner, rng):
    _check(learner, "halve", lambda x: x / 2)

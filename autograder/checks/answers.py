"""Numeric answers: one number compared with the expected value, naming known mistakes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from course.testing import assert_builtins_intact, assert_scalar


def assert_answer(value: Any, expected: float, *, name: str, rtol: float = 1e-5,
                  atol: float = 0.0, mistakes: Sequence[tuple[float, str]] = (),
                  rounded_within: float = 1e-2) -> float:
    """`value` is one number equal to `expected` within `rtol`/`atol`; returns it as float.

    `mistakes` lists `(wrong_value, why)` pairs: when `value` matches a wrong value (within
    the same tolerance) the message says `why`. A value within `rounded_within` (relative)
    of `expected` is reported as rounded too early.
    """
    assert_builtins_intact()
    got = assert_scalar(value, name=name)
    if np.isclose(got, expected, rtol=rtol, atol=atol):
        return got
    for wrong, why in mistakes:
        if np.isclose(got, wrong, rtol=rtol, atol=atol) and not np.isclose(
                wrong, expected, rtol=rtol, atol=atol):
            raise AssertionError(f"`{name}` is {got:.8g}, which is not right: {why}")
    if expected != 0 and abs(got - expected) <= rounded_within * abs(expected):
        raise AssertionError(f"`{name}` is {got:.8g}: close, but rounded too early (the check "
                             f"allows a relative error of {rtol:g}). Assign the expression "
                             "itself (for example `1.0 / 3.5`) rather than a rounded decimal.")
    raise AssertionError(f"`{name}` is {got:.8g}, which is not the expected value. Redo the "
                         "arithmetic step by step in a code cell and check each piece.")

"""Learner vs reference: call both on the same inputs, compare, say what differed.

`same_as_reference` (one rule), `same_as_one_of` (a rule with accepted variants, such as
PyTorch's `+1e-6`), `same_in_place` (a function whose name ends in `_`: compare what the
call left behind). The learner's function is usually `learner.function(name)`, a stand-in
that runs the learner's code in their kernel (`autograder.verdict.learner`); arguments
changed there are reflected back, so "inputs unchanged" checks see the learner's changes.
Every failure names the function, the input that exposed it and what differed.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import numpy as np
import torch

from course.testing import assert_builtins_intact, assert_close, assert_unchanged, call, snapshot


def describe(value: Any) -> str:
    """A short description of an input for a failure message."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:6]) + (", ..." if len(value) > 6 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if value is None:
        return "None"
    return repr(value)


def same_as_reference(learner: Callable, reference: Callable, args: Sequence[Any], *,
                      name: str, rtol: float = 1e-5, atol: float = 1e-8,
                      check_inputs_unchanged: bool = True, hint: str = "") -> Any:
    """Call both on copies of `args`; the learner's result must match the reference's.

    Also fails if the learner's call changed its inputs. Returns the learner's result.
    """
    assert_builtins_intact()
    before = snapshot(list(args))
    expected = reference(*copy.deepcopy(list(args)))
    try:
        got = learner(*args)
    except NotImplementedError:
        raise AssertionError(f"`{name}` is not implemented yet") from None
    except Exception as exc:  # noqa: BLE001 - reported to the learner with the input
        raise AssertionError(f"`{name}{describe(tuple(args))}` raised {type(exc).__name__}: "
                             f"{exc}") from None
    if check_inputs_unchanged:
        assert_unchanged(before, list(args), name=f"the arguments of `{name}`")
    _compare(got, expected, name=f"{name}{describe(tuple(args))}", rtol=rtol, atol=atol, hint=hint)
    return got


def _compare(got: Any, expected: Any, *, name: str, rtol: float, atol: float, hint: str) -> None:
    if isinstance(expected, (list, tuple)) and not _is_numeric_sequence(expected):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            raise AssertionError(f"`{name}` should return a {type(expected).__name__} of "
                                 f"{len(expected)} items, got {describe(got)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            if e is None:
                if g is not None:
                    raise AssertionError(f"`{name}`[{i}] should be None (a None gradient stays "
                                         f"None), got {describe(g)}")
                continue
            _compare(g, e, name=f"{name}[{i}]", rtol=rtol, atol=atol, hint=hint)
        return
    assert_close(got, expected, name=name, rtol=rtol, atol=atol, hint=hint)


def _is_numeric_sequence(value: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float, np.number)) for v in value)


def _call_learner(learner: Callable, args: Sequence[Any], *, name: str, hint: str = "") -> Any:
    return call(learner, *args, name=name, hint=hint)


def _first_match(got: Any, expected: Sequence[Any], compare: Callable[[Any, Any], None]) -> None:
    """Pass if `compare(got, e)` passes for some `e`; else re-raise the first failure."""
    first: AssertionError | None = None
    for e in expected:
        try:
            compare(got, e)
            return
        except AssertionError as exc:
            first = first or exc
    assert first is not None
    raise first


def same_as_one_of(learner: Callable, references: Sequence[Callable], args: Sequence[Any], *,
                   name: str, rtol: float = 1e-5, atol: float = 1e-8,
                   check_inputs_unchanged: bool = True, hint: str = "") -> Any:
    """`same_as_reference` for a rule with accepted variants: the learner's result must match
    one of `references` (each called on its own deep copy of `args`); a failure is
    reported against the first, the rule the lesson teaches. Returns the learner's result.
    """
    assert_builtins_intact()
    before = snapshot(list(args))
    expected = [reference(*copy.deepcopy(list(args))) for reference in references]
    label = f"{name}{describe(tuple(args))}"
    got = _call_learner(learner, args, name=label, hint=hint)
    if check_inputs_unchanged:
        assert_unchanged(before, list(args), name=f"the arguments of `{name}`")
    _first_match(got, expected, lambda g, e: _compare(g, e, name=label, rtol=rtol, atol=atol,
                                                      hint=hint))
    return got


def same_in_place(learner: Callable, references: Sequence[Callable],
                  setup: Callable[[], tuple[Sequence[Any], Callable[[Any], dict]]], *,
                  name: str, rtol: float = 1e-5, atol: float = 1e-8, hint: str = "") -> dict:
    """Compare a function that works in place with references (accepted variants).

    `setup()` builds fresh `(args, observe)`: the arguments of one call, and a function
    that takes the call's return value and gives `{what: value}` to compare, e.g.
    `{"the returned norm": norm, "p.grad of parameter 0": params[0].grad}` (a value may be
    None, which must then stay None). `setup` runs once for the learner and once per
    reference; `name` describes the call for messages, e.g. "clip_grad_norm_(params, 0.5)".
    Returns what the learner's call observed.
    """
    assert_builtins_intact()
    expected = []
    for reference in references:
        args, observe = setup()
        expected.append(observe(reference(*args)))
    args, observe = setup()
    got = observe(_call_learner(learner, args, name=name, hint=hint))

    def compare(g: dict, e: dict) -> None:
        for what, want in e.items():
            have = g[what]
            where = f"{what} after {name}"
            if want is None or have is None:
                if (want is None) != (have is None):
                    raise AssertionError(f"{where} is {describe(have)}, expected "
                                         f"{describe(want)}.{' ' + hint if hint else ''}")
                continue
            assert_close(have, want, name=where, rtol=rtol, atol=atol, hint=hint)

    _first_match(got, expected, compare)
    return got

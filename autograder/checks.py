"""What hidden tests call: fresh random inputs and learner-vs-reference comparisons.

A hidden test cell typically reads

    from autograder import checks
    from autograder.reference import global_vs_per_tensor as ref
    rng = checks.fresh_rng()
    for _ in range(20):
        grads = checks.random_grads(rng)
        checks.same_as_reference(global_l2_norm, ref.global_l2_norm, (grads,),
                                 name="global_l2_norm")

Every failure names the function, the input that exposed it and what differed.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
import types
from typing import Any, Callable, Sequence

import numpy as np
import torch

from course.testing import (  # noqa: F401 - re-exported for hidden tests
    as_float64,
    assert_builtins_intact,
    assert_close,
    assert_raises,
    assert_scalar,
    assert_type,
    assert_unchanged,
    call,
    snapshot,
)


def fresh_rng() -> np.random.Generator:
    """A generator seeded from the OS: hidden tests never see the same inputs twice.

    The seed is kept on the generator (`rng.seed`) so a failure message can quote it.
    """
    seed = secrets.randbits(32)
    return SeededGenerator(seed)


class SeededGenerator(np.random.Generator):
    """A numpy Generator that remembers its seed."""

    def __init__(self, seed: int):
        super().__init__(np.random.PCG64(seed))
        self.seed = seed


def random_shape(rng: np.random.Generator, max_dims: int = 3, max_size: int = 7) -> tuple[int, ...]:
    dims = int(rng.integers(0, max_dims + 1))
    return tuple(int(s) for s in rng.integers(1, max_size + 1, size=dims))


def random_grads(rng: np.random.Generator, *, max_tensors: int = 6, allow_none: bool = True,
                 dtype: torch.dtype = torch.float32) -> list[torch.Tensor | None]:
    """A list of 0–`max_tensors` gradient tensors of mixed shapes and scales (some `None`)."""
    count = int(rng.integers(0, max_tensors + 1))
    scale = float(10.0 ** rng.uniform(-3, 3))
    grads: list[torch.Tensor | None] = []
    for _ in range(count):
        if allow_none and rng.random() < 0.15:
            grads.append(None)
            continue
        values = rng.standard_normal(random_shape(rng)) * scale
        grads.append(torch.as_tensor(values, dtype=dtype))
    return grads


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


# -- accepted variants, in-place functions, forbidden helpers ---------------------------
# Added for lesson 02 (global vs per-tensor clipping) and meant for any lesson whose rule
# has accepted variants (PyTorch's `+1e-6`), whose exercise works in place (a name ending
# in `_`), or which asks learners not to call a library's own version.


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


def _forbidden_label(owner: Any, attr: str) -> str:
    return f"{getattr(owner, '__name__', type(owner).__name__)}.{attr}"


@contextlib.contextmanager
def forbidding(targets: Sequence[tuple[Any, str]], *, name: str, instead: str = ""):
    """Within the block, any call to `owner.attr` for `(owner, attr)` in `targets` fails.

    For exercises that ask the learner to write what a library already offers: the
    library's functions are replaced by ones that record the call and raise, and put back
    on leaving. A call swallowed by the learner's own `try/except` still fails the test.
    """
    called: list[str] = []
    saved: list[tuple[Any, str, Any]] = []

    def message(label: str) -> str:
        tail = f" {instead}" if instead else ""
        return (f"`{name}` called `{label}`: this exercise asks you to write it yourself, "
                f"without the library's own version.{tail}")

    def make(label: str) -> Callable:
        def forbidden(*args: Any, **kwargs: Any) -> Any:
            called.append(label)
            raise AssertionError(message(label))
        return forbidden

    for owner, attr in targets:
        if hasattr(owner, attr):
            saved.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, make(_forbidden_label(owner, attr)))
    try:
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)
    if called:
        raise AssertionError(message(called[0]))


def assert_does_not_hold(func: Callable, targets: Sequence[tuple[Any, str]], *, name: str,
                         instead: str = "") -> None:
    """`func` reaches no alias of a forbidden function (`from torch.nn.utils import
    clip_grad_norm_ as c` would slip past `forbidding`): follows the globals its code names,
    its closure and default arguments, and the same for every function reached that way
    (a helper of a helper), so an alias cannot hide one call away."""
    originals = {id(getattr(o, a)): _forbidden_label(o, a) for o, a in targets if hasattr(o, a)}
    home = getattr(func, "__globals__", None)  # the learner's namespace
    seen: set[int] = set()
    pending: list[Any] = [func]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if id(value) in originals:
            tail = f" {instead}" if instead else ""
            raise AssertionError(f"`{name}` uses `{originals[id(value)]}` (imported under "
                                 "another name): this exercise asks you to write it yourself, "
                                 f"without the library's own version.{tail}")
        pending.extend(_reachable(value, home))


def _reachable(value: Any, home: dict | None) -> list[Any]:
    """What a function defined in the learner's namespace `home` (or a partial) can call:
    its named globals, closure cells and defaults. Library functions are not entered."""
    if hasattr(value, "func") and hasattr(value, "args"):  # functools.partial
        return [value.func, *value.args, *getattr(value, "keywords", {}).values()]
    code = getattr(value, "__code__", None)
    if not isinstance(code, types.CodeType):
        return []
    glob = getattr(value, "__globals__", None)
    if glob is None or glob is not home:
        return []  # library code: compared by identity above, not entered
    names: set[str] = set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    found = [glob[n] for n in names if n in glob]
    found += [cell.cell_contents for cell in (getattr(value, "__closure__", None) or ())
              if _cell_filled(cell)]
    found += list(getattr(value, "__defaults__", None) or ())
    return found


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises ValueError
    except ValueError:
        return False
    return True


# -- numeric answers ------------------------------------------------------------------
# Added for lesson 03 (scale-factor arithmetic): an answer that is a number (or the result
# of one call) compared with the expected value, naming a known wrong answer when it is one.


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

"""Assertions for test cells, worded for the learner who reads them.

Visible tests use these directly; hidden tests reach them through `autograder.checks`.
Every helper names the thing being checked (`name`) and says what was expected.

A failed check is a plain `AssertionError`. In a notebook, IPython shows it without this
module's frames: the learner reads the message and the line of their own cell that led
there, not the helper's internals (`_failure`).
"""

from __future__ import annotations

import builtins
import math
import types
from typing import Any

import numpy as np


_THIS_FILE = __file__


def _without_helper_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """`tb` less the frames of this module (a new chain; the original is left alone)."""
    kept = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != _THIS_FILE:
            kept.append(tb)
        tb = tb.tb_next
    chain = None
    for entry in reversed(kept):
        chain = types.TracebackType(chain, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return chain


def _learner_traceback(exc: BaseException) -> list[str]:
    """IPython's traceback of `exc` without this module's frames (its `_render_traceback_`)."""
    from IPython import get_ipython

    shell = get_ipython()
    formatter = shell.InteractiveTB
    try:
        return formatter.structured_traceback(type(exc), exc,
                                              _without_helper_frames(exc.__traceback__))
    except Exception:  # noqa: BLE001 - never lose the failure: IPython's own rendering
        return formatter.structured_traceback(type(exc), exc, exc.__traceback__)


def _failure(message: str) -> AssertionError:
    """The `AssertionError` a check raises, shown by IPython as the learner's line + message.

    IPython renders an exception through its `_render_traceback_` when it has one; outside
    IPython (pytest, plain Python, the grading process) nothing changes.
    """
    exc = AssertionError(message)
    exc._render_traceback_ = lambda: _learner_traceback(exc)  # type: ignore[attr-defined]
    return exc


def _describe(value: Any) -> str:
    return type(value).__module__ + "." + type(value).__qualname__


def as_float64(value: Any, *, name: str) -> np.ndarray:
    """`value` (tensor, array, number or list of them) as a float64 array."""
    try:
        import torch
        if isinstance(value, torch.Tensor):
            return value.detach().to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover - torch is a dependency of the course
        pass
    if hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        value = value.get()
    if value is None:
        raise _failure(f"`{name}` is None: did the function forget to `return` its result?")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _failure(f"`{name}` should be numeric, got {_describe(value)}: {exc}") from None


def assert_close(actual: Any, expected: Any, *, name: str, rtol: float = 1e-5,
                 atol: float = 1e-8, hint: str = "") -> None:
    """`actual` equals `expected` elementwise within `rtol`/`atol`; inf/NaN must match."""
    got = as_float64(actual, name=name)
    want = as_float64(expected, name=f"expected {name}")
    suffix = f" {hint}" if hint else ""
    if got.shape != want.shape:
        raise _failure(f"`{name}` has shape {tuple(got.shape)}, expected "
                             f"{tuple(want.shape)}.{suffix}")
    ok = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        index = tuple(int(i) for i in np.argwhere(~ok)[0])
        where = f" at index {index}" if got.ndim else ""
        raise _failure(
            f"`{name}` is {got[index]:.8g}{where}, expected {want[index]:.8g} "
            f"(relative tolerance {rtol:g}; {int((~ok).sum())} of {ok.size} values differ).{suffix}")


def assert_scalar(value: Any, *, name: str) -> float:
    """`value` is a single real number (Python, numpy or 0-dim tensor); return it as float."""
    array = as_float64(value, name=name)
    if array.size != 1:
        raise _failure(f"`{name}` should be a single number, got shape {array.shape}")
    return float(array.reshape(()))


def assert_type(value: Any, expected: type | tuple[type, ...], *, name: str) -> None:
    """`value` is an instance of `expected`."""
    if not isinstance(value, expected):
        names = expected if isinstance(expected, tuple) else (expected,)
        wanted = " or ".join(t.__name__ for t in names)
        raise _failure(f"`{name}` should be a {wanted}, got {_describe(value)}")


def snapshot(values: Any) -> Any:
    """A deep copy of tensors/arrays (in lists or tuples) for a later `assert_unchanged`."""
    try:
        import torch
        if isinstance(values, torch.Tensor):
            return values.detach().clone()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(values, np.ndarray):
        return values.copy()
    if isinstance(values, (list, tuple)):
        return type(values)(snapshot(v) for v in values)
    return values


def assert_unchanged(before: Any, after: Any, *, name: str) -> None:
    """`after` still equals the `snapshot` taken `before` a call: the input was not mutated."""
    if isinstance(before, (list, tuple)):
        if len(before) != len(after):
            raise _failure(f"`{name}` changed length from {len(before)} to {len(after)}: "
                                 "leave your inputs as you found them.")
        for i, (b, a) in enumerate(zip(before, after)):
            assert_unchanged(b, a, name=f"{name}[{i}]")
        return
    if before is None or isinstance(before, (int, float, str)):
        if before != after and not (isinstance(before, float) and math.isnan(before)):
            raise _failure(f"`{name}` changed from {before!r} to {after!r}")
        return
    b, a = as_float64(before, name=name), as_float64(after, name=name)
    if b.shape != a.shape or not np.array_equal(b, a, equal_nan=True):
        raise _failure(f"`{name}` was modified in place: your function must not change "
                             "its inputs (work on a copy).")


def assert_raises(exc_type: type[BaseException], func, *args, name: str, why: str, **kwargs) -> None:
    """Calling `func(*args, **kwargs)` raises `exc_type` (the rule it enforces is `why`)."""
    try:
        func(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:  # noqa: BLE001 - the message names what was raised instead
        raise _failure(f"`{name}` should raise {exc_type.__name__} ({why}), "
                             f"but raised {type(exc).__name__}: {exc}") from None
    raise _failure(f"`{name}` should raise {exc_type.__name__} ({why}), but returned normally")


_BUILTIN_NAMES = ("abs", "sum", "max", "min", "len", "isinstance", "float", "int", "round",
                  "range", "all", "any", "sorted", "zip", "map", "pow")


def assert_builtins_intact() -> None:
    """Fail if an answer cell rebound a builtin that tests rely on (`builtins.abs = ...`)."""
    for n in _BUILTIN_NAMES:
        current = getattr(builtins, n, None)
        if isinstance(current, types.BuiltinFunctionType):
            genuine = current.__self__ is builtins and current.__name__ == n
        else:
            genuine = (isinstance(current, type) and current.__module__ == "builtins"
                       and current.__name__ == n and "__dict__" not in vars(current))
        if not genuine:
            raise _failure(f"the builtin `{n}` was replaced; tests cannot trust results "
                                 "from a notebook that rebinds Python's builtins.")


def call(func, *args, name: str, hint: str = ""):
    """`func(*args)`, with any exception turned into an `AssertionError` for the learner.

    `name` describes the call (e.g. "clip_by_global_norm([...], 1.0)"); `hint` says what
    usually causes a failure here. An untouched stub reads "not implemented yet".
    """
    try:
        return func(*args)
    except NotImplementedError:
        raise _failure(f"`{name}` is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner with the call
        suffix = f" {hint}" if hint else ""
        raise _failure(f"`{name}` raised {type(exc).__name__}: {exc}.{suffix}") from None

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

import copy
import secrets
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

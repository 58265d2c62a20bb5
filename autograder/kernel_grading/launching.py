"""Compiling a learner's kernel source and launching it, with messages for the learner.

`compiled(source, name, exercise)` compiles (a compile error quotes the compiler) and
checks the parameter list against the contract; `launch(...)` runs one launch through
`kernels.check`, which replays it under several thread schedules on the CPU backend, and
turns what the runtime reports into words that name the launch and the likely fix.
The argument checks themselves are `kernels.marshal`'s (a `TypeError` naming the
parameter), run by every launch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course import kernel_lab

from .inputs import CONTRACT, Shape, dynamic_shared_bytes

#: Thread orders each launch is replayed under (CPU backend): fixed ones, so a failure can be
#: replayed, plus a fresh random order each run ("random" picks a seed; the message quotes it).
SCHEDULES = ("forward", "reverse", "random:1", "random")

#: The learner's next step for each cause `kernels.check` tells apart.
RACE_HINT = (
    "A shared-memory reduction needs a `__syncthreads()` between every thread storing its "
    "own sum and the tree's first round, and one at the end of every round, before the next "
    "round reads what this one wrote.")
UNINITIALIZED_HINT = (
    "On a GPU that slot holds whatever an earlier kernel left there, so the result is "
    "garbage that changes from run to run. Every thread writes its own slot first (0 when "
    "it has no element), and the tree starts at blockDim.x / 2, not at a fixed number, so it "
    "reads only slots the block's own threads wrote, whatever the block size.")


def _kernel_errors() -> tuple[type[BaseException], ...]:
    import kernels

    return (kernels.CompileError, kernels.KernelError)


def compiled(source: Any, name: str, exercise: str):
    """`source` compiled as kernel `name`, its parameter types checked against the
    contract; an AssertionError addressed to the learner otherwise."""
    if source is None or source is NotImplemented:
        raise AssertionError(f"`{exercise}` is not written yet")
    try:
        kernel = kernel_lab.compile_kernel(source, name)
    except AssertionError as exc:
        raise AssertionError(f"`{exercise}`: {exc}") from None
    try:
        params = kernel.signature.params
    except (TypeError, *_kernel_errors()) as exc:
        raise AssertionError(f"`{exercise}`: the parameter list of `{name}` could not be "
                             f"read ({exc})") from None
    types, declared = CONTRACT[name]
    if tuple((p.ctype, p.pointer) for p in params) != types:
        yours = ", ".join(p.text.strip() or p.decl for p in params)
        raise AssertionError(f"`{exercise}`: `{name}` must be declared `{name}{declared}` "
                             f"(the contract's types, in this order); yours takes ({yours})")
    return kernel


def read_only(array):
    """`array`, read-only where the backend can enforce it (NumPy on the CPU backend)."""
    if isinstance(array, np.ndarray):
        array.flags.writeable = False
    return array


def uninitialized_message(exc, where: str) -> str:
    """An `UninitializedSharedError` in the learner's words: which slot, where, and why
    it matters. The traced run names the `__shared__` slot and its line; without it the
    runtime's own message says which output changed."""
    if getattr(exc, "line", None) is not None and getattr(exc, "argument", None):
        read = (f"line {exc.line} of your kernel reads `{exc.argument}[{exc.index}]`, a "
                "`__shared__` slot no thread of the block wrote in this launch.")
    else:
        read = f"{exc}"
    return (f"{where}: your kernel reads shared memory that was never written — {read} "
            f"{UNINITIALIZED_HINT}")


def launch(kernel, shape: Shape, args: tuple, *, what: str, schedules: bool = True) -> None:
    """Run one launch (through `kernels.check` when `schedules`) with the contract's dynamic
    shared memory, turning the runtime's errors into learner-facing messages."""
    import kernels

    shared = dynamic_shared_bytes(shape.threads)
    grid, block = (shape.blocks,), (shape.threads,)
    try:
        if schedules:
            kernels.check(kernel, grid, block, args, shared_mem=shared, schedules=SCHEDULES)
        else:
            kernel(grid, block, args, shared_mem=shared)
    except kernels.UninitializedSharedError as exc:
        raise AssertionError(uninitialized_message(exc, f"{what} with {shape}")) from None
    except kernels.RaceError as exc:
        if getattr(exc, "hazard", None):  # the race detector: two unordered accesses
            raise AssertionError(
                f"{what} with {shape}: two threads touch the same memory with no barrier "
                f"between them, and one of them writes ({exc.hazard}): {exc}. {RACE_HINT}") from None
        raise AssertionError(
            f"{what} with {shape}: your reduction depends on thread order — run under different "
            f"thread schedules it gave different results ({exc}). {RACE_HINT}") from None
    except (TypeError, ValueError, *_kernel_errors()) as exc:
        raise AssertionError(f"{what} with {shape}: {type(exc).__name__}: {exc}") from None

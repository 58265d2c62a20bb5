"""Recording a launcher's kernel launches: what lesson 05's hidden launcher test observes.

The launcher of lesson 05 (`clip_grad_norm_kernels`) is the learner's Python; it runs in
the learner's kernel. The grader runs the scenario `observe_launcher` there (through
`course.wire`): it runs the launcher on arrays the grader sent, records every kernel
launch, and sends back *data* — the returned value, the arrays afterwards, the launch log.
The grader compares the numbers with a float64 NumPy spec and reads the log.

**What can be trusted.** The launch log (which kernels ran, in what order, with which
grids and blocks) is observed in the learner's own process, by patching the `kernels`
classes there: a deliberate forger could fake it. The numbers cannot be faked that way:
the returned norm and the clipped arrays must match the grader's own float64 computation,
and with the host-read model below they must match it while the norm is hidden.

This module holds no answers: the kernels that run in place of the learner's (by name) are
sources the grader passes in as data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from . import kernel_lab

#: For each norm kernel, the argument it writes; it stays on the device until the next
#: launch of another kernel (the scale kernel) in `launch_recorder`'s asynchronous model.
DEVICE_RESULTS = {"k_grad_norm_partial": 2, "k_grad_norm_final": 3}


@dataclasses.dataclass
class Launch:
    name: str
    grid: tuple
    block: tuple
    shared_mem: int = 0

    def to_data(self) -> dict:
        return {"name": self.name, "grid": [int(v) for v in self.grid],
                "block": [int(v) for v in self.block], "shared_mem": int(self.shared_mem)}


class LaunchRecorder:
    """What `launch_recorder` saw: every launch in order, plus the deferred ones."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.pending: list[Callable[[], None]] = []

    def flush(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def names(self) -> list[str]:
        return [launch.name for launch in self.launches]


def _bits(values: Any) -> Any:
    """float32 values (array or scalar) as their uint32 bit patterns: NaN == NaN here."""
    return values.view(np.uint32)


def _kernel_classes() -> list[type]:
    import kernels

    classes = []
    for attr in ("RawKernel", "Function", "RawFunction"):
        cls = getattr(kernels, attr, None)
        if isinstance(cls, type) and "__call__" in vars(cls) and cls not in classes:
            classes.append(cls)
    return classes


def _kernel_name(kernel: Any) -> str:
    return str(getattr(kernel, "name", getattr(kernel, "__name__", "")))


def _dims(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@contextlib.contextmanager
def launch_recorder(*, substitute: dict[str, Any] | None = None,
                    defer_with: float | None = None) -> Iterator[LaunchRecorder]:
    """Record every kernel launch; optionally run other kernels instead of the caller's
    (`substitute`, by kernel name) and model an asynchronous device (`defer_with`).

    Each launch's arguments and launch shape are checked first by `kernels` itself
    (`kernels.marshal`, against the signature of the kernel that will run): a Python
    `float` for a `float` parameter is a `TypeError` that names it, at the launch that made it.

    The asynchronous model is how a host read of the norm between kernels is detected. On a
    GPU a launch returns at once and the host runs ahead; reading ``partial`` or ``out`` on
    the host (``float(out[0])``, ``.item()``, ``.get()``, ``print``, ``if out[1] < 1:``, a
    NumPy/CuPy operation on them) forces a wait — the sync the lesson forbids. CuPy hides
    that wait and NumPy has nothing to wait for, so this model makes it visible: the launches
    of `k_grad_norm_partial` and `k_grad_norm_final` are *deferred*, and the buffers they
    write hold `defer_with` (NaN, 0, 3e38: a poison) until the next launch of any other
    kernel (`k_grad_scale`), which first runs every deferred launch in order, with each
    buffer restored to what it held at its launch, so the device computes exactly what it
    would have (only elements still holding the poison are restored, so views that overlap,
    such as ``partial[offset:]``, come out right). A launcher that keeps the norm on the
    device gives identical results; one that reads it in between reads the poison, and with
    different poisons a branch on what it read goes the wrong way at least once.
    Reads after the first `k_grad_scale` launch (returning ``float(out[0])``) are allowed.

    Patches the `__call__` of the `kernels` package's kernel classes for the duration.
    """
    from kernels import marshal

    recorder = LaunchRecorder()
    classes = _kernel_classes()
    if not classes:
        raise RuntimeError("kernels exposes no patchable kernel class (RawKernel.__call__)")
    saved = {cls: vars(cls)["__call__"] for cls in classes}

    def hooked(original):
        def call(self, grid, block, args, *rest, **kwargs):
            name = _kernel_name(self)
            args = tuple(args) if isinstance(args, (tuple, list)) else args
            target = (substitute or {}).get(name, self)
            shared_mem = kwargs.get("shared_mem", rest[0] if rest else 0)
            if hasattr(target, "check_args"):
                marshal.check_launch_config(name, grid, block, shared_mem)
                target.check_args(args)
            recorder.launches.append(Launch(name, _dims(grid), _dims(block), int(shared_mem)))
            target_call = saved.get(type(target), original)

            def run():
                return target_call(target, grid, block, args, *rest, **kwargs)

            if defer_with is not None and name in DEVICE_RESULTS:
                buffer = args[DEVICE_RESULTS[name]]
                before = buffer.copy()
                buffer[...] = defer_with

                def later(buffer=buffer, before=before):
                    # Put back what the device held, but only where this launch's poison is
                    # still in place: a launch that ran earlier in the flush may already
                    # have written its results into an overlapping view (`partial[off:]`).
                    still = _bits(buffer) == _bits(np.float32(defer_with))
                    buffer[still] = before[still]
                    run()

                recorder.pending.append(later)
                return None
            recorder.flush()
            return run()
        return call

    for cls, original in saved.items():
        setattr(cls, "__call__", hooked(original))
    try:
        yield recorder
    finally:
        for cls, original in saved.items():
            setattr(cls, "__call__", original)


@contextlib.contextmanager
def sources_lent(func: Callable, sources: dict[str, str]) -> Iterator[None]:
    """While the launcher runs, any kernel-source variable its notebook lacks (an
    unanswered kernel exercise, not a string) is lent from `sources`, so
    `kernels.RawKernel(K_GRAD_SCALE, ...)` in the launcher still works; the learner's own
    strings are left alone, and everything is put back after."""
    glob = getattr(func, "__globals__", None)
    missing = object()
    saved: dict[str, Any] = {}
    if isinstance(glob, dict):
        for var, text in sources.items():
            if not isinstance(glob.get(var), str):
                saved[var] = glob.get(var, missing)
                glob[var] = text
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is missing:
                glob.pop(var, None)
            else:
                glob[var] = value


def _returned(value: Any) -> dict:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins."),
            "real": real, "value": float(value) if real else None}


def observe_launcher(launcher: Callable, cases: Sequence[dict], *,
                     substitute: dict[str, str], lend: dict[str, str]) -> list[dict]:
    """Run `launcher(grads, max_norm, threads)` on each case; what was observed, as data.

    `cases`: dicts with ``grads`` (float32 NumPy arrays, copied to `kernels.xp` arrays
    here), ``max_norm``, ``threads`` and ``poison`` (None, or the value the norm buffers
    hold until the scale kernel runs: see `launch_recorder`). `substitute`: kernel name ->
    CUDA source run in place of the launcher's own kernel of that name. `lend`: kernel-source
    variables lent to the launcher's notebook while it runs (`sources_lent`).

    Each observation: ``returned`` (type name, whether it is a real number, its value),
    ``raised`` (None or ``{"type", "message"}``), ``same_list`` (whether the list passed in
    still holds the same arrays), ``grads`` (each array afterwards, as NumPy) and
    ``launches`` (name, grid, block, shared_mem of each launch, in order).
    """
    import kernels

    kernels_by_name = {name: kernels.RawKernel(text, name) for name, text in substitute.items()}
    observations = []
    for case in cases:
        device = [kernel_lab.to_device(np.asarray(g, dtype=np.float32)) for g in case["grads"]]
        given = list(device)
        raised = None
        result: Any = None
        with sources_lent(launcher, lend), \
                launch_recorder(substitute=kernels_by_name, defer_with=case.get("poison")) as rec:
            try:
                try:
                    result = launcher(given, case["max_norm"], case["threads"])
                finally:
                    rec.flush()
            except Exception as exc:  # noqa: BLE001 - the learner's exception is data here
                raised = {"type": type(exc).__name__, "message": str(exc)[:2000]}
        observations.append({
            "returned": _returned(result),
            "raised": raised,
            "same_list": len(given) == len(device) and all(a is b for a, b in zip(given, device)),
            "grads": [kernel_lab.to_host(g) for g in device],
            "launches": [launch.to_data() for launch in rec.launches],
        })
    return observations

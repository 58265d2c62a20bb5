"""The learner, as a hidden test sees it: functions to call with data, values to read.

A hidden test (`autograder.hidden.<lesson>`) never runs in the learner's process. It gets
a `Learner` and calls `learner.function("clip_grad_norm_")(params, 0.5)` as if the
function were local: the arguments are sent as data (`course.wire`), the learner's code
runs on its side, and the return value *and the arguments as they are after the call*
come back as data, so in-place changes show on the caller's own objects. Whatever comes
back is only a claim to be checked against the reference here.

- `KernelLearner`: the learner's sandboxed Jupyter kernel (autograde, selfcheck);
- `InProcessLearner`: a namespace in this process (the instructor's own notebook, the
  variant tests), with the same encode/decode round trip so both behave alike.
"""

from __future__ import annotations

import builtins
import io
import itertools
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from course import wire


class LearnerError(Exception):
    """The learner's function raised an exception that is not a Python builtin one."""

    def __init__(self, type_name: str, message: str, where: str = ""):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name, self.message, self.where = type_name, message, where


class NoAnswer(AssertionError):
    """The learner's side gave no usable reply (not defined, timed out, malformed)."""


_BUILTIN_ERRORS = {name: obj for name, obj in vars(builtins).items()
                   if isinstance(obj, type) and issubclass(obj, Exception)}


def _reraise(raised: wire.Raised) -> Exception:
    """The learner's exception as an exception of the same builtin type (so `except
    ValueError` and 'not implemented yet' checks read it as the learner meant it)."""
    cls = _BUILTIN_ERRORS.get(raised.type_name)
    if cls is not None:
        try:
            return cls(raised.message)
        except Exception:  # noqa: BLE001 - an exception type with another signature
            pass
    return LearnerError(raised.type_name, raised.message, raised.where)


class Learner:
    """What a hidden test may ask of a learner's submission."""

    #: the source of every non-test code cell of the submission, and of each solution cell
    #: by grade id (for static checks: read from the notebook, outside the learner's process)
    source: str = ""
    answers: dict[str, str] = {}

    def function(self, name: str) -> Callable[..., Any]:
        """A stand-in for the learner's function `name`: call it with data."""
        return LearnerFunction(self, name)

    def value(self, name: str) -> Any:
        """The learner's variable `name`, as data (NoAnswer if it is not defined)."""
        reply = self._round_trip({"op": "value", "name": name}, {})
        return reply["value"]

    def scenario(self, path: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the course scenario at import path `path` on the learner's side, with the
        learner's function `name` as its first argument; returns what it observed."""
        request, arrays = self._request("scenario", name, args, kwargs)
        request["path"] = path
        reply = self._round_trip(request, arrays)
        if "raised" in reply:
            raise _reraise(reply["raised"])
        return reply["value"]

    # -- transport -------------------------------------------------------------------------
    def _request(self, op: str, name: str, args, kwargs) -> tuple[dict, dict]:
        arrays: dict[str, np.ndarray] = {}
        return ({"op": op, "name": name, "args": wire.encode(list(args), arrays),
                 "kwargs": wire.encode(dict(kwargs), arrays)}, arrays)

    def _round_trip(self, request: dict, arrays: dict) -> dict:
        tree, reply_arrays = self._exchange(request, arrays)
        if not isinstance(tree, dict):
            raise NoAnswer("the reply from your notebook was malformed")
        if "wire_error" in tree:
            raise NoAnswer(f"your result could not be sent back for checking: "
                           f"{str(tree['wire_error'])[:300]}")
        if "missing" in tree:
            raise NoAnswer(f"`{request['name']}` is not defined: run (or restore) the cell "
                           "that defines it, and keep its name exactly as given")
        if "not_callable" in tree:
            raise NoAnswer(f"`{request['name']}` should be a function, but it is a "
                           f"{str(tree['not_callable'])[:80]}")
        try:
            return {k: wire.decode(v, reply_arrays) for k, v in tree.items()}
        except wire.WireError as exc:
            raise NoAnswer(f"the reply from your notebook was malformed: {exc}") from None

    def _exchange(self, request: dict, arrays: dict) -> tuple[Any, dict]:
        raise NotImplementedError


class LearnerFunction:
    """Calls the learner's function across the wire; reflects in-place changes back."""

    def __init__(self, learner: Learner, name: str):
        self.learner, self.__name__ = learner, name

    def __repr__(self) -> str:
        return f"<your function {self.__name__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = wire.freeze_iterators(args), wire.freeze_iterators(kwargs)
        request, arrays = self.learner._request("call", self.__name__, args, kwargs)
        reply = self.learner._round_trip(request, arrays)
        if "args" in reply:
            reflect(list(args), reply["args"])
        if "kwargs" in reply:
            reflect(kwargs, reply["kwargs"])
        if "raised" in reply:
            raise _reraise(reply["raised"])
        return reply.get("value")


def reflect(original: Any, after: Any) -> Any:
    """Make `original` look like `after` (what the learner's side left), in place where
    `original` is mutable; returns what to keep in `original`'s place."""
    import torch

    if isinstance(original, torch.nn.Parameter) and isinstance(after, torch.nn.Parameter):
        with torch.no_grad():
            if original.shape == after.shape:
                original.copy_(after.to(original.dtype))
            else:
                original.data = after.data.to(original.dtype)
        original.requires_grad_(after.requires_grad)
        replaced = getattr(after, "_wire_grad_replaced", False)
        if after.grad is None:
            original.grad = None
        elif (original.grad is not None and not replaced
              and original.grad.shape == after.grad.shape):
            with torch.no_grad():
                original.grad.copy_(after.grad.to(original.grad.dtype))
        else:  # the learner's code assigned a new tensor to p.grad: so does the reflection
            original.grad = after.grad.clone()
        return original
    if isinstance(original, torch.Tensor) and isinstance(after, torch.Tensor):
        if original.shape == after.shape and original.dtype == after.dtype:
            with torch.no_grad():
                original.copy_(after)
            return original
        return after
    if isinstance(original, np.ndarray) and isinstance(after, np.ndarray):
        if original.shape == after.shape and original.dtype == after.dtype \
                and original.flags.writeable:
            original[...] = after
            return original
        return after
    if isinstance(original, torch.nn.Module) and isinstance(after, torch.nn.Module):
        theirs = dict(after.named_parameters())
        for name, p in original.named_parameters():
            if name in theirs:
                reflect(p, theirs[name])
        return original
    if isinstance(original, wire.IteratorArg) and isinstance(after, wire.IteratorArg):
        reflect(original.items, after.items)
        return original
    if isinstance(original, list) and isinstance(after, list):
        if len(original) == len(after):
            for i, (o, a) in enumerate(zip(original, after)):
                original[i] = reflect(o, a)
        else:
            original[:] = after
        return original
    if isinstance(original, dict) and isinstance(after, dict):
        for key in list(original):
            if key in after:
                original[key] = reflect(original[key], after[key])
        return original
    if isinstance(original, tuple) and isinstance(after, tuple) and len(original) == len(after):
        for o, a in zip(original, after):
            reflect(o, a)
        return original
    return original


class InProcessLearner(Learner):
    """A learner whose definitions live in `namespace` in this process (trusted code:
    the instructor's notebook, the variant tests). Same data round trip as a kernel."""

    def __init__(self, namespace: dict, source: str = "", answers: dict[str, str] | None = None):
        self.namespace, self.source, self.answers = namespace, source, dict(answers or {})

    def _exchange(self, request: dict, arrays: dict) -> tuple[Any, dict]:
        # through the same bytes a kernel would write, so both paths behave alike
        sent_tree, sent_arrays = _through_npz(request, arrays)
        tree, out = wire.run_request(sent_tree, sent_arrays, self.namespace)
        return _through_npz(tree, out)


def _through_npz(tree: Any, arrays: dict) -> tuple[Any, dict]:
    import json

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {k: npz[k] for k in npz.files}
    return json.loads(json.dumps(tree, allow_nan=True)), loaded


class KernelLearner(Learner):
    """The learner's (sandboxed) Jupyter kernel.

    `run_code(code, timeout)` executes one line in the kernel (the Execute preprocessor's
    own machinery, with its timeouts and dead-kernel handling). Requests are written to
    `requests` (read-only inside the sandbox), replies read from `replies` (the only
    folder of the exchange the kernel can write), each opened without following links.
    """

    _counter = itertools.count(1)

    def __init__(self, run_code: Callable[[str], None], requests: Path, replies: Path,
                 source: str = "", answers: dict[str, str] | None = None):
        self.run_code, self.requests, self.replies = run_code, requests, replies
        self.source, self.answers = source, dict(answers or {})

    def _exchange(self, request: dict, arrays: dict) -> tuple[Any, dict]:
        n = next(self._counter)
        stem = f"r{os.getpid()}-{n}"
        wire.write(str(self.requests / stem), "request", request, arrays)
        self.run_code(f"__import__('course.wire').wire.serve({str(self.requests / stem)!r}, "
                      f"{str(self.replies / stem)!r})")
        try:
            return wire.read(str(self.replies / stem), "reply")
        except wire.WireError as exc:
            raise NoAnswer(f"your notebook did not answer the hidden test ({exc}): did "
                           "the function run past the time limit or stop the kernel?") from None
        finally:
            for kind in ("request", "reply"):
                for ext in ("json", "npz"):
                    for folder in (self.requests, self.replies):
                        try:
                            os.unlink(folder / f"{stem}.{kind}.{ext}")
                        except OSError:
                            pass

"""Data in, data out: how a grader calls a learner's function across a process boundary.

When a lesson is graded, the learner's kernel runs in a sandbox and the hidden tests run
in a grading process outside it (`autograder.verdict`). They exchange only *data*: a JSON
tree plus numpy arrays in an `.npz` file, never pickle, so a reply can hold numbers and
arrays but no code. This module is the one encoding both sides use:

- `encode(value, arrays)` -> a JSON-able tree; arrays go into the `arrays` dict;
- `decode(tree, arrays)` -> the value again (new objects);
- `serve(request, reply)` runs in the learner's kernel: reads `<request>.request.json/.npz`,
  calls the learner's function (or reads a variable, or runs a course scenario) and writes
  `<reply>.reply.json/.npz`.

What travels: None, bools, ints, floats (inf and NaN too), strings, lists, tuples, dicts
with string keys, numpy arrays (numeric or bool dtypes), torch tensors and parameters
(with their `.grad`), iterators (sent as a list, received as a fresh iterator), modules
built with `build(...)` (rebuilt from their recipe and state), and functions or classes
named by import path under `torch`, `numpy`, `math` or `course`. Anything else comes back
as an `Opaque` naming its type.

This module is part of the learner-side `course` package and holds no answers.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import os
import stat
import traceback
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Import paths `$ref` and `$build` may name (a module path starts with one of these).
ALLOWED_ROOTS = ("torch", "numpy", "math", "course", "collections", "functools")
#: Classes a `$module` node may build when a message is decoded (torch modules only): a
#: decoded message must never call anything else (a reply naming `numpy:load` with
#: `allow_pickle`, or `numpy:savetxt`, would run code or write files on the reading side).
MODULE_ROOTS = ("course.", "torch.nn.")
#: The most a reply may hold, in bytes (JSON and arrays together).
MAX_REPLY_BYTES = 256 * 2**20
_WIRE_SPEC = "_gradclip_wire_spec"


class WireError(ValueError):
    """A value cannot be sent, or a message is malformed."""


@dataclass(frozen=True)
class Opaque:
    """A value that could not travel: only its type's name came back."""

    type_name: str

    def __repr__(self) -> str:
        return f"<{self.type_name} (not data)>"


class IteratorArg:
    """An iterator argument, sent as its items: iterated once by the callee like any
    iterator, but still holding its items so their in-place changes can be sent back."""

    def __init__(self, items: list):
        self.items, self._next = list(items), 0

    def __iter__(self) -> "IteratorArg":
        return self

    def __next__(self) -> Any:
        if self._next >= len(self.items):
            raise StopIteration
        self._next += 1
        return self.items[self._next - 1]


def freeze_iterators(value: Any) -> Any:
    """`value` with every iterator (in lists, tuples and dicts) replaced by an IteratorArg
    of its items (the iterator itself is consumed)."""
    if isinstance(value, IteratorArg):
        return value
    if isinstance(value, list):
        return [freeze_iterators(v) for v in value]
    if isinstance(value, tuple):
        return tuple(freeze_iterators(v) for v in value)
    if isinstance(value, dict):
        return {k: freeze_iterators(v) for k, v in value.items()}
    if hasattr(value, "__next__") and hasattr(value, "__iter__") and not _is_tensorlike(value):
        return IteratorArg(list(value))
    return value


def _is_tensorlike(value: Any) -> bool:
    return isinstance(value, np.ndarray) or type(value).__module__.startswith("torch")


@dataclass(frozen=True)
class Raised:
    """The learner's function raised: the exception's type, message and where."""

    type_name: str
    message: str
    where: str = ""  # the learner's own line, when the traceback names one

    def text(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


# -- building objects from recipes ----------------------------------------------------------
def resolve(path: str) -> Any:
    """The object at import path `module:qualname` (or `module.attr`), under ALLOWED_ROOTS."""
    if not isinstance(path, str) or not path:
        raise WireError(f"an import path must be a non-empty string, got {path!r}")
    module_name, _, qualname = path.partition(":")
    if not qualname:
        module_name, _, qualname = path.rpartition(".")
    if module_name.split(".")[0] not in ALLOWED_ROOTS:
        raise WireError(f"`{path}` is outside the packages a message may name "
                        f"({', '.join(ALLOWED_ROOTS)})")
    if any(not part.isidentifier() or part.startswith("_") for part in module_name.split(".")):
        raise WireError(f"`{path}` names a private or malformed module")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        raise WireError(f"`{path}` names a module that does not exist") from None
    for part in qualname.split("."):
        if not part.isidentifier() or part.startswith("_"):
            raise WireError(f"`{path}` names a private attribute")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise WireError(f"`{path}` names an attribute that does not exist") from None
    return obj


def buildable(factory):
    """Mark a course function that builds a torch module as one a `$module` recipe may
    name (decoding calls nothing else: see `module_class`)."""
    factory._gradclip_buildable = True
    return factory


def module_class(path: Any) -> type:
    """The torch module class a `$module` node names (under MODULE_ROOTS), or a course
    factory marked `@buildable`, checked before anything is called: WireError otherwise."""
    import torch

    if not isinstance(path, str) or not path.startswith(MODULE_ROOTS):
        raise WireError(f"a module recipe may only name a torch module class under "
                        f"{', '.join(r.rstrip('.') for r in MODULE_ROOTS)}, not {path!r}")
    cls = resolve(path)
    if getattr(cls, "_gradclip_buildable", False) is True and path.startswith("course."):
        return cls
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise WireError(f"`{path}` is not a torch module class (nor a course factory "
                        "marked `@wire.buildable`)")
    return cls


def build(path: str, *args: Any, **kwargs: Any) -> Any:
    """`resolve(path)(*args, **kwargs)`, remembering the recipe so the object can travel.

    A model built this way is sent as its recipe plus its parameters (values and grads)
    and rebuilt on the other side; the recipe's arguments must themselves be data.
    """
    obj = resolve(path)(*args, **kwargs)
    try:
        setattr(obj, _WIRE_SPEC, (path, args, kwargs))
    except AttributeError as exc:
        raise WireError(f"`{path}(...)` built an object that cannot carry its recipe") from exc
    return obj


def _ref_path(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    if module.split(".")[0] not in ALLOWED_ROOTS:
        return None
    try:
        if resolve(f"{module}:{qualname}") is obj:
            return f"{module}:{qualname}"
    except (WireError, AttributeError, ImportError):
        return None
    return None


# -- encoding ---------------------------------------------------------------------------------
class _Arrays:
    def __init__(self, arrays: dict[str, np.ndarray], grads_before: dict[int, int] | None = None):
        self.arrays = arrays
        self.grads_before = grads_before or {}  # id(parameter) -> id(its .grad) before a call

    def put(self, array: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        if array.dtype.kind not in "biufc":
            raise WireError(f"an array of dtype {array.dtype} cannot travel (numbers only)")
        self.arrays[key] = np.array(array, order="C", copy=True)
        return key

    def get(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise WireError(f"the message names an array `{key}` it does not hold")
        return self.arrays[key]


def encode(value: Any, arrays: dict[str, np.ndarray],
           grads_before: dict[int, int] | None = None) -> Any:
    """`value` as a JSON-able tree; its arrays are added to `arrays`.

    `grads_before` (from `grad_identities`): a parameter whose `.grad` is no longer the
    tensor it held then is marked `grad_replaced`, so the caller can tell an in-place
    `p.grad.mul_(s)` from `p.grad = p.grad * s`.
    """
    return _encode(value, _Arrays(arrays, grads_before), depth=0)


def grad_identities(value: Any) -> dict[int, int]:
    """`id(p) -> id(p.grad)` for every parameter reachable in lists, tuples and dicts."""
    found: dict[int, int] = {}
    torch = _torch()
    stack = [value]
    while stack and torch is not None:
        item = stack.pop()
        if isinstance(item, torch.nn.Parameter):
            found[id(item)] = id(item.grad)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, IteratorArg):
            stack.extend(item.items)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, torch.nn.Module):
            stack.extend(item.parameters())
    return found


def _tensor_node(t: Any, store: _Arrays) -> dict:
    import torch

    t = t.detach().cpu()
    dtype = str(t.dtype).removeprefix("torch.")
    if t.dtype == torch.bfloat16:
        data = t.float().numpy()
    else:
        data = t.numpy()
    return {"$t": store.put(data), "dtype": dtype}


def _encode(value: Any, store: _Arrays, depth: int) -> Any:
    if depth > 64:
        raise WireError("a value nested more than 64 levels deep cannot travel")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        if value.dtype.kind in "biufc":
            return {"$np": store.put(np.asarray(value))}
        raise WireError(f"a numpy {value.dtype} scalar cannot travel")
    if isinstance(value, np.ndarray):
        return {"$nd": store.put(value)}
    torch = _torch()
    if torch is not None:
        if isinstance(value, torch.nn.Parameter):
            node = _tensor_node(value, store)
            node.update({"$p": node.pop("$t"), "rg": bool(value.requires_grad),
                         "grad": None if value.grad is None else _tensor_node(value.grad, store)})
            before = store.grads_before.get(id(value))
            if before is not None and value.grad is not None and before != id(value.grad):
                node["grad_replaced"] = True
            return node
        if isinstance(value, torch.Tensor):
            node = _tensor_node(value, store)
            if value.requires_grad:
                node["rg"] = True
            return node
        if isinstance(value, torch.nn.Module) and hasattr(value, _WIRE_SPEC):
            path, args, kwargs = getattr(value, _WIRE_SPEC)
            return {"$module": path,
                    "args": [_encode(a, store, depth + 1) for a in args],
                    "kwargs": {k: _encode(v, store, depth + 1) for k, v in kwargs.items()},
                    "params": {name: _encode(p, store, depth + 1)
                               for name, p in value.named_parameters()},
                    "buffers": {name: _encode(b, store, depth + 1)
                                for name, b in value.named_buffers()}}
    if isinstance(value, list):
        return [_encode(v, store, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, store, depth + 1) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("a dict can travel only with string keys")
        return {"$dict": {k: _encode(v, store, depth + 1) for k, v in value.items()}}
    if isinstance(value, Opaque):
        return {"$opaque": value.type_name}
    if isinstance(value, Raised):
        return {"$raised": [value.type_name, value.message, value.where]}
    path = _ref_path(value)
    if path is not None:
        return {"$ref": path}
    if isinstance(value, IteratorArg):
        return {"$iter": [_encode(v, store, depth + 1) for v in value.items]}
    if hasattr(value, "__next__") and hasattr(value, "__iter__"):
        return {"$iter": [_encode(v, store, depth + 1) for v in value]}
    return {"$opaque": f"{type(value).__module__}.{type(value).__qualname__}"}


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a course dependency
        return None
    return torch


# -- decoding ---------------------------------------------------------------------------------
def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value a tree from `encode` describes, as new objects.

    Decoding calls nothing a message names except the constructor of a torch module class
    (`module_class`); any malformed tree is a WireError, never another exception."""
    try:
        return _decode(tree, _Arrays(arrays), depth=0)
    except WireError:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - a malformed message
        raise WireError(f"malformed message ({type(exc).__name__}: {str(exc)[:200]})") from None


def _tensor(node: dict, key: str, store: _Arrays):
    import torch

    dtype = node.get("dtype")
    target = getattr(torch, dtype, None) if isinstance(dtype, str) else None
    if not isinstance(target, torch.dtype):
        raise WireError(f"unknown tensor dtype {dtype!r}")
    return torch.from_numpy(np.array(store.get(node[key]))).to(target)


def _decode(tree: Any, store: _Arrays, depth: int) -> Any:
    if depth > 64:
        raise WireError("a message nested more than 64 levels deep")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [_decode(v, store, depth + 1) for v in tree]
    if not isinstance(tree, dict) or len(tree) == 0:
        raise WireError(f"malformed message node: {type(tree).__name__}")
    if "$nd" in tree:
        return np.array(store.get(tree["$nd"]))
    if "$np" in tree:
        return store.get(tree["$np"])[()]
    if "$t" in tree:
        t = _tensor(tree, "$t", store)
        return t.requires_grad_(True) if tree.get("rg") and t.is_floating_point() else t
    if "$p" in tree:
        import torch

        p = torch.nn.Parameter(_tensor(tree, "$p", store), requires_grad=bool(tree.get("rg", True)))
        if tree.get("grad") is not None:
            p.grad = _decode(tree["grad"], store, depth + 1)
        if tree.get("grad_replaced"):
            p._wire_grad_replaced = True
        return p
    if "$tuple" in tree:
        return tuple(_decode(v, store, depth + 1) for v in _list(tree["$tuple"]))
    if "$dict" in tree:
        items = tree["$dict"]
        if not isinstance(items, dict):
            raise WireError("malformed dict node")
        return {str(k): _decode(v, store, depth + 1) for k, v in items.items()}
    if "$iter" in tree:
        return IteratorArg([_decode(v, store, depth + 1) for v in _list(tree["$iter"])])
    if "$ref" in tree:
        return resolve(tree["$ref"])
    if "$module" in tree:
        return _decode_module(tree, store, depth)
    if "$opaque" in tree:
        return Opaque(str(tree["$opaque"]))
    if "$raised" in tree:
        parts = [str(p) for p in _list(tree["$raised"])][:3]
        return Raised(*parts)
    raise WireError(f"malformed message node with keys {sorted(tree)[:4]}")


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise WireError("malformed message: expected a list")
    return value


def _decode_module(tree: dict, store: _Arrays, depth: int):
    import torch

    cls = module_class(tree["$module"])  # checked before anything is decoded or called
    args = [_decode(a, store, depth + 1) for a in _list(tree.get("args", []))]
    raw_kwargs = tree.get("kwargs", {})
    if not isinstance(raw_kwargs, dict):
        raise WireError("malformed module node: kwargs must be a dict")
    kwargs = {str(k): _decode(v, store, depth + 1) for k, v in raw_kwargs.items()}
    for name in ("params", "buffers"):
        if not isinstance(tree.get(name, {}), dict):
            raise WireError(f"malformed module node: {name} must be a dict")
    module = cls(*args, **kwargs)
    try:
        setattr(module, _WIRE_SPEC, (tree["$module"], tuple(args), kwargs))
    except AttributeError:
        raise WireError(f"`{tree['$module']}(...)` cannot carry its recipe") from None
    if not isinstance(module, torch.nn.Module):
        raise WireError(f"`{tree['$module']}` did not build a torch module")
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, node in dict(tree.get("params", {})).items():
            if name not in params:
                raise WireError(f"the module has no parameter `{name}`")
            sent = _decode(node, store, depth + 1)
            params[name].copy_(sent)
            params[name].requires_grad_(sent.requires_grad)
            params[name].grad = None if sent.grad is None else sent.grad.clone()
        buffers = dict(module.named_buffers())
        for name, node in dict(tree.get("buffers", {})).items():
            if name in buffers:
                buffers[name].copy_(_decode(node, store, depth + 1))
    return module


# -- files --------------------------------------------------------------------------------------
def write(stem: str, kind: str, tree: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write `<stem>.<kind>.npz` then `<stem>.<kind>.json` (the JSON last: its presence
    says the message is whole)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _write_atomic(f"{stem}.{kind}.npz", buffer.getvalue())
    text = json.dumps(tree, allow_nan=True).encode()
    _write_atomic(f"{stem}.{kind}.json", text)


def read(stem: str, kind: str, *, max_bytes: int = MAX_REPLY_BYTES) -> tuple[Any, dict]:
    """The tree and arrays of `<stem>.<kind>`; WireError if missing, too big or malformed.

    Files are opened without following links and must be regular files: a reply folder
    the other side can write must not make this side read (or write) anything else.
    """
    json_bytes = _read_regular(f"{stem}.{kind}.json", kind, max_bytes)
    npz_bytes = _read_regular(f"{stem}.{kind}.npz", kind, max_bytes - len(json_bytes))
    try:
        tree = json.loads(json_bytes)
    except ValueError as exc:
        raise WireError(f"the {kind} is not valid JSON: {exc}") from None
    except RecursionError:
        raise WireError(f"the {kind}'s JSON is nested too deeply") from None
    return tree, _load_arrays(npz_bytes, kind, max_bytes)


def _load_arrays(npz_bytes: bytes, kind: str, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` (no pickles), after checking that what its members would
    unpack to (their sizes, and the shapes their headers claim) fits in `max_bytes`: a
    small compressed file must not make this side allocate gigabytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(npz_bytes)) as archive:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                if total > max_bytes:
                    raise WireError(f"the {kind}'s arrays unpack to more than the {max_bytes} "
                                    "bytes allowed")
                with archive.open(info) as member:
                    npy = np.lib.format
                    version = npy.read_magic(member)
                    header = {(1, 0): npy.read_array_header_1_0,
                              (2, 0): npy.read_array_header_2_0}.get(version)
                    if header is None:
                        raise WireError(f"the {kind}'s arrays use an unknown format {version}")
                    shape, _, dtype = header(member)
                    if dtype.hasobject:
                        raise WireError(f"the {kind} holds an array of Python objects")
                    if int(np.prod(shape, dtype=object)) * dtype.itemsize > max_bytes:
                        raise WireError(f"the {kind} claims an array larger than the "
                                        f"{max_bytes} bytes allowed")
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a malformed message
        raise WireError(f"the {kind}'s arrays cannot be read: {type(exc).__name__}") from None
    for key, array in arrays.items():
        if array.dtype.kind not in "biufc":
            raise WireError(f"the {kind}'s array `{key}` has dtype {array.dtype} (numbers only)")
    return arrays


def _read_regular(path: str, kind: str, max_bytes: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise WireError(f"no {kind} was written") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WireError(f"the {kind} is not a regular file")
        if info.st_size > max_bytes:
            raise WireError(f"the {kind} is {info.st_size} bytes, more than the {max_bytes} allowed")
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read(max_bytes + 1)[:max_bytes + 1]
    finally:
        if fd >= 0:
            os.close(fd)


def _write_atomic(path: str, data: bytes) -> None:
    """Write a new file at `path` (never through a link someone left there)."""
    tmp = f"{path}.tmp{os.getpid()}"
    for name in (tmp,):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# -- the learner's side -------------------------------------------------------------------------
def _namespace() -> dict:
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__
    return vars(__main__)


def run_request(tree: Any, arrays: dict, namespace: dict) -> tuple[Any, dict]:
    """Carry out one decoded request in `namespace`; the reply's tree and arrays.

    A request is `{"op": "call", "name", "args", "kwargs"}` (the reply holds the return
    value and the arguments as they are after the call, so in-place changes travel back),
    `{"op": "value", "name"}`, or `{"op": "scenario", "path", "name", "kwargs"}` (a course
    scenario function called with the learner's function as its first argument).
    """
    out: dict[str, np.ndarray] = {}
    if not isinstance(tree, dict) or tree.get("op") not in ("call", "value", "scenario"):
        raise WireError("malformed request")
    name = tree.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise WireError(f"malformed request: bad name {name!r}")
    if name not in namespace:
        return {"missing": name}, out
    target = namespace[name]
    if tree["op"] == "value":
        return {"value": encode(target, out)}, out
    args = decode(tree.get("args", []), arrays)
    kwargs = decode(tree.get("kwargs", {"$dict": {}}), arrays)
    if tree["op"] == "scenario":
        func = functools.partial(resolve(tree["path"]), target)
    else:
        func = target
    before = grad_identities([args, kwargs])
    if not callable(func):
        return {"not_callable": f"{type(func).__module__}.{type(func).__qualname__}"}, out
    try:
        value = func(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the learner's exception is data here
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return {"raised": encode(_raised(exc), out),
                "args": encode(list(args), out, before),
                "kwargs": encode(kwargs, out, before)}, out
    return {"value": encode(value, out, before), "args": encode(list(args), out, before),
            "kwargs": encode(kwargs, out, before)}, out


def _raised(exc: BaseException) -> Raised:
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<") or "ipykernel" in frame.filename:
            where = f"line {frame.lineno}: {(frame.line or '').strip()}"
            break
    message = str(exc)
    if len(message) > 2000:
        message = message[:2000] + "..."
    return Raised(type(exc).__name__, message, where)


def serve(request_stem: str, reply_stem: str) -> None:
    """In the learner's kernel: answer the request at `<request_stem>.request.*` with
    `<reply_stem>.reply.*`."""
    tree, arrays = read(request_stem, "request")
    try:
        reply, out = run_request(tree, arrays, _namespace())
    except WireError as exc:
        reply, out = {"wire_error": str(exc)}, {}
    try:
        write(reply_stem, "reply", reply, out)
    except WireError as exc:
        write(reply_stem, "reply", {"wire_error": str(exc)}, {})

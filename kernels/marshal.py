"""Check a launch's arguments against the kernel's parameter list, as CuPy would pass them.

CuPy does not type-check: a Python int always travels as a 64-bit `long long`, a Python
float as a `double`, a numpy scalar with its own width, an array as its data pointer.  The
driver copies as many bytes as the kernel's parameter has: for a Python int passed to an
`int` that is the low 4 bytes, right when the value fits (so it is accepted when it fits);
for a Python float passed to a `float` it is half of a double's bits, garbage (so it is
refused).  Both backends run these checks first and raise a TypeError that names the
parameter, its C type and what was passed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .signature import BF16_TYPES, C_DTYPES, C_VECTORS, Param, Signature

_INT64_TYPES = {"long long", "long", "int64_t", "ptrdiff_t",
                "unsigned long long", "unsigned long", "uint64_t", "size_t"}
_STRUCT_CODES = {"float32": "f", "float64": "d", "bool": "?", "int8": "b", "uint8": "B",
                 "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
                 "uint64": "Q", "float16": "e"}


@dataclass
class Arg:
    """One checked argument: an array (for a pointer) or the exact bytes of a scalar."""

    param: Param
    array: Any = None
    value: bytes | None = None
    original: Any = None


def _is_array(x: Any) -> bool:
    return hasattr(x, "__cuda_array_interface__") or isinstance(x, np.ndarray)


def _numpy_name(dt: np.dtype) -> str:
    return f"numpy.{dt.name}"


def check_launch_config(kernel: str, grid, block, shared_mem: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Normalise grid and block to 3-tuples and check CUDA's limits."""
    def dims(value, what: str) -> tuple[int, int, int]:
        if isinstance(value, (int, np.integer)):
            value = (int(value),)
        if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
            raise TypeError(f"{kernel}: `{what}` must be an int or a tuple of 1 to 3 ints, got {value!r}")
        out = []
        for v in value:
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"{kernel}: `{what}` must hold ints, got {v!r}")
            if int(v) < 1:
                raise ValueError(f"{kernel}: every dimension of `{what}` must be at least 1, got {tuple(value)}")
            out.append(int(v))
        return tuple(out + [1] * (3 - len(out)))  # type: ignore[return-value]

    g, b = dims(grid, "grid"), dims(block, "block")
    if b[0] * b[1] * b[2] > 1024 or b[2] > 64:
        raise ValueError(f"{kernel}: `block` {b} has more than 1024 threads (or z > 64); "
                         "CUDA allows at most 1024 threads in a block")
    if g[0] > 2**31 - 1 or g[1] > 65535 or g[2] > 65535:
        raise ValueError(f"{kernel}: `grid` {g} exceeds CUDA's limits (2**31-1, 65535, 65535)")
    if not isinstance(shared_mem, (int, np.integer)) or shared_mem < 0:
        raise ValueError(f"{kernel}: `shared_mem` must be a byte count >= 0, got {shared_mem!r}")
    if shared_mem > 48 * 1024:
        raise ValueError(f"{kernel}: `shared_mem` of {int(shared_mem)} bytes exceeds the 48 KiB "
                         "a launch may request without opting in")
    return g, b


def check_args(sig: Signature, args: Sequence[Any], *, array_kind: str) -> list[Arg]:
    """Check `args` against `sig`; `array_kind` is "numpy" (CPU) or "cupy" (GPU)."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"{sig.name}: `args` must be a tuple of arguments, got {type(args).__name__}")
    if len(args) != len(sig.params):
        names = ", ".join(sig.names)
        raise TypeError(f"{sig.name}() takes {len(sig.params)} argument(s) ({names}) "
                        f"but {len(args)} were given")
    return [_check_one(sig.name, p, a, array_kind) for p, a in zip(sig.params, args)]


def _check_one(kernel: str, p: Param, a: Any, array_kind: str) -> Arg:
    where = f"{kernel}() argument `{p.name}` (declared `{p.decl}`)"
    if p.pointer:
        return Arg(p, array=_check_array(where, p, a, array_kind))
    if _is_array(a):
        raise TypeError(f"{where} is a scalar, but an array was passed")
    if p.ctype in BF16_TYPES:
        if isinstance(a, np.generic) and a.dtype.itemsize == 2 and a.dtype.name in ("uint16", "bfloat16"):
            return Arg(p, value=a.tobytes())
        raise TypeError(f"{where}: pass a bfloat16 value as its 16 bits, numpy.uint16 (or an "
                        f"ml_dtypes.bfloat16 scalar); got {type(a).__name__}")
    dt = C_DTYPES.get(p.ctype)
    if dt is None:
        raise TypeError(f"{where}: kernels cannot pass a value of type `{p.ctype}`; "
                        "use a pointer or a basic type (int, long long, float, double, bool)")
    if isinstance(a, np.generic):
        if a.dtype != dt:
            raise TypeError(f"{where} got a {_numpy_name(a.dtype)} ({a.dtype.itemsize} bytes); "
                            f"numpy scalars keep their width, so pass {_numpy_name(dt)}({p.name})")
        return Arg(p, value=a.tobytes())
    if isinstance(a, bool):
        if p.ctype != "bool":
            raise TypeError(f"{where} got a Python bool, which CuPy passes as a 1-byte `bool`; "
                            f"pass {_numpy_name(dt)}({p.name})")
        return Arg(p, value=struct.pack("?", a))
    if isinstance(a, int):
        if dt.kind not in "iu":
            raise TypeError(f"{where} got a Python int, which CuPy passes as a 64-bit "
                            f"`long long` ({dt.itemsize * 8}-bit `{p.ctype}` expected); "
                            f"pass {_numpy_name(dt)}({p.name})")
        info = np.iinfo(dt)
        if not info.min <= a <= info.max:
            narrow = "" if p.ctype in _INT64_TYPES else (
                f"; CuPy passes a Python int as a 64-bit `long long`, of which the GPU reads "
                f"only the low {dt.itemsize} bytes")
            raise TypeError(f"{where}: {a} does not fit in the {dt.itemsize * 8}-bit "
                            f"`{p.ctype}` (range {info.min}..{info.max}){narrow}")
        return Arg(p, value=struct.pack("<" + _STRUCT_CODES[dt.name], a))
    if isinstance(a, float):
        if p.ctype != "double":
            raise TypeError(f"{where} got a Python float, which CuPy passes as a 64-bit "
                            f"`double`; pass {_numpy_name(dt)}({p.name})")
        return Arg(p, value=struct.pack("<d", a))
    raise TypeError(f"{where} got {type(a).__module__}.{type(a).__qualname__}, which cannot "
                    "be passed to a kernel")


def _check_array(where: str, p: Param, a: Any, array_kind: str):
    if not _is_array(a):
        what = f"a Python {type(a).__name__}" if type(a).__module__ == "builtins" else type(a).__qualname__
        raise TypeError(f"{where} is a pointer, so it needs an array; got {what}")
    is_cupy = type(a).__module__.startswith("cupy")
    if array_kind == "numpy" and not isinstance(a, np.ndarray):
        raise TypeError(f"{where}: the CPU backend takes numpy arrays, got {type(a).__module__}."
                        f"{type(a).__qualname__} (use kernels.xp to make arrays)")
    if array_kind == "cupy" and not is_cupy:
        raise TypeError(f"{where}: the CuPy backend takes cupy arrays, got {type(a).__module__}."
                        f"{type(a).__qualname__} (use kernels.xp to make arrays)")
    if not a.flags.c_contiguous:
        raise TypeError(f"{where} must be C-contiguous: a kernel gets only the data pointer "
                        f"and would read a strided view (strides {a.strides}) as if it were "
                        f"packed; pass {'numpy' if array_kind == 'numpy' else 'cupy'}"
                        f".ascontiguousarray({p.name})")
    want = p.dtype
    if p.ctype in BF16_TYPES:
        if a.dtype.name not in ("uint16", "bfloat16"):
            raise TypeError(f"{where} points to bfloat16 values, but a {a.dtype.name} array was "
                            "passed; pass their bits as a uint16 array (or an ml_dtypes.bfloat16 array)")
        return a
    if p.ctype in ("void", "char", "unsigned char") and p.pointer:
        want = None  # raw bytes: any array
    if p.ctype not in C_DTYPES and p.ctype not in C_VECTORS and p.ctype != "void":
        want = None  # a typedef or struct we cannot see through: accept any element type
    if want is not None and a.dtype != want:
        hint = f"; pass {p.name}.astype({_numpy_name(want)})"
        vec = f" (elements of {p.ctype})" if p.ctype in C_VECTORS else ""
        raise TypeError(f"{where} points to {want.name} values{vec}, but a {a.dtype.name} array "
                        f"was passed{hint}")
    return a

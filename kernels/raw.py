"""`RawKernel` and `RawModule`, shaped like CuPy's, on either backend."""

from __future__ import annotations

from typing import Any, Sequence

from . import marshal, select
from .signature import Signature, resolve


def _module(code: str, options, backend: str, filename: str, kernel_name: str | None = None,
            name_expressions=()):
    if backend == "cupy":
        from .cupy_backend import CupyModule
        return CupyModule(code, options, kernel_name, name_expressions)
    from .cpu.module import CpuModule
    return CpuModule(code, options, filename, name_expressions)


class RawKernel:
    """A CUDA C kernel from source: `RawKernel(code, name)(grid, block, args, shared_mem=0)`.

    `backend` ("cpu" or "cupy") defaults to `kernels.backend()`."""

    def __init__(self, code: str, name: str, options: Sequence[str] = (), *,
                 backend: str | None = None, _module_obj=None):
        if not isinstance(name, str) or not name:
            raise TypeError(f"`name` must be the kernel's function name, got {name!r}")
        self.code = code
        self.name = name
        self.options = tuple(options)
        self.backend = backend or select.backend()
        if self.backend not in select.BACKENDS:
            raise ValueError(f"`backend` must be 'cpu' or 'cupy', got {backend!r}")
        self._mod = _module_obj or _module(code, self.options, self.backend,
                                           f"{_file_stem(name)}.cu", name)
        self._sig: Signature | None = None

    @property
    def signature(self) -> Signature:
        """The kernel's parsed parameter list."""
        if self._sig is None:
            if self.backend == "cpu":
                self._sig = self._mod.signature(self.name)
            else:
                sig = resolve(self.code, self.name)
                if sig is None:
                    self._mod.function(self.name)  # let CuPy report it
                    raise TypeError(f"{self.name}: cannot parse this kernel's parameter list")
                self._sig = sig
        return self._sig

    def compile(self) -> None:
        """Compile now rather than at the first launch."""
        if self.backend == "cpu":
            self.signature
            self._mod.compile()
        else:
            self._mod.function(self.name)
            self.signature

    def check_args(self, args: Sequence[Any]) -> list[marshal.Arg]:
        kind = "cupy" if self.backend == "cupy" else "numpy"
        return marshal.check_args(self.signature, args, array_kind=kind)

    def __call__(self, grid, block, args: Sequence[Any], *, shared_mem: int = 0) -> None:
        g, b = marshal.check_launch_config(self.name, grid, block, shared_mem)
        checked = self.check_args(args)
        for a, original in zip(checked, args):
            a.original = original
        if self.backend == "cupy":
            self._mod.launch(self.name, grid, block, checked, int(shared_mem))
        else:
            from .cpu.launch import launch
            launch(self._mod, self.name, g, b, checked, int(shared_mem))

    def __repr__(self) -> str:
        return f"<kernels.RawKernel {self.name!r} on {self.backend}>"


def _file_stem(name: str) -> str:
    """`fx3<float>` -> `fx3` (the file name compiler messages cite)."""
    return name.split("<")[0].strip() or "kernel"


class RawModule:
    """Several kernels from one source: `RawModule(code=...).get_function(name)`.

    As in CuPy, `name_expressions` lists template instances (`"fx3<float>"`) and C++
    (not extern "C") kernels to make; `get_function` then takes those exact strings."""

    def __init__(self, *, code: str, options: Sequence[str] = (), name_expressions=None,
                 backend: str | None = None):
        self.code = code
        self.options = tuple(options)
        self.name_expressions = tuple(name_expressions or ())
        self.backend = backend or select.backend()
        self._mod = _module(code, self.options, self.backend, "module.cu",
                            name_expressions=self.name_expressions)
        self._functions: dict[str, RawKernel] = {}

    def get_function(self, name: str) -> RawKernel:
        if name not in self._functions:
            k = RawKernel(self.code, name, self.options, backend=self.backend, _module_obj=self._mod)
            k.signature  # unknown names fail here, as in CuPy
            self._functions[name] = k
        return self._functions[name]

    def compile(self) -> None:
        self._mod.compile()

    def get_global(self, name: str):
        """File-scope `__constant__`/`__device__` variable `name`.  CuPy: its device
        memory (`cupy.cuda.MemoryPointer`; wrap it as `cupy.ndarray(shape, dtype, ptr)`).
        CPU backend: a NumPy array of the variable's declared type and shape; what it holds
        when a kernel of this module is launched is what the kernel sees (a `__device__`
        variable is copied back after each launch)."""
        return self._mod.get_global(name)

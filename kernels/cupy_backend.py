"""The CuPy backend: a thin layer over `cupy.RawKernel` / `cupy.RawModule`, after the same
argument checks as the CPU backend (CuPy itself does not type-check arguments)."""

from __future__ import annotations

from .errors import CompileError, KernelError
from .marshal import Arg


class CupyModule:
    """`kernel_name` given: one `cupy.RawKernel`; otherwise a `cupy.RawModule`."""

    def __init__(self, code: str, options=(), kernel_name: str | None = None, name_expressions=()):
        import cupy
        self.code = code
        self.options = tuple(options)
        self._functions: dict = {}
        self._module = None
        if kernel_name is not None:
            self._functions[kernel_name] = cupy.RawKernel(code, kernel_name, options=self.options)
        else:
            extra = {"name_expressions": list(name_expressions)} if name_expressions else {}
            self._module = cupy.RawModule(code=code, options=self.options, **extra)

    def compile(self) -> None:
        try:
            if self._module is not None:
                self._module.compile()
            for fn in self._functions.values():
                fn.compile()
        except Exception as e:
            raise _compile_error(e, self.code, "", self.options) from e

    def get_global(self, name: str):
        if self._module is None:
            raise TypeError("get_global needs a RawModule")
        return self._module.get_global(name)

    def function(self, name: str):
        if name not in self._functions:
            if self._module is None:
                raise _compile_error(KeyError(name), self.code, name, self.options)
            try:
                self._functions[name] = self._module.get_function(name)
            except Exception as e:
                raise _compile_error(e, self.code, name, self.options) from e
        fn = self._functions[name]
        if self._module is None:
            try:
                fn.compile()
            except Exception as e:
                raise _compile_error(e, self.code, name, self.options) from e
        return fn

    def launch(self, name: str, grid, block, args: list[Arg], shared_mem: int) -> None:
        fn = self.function(name)
        values = tuple(a.original for a in args)
        try:
            fn(grid, block, values, shared_mem=shared_mem)
        except Exception as e:
            if type(e).__name__ in ("CUDADriverError", "CUDARuntimeError"):
                raise KernelError(f"{name}: {e}", kernel=name) from e
            raise


def _compile_error(e: Exception, code: str, name: str, options) -> Exception:
    if type(e).__name__ == "CompileException":
        return CompileError(f"{name}: {e}", source=code, name=name, options=options, log=str(e))
    if isinstance(e, KeyError):
        return CompileError(f"{name}: this RawKernel was made for another kernel name",
                            source=code, name=name, options=options)
    return e

"""The CuPy backend: a thin layer over `cupy.RawModule`, after the same argument checks."""

from __future__ import annotations

from .errors import CompileError, KernelError
from .marshal import Arg


class CupyModule:
    def __init__(self, code: str, options=()):
        import cupy
        self.code = code
        self.options = tuple(options)
        self._module = cupy.RawModule(code=code, options=self.options)
        self._functions: dict = {}

    def compile(self) -> None:
        try:
            self._module.compile()
        except Exception as e:
            raise _compile_error(e, self.code, "", self.options) from e

    def function(self, name: str):
        if name not in self._functions:
            try:
                self._functions[name] = self._module.get_function(name)
            except Exception as e:
                raise _compile_error(e, self.code, name, self.options) from e
        return self._functions[name]

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
    return e

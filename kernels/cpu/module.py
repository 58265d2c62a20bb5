"""A compiled CPU module: source -> checked C++ -> shared library, cached by hash."""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from pathlib import Path

from ..errors import CompileError
from ..signature import (C_DTYPES, C_VECTORS, Signature, find_globals, find_kernels, instantiate,
                         split_expression)
from . import cache, toolchain
from .translate import entry_symbol, translation_unit

_lock = threading.Lock()

#: Build with GC_TRACE_SHARED (reads of unwritten `__shared__` slots are reported): set
#: only by `kernels.cpu.launch.shared_fill(..., trace=True)`, which `kernels.check` uses
#: to explain a result that depends on the poison; a separate build, never the default.
trace_shared = False

#: Build with GC_RACECHECK (kernels.check's race detector, gc_racecheck.h): set only by
#: `kernels.cpu.launch.racecheck()`; a separate build, never the default.
racecheck = False


def bounds_checks() -> bool:
    """Bounds checks are on unless KERNELS_BOUNDS_CHECK=0 (the fast mode)."""
    return os.environ.get("KERNELS_BOUNDS_CHECK", "1").strip() not in ("0", "false", "off", "no")


@functools.lru_cache(maxsize=None)
def _prelude() -> str:
    return cache.prelude_digest()


class CpuModule:
    """One kernel source, compiled lazily (or by `compile()`) for the CPU backend."""

    def __init__(self, code: str, options=(), filename: str = "module.cu", name_expressions=()):
        if not isinstance(code, str):
            raise TypeError(f"`code` must be a string of CUDA C source, got {type(code).__name__}")
        self.code = code
        self.options = tuple(options)
        self.name_expressions = tuple(" ".join(e.split()) for e in name_expressions or ())
        for e in self.name_expressions:
            split_expression(e)   # ValueError for what is no name
        self._instances: dict[str, Signature] = {}
        self.globals: dict = {}          # name -> host array (get_global)
        self.global_const: dict[str, bool] = {}
        toolchain.user_flags(self.options)  # type-check early
        self.filename = filename
        self.kernels: dict[str, Signature] = find_kernels(code)
        self.lib: Path | None = None
        self._where: tuple | None = None   # (flags, cache dir) `lib` was found for
        self.compile_seconds = 0.0

    def signature(self, name: str) -> Signature:
        """The parameters of kernel `name`: a kernel declared extern "C", or one of the
        module's `name_expressions` (a template instance "k<float>", or a C++ kernel by
        its plain name), as CuPy finds them on a GPU."""
        listed = " ".join(name.split()) in self.name_expressions
        base = split_expression(name)[0] if re.fullmatch(r"\s*\w+\s*(<.*>)?\s*", name, re.S) else name
        sig = self.kernels.get(base)
        fail = lambda why: CompileError(f"{name}: {why}", source=self.code, name=name,
                                        options=self.options)
        if sig is None:
            found = ", ".join(sorted(self.kernels)) or "none"
            raise fail(f"the source defines no `__global__` function named `{base}` (found: {found})")
        if sig.templated:
            if not listed:
                inst = name if "<" in name else f"{base}<float>"
                raise fail(f"`{base}` is a template kernel: name the instance in "
                           f"`RawModule(code=..., name_expressions=[\"{inst}\"])` and get it "
                           f"with get_function(\"{inst}\"), as with CuPy")
            if name not in self._instances:
                self._instances[name] = instantiate(sig, " ".join(name.split()))
            return self._instances[name]
        if not sig.extern_c and not listed:
            raise fail(f"`{base}` is not declared extern \"C\", so on a GPU its symbol is "
                       "name-mangled and CuPy does not find it by its plain name: write "
                       f"`extern \"C\" __global__ void {base}(...)`, or list \"{base}\" in "
                       "RawModule's `name_expressions`")
        return sig

    def flags(self) -> list[str]:
        extra = [] if bounds_checks() else ["-DGC_NO_BOUNDS"]
        return (extra + (["-DGC_TRACE_SHARED"] if trace_shared else [])
                + (["-DGC_RACECHECK"] if racecheck else []))

    def compile(self) -> Path:
        """Build (or find in the cache) the shared library; returns its path."""
        extra = self.flags()
        where = (tuple(extra), os.environ.get("GRADCLIP_CACHE_DIR"))
        if self.lib is not None and self._where == where and self.lib.exists():
            return self.lib   # the launch path: no rehashing of the source each time
        k = cache.key(_prelude(), toolchain.compiler_id(), " ".join(toolchain.BASE_FLAGS + extra),
                      repr(self.options), self.filename, self.code, repr(self.name_expressions))
        lib = cache.cache_root() / k / "kernel.so"
        if self.lib == lib and lib.exists():
            self._where = where
            return lib
        with _lock:
            if lib.exists() and not cache.intact(lib):
                cache.discard(lib)  # changed since it was built: never load it, rebuild
            if not lib.exists():
                lib.parent.mkdir(parents=True, exist_ok=True)
                t0 = time.perf_counter()
                tu = translation_unit(self.code, self.filename, self.name_expressions)
                toolchain.compile_library(tu, self.code, self.filename, self.filename,
                                          self.options, lib, extra)
                self.compile_seconds = time.perf_counter() - t0
                os.chmod(lib, 0o444)
                cache.atomic_write(lib.parent / "meta.json", json.dumps(
                    {"kernels": sorted(self.kernels), "seconds": self.compile_seconds,
                     "compiler": toolchain.compiler_id(),
                     "sha256": cache.digest(lib)}).encode())
        self.lib = lib
        self._where = where
        return lib

    def symbol(self, name: str) -> str:
        return entry_symbol(name)

    def get_global(self, name: str):
        """The host copy of file-scope `__constant__`/`__device__` variable `name`, a NumPy
        array of its declared type and shape: copied into the kernel library before every
        launch of this module, and (`__device__` ones) back after it."""
        import numpy as np
        if name in self.globals:
            return self.globals[name]
        var = find_globals(self.code).get(name)
        if var is None:
            raise CompileError(f"{name}: the source defines no file-scope `__constant__` or "
                               f"`__device__` variable `{name}` with a literal size",
                               source=self.code, name=name, options=self.options)
        dt = C_DTYPES.get(var.ctype)
        if dt is None and var.ctype in C_VECTORS:
            dt = np.dtype((C_VECTORS[var.ctype][0], (C_VECTORS[var.ctype][1],)))
        if dt is None:
            raise CompileError(f"{name}: get_global on the CPU backend supports variables of basic "
                               f"and vector types, not `{var.ctype}`", source=self.code, name=name,
                               options=self.options)
        self.globals[name] = arr = np.zeros(var.shape, dt)
        self.global_const[name] = var.constant
        return arr

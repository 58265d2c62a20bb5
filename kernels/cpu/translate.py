"""The translation unit for one kernel source: prelude, the learner's lines, entry points."""

from __future__ import annotations

from ..signature import Signature, find_kernels, needs_fibers
from .rewrite import rewrite

PRELUDE = "gradclip_cuda.h"
LAUNCH_FILE = "<gradclip-launch>"


def entry_symbol(name: str) -> str:
    return f"gc_launch__{name}"


def translation_unit(code: str, filename: str) -> str:
    """C++ source: `#line` maps the learner's code to `filename`, line for line."""
    kernels = [s for s in find_kernels(code).values() if not s.templated]
    fibers = "true" if needs_fibers(code) else "false"
    parts = [f'#include "{PRELUDE}"', f'#line 1 "{filename}"', rewrite(code), "",
             f'#line 1 "{LAUNCH_FILE}"']
    for sig in kernels:
        parts.append(_entry(sig, fibers))
    return "\n".join(parts) + "\n"


def _entry(sig: Signature, fibers: str) -> str:
    names = ", ".join(f'"{n}"' for n in sig.names) or '""'
    return (f"GC_EXPORT int {entry_symbol(sig.name)}(::gc::LaunchDesc* d) {{\n"
            f"    static const char* const names[] = {{{names}}};\n"
            f"    return ::gc::launch_kernel(&{sig.name}, d, names, {fibers});\n}}")

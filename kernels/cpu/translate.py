"""The translation unit for one kernel source: prelude, the learner's lines, entry points."""

from __future__ import annotations

import re

from ..signature import (Signature, find_globals, find_kernels, instantiate, mask_source, needs_fibers,
                         split_expression)
from .rewrite import rewrite

PRELUDE = "gradclip_cuda.h"
LAUNCH_FILE = "<gradclip-launch>"


# Names that libstdc++'s <math.h> puts in the global namespace (C++17 special functions,
# C++20 std::lerp) but CUDA does not define: a kernel source may define its own (the
# samples' helper_math.h has a `lerp`).  Renamed in the learner's code only.
_STD_ONLY = ["lerp", "beta", "expint", "hermite", "laguerre", "legendre", "riemann_zeta",
             "assoc_laguerre", "assoc_legendre", "comp_ellint_1", "comp_ellint_2",
             "comp_ellint_3", "cyl_bessel_i", "cyl_bessel_j", "cyl_bessel_k", "cyl_neumann",
             "ellint_1", "ellint_2", "ellint_3", "sph_bessel", "sph_legendre", "sph_neumann"]
RENAMES = [f"#define {n} gc_user_{n}" for n in _STD_ONLY]


def entry_symbol(name: str) -> str:
    """The entry point of kernel `name` (a template instance's `<`, `,`... spelled out)."""
    return "gc_launch__" + "".join(c if c.isalnum() or c == "_" else f"_{ord(c):02x}"
                                   for c in name.replace(" ", ""))


def global_symbol(name: str) -> str:
    return f"gc_global__{name}"


def translation_unit(code: str, filename: str, name_expressions=()) -> str:
    """C++ source: `#line` maps the learner's code to `filename`, line for line; an entry
    point per kernel, and per template instance in `name_expressions` (e.g. "k<float>")."""
    found = find_kernels(code)
    kernels = [s for s in found.values() if not s.templated]
    fibers = fiber_kernels(code)
    parts = [f'#include "{PRELUDE}"', *RENAMES, f'#line 1 "{filename}"', rewrite(code), "",
             f'#line 1 "{LAUNCH_FILE}"']
    for sig in kernels:
        parts.append(_entry(sig, "true" if fibers is None or sig.name in fibers else "false"))
    for var in find_globals(code).values():   # RawModule.get_global: the variable's address
        parts.append(f'GC_EXPORT void* {global_symbol(var.name)}() {{ return (void*)&{var.name}; }}')
    for expr in name_expressions:
        base, targs = split_expression(expr)
        sig = found.get(base)
        if sig is None or not sig.templated or not targs:
            continue
        inst = instantiate(sig, expr)
        parts.append(_entry(inst, "true" if fibers is None or base in fibers else "false",
                            f"{base}<{', '.join(targs)}>"))
    return "\n".join(parts) + "\n"


_BARRIER = re.compile(r"__syncthreads|__syncwarp|__shfl|__ballot_sync|__any_sync|__all_sync"
                      r"|__activemask|__lanemask|\bvolatile\b|cooperative_groups")
_IDENT = re.compile(r"[A-Za-z_]\w*")


def _functions(masked: str) -> list[tuple[str, int, int, int]] | None:
    """(name, header start, body start, body end) of every function defined at the top
    level of `masked`; None if the braces do not balance."""
    found, depth, i, n = [], 0, 0, len(masked)
    while i < n:
        c = masked[i]
        if c == "{" and depth == 0:
            close = _matching_brace(masked, i)
            if close < 0:
                return None
            head = masked[:i].rstrip()
            if head.endswith(")"):
                try:
                    lo = _matching_open(masked, len(head) - 1)
                except ValueError:
                    return None
                m = re.search(r"(\w+)\s*$", masked[:lo])
                if m:
                    found.append((m.group(1), m.start(1), i, close + 1))
            i = close + 1
            continue
        if c == "}":
            return None
        i += 1
    return found


def _matching_open(text: str, close_at: int) -> int:
    depth = 0
    for i in range(close_at, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def _matching_brace(text: str, at: int) -> int:
    depth = 0
    for i in range(at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def fiber_kernels(code: str) -> set[str] | None:
    """Names of the kernels that need the fiber scheduler: those whose body uses a barrier
    or warp operation, directly or through functions of the source that do (by name, a
    conservative textual check).  The others run their threads as plain calls.  None: every
    kernel uses fibers (a barrier name appears outside the top-level function bodies, e.g.
    in a macro, or the source is not understood)."""
    if not needs_fibers(code):
        return set()
    masked = mask_source(code)
    funcs = _functions(masked)
    if not funcs or not set(find_kernels(code)) <= {f[0] for f in funcs}:
        return None
    outside, pos = [], 0
    for _, start, _, end in funcs:
        outside.append(masked[pos:start])
        pos = end
    outside.append(masked[pos:])
    bodies: dict[str, str] = {}
    for name, start, body, end in funcs:
        bodies[name] = bodies.get(name, "") + " " + masked[start:end]
    uses = {name: set(_IDENT.findall(text)) for name, text in bodies.items()}
    syncing = {name for name, text in bodies.items() if _BARRIER.search(text)}
    changed = True
    while changed:
        changed = False
        for name, ids in uses.items():
            if name not in syncing and ids & syncing:
                syncing.add(name)
                changed = True
    glob = " ".join(outside)
    if _BARRIER.search(glob) or set(_IDENT.findall(glob)) & syncing:
        return None
    return syncing


def _entry(sig: Signature, fibers: str, function: str | None = None) -> str:
    names = ", ".join(f'"{n}"' for n in sig.names) or '""'
    return (f"GC_EXPORT int {entry_symbol(sig.name)}(::gc::LaunchDesc* d) {{\n"
            f"    static const char* const names[] = {{{names}}};\n"
            f"    return ::gc::launch_kernel(&{function or sig.name}, d, names, {fibers});\n}}")

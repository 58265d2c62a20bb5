"""Line-preserving rewrites of kernel source into checked C++.

- every single-level pointer parameter of a `__global__`/`__device__` function, and every
  local `T* p = ...`, becomes `::gc::ptr<T>` (base, extent and name travel with it);
- `__shared__ T s[N]` becomes a bounds-checked `::gc::shared_array` (in a function body,
  followed on the same line by `::gc::shared_enter`, which fills it with the poison byte
  when a new block first passes there), and `extern __shared__ T s[]` a view of the
  block's dynamic shared memory (filled at each block start);
- `reinterpret_cast<T*>` of a checked pointer keeps the checks.

Matching runs on a copy with comments and strings blanked, so offsets stay valid, and no
rewrite adds or removes a newline: compiler messages keep the learner's line numbers.
"""

from __future__ import annotations

import re

from ..signature import function_params, mask_source, split_params
from ..signature import _strip_default as strip_default

_KEYWORDS = {"return", "else", "case", "goto", "delete", "throw", "typedef", "do", "sizeof",
             "new", "operator", "using", "namespace"}


def _apply(code: str, edits: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for a, b, text in sorted(edits, key=lambda e: (e[0], -e[1])):   # at one start, the longest
        if a < pos:
            continue  # overlapping edit: the first one wins
        out.append(code[pos:a])
        out.append(text + "\n" * code[a:b].count("\n"))
        pos = b
    out.append(code[pos:])
    return "".join(out)


def _pointer_param(text: str) -> str | None:
    """`const float* __restrict__ g` -> `::gc::ptr<const float> g` (None: leave it); a
    default argument (`int* p = NULL`) is kept."""
    head = strip_default(text)
    if head != text:
        new = _pointer_param(head)
        default = re.sub(r"=\s*(?:NULL|0|0L)\s*$", "= nullptr", text[len(head):])
        return None if new is None else f"{new} {default.lstrip()}"
    if text.count("*") != 1 or any(c in text for c in "[&()"):
        return None
    before, after = text.split("*")
    ptype = re.sub(r"\b(__restrict__|__restrict|restrict)\b", " ", before).strip()
    names = re.findall(r"[A-Za-z_]\w*", after)
    names = [n for n in names if n not in ("__restrict__", "__restrict", "restrict", "const")]
    if not ptype or ptype in ("void", "const void") or ptype.startswith("::gc"):
        return None
    if ptype.split()[-1] in ("auto",):
        return None
    self_const = "const " if re.search(r"\bconst\b", after) else ""
    name = names[-1] if names else ""
    return f"{self_const}::gc::ptr<{ptype}> {name}"


def _param_edits(code: str, masked: str) -> list[tuple[int, int, str]]:
    edits = []
    for m in re.finditer(r"\b(__global__|__device__)\b", masked):
        found = function_params(masked, m.end())
        if not found:
            continue
        _, lo, hi = found
        inner = masked[lo + 1:hi]
        for a, b in split_params(inner):
            new = _pointer_param(inner[a:b])
            if new is not None:
                lead = len(inner[a:b]) - len(inner[a:b].lstrip())
                edits.append((lo + 1 + a + lead, lo + 1 + b, new))
    return edits


_LOCAL = re.compile(
    r"(?<=[;{}(\n])(\s*)((?:const\s+|volatile\s+)*)((?:unsigned\s+|signed\s+|long\s+|short\s+)*[A-Za-z_]\w*)"
    r"(\s*\*\s*)((?:__restrict__\s+|__restrict\s+|const\s+)*)([A-Za-z_]\w*)(\s*=)(?!=)")


def _local_edits(masked: str) -> list[tuple[int, int, str]]:
    edits = []
    for m in _LOCAL.finditer(masked):
        lead, quals, ptype, _, _, name, eq = m.groups()
        if ptype.split()[-1] in _KEYWORDS or ptype in ("void",) or "::" in ptype:
            continue
        start = m.start(2)
        if ptype == "auto":
            edits.append((start, m.end(), f"auto {name}{eq}"))
        else:
            edits.append((start, m.end(), f"::gc::ptr<{quals}{ptype}> {name}{eq}"))
    return edits


_ALIGN = r"(?:(?:__align__|alignas)\s*\((?:[^()]|\([^()]*\))*\)\s*)?"
_SHARED = re.compile(
    r"\b(extern\s+)?__shared__\s+(" + _ALIGN + r")((?:const\s+|volatile\s+|unsigned\s+|signed\s+|long\s+|short\s+)*"
    r"[A-Za-z_][\w:]*)\s+(" + _ALIGN + r")([A-Za-z_]\w*)\s*((?:\[[^\]\n]*\]\s*)+);")


# `extern float __shared__ s[];`, `float __shared__ s[N];`: the qualifier after the type.
_SHARED_AFTER = re.compile(
    r"\b(extern\s+)?((?:const\s+|volatile\s+|unsigned\s+|signed\s+|long\s+|short\s+)*"
    r"[A-Za-z_][\w:]*)\s+__shared__\s+(" + _ALIGN + r")()([A-Za-z_]\w*)\s*((?:\[[^\]\n]*\]\s*)+);")


def _shared_matches(masked: str):
    """(match, groups) of every `__shared__` array declaration, in either word order."""
    for m in _SHARED.finditer(masked):
        yield m, m.groups()
    for m in _SHARED_AFTER.finditer(masked):
        extern, ctype, align1, align2, name, dims = m.groups()
        if ctype in ("extern", "static") or ctype in _KEYWORDS:
            continue
        yield m, (extern, align1, ctype, align2, name, dims)


def _shared_edits(masked: str) -> list[tuple[int, int, str]]:
    edits = []
    for m, groups in _shared_matches(masked):
        extern, align1, ctype, align2, name, dims = groups
        sizes = re.findall(r"\[([^\]]*)\]", dims)
        lit = f'::gc::lit{{"{name}"}}'
        align = (align1 or align2 or "").strip().replace("__align__", "alignas")
        if extern:
            if len(sizes) != 1 or sizes[0].strip():
                continue
            edits.append((m.start(), m.end(), f"::gc::extern_shared<{ctype}, {lit}> {name};"))
            continue
        if any(not s.strip() for s in sizes):
            continue
        t = ctype
        for s in reversed(sizes):
            t = f"::gc::shared_array<{t}, ({s}), {lit}>"
        decl = f"{align + ' ' if align else ''}static thread_local {t} {name};"
        if _in_function(masked, m.start()):
            # filled with the poison byte when a new block first passes here
            decl += (f" static thread_local unsigned long long {name}__gc_block;"
                     f" ::gc::shared_enter(&{name}, sizeof({name}), {name}__gc_block);")
        edits.append((m.start(), m.end(), decl))
    return edits


_SCOPE_OPENER = re.compile(r"(\bnamespace\b[\s\w:]*|\bextern\s*\"[^\"\n]*\"\s*"
                           r"|\b(?:struct|class|union)\b[^;{}()]*)$")


def _in_function(masked: str, pos: int) -> bool:
    """Whether `pos` lies in a function body (where a statement may follow a declaration),
    not at file scope nor directly in a namespace, `extern "C" {}` or class body."""
    depth_opens: list[int] = []
    for m in re.finditer(r"[{}]", masked[:pos]):
        if m.group() == "{":
            depth_opens.append(m.start())
        elif depth_opens:
            depth_opens.pop()
    if not depth_opens:
        return False
    before = masked[max(0, depth_opens[-1] - 200):depth_opens[-1]].rstrip()
    return not _SCOPE_OPENER.search(before)


def _cast_edits(masked: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), "::gc::ptr_cast<")
            for m in re.finditer(r"\breinterpret_cast\s*<(?=[^<>;]*\*\s*>)", masked)]


def rewrite(code: str) -> str:
    """The checked-C++ version of kernel `code`, line for line."""
    masked = mask_source(code)
    edits = _param_edits(code, masked) + _shared_edits(masked) + _local_edits(masked) + _cast_edits(masked)
    return _apply(code, edits)

"""Find the `__global__` functions in CUDA C source and parse their parameter lists.

The parse is what the argument checks compare against: it knows each parameter's name,
its C type, and whether it is a pointer (and to const data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

# C type -> numpy dtype of the same width (LP64: long is 64-bit).
C_DTYPES: dict[str, np.dtype] = {
    **{k: np.dtype(v) for k, v in {
        "float": "float32", "double": "float64", "bool": "bool",
        "char": "int8", "signed char": "int8", "unsigned char": "uint8",
        "short": "int16", "unsigned short": "uint16",
        "int": "int32", "unsigned int": "uint32",
        "long": "int64", "unsigned long": "uint64",
        "long long": "int64", "unsigned long long": "uint64",
        "int8_t": "int8", "uint8_t": "uint8", "int16_t": "int16", "uint16_t": "uint16",
        "int32_t": "int32", "uint32_t": "uint32", "int64_t": "int64", "uint64_t": "uint64",
        "size_t": "uint64", "ptrdiff_t": "int64", "__half": "float16", "half": "float16",
        # glibc's <sys/types.h> names, which CUDA sources use as if built in
        "uint": "uint32", "ushort": "uint16", "ulong": "uint64",
    }.items()},
}
# bfloat16 has no numpy dtype: arrays of its bits (uint16) or ml_dtypes.bfloat16 pass.
BF16_TYPES = {"__nv_bfloat16", "nv_bfloat16"}
# Vector types: (element dtype, element count) -- a float4* may point into a float32 array.
C_VECTORS: dict[str, tuple[np.dtype, int]] = {
    f"{base}{n}": (np.dtype(dt), n)
    for base, dt in [("float", "float32"), ("double", "float64"), ("int", "int32"),
                     ("uint", "uint32"), ("longlong", "int64")]
    for n in (2, 3, 4)
}

_QUALIFIERS = {"const", "volatile", "__restrict__", "__restrict", "restrict", "struct", "signed"}


@dataclass(frozen=True)
class Param:
    """One kernel parameter: `float* __restrict__ g` is Param("g", "float", pointer=True)."""

    name: str
    ctype: str
    pointer: bool
    const: bool
    text: str

    @property
    def decl(self) -> str:
        """How the parameter is declared, e.g. `const float*`."""
        star = "*" if self.pointer else ""
        return f"{'const ' if self.const else ''}{self.ctype}{star}"

    @property
    def dtype(self) -> np.dtype | None:
        if self.ctype in C_DTYPES:
            return C_DTYPES[self.ctype]
        if self.ctype in C_VECTORS:
            return C_VECTORS[self.ctype][0]
        return None

    @property
    def itemsize(self) -> int | None:
        """Bytes of one pointee (for a pointer) or of the value."""
        if self.ctype in BF16_TYPES:
            return 2
        if self.ctype in C_VECTORS:
            dt, n = C_VECTORS[self.ctype]
            return dt.itemsize * n
        dt = self.dtype
        return None if dt is None else dt.itemsize


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]
    line: int
    templated: bool = False
    extern_c: bool = True                   # declared extern "C" (else its symbol is mangled)
    template_params: tuple[str, ...] = ()   # `template <class T, int N>`: ("T", "N")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def split_expression(expr: str) -> tuple[str, list[str]]:
    """`"fx3<float, 4>"` -> ("fx3", ["float", "4"]); a plain name has no arguments."""
    expr = expr.strip()
    m = re.fullmatch(r"([A-Za-z_]\w*)\s*(?:<(.*)>)?", expr, re.S)
    if not m:
        raise ValueError(f"{expr!r} is not a kernel name or a template instance like 'k<float>'")
    if m.group(2) is None:
        return m.group(1), []
    inner = m.group(2)
    return m.group(1), [" ".join(inner[a:b].split()) for a, b in split_params(inner)]


def instantiate(sig: Signature, expr: str) -> Signature:
    """The signature of template kernel instance `expr` (e.g. "fx3<float>"): template
    type parameters in the parameter list replaced by the instance's arguments."""
    name, targs = split_expression(expr)
    if len(targs) > len(sig.template_params):
        raise ValueError(f"{expr}: `{name}` takes {len(sig.template_params)} template "
                         f"argument(s), {len(targs)} given")
    subst = dict(zip(sig.template_params, targs))
    params = []
    for p in sig.params:
        base = p.ctype.rstrip("*")
        if base in subst:
            p = replace(p, ctype=_canonical(subst[base]) + p.ctype[len(base):])
        params.append(p)
    return replace(sig, name=expr, params=tuple(params), templated=False)


def resolve(code: str, expr: str, kernels: dict[str, Signature] | None = None) -> Signature | None:
    """The signature of `expr`, a kernel name or a template instance ("k<float>")."""
    kernels = find_kernels(code) if kernels is None else kernels
    try:
        name, targs = split_expression(expr)
    except ValueError:
        return None
    sig = kernels.get(name)
    if sig is None or not (targs or sig.templated):
        return sig
    return instantiate(sig, expr) if sig.templated else None


def mask_source(code: str) -> str:
    """`code` with comments and string/char literals blanked to spaces (newlines kept),
    so that offsets and line numbers stay those of the original."""
    out = list(code)
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            j = n if j < 0 else j
        elif code.startswith("/*", i):
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and code[j] != c and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            j = min(j + 1, n)
            # keep the quotes so `extern "C"` still reads as a string token
            for k in range(i + 1, j - 1):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        else:
            i += 1
            continue
        for k in range(i, j):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


def matching_paren(text: str, open_at: int) -> int:
    """Index of the `)` matching the `(` at `open_at`."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def split_params(text: str) -> list[tuple[int, int]]:
    """Spans of the top-level comma-separated items of a parameter list."""
    spans, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "(<[":
            depth += 1
        elif c in ")>]":
            depth -= 1
        elif c == "," and depth == 0:
            spans.append((start, i))
            start = i + 1
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


_FUNC = re.compile(r"\b__global__\b")
_SKIP_CALLS = {"__launch_bounds__", "__align__", "alignas", "__attribute__", "__declspec"}


def function_params(masked: str, qualifier_at: int) -> tuple[str, int, int] | None:
    """After a `__global__`/`__device__` at `qualifier_at`: (name, open, close) of the
    function's parameter list, or None if it declares a variable."""
    i = qualifier_at
    while True:
        m = re.compile(r"[(;={]").search(masked, i)
        if not m or m.group() != "(":
            return None
        before = re.search(r"(\w+)\s*$", masked[:m.start()])
        if before and before.group(1) in _SKIP_CALLS:
            i = matching_paren(masked, m.start()) + 1
            continue
        if not before:
            return None
        return before.group(1), m.start(), matching_paren(masked, m.start())


def _strip_default(text: str) -> str:
    """`int* p = NULL` -> `int* p` (a default argument, at the top level of the item)."""
    depth = 0
    for i, c in enumerate(text):
        if c in "(<[":
            depth += 1
        elif c in ")>]":
            depth -= 1
        elif c == "=" and depth == 0:
            return text[:i]
    return text


_TYPEDEF = re.compile(r"\btypedef\s+([A-Za-z_][\w\s]*?)\s+([A-Za-z_]\w*)\s*;")
_USING = re.compile(r"\busing\s+([A-Za-z_]\w*)\s*=\s*([A-Za-z_][\w\s]*?)\s*;")


def typedefs(masked: str) -> dict[str, str]:
    """Scalar aliases the source defines (`typedef unsigned int uint_t;`, `using real =
    float;`), resolved to the C type they name."""
    found: dict[str, str] = {}
    pairs = [(m.group(2), m.group(1)) for m in _TYPEDEF.finditer(masked)]
    pairs += [(m.group(1), m.group(2)) for m in _USING.finditer(masked)]
    for alias, target in pairs:
        ctype = _canonical(" ".join(w for w in target.split() if w not in _QUALIFIERS))
        found[alias] = found.get(ctype, ctype)
    return found


def _canonical(ctype: str) -> str:
    ctype = re.sub(r"\bunsigned$", "unsigned int", ctype)
    ctype = re.sub(r"\b(long long|long|short) int$", r"\1", ctype)
    return "unsigned int" if ctype == "unsigned" else ctype


def parse_param(text: str, index: int) -> Param:
    text = _strip_default(text)
    tokens = re.findall(r"[A-Za-z_]\w*|\*|&|\[|\]|::|<|>", text)
    stars = tokens.count("*") + tokens.count("[")
    idents = [t for t in tokens if re.match(r"[A-Za-z_]", t)]
    name = f"arg{index}"
    words = [t for t in idents if t not in _QUALIFIERS]
    if len(words) >= 2 and not (stars == 0 and len(words) == 1):
        name = words[-1]
        words = words[:-1]
    first_star = tokens.index("*") if "*" in tokens else len(tokens)
    const = "const" in tokens[:first_star]
    ctype = _canonical(" ".join(words))
    if "&" in tokens or "::" in tokens or "<" in tokens:
        ctype = text.strip()  # references and templates are reported as unsupported
    if stars > 1:
        ctype = ctype + "*" * (stars - 1)
    return Param(name=name, ctype=ctype, pointer=stars >= 1, const=const and stars >= 1,
                 text=" ".join(text.split()))


def find_kernels(code: str) -> dict[str, Signature]:
    """All `__global__` functions defined in `code`, by name."""
    masked = mask_source(code)
    aliases = typedefs(masked)
    kernels: dict[str, Signature] = {}
    for m in _FUNC.finditer(masked):
        found = function_params(masked, m.end())
        if not found:
            continue
        name, lo, hi = found
        inner = code[lo + 1:hi]
        inner_masked = masked[lo + 1:hi]
        params = []
        for k, (a, b) in enumerate(split_params(inner_masked)):
            text = inner_masked[a:b]
            if text.strip() == "void":
                continue
            p = parse_param(text, k)
            base = p.ctype.rstrip("*")
            if base in aliases:
                p = replace(p, ctype=aliases[base] + p.ctype[len(base):])
            params.append(p)
        start = max(masked.rfind(";", 0, m.start()), masked.rfind("}", 0, m.start()),
                    masked.rfind("{", 0, m.start()))
        head = masked[start + 1:m.start()]
        tmpl = _template_params(head)
        line = code.count("\n", 0, m.start()) + 1
        del inner
        # a definition keeps the linkage an earlier declaration gave it
        extern_c = _extern_c(masked, m.start(), head) or (name in kernels and kernels[name].extern_c)
        kernels[name] = Signature(name, tuple(params), line, tmpl is not None, extern_c, tmpl or ())
    return kernels


def _template_params(head: str) -> tuple[str, ...] | None:
    """Names of the template parameters declared in `head` (None: not a template)."""
    m = re.search(r"\btemplate\s*<", head)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(head) and depth:
        depth += {"<": 1, ">": -1}.get(head[i], 0)
        i += 1
    inner = head[m.end():i - 1]
    names = []
    for a, b in split_params(inner):
        item = _strip_default(inner[a:b])
        words = re.findall(r"[A-Za-z_]\w*", item)
        if words:
            names.append(words[-1])
    return tuple(names)


def _extern_c(masked: str, at: int, head: str) -> bool:
    """Whether the function at `at` is declared extern "C", directly or in a block."""
    if re.search(r'\bextern\s*"\s*C?\s*"', head):
        return True
    opens: list[int] = []
    for m in re.finditer(r"[{}]", masked[:at]):
        if m.group() == "{":
            opens.append(m.start())
        elif opens:
            opens.pop()
    return any(re.search(r'\bextern\s*"\s*C?\s*"\s*$', masked[max(0, o - 40):o]) for o in opens)


@dataclass(frozen=True)
class Global:
    """A file-scope `__constant__` or `__device__` variable: `__constant__ float c[16];`."""

    name: str
    ctype: str
    shape: tuple[int, ...]
    constant: bool
    line: int


_GLOBAL = re.compile(r"\b(__constant__|__device__)\s+((?:const\s+|volatile\s+|unsigned\s+|signed\s+|"
                     r"long\s+|short\s+)*[A-Za-z_]\w*)\s+([A-Za-z_]\w*)\s*((?:\[[^\]\n]*\]\s*)*)\s*[=;]")


def find_globals(code: str) -> dict[str, Global]:
    """The `__constant__`/`__device__` variables at file scope whose size is a literal."""
    masked = mask_source(code)
    found: dict[str, Global] = {}
    for m in _GLOBAL.finditer(masked):
        depth = masked.count("{", 0, m.start()) - masked.count("}", 0, m.start())
        if depth != 0:
            continue
        ctype = _canonical(" ".join(w for w in m.group(2).split() if w not in _QUALIFIERS))
        if ctype in ("void", "inline") or m.group(2).split()[-1] in ("__device__", "__global__"):
            continue
        dims = re.findall(r"\[([^\]]*)\]", m.group(4))
        try:
            shape = tuple(int(d.strip().rstrip("uUlL"), 0) for d in dims)
        except ValueError:
            continue
        found[m.group(3)] = Global(m.group(3), ctype, shape, m.group(1) == "__constant__",
                                   code.count("\n", 0, m.start()) + 1)
    return found


def needs_fibers(code: str) -> bool:
    """Whether the source uses a barrier, a warp operation or `volatile` (whose accesses run
    lane by lane in step, gc_sched.h); else threads run as plain calls."""
    return bool(re.search(r"__syncthreads|__syncwarp|__shfl|__ballot_sync|__any_sync|__all_sync"
                          r"|__activemask|__lanemask|\bvolatile\b|cooperative_groups", mask_source(code)))

"""Three text sources of different structure, built from files that ship with Python.

* ``repo-docs``: function and class docstrings of stdlib modules rendered as bulleted lists
  (list-structured, like a repository's API docs);
* ``prose``: module docstrings of the same modules, reflowed into long paragraphs;
* ``qa``: generated question/answer pairs (arithmetic and stdlib facts), from a fixed seed.

Docstrings are read with ``ast`` from the stdlib source files (nothing is imported or
downloaded). Their bytes depend on the Python version, so every trace records
:func:`source_hashes`; a run is only reproducible where the hashes match.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import random
import sysconfig
from pathlib import Path

SOURCE_NAMES = ("repo-docs", "prose", "qa")

# Pure-Python stdlib modules with rich docstrings; order fixes the bytes.
MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections/__init__", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email/message",
    "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "heapq", "hmac", "http/client", "imaplib", "inspect", "ipaddress", "json/__init__",
    "logging/__init__", "mailbox", "mimetypes", "ntpath", "numbers", "optparse", "pathlib",
    "pickle", "platform", "poplib", "posixpath", "pprint", "queue", "random", "shlex",
    "shutil", "smtplib", "socket", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "timeit", "tokenize", "traceback", "types",
    "typing", "unittest/case", "urllib/parse", "uuid", "warnings", "weakref", "zipfile",
)


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _parse(module: str) -> ast.Module | None:
    path = _stdlib() / f"{module}.py"
    if not path.exists():
        return None
    return ast.parse(path.read_text(encoding="utf-8"))


def _one_line(doc: str) -> str:
    return " ".join(doc.split())


def _repo_docs_module(module: str, tree: ast.Module) -> str:
    lines = [f"## {module.replace('/__init__', '').replace('/', '.')}", ""]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if not doc:
                continue
            head, _, rest = doc.partition("\n\n")
            lines.append(f"- `{node.name}`: {_one_line(head)}")
            for para in rest.split("\n\n")[:2]:
                if para.strip():
                    lines.append(f"  - {_one_line(para)}")
    return "\n".join(lines) + "\n\n" if len(lines) > 2 else ""


def _prose_module(tree: ast.Module) -> str:
    docs = [ast.get_docstring(tree) or ""]
    docs += [ast.get_docstring(n) or "" for n in tree.body
             if isinstance(n, ast.ClassDef)]
    paragraphs = []
    for doc in docs:
        for para in doc.split("\n\n"):
            words = para.split()
            # Keep paragraphs that read as sentences, not tables or code.
            if len(words) >= 12 and not para.lstrip().startswith((">>>", "-", "*", "|")):
                paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs) + "\n\n" if paragraphs else ""


_QA_TEMPLATES = (
    ("What is {a} plus {b}?", "{a} plus {b} is {s}."),
    ("What is {a} times {b}?", "{a} times {b} is {p}."),
    ("Is {a} larger than {b}?", "{yes}, {a} is {rel} {b}."),
    ("Which module would you import to work with {topic}?", "You would import `{mod}`."),
    ("How many letters are in the word \"{word}\"?", "The word \"{word}\" has {n} letters."),
)
_TOPICS = (("regular expressions", "re"), ("dates and times", "datetime"),
           ("JSON data", "json"), ("random numbers", "random"), ("file paths", "pathlib"),
           ("command-line options", "argparse"), ("compressed files", "gzip"),
           ("heaps", "heapq"), ("CSV files", "csv"), ("threads", "threading"),
           ("decimal arithmetic", "decimal"), ("temporary files", "tempfile"))


def _qa(n_pairs: int = 6000, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = [w for w in " ".join(SOURCE_NAMES + tuple(t for t, _ in _TOPICS)).split() if w.isalpha()]
    out = []
    for _ in range(n_pairs):
        q, a = rng.choice(_QA_TEMPLATES)
        x, y = rng.randint(2, 99), rng.randint(2, 99)
        topic, mod = rng.choice(_TOPICS)
        word = rng.choice(words)
        fields = dict(a=x, b=y, s=x + y, p=x * y, yes="Yes" if x > y else "No",
                      rel="larger than" if x > y else "not larger than", topic=topic, mod=mod,
                      word=word, n=len(word))
        out.append(f"Q: {q.format(**fields)}\nA: {a.format(**fields)}\n\n")
    return "".join(out)


@functools.lru_cache(maxsize=1)
def build_sources() -> dict[str, bytes]:
    """The three sources as UTF-8 bytes, keyed by name (cached)."""
    repo, prose = [], []
    for module in MODULES:
        tree = _parse(module)
        if tree is None:
            continue
        repo.append(_repo_docs_module(module, tree))
        prose.append(_prose_module(tree))
    texts = {"repo-docs": "".join(repo), "prose": "".join(prose), "qa": _qa()}
    return {name: texts[name].encode("utf-8") for name in SOURCE_NAMES}


def source_hashes(sources: dict[str, bytes] | None = None) -> dict[str, str]:
    """SHA-256 (first 16 hex digits) of each source's bytes."""
    sources = build_sources() if sources is None else sources
    return {name: hashlib.sha256(data).hexdigest()[:16] for name, data in sources.items()}

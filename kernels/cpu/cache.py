"""Where compiled kernels live: `build/kernels-cache/` at the repository root, or
`$GRADCLIP_CACHE_DIR`; one folder per source hash, written atomically.

A library is built read-only and its SHA-256 kept beside it (`meta.json`); before a cached
library is loaded its hash is checked (`intact`), and one that changed is rebuilt, so a
cache another process could write cannot hand this one different code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cache_root() -> Path:
    env = os.environ.get("GRADCLIP_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        repo = HERE.parents[1]
        root = repo / "build" / "kernels-cache"
        if not os.access(repo, os.W_OK) and not root.exists():
            root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gradclip" / "kernels"
    root.mkdir(parents=True, exist_ok=True)
    return root


def prelude_digest() -> str:
    """Hash of every prelude header and of the source-to-C++ translator: editing one
    invalidates the cache."""
    h = hashlib.sha256()
    translator = [HERE / "rewrite.py", HERE / "translate.py", HERE.parent / "signature.py"]
    for p in sorted(HERE.glob("*.h")) + sorted((HERE / "include").rglob("*.h")) + translator:
        h.update(str(p.relative_to(HERE.parent)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def intact(lib: Path) -> bool:
    """`lib` is what was built: its hash is the one recorded when it was compiled."""
    try:
        recorded = json.loads((lib.parent / "meta.json").read_text()).get("sha256")
    except (OSError, ValueError):
        return False
    return bool(recorded) and not lib.is_symlink() and digest(lib) == recorded


def discard(lib: Path) -> None:
    """Remove a cache entry (its whole folder) so it is built again."""
    shutil.rmtree(lib.parent, ignore_errors=True)

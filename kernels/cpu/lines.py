"""Map a code address in a compiled kernel to the learner's source line (addr2line over
the `-g1` line tables; `#line` directives make them point at the learner's file)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess


@functools.lru_cache(maxsize=None)
def _tool() -> str | None:
    return shutil.which("addr2line") or shutil.which("llvm-addr2line")


def source_line(lib: str, offset: int, filename: str) -> int | None:
    """The line in `filename` that the code at `offset` in `lib` came from (None if unknown)."""
    tool = _tool()
    if tool is None or offset < 0:
        return None
    try:
        out = subprocess.run([tool, "-e", lib, "-i", hex(offset)], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        m = re.match(r"^(.*):(\d+)", line.strip())
        if m and os.path.basename(m.group(1)) == filename:
            return int(m.group(2))
    return None

"""A sandbox per graded notebook: the learner's kernel and all it starts, fenced in.

`Sandbox(...).command(argv)` wraps a command line in bubblewrap (Debian's `bubblewrap`):
its own mount, PID, network, IPC and UTS namespaces; the system, the Python install, the
venv and the learner-side packages (`course`, `kernels`) read-only; one private, writable
home holding only that submission; no `autograder/`, `lessons/`, `build/` or network;
resource limits; and, when the grader runs as root, an unprivileged uid of its own.
`available()` says whether this machine can sandbox (and why not).
"""

from .bwrap import Sandbox, SandboxUnavailable, available, require
from .slots import uid_slot

__all__ = ["Sandbox", "SandboxUnavailable", "available", "require", "uid_slot"]

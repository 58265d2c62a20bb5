"""The exceptions a kernel can raise, shaped like CuPy's."""

from __future__ import annotations


class CompileError(Exception):
    """The kernel source did not compile. `log` is the compiler's output, filtered to the
    learner's own source lines (like `cupy.cuda.compiler.CompileException`)."""

    def __init__(self, message: str, *, source: str = "", name: str = "", options=(), log: str = ""):
        super().__init__(message)
        self.source = source
        self.name = name
        self.options = tuple(options)
        self.log = log

    def get_message(self) -> str:
        return str(self)

    def dump(self, f) -> None:
        """Write the message and the numbered source to the file object `f`."""
        lines = self.source.splitlines()
        f.write(str(self) + "\n==========\n")
        for i, line in enumerate(lines, 1):
            f.write(f"{i:4d} {line}\n")
        f.write("==========\n")


class KernelError(RuntimeError):
    """A kernel faulted at run time: out-of-bounds access, crash, hang, barrier misuse.

    `kernel`, `argument`, `index` and `line` say where, when known."""

    def __init__(self, message: str, *, kernel: str = "", argument: str | None = None,
                 index: int | None = None, line: int | None = None):
        super().__init__(message)
        self.kernel = kernel
        self.argument = argument
        self.index = index
        self.line = line


class RaceError(KernelError):
    """The result of a launch depends on the order its threads run in, or kernels.check's
    race detector found two unordered accesses of which one writes.  Then `hazard` is
    "read-after-write", "write-after-read" or "write-after-write" and `other_line` the
    line of the earlier access (`line` is the later one's); both None otherwise."""

    def __init__(self, message: str, *, hazard: str | None = None, other_line: int | None = None,
                 **where):
        super().__init__(message, **where)
        self.hazard = hazard
        self.other_line = other_line


class UninitializedSharedError(KernelError):
    """The result of a launch depends on what `__shared__` memory held before it: a thread
    read a slot that no thread of its block wrote in this launch (`argument` is the
    `__shared__` array and `index` the slot, when known)."""


class BarrierError(KernelError):
    """Threads of a block met different barriers, or left while others waited."""


class KernelTimeout(KernelError):
    """The launch did not finish within the time limit (`KERNELS_TIMEOUT`)."""

"""Run one launch on the CPU backend and turn whatever went wrong into a KernelError."""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading

from ..errors import BarrierError, KernelError, KernelTimeout
from ..marshal import Arg
from ..schedule import current as current_schedule
from . import arena as arena_mod
from .client import WorkerDied, WorkerTimeout, worker
from .lines import source_line
from .module import CpuModule

_arena: arena_mod.Arena | None = None
CRASH_FMT = "<QiiQQQ3I3I"
ERROR_FMT = "<iiqqQ3I3Iii64s320s"
E_OUT_OF_BOUNDS, E_SHARED_BOUNDS, E_BARRIER = 1, 2, 3
last_kernel_seconds = 0.0       # wall time the last launch spent in the worker's entry point
last_kernel_cpu_seconds = 0.0   # CPU time (all OS threads) of the same
total_kernel_cpu_seconds = 0.0  # running sum of the above (for benchmarks)


def timeout_seconds() -> float:
    return float(os.environ.get("KERNELS_TIMEOUT", "10"))


def os_threads() -> int:
    return int(os.environ.get("KERNELS_THREADS", "0")) or (os.cpu_count() or 1)


_lock = threading.RLock()   # one launch at a time: they share the arena and the worker


def launch(module: CpuModule, name: str, grid, block, args: list[Arg], shared_mem: int) -> None:
    """Run kernel `name` of `module` on the worker; KernelError if it faults."""
    with _lock:
        _launch(module, name, grid, block, args, shared_mem)


def _launch(module: CpuModule, name: str, grid, block, args: list[Arg], shared_mem: int) -> None:
    global _arena
    lib = str(module.compile())
    if _arena is None:
        _arena = arena_mod.Arena()
    ar = _arena
    arrays = [(i, a.array, a.param) for i, a in enumerate(args) if a.param.pointer]
    regions, size = arena_mod.plan(arrays)
    ar.ensure(size)
    ar.view(0, 64)[:] = 0        # crash record (64..72 holds the worker's base address)
    ar.view(128, arena_mod.HEADER - 128)[:] = 0   # error record
    ar.copy_in(regions)
    where: dict[int, int] = {}
    for r in regions:
        for idx, a, _ in r.members:
            where[idx] = r.offset + (a.__array_interface__["data"][0] - r.start)
    wire = []
    for i, a in enumerate(args):
        if a.param.pointer:
            size_of = a.param.itemsize
            extent = a.array.nbytes // size_of if size_of else -1
            wire.append(("p", where[i], extent))
        else:
            wire.append(("v", a.value, 0))
    readonly = []
    for r in regions:
        if not r.writable and r.nbytes:
            lo = r.offset // arena_mod.PAGE * arena_mod.PAGE
            hi = -(-(r.offset + r.nbytes) // arena_mod.PAGE) * arena_mod.PAGE
            readonly.append((lo, hi - lo))
    sched = current_schedule()
    msg = {"op": "launch", "lib": lib, "symbol": module.symbol(name), "grid": grid,
           "block": block, "shared_mem": int(shared_mem), "schedule": sched.mode,
           "seed": sched.seed, "nthreads": os_threads(),
           "stack_kb": int(os.environ.get("KERNELS_STACK_KB", "64")), "args": wire,
           "readonly": readonly, "arena_path": ar.path, "arena_size": ar.size}
    w = worker()
    limit = timeout_seconds()
    try:
        reply = w.request(msg, limit)
    except WorkerTimeout:
        _echo(w.take_output())
        raise KernelTimeout(
            f"{name} did not finish within {limit:g} s (KERNELS_TIMEOUT) and was stopped: an "
            "endless loop, or threads waiting for a value no thread writes? The kernel "
            "worker was restarted; the arguments were left as they were.", kernel=name) from None
    except WorkerDied as died:
        _echo(died.output)
        raise _crash_error(module, name, died, regions, ar, sched.spec) from None
    _echo(w.take_output())
    global last_kernel_seconds
    global last_kernel_cpu_seconds, total_kernel_cpu_seconds
    last_kernel_seconds = reply.get("seconds", 0.0)
    last_kernel_cpu_seconds = reply.get("cpu_seconds", 0.0)
    total_kernel_cpu_seconds += last_kernel_cpu_seconds
    if reply["rc"] != 0:
        ar.copy_out(regions)
        raise _kernel_error(module, name, lib, reply["lib_base"], ar, sched.spec)
    ar.copy_out(regions)


def _echo(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _coords(b, t) -> str:
    return f"block ({b[0]}, {b[1]}, {b[2]}), thread ({t[0]}, {t[1]}, {t[2]})"


def _kernel_error(module, name, lib, lib_base, ar, spec) -> KernelError:
    (kind, line, index, extent, pc, b0, b1, b2, t0, t1, t2, is_const, _pad, raw_name,
     raw_msg) = struct.unpack_from(ERROR_FMT, ar.view(128, struct.calcsize(ERROR_FMT)).tobytes())
    arr = raw_name.split(b"\0")[0].decode()
    text = raw_msg.split(b"\0")[0].decode()
    at = _coords((b0, b1, b2), (t0, t1, t2))
    if kind in (E_OUT_OF_BOUNDS, E_SHARED_BOUNDS):
        line = source_line(lib, pc - lib_base - 1, module.filename) if pc else None
        verb = "read" if is_const else "accessed"
        what = "__shared__ array" if kind == E_SHARED_BOUNDS else "array"
        where = f"line {line}, " if line else ""
        return KernelError(
            f"{name} {verb} `{arr}`[{index}] but the {what} `{arr}` has {extent} elements "
            f"({where}{at}); valid indices are 0..{extent - 1}: check the bounds test "
            "(`if (i < n)`) and the loop limits", kernel=name, argument=arr, index=index,
            line=line)
    where = f" (line {line}, {at}; schedule {spec})" if line else f" ({at})"
    cls = BarrierError if kind == E_BARRIER else KernelError
    return cls(f"{name}: {text}{where}", kernel=name, line=line or None)


def _region_at(regions, off: int):
    """(array, param, element index) of the read-only argument holding arena offset `off`."""
    for r in regions:
        if r.writable or not r.offset <= off < r.offset + max(r.nbytes, 1):
            continue
        for _, a, p in r.members:
            start = r.offset + a.__array_interface__["data"][0] - r.start
            if start <= off < start + max(a.nbytes, 1):
                return a, p, (off - start) // max(a.itemsize, 1)
        _, a, p = r.members[0]
        return a, p, 0
    return None


_SIGNALS = {signal.SIGSEGV: "SIGSEGV", signal.SIGBUS: "SIGBUS", signal.SIGFPE: "SIGFPE",
            signal.SIGILL: "SIGILL", signal.SIGABRT: "SIGABRT", signal.SIGTRAP: "SIGTRAP"}


def _crash_error(module, name, died: WorkerDied, regions, ar, spec) -> KernelError:
    head = ar.view(0, 128).tobytes()
    magic, signo, _code, addr, pc, lib_base, b0, b1, b2, t0, t1, t2 = struct.unpack_from(CRASH_FMT, head)
    worker_base = struct.unpack_from("<Q", head, 64)[0]
    tail = "\n".join(died.output.strip().splitlines()[-5:])
    if magic != 0x6772616463726173:
        return KernelError(f"{name}: the kernel worker died (exit status {died.returncode}); "
                           f"it was restarted.{' Output: ' + tail if tail else ''}", kernel=name)
    line = source_line(str(module.lib), pc - lib_base, module.filename) if pc and lib_base else None
    at = _coords((b0, b1, b2), (t0, t1, t2))
    loc = f"line {line}, {at}" if line else at
    sig = _SIGNALS.get(signo, f"signal {signo}")
    # A write into an argument mapped read-only?
    hit = _region_at(regions, addr - worker_base) if worker_base else None
    if hit is not None:
        a, p, index = hit
        why = ("a read-only array (writeable=False)" if not a.flags.writeable
               else f"declared `{p.decl}`")
        return KernelError(f"{name} wrote to `{p.name}`[{index}], but `{p.name}` is {why} "
                           f"({loc}); the worker was restarted",
                           kernel=name, argument=p.name, index=int(index), line=line)
    if signo in (signal.SIGSEGV, signal.SIGBUS):
        what = f"an invalid memory access at address {addr:#x}"
        hint = " (a null or wild pointer, or a stack overflow?)"
    elif signo == signal.SIGFPE:
        what, hint = "an arithmetic fault", " (an integer division by zero?)"
    elif signo == signal.SIGABRT:
        what, hint = "abort()", " (a failed assert?)"
    else:
        what, hint = "a fatal signal", ""
    extra = f"\n{tail}" if tail else ""
    return KernelError(f"{name} crashed with {what} ({sig}){hint} ({loc}); the kernel worker "
                       f"was restarted{extra}", kernel=name, line=line)

"""Run one launch on the CPU backend and turn whatever went wrong into a KernelError."""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import threading

import numpy as np

from ..errors import BarrierError, KernelError, KernelTimeout, RaceError, UninitializedSharedError
from ..marshal import Arg
from ..schedule import current as current_schedule
from . import arena as arena_mod
from . import module as module_mod
from .client import WorkerDied, WorkerTimeout, worker
from .lines import source_line
from .module import CpuModule
from .translate import global_symbol

_arena: arena_mod.Arena | None = None
CRASH_FMT = "<QiiQQQ3I3I"
ERROR_FMT = "<iiqqQ3I3Iii64s320sQ3I3IiiQ"
E_OUT_OF_BOUNDS, E_SHARED_BOUNDS, E_BARRIER, E_SHARED_UNINIT, E_WARP, E_RACE = 1, 2, 3, 5, 6, 7
POISON = 0xFF                   # the byte shared memory starts as in every block (NaN, -1)
_poison = POISON
last_kernel_seconds = 0.0       # wall time the last launch spent in the worker's entry point
last_kernel_cpu_seconds = 0.0   # CPU time (all OS threads) of the same
total_kernel_cpu_seconds = 0.0  # running sum of the above (for benchmarks)
last_written: tuple[str, ...] = ()   # array arguments the last launch wrote to
launches = 0                          # launches that reached the worker
last_block = (1, 1, 1)                # block shape of the last launch


def timeout_seconds() -> float:
    return float(os.environ.get("KERNELS_TIMEOUT", "10"))


def os_threads() -> int:
    """OS threads a launch may use: $KERNELS_THREADS, else the cores this process may run on."""
    env = int(os.environ.get("KERNELS_THREADS", "0"))
    if env > 0:
        return env
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


_lock = threading.RLock()   # one launch at a time: they share the arena and the worker


class _Resident:
    """Arrays left in the arena between the launches of one pipeline, as on a GPU where the
    data stays in device memory between kernels.  After every successful launch each
    argument's arena copy equals the caller's array (unwritten ones were not changed,
    written ones were copied back), so a later launch of the same pipeline that passes the
    same memory again need not copy it in, provided the caller did not modify it in
    between: the promise that `resident()` asks for.  Regions are placed one after another
    (never over each other) and keyed by their address and size in the caller."""

    CAP = 1 << 30   # arena bytes a pipeline may keep; beyond, start again

    def __init__(self):
        self.entries: dict[tuple[int, int], list] = {}   # (start, nbytes) -> [offset, valid]
        self.cursor = arena_mod.HEADER

    def place(self, regions) -> int:
        """Give each region its arena offset (the same as before for known memory);
        returns the arena size needed."""
        new = [r for r in regions if (r.start, r.nbytes) not in self.entries]
        need = self.cursor + sum(r.nbytes + 2 * arena_mod.PAGE for r in new)
        if need > self.CAP:
            self.entries.clear()
            self.cursor = arena_mod.HEADER
        for r in regions:
            e = self.entries.get((r.start, r.nbytes))
            if e is None:
                off = -(-self.cursor // arena_mod.PAGE) * arena_mod.PAGE + r.start % 64
                self.cursor = off + r.nbytes
                e = self.entries[(r.start, r.nbytes)] = [off, False]
            r.offset = e[0]
        return -(-self.cursor // arena_mod.PAGE) * arena_mod.PAGE

    def stale(self, regions) -> list:
        return [r for r in regions if not self.entries[(r.start, r.nbytes)][1]]

    def done(self, regions, written) -> None:
        """After a launch: its regions equal the caller's memory; other entries over
        memory it wrote back no longer do."""
        keys = {(r.start, r.nbytes) for r in regions}
        for key, e in self.entries.items():
            if key in keys:
                e[1] = True
            elif any(key[0] < w.start + w.nbytes and w.start < key[0] + key[1] for w in written):
                e[1] = False

    def forget(self) -> None:
        for e in self.entries.values():
            e[1] = False


_session: _Resident | None = None


@contextlib.contextmanager
def resident():
    """`kernels.resident()`: within, array arguments that an earlier launch of the block
    already copied into the shared arena are not copied again.  The caller promises not to
    modify those arrays between its launches.  Holds the launch lock, so no other thread's
    launch can come in between."""
    global _session
    with _lock:
        if _session is not None:
            yield
            return
        _session = _Resident()
        try:
            yield
        finally:
            _session = None


@contextlib.contextmanager
def shared_fill(byte: int, trace: bool = False):
    """Within: every block's shared memory starts filled with `byte` instead of `POISON`;
    with `trace`, kernels are built with GC_TRACE_SHARED and a read of a `__shared__` slot
    that still holds only `byte` (no thread wrote it in this block) is reported as an
    UninitializedSharedError.  Used by `kernels.check`; holds the launch lock."""
    global _poison
    with _lock:
        saved = _poison, module_mod.trace_shared
        _poison, module_mod.trace_shared = int(byte) & 0xFF, bool(trace)
        try:
            yield
        finally:
            _poison, module_mod.trace_shared = saved


_one_os_thread = False


@contextlib.contextmanager
def racecheck():
    """Within: kernels are built with GC_RACECHECK (gc_racecheck.h) and run their blocks on
    one OS thread; the first hazard between two threads' accesses is a RaceError naming
    both.  Used by `kernels.check`; holds the launch lock."""
    global _one_os_thread
    with _lock:
        saved = module_mod.racecheck, _one_os_thread
        module_mod.racecheck, _one_os_thread = True, True
        try:
            yield
        finally:
            module_mod.racecheck, _one_os_thread = saved


def launch(module: CpuModule, name: str, grid, block, args: list[Arg], shared_mem: int) -> None:
    """Run kernel `name` of `module` on the worker; KernelError if it faults."""
    with _lock:
        try:
            _launch(module, name, grid, block, args, shared_mem)
        except BaseException:
            if _session is not None:
                _session.forget()
            raise


def _launch(module: CpuModule, name: str, grid, block, args: list[Arg], shared_mem: int) -> None:
    global _arena, last_block
    last_block = tuple(block)
    lib = str(module.compile())
    if _arena is None:
        _arena = arena_mod.Arena()
    ar = _arena
    regions, size = arena_mod.plan([(i, a.array, a.param) for i, a in enumerate(args) if a.param.pointer])
    session = _session
    if session is not None:
        size = session.place(regions)
    ar.ensure(size)
    ar.view(0, 64)[:] = 0                          # crash record (64..80: the worker's bases)
    ar.view(128, arena_mod.HEADER - 128)[:] = 0    # error record
    ar.copy_in(regions if session is None else session.stale(regions))
    writable = [r for r in regions if r.writable and r.nbytes]
    sched = current_schedule()
    msg = {"op": "launch", "lib": lib, "symbol": module.symbol(name), "grid": grid,
           "block": block, "shared_mem": int(shared_mem), "shared_poison": _poison,
           "schedule": sched.mode,
           "seed": sched.seed, "nthreads": 1 if _one_os_thread else os_threads(),
           "stack_kb": int(os.environ.get("KERNELS_STACK_KB", "64")),
           "args": _wire_args(args, regions), "tracked": [_pages(r) for r in writable],
           "arena_size": ar.size,
           "globals": [(global_symbol(n), np.ascontiguousarray(a).tobytes(), not module.global_const[n])
                       for n, a in module.globals.items()]}
    w = worker(ar.fd)
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
    for (n, a), data in zip(module.globals.items(), reply.get("globals", [])):
        if data is not None:   # a __device__ variable, as the kernel left it
            a[...] = np.frombuffer(data, a.dtype).reshape(a.shape)
    written = [r for r, dirty in zip(writable, reply["dirty"]) if dirty]
    _record(reply, written)
    ar.copy_out(written)   # regions the kernel never wrote are not copied back
    if session is not None:
        session.done(regions, written)
    if reply["rc"] != 0:
        raise _kernel_error(module, name, lib, reply["lib_base"], ar, sched.spec, regions)


def _wire_args(args: list[Arg], regions) -> list[tuple]:
    """Arrays as (arena offset, extent in elements); scalars as their exact bytes."""
    where = {idx: r.offset + (a.__array_interface__["data"][0] - r.start)
             for r in regions for idx, a, _ in r.members}
    wire = []
    for i, a in enumerate(args):
        if a.param.pointer:
            size_of = a.param.itemsize
            wire.append(("p", where[i], a.array.nbytes // size_of if size_of else -1))
        else:
            wire.append(("v", a.value, 0))
    return wire


def _pages(r) -> tuple[int, int]:
    """(offset, length) of the whole pages a region occupies in the arena."""
    lo = r.offset // arena_mod.PAGE * arena_mod.PAGE
    hi = -(-(r.offset + r.nbytes) // arena_mod.PAGE) * arena_mod.PAGE
    return lo, hi - lo


def _record(reply: dict, written) -> None:
    global last_written, last_kernel_seconds, last_kernel_cpu_seconds, total_kernel_cpu_seconds
    global launches
    launches += 1
    last_written = tuple(p.name for r in written for _, _, p in r.members if not p.const)
    last_kernel_seconds = reply.get("seconds", 0.0)
    last_kernel_cpu_seconds = reply.get("cpu_seconds", 0.0)
    total_kernel_cpu_seconds += last_kernel_cpu_seconds


def _echo(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def _coords(b, t) -> str:
    return f"block ({b[0]}, {b[1]}, {b[2]}), thread ({t[0]}, {t[1]}, {t[2]})"


def _kernel_error(module, name, lib, lib_base, ar, spec, regions=()) -> KernelError:
    rec = struct.unpack_from(ERROR_FMT, ar.view(128, struct.calcsize(ERROR_FMT)).tobytes())
    (kind, line, index, extent, pc, b0, b1, b2, t0, t1, t2, is_const, _pad, raw_name,
     raw_msg) = rec[:15]
    arr = raw_name.split(b"\0")[0].decode()
    text = raw_msg.split(b"\0")[0].decode()
    at = _coords((b0, b1, b2), (t0, t1, t2))
    if kind == E_RACE:
        from .race import race_error
        return race_error(module, name, lib, lib_base, rec, regions, ar)
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
    if kind == E_SHARED_UNINIT:
        line = source_line(lib, pc - lib_base - 1, module.filename) if pc else None
        where = f"line {line}, " if line else ""
        return UninitializedSharedError(
            f"{name} read __shared__ `{arr}`[{index}] before any thread wrote it in this launch "
            f"({where}{at}). On a GPU shared memory starts as whatever an earlier kernel left "
            f"there: write every slot before it is read, and let loop bounds follow blockDim.x "
            f"(`{arr}` has {extent} elements; does a loop start at a fixed index?)", kernel=name, argument=arr,
            index=index, line=line)
    where = f" (line {line}, {at}; schedule {spec})" if line else f" ({at})"
    cls = BarrierError if kind == E_BARRIER else KernelError
    return cls(f"{name}: {text}{where}", kernel=name, line=line or None)


def _region_at(regions, off: int):
    """(array, param, element index) of the read-only argument holding arena offset `off`
    (a fault in a writable region was handled in the worker and cannot reach here)."""
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
    rw_base, ro_base = struct.unpack_from("<QQ", head, 64)
    tail = "\n".join(died.output.strip().splitlines()[-5:])
    if magic != 0x6772616463726173:
        return KernelError(f"{name}: the kernel worker died (exit status {died.returncode}); "
                           f"it was restarted.{' Output: ' + tail if tail else ''}", kernel=name)
    line = source_line(str(module.lib), pc - lib_base, module.filename) if pc and lib_base else None
    at = _coords((b0, b1, b2), (t0, t1, t2))
    loc = f"line {line}, {at}" if line else at
    sig = _SIGNALS.get(signo, f"signal {signo}")
    # A write into an argument mapped read-only?
    hit = None
    for base in (ro_base, rw_base):
        if base and 0 <= addr - base < ar.size:
            hit = _region_at(regions, addr - base)
    if hit is not None:
        a, p, index = hit
        why = ("a read-only array (writeable=False)" if not a.flags.writeable
               else f"declared `{p.decl}`")
        return KernelError(f"{name} wrote to `{p.name}`[{index}], but `{p.name}` is {why} "
                           f"({loc}); the kernel worker was restarted",
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

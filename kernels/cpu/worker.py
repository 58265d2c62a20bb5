"""The kernel worker: a child process that maps the shared arena, dlopens compiled kernels
and runs launches.  Standard library only (it starts with `python -I -S`), so a crash here
costs a 50 ms restart, never the notebook.

Protocol: length-prefixed pickles on two pipes.  Each launch message names the library,
the entry point, the launch shape and the arguments (arena offsets for arrays, exact bytes
for scalars); the reply carries the entry point's return code.
"""

import ctypes
import os
import pickle
import struct
import sys
import time

PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
CRASH_OFFSET, ERROR_OFFSET, BASE_OFFSET, RO_BASE_OFFSET = 0, 128, 64, 72

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class LaunchDesc(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_uint32 * 3), ("block", ctypes.c_uint32 * 3),
                ("shared_mem", ctypes.c_int64), ("schedule", ctypes.c_int32),
                ("seed", ctypes.c_uint32), ("nthreads", ctypes.c_int32), ("nargs", ctypes.c_int32),
                ("args", ctypes.c_void_p), ("extents", ctypes.c_void_p), ("sizes", ctypes.c_void_p),
                ("error", ctypes.c_void_p), ("crash", ctypes.c_void_p),
                ("lib_base", ctypes.c_uint64), ("stack_kb", ctypes.c_int64),
                ("tracked", ctypes.c_void_p), ("ntracked", ctypes.c_int64),
                ("shared_poison", ctypes.c_int32), ("pad", ctypes.c_int32)]


class Tracked(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("len", ctypes.c_uint64), ("dirty", ctypes.c_int64)]


class Arena:
    """The shared file, mapped twice: read-write, and read-only.  Kernels see arrays
    through the read-only mapping; a first write into a writable region faults and the
    kernel library's handler unprotects that region (see `Tracked` in gc_launch.h).  A
    write into any other region (const, or writeable=False) is a crash, reported."""

    def __init__(self, fd):
        self.fd, self.size, self.addr, self.ro_addr = fd, 0, None, None

    def ensure(self, size):
        if size == self.size:
            return
        if self.addr:
            libc.munmap(self.addr, self.size)
            libc.munmap(self.ro_addr, self.size)
        addr = libc.mmap(None, size, PROT_READ | PROT_WRITE, MAP_SHARED, self.fd, 0)
        ro = libc.mmap(None, size, PROT_READ, MAP_SHARED, self.fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value) or ro in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap of the kernel arena failed")
        self.size, self.addr, self.ro_addr = size, addr, ro
        ctypes.c_uint64.from_address(addr + BASE_OFFSET).value = addr
        ctypes.c_uint64.from_address(addr + RO_BASE_OFFSET).value = ro


def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv(fd):
    head = read_exact(fd, 4)
    if head is None:
        return None
    return pickle.loads(read_exact(fd, struct.unpack("<I", head)[0]))


def send(fd, obj):
    data = pickle.dumps(obj)
    os.write(fd, struct.pack("<I", len(data)) + data)


def launch(msg, arena, libs):
    arena.ensure(msg["arena_size"])
    lib = libs.get(msg["lib"])
    if lib is None:
        lib = libs[msg["lib"]] = ctypes.CDLL(msg["lib"], mode=os.RTLD_NOW | os.RTLD_LOCAL)
    fn = getattr(lib, msg["symbol"])
    fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int
    places = []
    for symbol, data, back in msg.get("globals", ()):   # RawModule.get_global variables
        where = getattr(lib, symbol)
        where.restype = ctypes.c_void_p
        addr = where()
        ctypes.memmove(addr, data, len(data))
        places.append((addr, len(data), back))
    args = msg["args"]
    n = len(args)
    values = (ctypes.c_void_p * max(n, 1))()
    extents = (ctypes.c_int64 * max(n, 1))()
    sizes = (ctypes.c_int64 * max(n, 1))()
    keep = []
    for i, (kind, a, b) in enumerate(args):
        if kind == "p":  # every array is seen through the read-only mapping
            cell = ctypes.c_void_p(arena.ro_addr + a)
            extents[i] = b
        else:
            cell = ctypes.create_string_buffer(a, len(a))
            sizes[i] = len(a)
        keep.append(cell)
        values[i] = ctypes.addressof(cell)
    d = LaunchDesc()
    d.grid[:] = msg["grid"]
    d.block[:] = msg["block"]
    d.shared_mem, d.schedule, d.seed = msg["shared_mem"], msg["schedule"], msg["seed"]
    d.nthreads, d.nargs, d.stack_kb = msg["nthreads"], n, msg["stack_kb"]
    d.shared_poison = msg.get("shared_poison", 0xFF)
    d.args, d.extents, d.sizes = ctypes.addressof(values), ctypes.addressof(extents), ctypes.addressof(sizes)
    d.error, d.crash = arena.addr + ERROR_OFFSET, arena.addr + CRASH_OFFSET
    spans = msg["tracked"]
    tracked = (Tracked * max(len(spans), 1))()
    for t, (off, length) in zip(tracked, spans):
        t.start, t.len, t.dirty = arena.ro_addr + off, length, 0
    d.tracked, d.ntracked = ctypes.addressof(tracked), len(spans)
    t0, c0 = time.perf_counter(), time.process_time()
    rc = fn(ctypes.addressof(d))
    dirty = [bool(t.dirty) for t in tracked[:len(spans)]]
    for t in tracked[:len(spans)]:
        if t.dirty:  # read-only again for the next launch
            libc.mprotect(t.start, t.len, PROT_READ)
    return {"rc": rc, "lib_base": d.lib_base, "dirty": dirty, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
            "globals": [ctypes.string_at(a, n) if back else None for a, n, back in places]}


def main():
    rfd, wfd, arena_fd = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    arena, libs = Arena(arena_fd), {}
    send(wfd, {"ready": os.getpid()})
    while True:
        msg = recv(rfd)
        if msg is None or msg.get("op") == "exit":
            return
        if msg["op"] == "launch":
            send(wfd, launch(msg, arena, libs))
        elif msg["op"] == "ping":
            send(wfd, {"pong": True})


if __name__ == "__main__":
    main()

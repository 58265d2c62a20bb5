"""The shared-memory arena: array arguments are copied in, the kernel runs on them in the
worker, and what it may have written is copied back.

Arguments that share memory (views of one buffer) are placed as one region, so aliasing
is preserved; every region starts on its own page.  The worker maps the file twice, and
passes a kernel pointers into the read-only mapping for regions it must not write.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

PAGE = 4096
HEADER = PAGE   # crash record, worker base address, error record
PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def _up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def host_view(addr: int, nbytes: int) -> np.ndarray:
    """A uint8 view of `nbytes` of this process's memory at `addr`."""
    if nbytes == 0:
        return np.empty(0, np.uint8)
    return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(addr))


@dataclass
class Region:
    start: int                 # address in this process
    nbytes: int
    offset: int = 0            # offset in the arena
    writable: bool = True
    members: list = field(default_factory=list)   # (arg index, array, param)


def plan(arrays: list[tuple[int, np.ndarray, object]]) -> tuple[list[Region], int]:
    """Group array arguments into regions (merging overlapping memory) and lay them out.
    Returns the regions and the arena size needed."""
    spans = []
    for idx, a, p in arrays:
        start = a.__array_interface__["data"][0]
        spans.append((start, start + a.nbytes, idx, a, p))
    spans.sort(key=lambda s: (s[0], s[1]))
    regions: list[Region] = []
    for start, end, idx, a, p in spans:
        r = regions[-1] if regions else None
        if r is not None and start < r.start + r.nbytes and end > start:
            r.nbytes = max(r.nbytes, end - r.start)
            r.members.append((idx, a, p))
        else:
            regions.append(Region(start, end - start, members=[(idx, a, p)]))
    cursor = HEADER
    for r in regions:
        r.offset = _up(cursor, PAGE) + r.start % 64
        cursor = r.offset + r.nbytes
        all_writeable = all(a.flags.writeable for _, a, _ in r.members)
        any_mutable = any(not p.const for _, _, p in r.members)
        r.writable = all_writeable and any_mutable
    return regions, _up(cursor, PAGE)


class Arena:
    """A file in /dev/shm (or the temp dir), mapped here and in the worker.  It is unlinked
    at once: the worker inherits the open descriptor, so nothing is left behind even when
    the notebook is killed."""

    def __init__(self):
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self.fd, path = tempfile.mkstemp(prefix="gradclip-kernels-", dir=base)
        os.unlink(path)
        os.set_inheritable(self.fd, True)
        self.size, self.addr = 0, None
        atexit.register(self.close)

    def ensure(self, size: int) -> None:
        if size <= self.size:
            return
        new = max(size, 2 * self.size, 1 << 20)
        new = _up(new, PAGE)
        if self.addr:
            _libc.munmap(self.addr, self.size)
        os.ftruncate(self.fd, new)
        addr = _libc.mmap(None, new, PROT_READ | PROT_WRITE, MAP_SHARED, self.fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "cannot map the kernel arena")
        self.size, self.addr = new, addr

    def view(self, offset: int, nbytes: int) -> np.ndarray:
        return host_view(self.addr + offset, nbytes)

    def copy_in(self, regions: list[Region]) -> None:
        for r in regions:
            if r.nbytes:
                self.view(r.offset, r.nbytes)[:] = host_view(r.start, r.nbytes)

    def copy_out(self, regions: list[Region]) -> None:
        for r in regions:
            if r.writable and r.nbytes:
                host_view(r.start, r.nbytes)[:] = self.view(r.offset, r.nbytes)

    def close(self) -> None:
        if self.addr:
            _libc.munmap(self.addr, self.size)
            self.addr = None
        try:
            os.close(self.fd)
        except OSError:
            pass

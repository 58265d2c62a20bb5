"""The RaceError for a hazard kernels.check's race detector found (gc_racecheck.h): both
accesses, their threads and lines, and what would order them."""

from __future__ import annotations

import struct

from ..errors import RaceError
from .lines import source_line

_KIND = {1: "read-after-write", 2: "write-after-read", 3: "write-after-write"}
# (what the earlier access did, what the later one did)
_VERBS = {1: ("wrote", "read"), 2: ("read", "wrote"), 3: ("wrote", "wrote")}


def _coords(v) -> str:
    return f"({v[0]}, {v[1]}, {v[2]})"


def _line(lib: str, pc: int, lib_base: int, filename: str) -> int | None:
    return source_line(lib, pc - lib_base - 1, filename) if pc else None


def _argument(addr: int, regions, ar) -> tuple[str, int] | None:
    """(argument name, element index) of the array holding kernel address `addr`."""
    ro_base = struct.unpack_from("<Q", ar.view(72, 8).tobytes())[0]
    off = addr - ro_base
    for r in regions:
        for _, a, p in r.members:
            start = r.offset + a.__array_interface__["data"][0] - r.start
            if start <= off < start + max(a.nbytes, 1):
                return p.name, (off - start) // max(p.itemsize or a.itemsize, 1)
    return None


def race_error(module, name: str, lib: str, lib_base: int, rec: tuple, regions, ar) -> RaceError:
    (_kind, _line0, index, _extent, pc, b0, b1, b2, t0, t1, t2, _c, _p, raw_name, _msg,
     pc2, c0, c1, c2, u0, u1, u2, hazard, space, addr) = rec
    arr = raw_name.split(b"\0")[0].decode()
    if space == 1 and (not arr or arr == "?"):
        found = _argument(addr, regions, ar)
        if found:
            arr, index = found
    arr = arr or "?"
    line = _line(lib, pc, lib_base, module.filename)
    line2 = _line(lib, pc2, lib_base, module.filename)
    first, then = _VERBS.get(hazard, ("accessed", "accessed"))
    kind = _KIND.get(hazard, "access")
    at = f"line {line}" if line else "an unknown line"
    at2 = f"line {line2}" if line2 else "an unknown line"
    t_now, t_before = (t0, t1, t2), (u0, u1, u2)
    if space == 0:
        same_warp = _same_warp(t_now, t_before)
        why = ("they are lanes of one warp, and a warp's lanes do not run in lockstep on a GPU "
               "(since Volta): put a __syncwarp() between the two accesses"
               if same_warp else
               "threads of different warps are ordered only by a barrier: put a "
               "__syncthreads() between the two accesses")
        msg = (f"{name}: {kind} hazard on __shared__ `{arr}`[{index}] in block {_coords((b0, b1, b2))}: "
               f"thread {_coords(t_before)} {first} it on {at2}, then thread {_coords(t_now)} "
               f"{then} it on {at}, with no barrier between them; {why}. kernels.check "
               "records every shared-memory access, so this is reported even when every "
               "thread order happens to give the same output: on a GPU it depends on timing.")
    else:
        msg = (f"{name}: {kind} hazard on `{arr}`[{index}] between blocks: block "
               f"{_coords((c0, c1, c2))}, thread {_coords(t_before)} {first} it on {at2}, and block "
               f"{_coords((b0, b1, b2))}, thread {_coords(t_now)} {then} it on {at}. Blocks of one "
               "launch run in no guaranteed order and cannot wait for each other: use an "
               "atomic, or let one launch write what the next launch reads.")
    return RaceError(msg, kernel=name, argument=arr, index=int(index), line=line,
                     hazard=_KIND.get(hazard), other_line=line2)


def _same_warp(a, b) -> bool:
    """Whether threads `a` and `b` (x, y, z) of the launch's block are in one warp."""
    from . import launch
    bx, by, _ = launch.last_block
    la = a[0] + bx * (a[1] + by * a[2])
    lb = b[0] + bx * (b[1] + by * b[2])
    return la // 32 == lb // 32

"""The reference three-kernel clip (lesson 05) over a list of arrays, and its sources.

`clip_grad_norm(grads, max_norm)` runs k_grad_norm_partial once per tensor into one
partial buffer (each launch writes at its own offset), k_grad_norm_final once, and
k_grad_scale once per tensor.  The norm stays on the device until the single read at the
end.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Sequence

import numpy as np

from . import select
from .raw import RawModule

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
KERNEL_NAMES = ("k_grad_norm_partial", "k_grad_norm_final", "k_grad_scale")


def source(name: str = "grad_clip.cu") -> str:
    """The text of a file in kernels/cuda/."""
    return (CUDA_DIR / name).read_text()


@functools.lru_cache(maxsize=None)
def module(backend: str | None = None) -> RawModule:
    """grad_clip.cu compiled for `backend` (default: the one in force)."""
    return RawModule(code=source(), backend=backend or select.backend())


def default_blocks(n: int, threads: int, backend: str) -> int:
    """Blocks for a grid-stride launch over n elements: enough to fill a GPU, and on the
    CPU few enough that each fiber has real work: blocks run on a handful of cores, and a
    non-power-of-two grid keeps the grid stride from aliasing in the CPU caches."""
    cap = 1024 if backend == "cupy" else 31
    return max(1, min(-(-n // threads), cap))


def _backend_of(a) -> str:
    return "cupy" if type(a).__module__.startswith("cupy") else "cpu"


def clip_grad_norm(grads: Sequence, max_norm: float, threads: int = 256,
                   blocks: int | None = None) -> float:
    """Clip float32 arrays in place by their global L2 norm; return the norm before clipping.

    `threads` is the block size (a power of two, 32..1024); `blocks` the grid size of each
    per-tensor launch (default: `default_blocks`)."""
    grads = list(grads)
    if threads & (threads - 1) or not 32 <= threads <= 1024:
        raise ValueError(f"`threads` must be a power of two from 32 to 1024, got {threads}")
    if not grads:
        return 0.0
    backend = _backend_of(grads[0])
    xp = select.array_module(backend)
    for i, g in enumerate(grads):
        if _backend_of(g) != backend or g.dtype != np.float32:
            raise TypeError(f"`grads[{i}]` must be a float32 {'cupy' if backend == 'cupy' else 'numpy'} "
                            f"array like grads[0], got {type(g).__module__}.{type(g).__name__} "
                            f"of {getattr(g, 'dtype', '?')}")
    mod = module(backend)
    partial_k, final_k, scale_k = (mod.get_function(n) for n in KERNEL_NAMES)
    counts = [blocks or default_blocks(int(g.size), threads, backend) for g in grads]
    partial = xp.zeros(sum(counts), dtype=np.float32)
    out = xp.zeros(2, dtype=np.float32)
    with _on_device(backend):
        offset = 0
        for g, b in zip(grads, counts):
            partial_k((b,), (threads,), (g, np.int64(g.size), partial[offset:]))
            offset += b
        final_k((1,), (threads,), (partial, np.int32(partial.size), np.float32(max_norm), out))
        for g, b in zip(grads, counts):
            scale_k((b,), (threads,), (g, np.int64(g.size), out))
    return float(out[0])


def _on_device(backend: str):
    """On the CPU backend, keep the arrays in the worker's shared memory between the three
    kernels (as they stay in device memory on a GPU) instead of copying `g` in again for
    k_grad_scale; this function does not touch them between its launches."""
    if backend != "cpu":
        return contextlib.nullcontext()
    from .cpu.launch import resident
    return resident()

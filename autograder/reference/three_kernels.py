"""Reference implementations for lesson `05_three_kernels`.

Same names and signatures as the lesson's exercises: three CUDA C sources, compiled by
`kernels.RawKernel` (CuPy on a GPU, the CPU backend elsewhere), and the launcher that runs
them over a list of gradient arrays with one shared partials buffer.

The kernels live in one file, `autograder/cuda/grad_clip.cu` (a real `.cu` file: nvcc
compiles it as it is); `K_GRAD_NORM_PARTIAL` & co. are cut from it, and the lesson's
solution cells hold the same sources. They live in
`autograder`, not `kernels`, because a learner's environment holds no solutions.

Two launchers over the same kernels:

* `clip_grad_norm_kernels(grads, max_norm, threads)`: the exercise's reference, the grid
  the lesson describes (`blocks_for`);
* `clip_grad_norm(grads, max_norm, threads, blocks)`: the same pipeline tuned per backend,
  for benchmarks and backend-parity tests: checked arguments, the backend taken from the
  arrays, a grid that suits it (`default_blocks`), and on the CPU backend the arrays kept
  in the kernel worker between the three launches (`kernels.resident`).

The kernels follow the contract in `docs` / the curriculum:

* `k_grad_norm_partial(const float* g, long long n, float* partial)`: block ``b`` writes
  ``partial[b]``, the sum of squares of its grid-stride share of ``g`` (elements
  ``i = b * blockDim.x + t + k * blockDim.x * gridDim.x``);
* `k_grad_norm_final(const float* partial, int num_partials, float max_norm, float* out)`:
  one block; ``out[0] = sqrt(sum(partial))`` and ``out[1]`` the clip scale, the rule of
  llm.c and Megatron-LM (scale only when ``norm > max_norm``) with PyTorch's ``+1e-6``
  guard in the denominator (``torch/nn/utils/clip_grad.py``);
* `k_grad_scale(float* g, long long n, const float* out)`: multiplies ``g`` by ``out[1]``
  and touches no memory of ``g`` when ``out[1] >= 1``.

Written with the features every backend has: a static ``__shared__`` array sized for the
largest block (1024 threads), ``__syncthreads()``, grid-stride loops over ``long long``
indices. Hidden tests never compare a learner's kernel with these sources: they compare
with float64 NumPy specs (`autograder.kernel_grading`); these kernels drive the reference
launcher and are checked themselves in `tests/autograder/reference/test_three_kernels.py`.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np

#: Added to the norm in the scale's denominator, as PyTorch does (its `clip_coef`).
EPS = 1e-6

#: The most blocks `clip_grad_norm_kernels` gives one tensor's partial-norm launch. Beyond
#: this, more blocks only add partials to reduce; the grid-stride loop covers the rest.
MAX_BLOCKS_PER_TENSOR = 1024

#: Where the reference CUDA sources live: `grad_clip.cu` (the three kernels) and
#: `grad_clip_chunked.cu` (a chunk-table variant, GPU only, for `bench/bench_clip_gpu.py`).
CUDA_DIR = Path(__file__).resolve().parents[1] / "cuda"


def source(name: str = "grad_clip.cu") -> str:
    """The text of a file in `autograder/cuda/` (default: the three kernels)."""
    return (CUDA_DIR / name).read_text()


def kernel_source(kernel: str, text: str | None = None) -> str:
    """One kernel of `grad_clip.cu`: from its `extern "C" __global__` line to the first `}`
    in column 0, framed by newlines as a raw string literal in a notebook would be."""
    lines = (source() if text is None else text).splitlines()
    head = re.compile(r'extern\s+"C"\s+__global__\s+void\s+' + re.escape(kernel) + r"\s*\(")
    for i, line in enumerate(lines):
        if head.match(line):
            for j in range(i + 1, len(lines)):
                if lines[j].rstrip() == "}":
                    return "\n" + "\n".join(lines[i:j + 1]) + "\n"
            break
    raise ValueError(f"{CUDA_DIR / 'grad_clip.cu'} defines no kernel `{kernel}` "
                     "(or its body does not end with a `}` in column 0)")


#: `(exercise id, kernel name)` for the three kernels.
KERNEL_NAMES = {
    "K_GRAD_NORM_PARTIAL": "k_grad_norm_partial",
    "K_GRAD_NORM_FINAL": "k_grad_norm_final",
    "K_GRAD_SCALE": "k_grad_scale",
}

_TEXT = source()
#: The exercises' solutions: each kernel of `grad_clip.cu` on its own, as a string.
K_GRAD_NORM_PARTIAL = kernel_source("k_grad_norm_partial", _TEXT)
K_GRAD_NORM_FINAL = kernel_source("k_grad_norm_final", _TEXT)
K_GRAD_SCALE = kernel_source("k_grad_scale", _TEXT)


def cdiv(a: int, b: int) -> int:
    """Ceiling of ``a / b`` for non-negative integers."""
    return -(-a // b)


@functools.lru_cache(maxsize=None)
def _compiled() -> tuple:
    import kernels

    return (kernels.RawKernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial"),
            kernels.RawKernel(K_GRAD_NORM_FINAL, "k_grad_norm_final"),
            kernels.RawKernel(K_GRAD_SCALE, "k_grad_scale"))


def blocks_for(n: int, threads: int) -> int:
    """Blocks for one tensor's partial-norm launch: enough to give every thread an element,
    at most `MAX_BLOCKS_PER_TENSOR`, and 0 for an empty tensor (it is skipped)."""
    return min(cdiv(n, threads), MAX_BLOCKS_PER_TENSOR)


def clip_grad_norm_kernels(grads: Sequence, max_norm: float, threads: int = 256) -> float:
    """Clip `grads` (float32 arrays of `kernels.xp`) in place by their global L2 norm.

    Kernel 1 runs once per tensor, each launch writing its blocks' partials into its own
    slice of one shared buffer; kernel 2 reduces that buffer in one block and leaves the
    norm and the scale in ``out`` on the device; kernel 3 scales each tensor, reading the
    scale from ``out``. Nothing returns to the host until every launch is queued: the
    only read is ``out[0]`` at the end, the pre-clip norm this function returns.
    """
    import kernels

    xp = kernels.xp
    partial_k, final_k, scale_k = _compiled()
    sizes = [int(g.size) for g in grads]
    blocks = [blocks_for(n, threads) for n in sizes]
    total = sum(blocks)
    partial = xp.zeros(max(total, 1), dtype=xp.float32)  # never a zero-length buffer
    offset = 0
    for g, n, b in zip(grads, sizes, blocks):
        if b:
            partial_k((b,), (threads,), (g, np.int64(n), partial[offset:offset + b]))
            offset += b
    out = xp.zeros(2, dtype=xp.float32)
    final_k((1,), (threads,), (partial, np.int32(total), np.float32(max_norm), out))
    for g, n, b in zip(grads, sizes, blocks):
        if b:
            scale_k((b,), (threads,), (g, np.int64(n), out))
    return float(out[0])


# -- the same pipeline, tuned per backend (benchmarks, GPU parity) -----------------------


@functools.lru_cache(maxsize=None)
def module(backend: str | None = None):
    """`grad_clip.cu` compiled as one module for `backend` (default: the one in force)."""
    import kernels

    return kernels.RawModule(code=source(), backend=backend or kernels.backend())


def default_blocks(n: int, threads: int, backend: str) -> int:
    """Blocks for a grid-stride launch over n elements: enough to fill a GPU, and on the
    CPU few enough that each fiber has real work: blocks run on a handful of cores, and a
    non-power-of-two grid keeps the grid stride from aliasing in the CPU caches."""
    cap = 1024 if backend == "cupy" else 31
    return max(1, min(cdiv(n, threads), cap))


def _backend_of(a) -> str:
    return "cupy" if type(a).__module__.startswith("cupy") else "cpu"


def clip_grad_norm(grads: Sequence, max_norm: float, threads: int = 256,
                   blocks: int | None = None) -> float:
    """Clip float32 arrays in place by their global L2 norm; return the norm before clipping.

    The backend follows the arrays (CuPy arrays: CuPy, NumPy arrays: the CPU backend).
    `threads` is the block size (a power of two, 32..1024); `blocks` the grid size of each
    per-tensor launch (default: `default_blocks`). On the CPU backend the arrays stay in
    the kernel worker between the three launches (`kernels.resident`), as they stay in
    device memory on a GPU: `g` is copied in once, not again for `k_grad_scale`."""
    import kernels

    grads = list(grads)
    if threads & (threads - 1) or not 32 <= threads <= 1024:
        raise ValueError(f"`threads` must be a power of two from 32 to 1024, got {threads}")
    if not grads:
        return 0.0
    backend = _backend_of(grads[0])
    for i, g in enumerate(grads):
        if _backend_of(g) != backend or g.dtype != np.float32:
            raise TypeError(f"`grads[{i}]` must be a float32 {'cupy' if backend == 'cupy' else 'numpy'} "
                            f"array like grads[0], got {type(g).__module__}.{type(g).__name__} "
                            f"of {getattr(g, 'dtype', '?')}")
    if backend == "cupy":
        import cupy as xp
    else:
        xp = np
    mod = module(backend)
    partial_k, final_k, scale_k = (mod.get_function(k) for k in KERNEL_NAMES.values())
    counts = [blocks or default_blocks(int(g.size), threads, backend) for g in grads]
    partial = xp.zeros(sum(counts), dtype=np.float32)
    out = xp.zeros(2, dtype=np.float32)
    with kernels.resident():
        offset = 0
        for g, b in zip(grads, counts):
            partial_k((b,), (threads,), (g, np.int64(g.size), partial[offset:]))
            offset += b
        final_k((1,), (threads,), (partial, np.int32(partial.size), np.float32(max_norm), out))
        for g, b in zip(grads, counts):
            scale_k((b,), (threads,), (g, np.int64(g.size), out))
    return float(out[0])


# -- float64 specs (what the kernels must compute), shared by reference tests -----------


def partials_spec(g: np.ndarray, blocks: int, threads: int) -> np.ndarray:
    """float64 ``partial[b]``: the sum of squares of block ``b``'s grid-stride share."""
    flat = np.asarray(g, dtype=np.float64).reshape(-1)
    owner = (np.arange(flat.size) // threads) % blocks
    return np.bincount(owner, weights=flat * flat, minlength=blocks)[:blocks]


def final_spec(partial: np.ndarray, max_norm: float, eps: float = EPS) -> tuple[float, float]:
    """float64 ``(out[0], out[1])`` of `k_grad_norm_final` (``eps=0``: without the guard)."""
    norm = math.sqrt(float(np.sum(np.asarray(partial, dtype=np.float64))))
    return norm, (max_norm / (norm + eps) if norm > max_norm else 1.0)

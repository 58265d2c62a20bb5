"""Reference implementations for lesson `05_three_kernels`.

Same names and signatures as the lesson's exercises: three CUDA C sources, compiled by
`kernels.RawKernel` (CuPy on a GPU, the CPU backend elsewhere), and the launcher that runs
them over a list of gradient arrays with one shared partials buffer.

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
with float64 NumPy specs (`autograder.kernel_checks`); these kernels drive the reference
launcher and are checked themselves in `tests/autograder/reference/test_three_kernels.py`.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np

#: Added to the norm in the scale's denominator, as PyTorch does (its `clip_coef`).
EPS = 1e-6

#: The most blocks `clip_grad_norm_kernels` gives one tensor's partial-norm launch. Beyond
#: this, more blocks only add partials to reduce; the grid-stride loop covers the rest.
MAX_BLOCKS_PER_TENSOR = 1024

K_GRAD_NORM_PARTIAL = r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    // One slot per thread, sized for the largest block the contract allows.
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // 1. Grid-stride loop: thread t of block b visits b*blockDim + t, then every
    //    blockDim*gridDim elements, so any n (not only multiples of the block) is covered.
    float acc = 0.0f;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += stride) {
        const float v = g[i];
        acc += v * v;
    }
    sums[t] = acc;
    __syncthreads();  // every slot is written before anyone reads a neighbour's

    // 2. Tree reduction in shared memory: halve the active threads each round.
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();  // this round's sums land before the next round reads them
    }

    // 3. One partial per block; written even when the block saw no element (it is 0).
    if (t == 0) {
        partial[blockIdx.x] = sums[0];
    }
}
"""

K_GRAD_NORM_FINAL = r"""
extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // Launched as one block: a block-stride loop lets any number of partials fit.
    float acc = 0.0f;
    for (int i = t; i < num_partials; i += blockDim.x) {
        acc += partial[i];
    }
    sums[t] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();
    }

    // The norm and the scale stay on the device: the scale kernel reads out[1].
    if (t == 0) {
        const float norm = sqrtf(sums[0]);
        out[0] = norm;
        out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}
"""

K_GRAD_SCALE = r"""
extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    const float scale = out[1];
    if (scale >= 1.0f) {
        return;  // no clip needed: skip every read and write of g
    }
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        g[i] *= scale;
    }
}
"""

#: `(exercise id, kernel name)` for the three kernels.
KERNEL_NAMES = {
    "K_GRAD_NORM_PARTIAL": "k_grad_norm_partial",
    "K_GRAD_NORM_FINAL": "k_grad_norm_final",
    "K_GRAD_SCALE": "k_grad_scale",
}


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

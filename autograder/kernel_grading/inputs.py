"""What the kernel checks feed the learner's kernels: data, launch shapes, shared memory."""

from __future__ import annotations

import dataclasses

import numpy as np

PARTIAL, FINAL, SCALE = "k_grad_norm_partial", "k_grad_norm_final", "k_grad_scale"
#: exercise id -> the kernel its source must define
KERNEL_OF = {"K_GRAD_NORM_PARTIAL": PARTIAL, "K_GRAD_NORM_FINAL": FINAL, "K_GRAD_SCALE": SCALE}
#: The contract's parameter types of each kernel, as (C type, pointer) pairs, and how the
#: contract writes the declaration (for messages).
CONTRACT = {
    PARTIAL: ((("float", True), ("long long", False), ("float", True)),
              "(const float* g, long long n, float* partial)"),
    FINAL: ((("float", True), ("int", False), ("float", False), ("float", True)),
            "(const float* partial, int num_partials, float max_norm, float* out)"),
    SCALE: ((("float", True), ("long long", False), ("float", True)),
            "(float* g, long long n, const float* out)"),
}

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024)

#: Relative tolerance for real-valued data: float32 sums of up to 10**5 squares.
RTOL_FLOAT32_SUM = 1e-4


def dynamic_shared_bytes(threads: int) -> int:
    """The dynamic shared memory every grader launch provides: ``blockDim.x *
    sizeof(double)`` bytes (the contract), so `extern __shared__` kernels work."""
    return int(threads) * np.dtype(np.float64).itemsize


def exact_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """float32 values from {±1, ±2, ±3}: every sum of their squares is exact in float32."""
    return (rng.integers(1, 4, size=n) * rng.choice([-1, 1], size=n)).astype(np.float32)


def real_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal float32 values at a scale between 1e-2 and 1e2."""
    return (rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Shape:
    """One launch: `n` values (or partials), `blocks` blocks of `threads` threads."""

    n: int
    blocks: int
    threads: int
    exact: bool = True

    def __str__(self) -> str:
        return f"n={self.n}, grid=({self.blocks},), block=({self.threads},)"


def partial_shapes(rng: np.random.Generator) -> list[Shape]:
    """Launch shapes for `k_grad_norm_partial` and `k_grad_scale`: a fixed core that covers
    every block size and the edge lengths, plus four shapes drawn fresh."""
    core = [
        Shape(0, 2, 32),                        # nothing to sum: every block writes 0
        Shape(1, 3, 64),                        # one value, two idle blocks
        Shape(127, 1, 128),                     # block - 1
        Shape(257, 1, 256),                     # block + 1 in one block: the loop wraps
        Shape(513, 2, 512),                     # block + 1 over two blocks
        Shape(1024 * 3 * 2 + 77, 3, 1024),      # odd, several passes of the whole grid
        Shape(40_003, 7, 32, exact=False),      # odd, real values, many passes
        Shape(100, 16, 64),                     # more blocks than the data needs
    ]
    drawn = []
    for _ in range(4):
        threads = int(rng.choice(BLOCK_SIZES))
        blocks = int(rng.integers(1, 10))
        n = int(rng.choice([threads - 1, threads + 1, threads * blocks + 1,
                            int(rng.integers(1, 20_000)) | 1]))
        drawn.append(Shape(n, blocks, threads, exact=bool(rng.random() < 0.7)))
    return core + drawn


def final_shapes(rng: np.random.Generator) -> list[Shape]:
    """`k_grad_norm_final` is one block; `n` is the number of partials."""
    core = [
        Shape(1, 1, 32),
        Shape(2, 1, 1024),                      # most threads have nothing to add
        Shape(63, 1, 64),                       # block - 1
        Shape(128, 1, 128),                     # exactly one per thread
        Shape(257, 1, 256),                     # block + 1: the last one must be read
        Shape(3 * 512 + 5, 1, 512),             # several partials per thread
        Shape(3 * 32 + 7, 1, 32, exact=False),
    ]
    drawn = []
    for _ in range(3):
        threads = int(rng.choice(BLOCK_SIZES))
        n = int(rng.choice([threads + 1, 2 * threads - 1, int(rng.integers(1, 3000))]))
        drawn.append(Shape(n, 1, threads, exact=bool(rng.random() < 0.5)))
    return core + drawn

"""The check of `K_GRAD_NORM_PARTIAL` (kernel 1): block sums of squares, grid-stride.

A sandbox job: `run_job("autograder.kernel_grading.partial:check_partial_kernel",
{"source": ..., "seed": ...})`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course import kernel_lab

from .inputs import PARTIAL, RTOL_FLOAT32_SUM, Shape, exact_values, partial_shapes, real_values
from .launching import compiled, launch, read_only


def diagnosis(got: np.ndarray, g: np.ndarray, shape: Shape) -> str:
    """Why `got` may differ from the spec: the likely mistake, in words."""
    blocks, threads = shape.blocks, shape.threads
    if np.isnan(got).any():
        b = int(np.flatnonzero(np.isnan(got))[0])
        return (f"partial[{b}] still holds the NaN the test put there: block {b} never wrote "
                "its slot, or added to it (`+=`) instead of writing it (`=`). Every block must "
                "write `partial[blockIdx.x] = ...`, even a block that got no elements (its sum "
                "is 0).")
    covered = min(g.size, blocks * threads)
    if covered != g.size and np.allclose(
            got, kernel_lab.partials_spec(g[:covered], blocks, threads), rtol=1e-5, atol=0.5):
        return ("only the first gridDim.x * blockDim.x values were summed: each thread must "
                "keep going in steps of blockDim.x * gridDim.x (a grid-stride loop) while "
                "i < n.")
    for unit in (threads, threads * blocks):
        whole = (g.size // unit) * unit
        if whole != g.size and np.allclose(
                got, kernel_lab.partials_spec(g[:whole], blocks, threads), rtol=1e-5, atol=0.5):
            return (f"the last {g.size - whole} value(s) are missing: your kernel assumes n is a "
                    "multiple of the block size (or of the grid). Loop `for (long long i = ...; "
                    "i < n; i += blockDim.x * gridDim.x)` so any n is covered.")
    if np.allclose(got, float(np.sum(np.square(g.astype(np.float64)))), rtol=1e-5, atol=0.5):
        return "every block summed the whole array: block b sums only its grid-stride share."
    return ("block b must write the sum of squares of g[i] for i = b*blockDim.x + t + "
            "k*blockDim.x*gridDim.x (t < blockDim.x, k = 0, 1, ...).")


def check_partial_kernel(source: Any, seed: int = 0, *,
                         exercise: str = "K_GRAD_NORM_PARTIAL") -> None:
    """`k_grad_norm_partial` over `partial_shapes`, under several thread schedules."""
    rng = np.random.default_rng(seed)
    kernel = compiled(source, PARTIAL, exercise)
    what = f"`{PARTIAL}` (seed {seed})"
    for shape in partial_shapes(rng):
        g = (exact_values if shape.exact else real_values)(rng, shape.n)
        g_dev = read_only(kernel_lab.to_device(g if g.size else np.zeros(1, np.float32)))
        partial = kernel_lab.to_device(np.full(shape.blocks, np.nan, np.float32))
        launch(kernel, shape, (g_dev, np.int64(shape.n), partial), what=what)
        got = kernel_lab.to_host(partial).astype(np.float64)
        want = kernel_lab.partials_spec(g, shape.blocks, shape.threads)
        rtol, atol = (0.0, 0.5) if shape.exact else (RTOL_FLOAT32_SUM, 1e-6)
        bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise AssertionError(
                f"{what} with {shape}: partial[{b}] is {got[b]:.8g}, expected {want[b]:.8g} "
                f"({int(bad.sum())} of {shape.blocks} partials differ). "
                f"{diagnosis(got, g, shape)}")

"""The check of `K_GRAD_NORM_FINAL` (kernel 2): one block, the norm and the clip scale.

A sandbox job: `run_job("autograder.kernel_grading.final:check_final_kernel",
{"source": ..., "seed": ...})`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from course import kernel_lab

from .inputs import FINAL, Shape, final_shapes
from .launching import compiled, launch, read_only

#: max_norm / norm for the cases: clip, no clip, on both sides of 1, never max_norm = 1.
FACTORS = (0.3, 1.7, 0.9, 2.5, 0.05)


def partials_for(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Partials: integers (their sum, below 2**24, is exact in any order) or real values
    whose norm may be well below 1."""
    if shape.exact:
        return rng.integers(1, 101, size=shape.n).astype(np.float32)
    return (rng.uniform(0.0, 4.0, size=shape.n) * 10.0 ** rng.uniform(-3, 2)).astype(np.float32)


def diagnosis(out0: float, partial: np.ndarray, threads: int) -> str:
    p = partial.astype(np.float64)
    guesses = [
        (math.sqrt(p[:threads].sum()), "only partial[threadIdx.x] was read: with more "
         "partials than threads, loop `for (int i = threadIdx.x; i < num_partials; "
         "i += blockDim.x)`."),
        (math.sqrt(p[:-1].sum()), "the last partial was dropped: "
         "sum all `num_partials` of them (check `<` against `<=` and the loop's start)."),
        (float(p.sum()), "out[0] is the sum of squares: take its square root (sqrtf)."),
        (math.sqrt(p[0]), "out[0] holds partial[0] alone: reduce every partial, then write."),
    ]
    for value, why in guesses:
        if math.isfinite(value) and math.isclose(out0, value, rel_tol=2e-6, abs_tol=1e-12):
            return why
    return ""


def scale_problem(out0: float, out1: float, max_norm: float, clip: bool) -> str:
    """"" if `out1` is the scale for the kernel's own `out0` (either rule), else why not."""
    rules = [max_norm / (out0 + 1e-6), max_norm / out0] if clip else [1.0]
    if any(math.isclose(out1, r, rel_tol=1e-5) for r in rules):
        return ""
    if clip and math.isclose(out1, 1.0, rel_tol=1e-6):
        why = "the norm exceeds max_norm, so the gradients must shrink."
    elif not clip and out1 > 1.0:
        why = ("the norm is below max_norm: out[1] must be 1.0 (clipping never scales small "
               "gradients up).")
    elif clip and math.isclose(out1, out0 / max_norm, rel_tol=1e-4):
        why = "the ratio is inverted: the scale is max_norm / norm."
    else:
        why = "out[1] = max_norm / (out[0] + 1e-6) when out[0] > max_norm, else 1.0."
    return f"out[1] is {out1:.8g}, expected {rules[0]:.8g} (norm {out0:.8g}). {why}"


def check_final_kernel(source: Any, seed: int = 0, *,
                       exercise: str = "K_GRAD_NORM_FINAL") -> None:
    """`k_grad_norm_final` as one block over `final_shapes`, with `max_norm` above and below
    the norm (never 1.0); either scale rule (with or without the `+1e-6`) is accepted."""
    rng = np.random.default_rng(seed)
    kernel = compiled(source, FINAL, exercise)
    what = f"`{FINAL}` (seed {seed})"
    shapes = final_shapes(rng)
    cases = [(s, FACTORS[i % len(FACTORS)]) for i, s in enumerate(shapes)]
    cases.append((Shape(0, 1, 256), 0.5))  # no partials at all (an empty gradient list)
    for shape, factor in cases:
        partial = partials_for(rng, shape)
        norm64 = math.sqrt(float(partial.astype(np.float64).sum()))
        max_norm = float(np.float32(norm64 * factor if norm64 else 0.5))
        p_dev = read_only(kernel_lab.to_device(partial if partial.size
                                               else np.full(1, np.nan, np.float32)))
        out = kernel_lab.to_device(np.full(2, np.nan, np.float32))
        args = (p_dev, np.int32(shape.n), np.float32(max_norm), out)
        label = (f"{what} with num_partials={shape.n}, block=({shape.threads},), "
                 f"max_norm={max_norm:.6g}")
        launch(kernel, shape, args, what=what)
        out0, out1 = (float(v) for v in kernel_lab.to_host(out))
        # out[0]: exact data are compared through out[0]**2 against the exact integer sum.
        if shape.exact:
            ok0 = math.isfinite(out0) and abs(out0 * out0 - norm64 * norm64) < 0.5
        else:
            ok0 = math.isclose(out0, norm64, rel_tol=1e-5, abs_tol=1e-12)
        if not ok0:
            raise AssertionError(f"{label}: out[0] is {out0:.8g}, expected the norm "
                                 f"{norm64:.8g}. {diagnosis(out0, partial, shape.threads)}")
        # out[1]: the scale, computed from the kernel's own out[0]; both rules accepted.
        problem = scale_problem(out0, out1, max_norm, norm64 > max_norm)
        if problem:
            raise AssertionError(f"{label}: {problem}")

"""The check of `K_GRAD_SCALE` (kernel 3): multiply by out[1], or touch nothing.

A sandbox job: `run_job("autograder.kernel_grading.scale:check_scale_kernel",
{"source": ..., "seed": ...})`.

``out`` is what kernel 2 leaves: ``[norm, max_norm / (norm + 1e-6)]`` with `max_norm` drawn
independently of the norm, so ``out[0]`` is never ``1 / out[1]`` (a kernel dividing by the
norm is not mistaken for one multiplying by the scale), and norms fall on both sides of 1
in the cases that clip and in those that do not (a kernel deciding from ``out[0]`` alone,
as if `max_norm` were 1, goes wrong).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course import kernel_lab

from .inputs import BLOCK_SIZES, SCALE, Shape, partial_shapes, real_values
from .launching import compiled, launch, read_only


def clip_out(rng: np.random.Generator, small_norm: bool) -> np.ndarray:
    """``[norm, scale]`` with ``scale < 1``: the norm from 0.03 to 0.6 (`small_norm`) or
    from 1.6 to 30, the scale from 0.05 to 0.95, drawn apart (``max_norm = scale * (norm +
    1e-6)`` is anything but 1)."""
    norm = float(10.0 ** (rng.uniform(-1.5, -0.2) if small_norm else rng.uniform(0.2, 1.5)))
    scale = float(rng.uniform(0.05, 0.95))
    if abs(norm * scale - 1.0) < 0.05:   # max_norm near 1: move the norm away
        norm *= 3.0
    return np.array([norm, scale], dtype=np.float32)


def _wrong_scale_why(got: np.ndarray, g: np.ndarray, out: np.ndarray, i: int) -> str:
    if np.array_equal(got[i:], g[i:]) and i > 0:
        return (f"values from index {i} on were not scaled: use a grid-stride loop "
                "(`i += blockDim.x * gridDim.x`) with the bound `i < n`, so any n and any "
                "grid size are covered.")
    if np.array_equal(got, g):
        return "nothing was scaled although out[1] < 1."
    if np.allclose(got, g / out[0], rtol=1e-5, atol=0.0):
        return ("g was divided by out[0], the norm: every g[i] must become g[i] * out[1], "
                "the scale kernel 2 computed (max_norm / norm), which is not 1 / norm unless "
                "max_norm is 1.")
    if np.allclose(got, g * out[0], rtol=1e-5, atol=0.0):
        return ("g was multiplied by out[0], the norm: every g[i] must become g[i] * out[1], "
                "the scale.")
    return "every g[i] must become g[i] * out[1]."


def check_scale_kernel(source: Any, seed: int = 0, *, exercise: str = "K_GRAD_SCALE") -> None:
    """`k_grad_scale` over `partial_shapes` with scales below 1 (compared with float32
    ``g * out[1]``), then with ``out[1]`` of 1.0 and 1.5, where `g` must stay untouched:
    read-only on the CPU backend, and on a GPU a kernel that always writes multiplies by
    1.5 and is seen."""
    rng = np.random.default_rng(seed)
    kernel = compiled(source, SCALE, exercise)
    what = f"`{SCALE}` (seed {seed})"
    for k, shape in enumerate(partial_shapes(rng)):
        g = real_values(rng, shape.n)
        out = clip_out(rng, small_norm=k % 2 == 0)
        label = f"out=[{out[0]:.6g}, {out[1]:.6g}]"
        g_dev = kernel_lab.to_device(g if g.size else np.zeros(1, np.float32))
        out_dev = read_only(kernel_lab.to_device(out))
        launch(kernel, shape, (g_dev, np.int64(shape.n), out_dev), what=f"{what} with {label}")
        got = kernel_lab.to_host(g_dev)[: shape.n]
        want = kernel_lab.scale_spec(g, out)
        bad = ~np.isclose(got, want, rtol=1e-6, atol=0.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AssertionError(f"{what} with {shape}, {label}: g[{i}] is {got[i]:.8g}, "
                                 f"expected {want[i]:.8g} ({int(bad.sum())} of {shape.n} "
                                 f"differ). {_wrong_scale_why(got, g, out, i)}")
    # No clip: out[1] >= 1, with norms below and above 1.
    for scale, norm in ((1.0, float(10.0 ** rng.uniform(0.3, 1.5))),
                        (1.5, float(10.0 ** rng.uniform(-1.5, -0.3)))):
        shape = Shape(int(rng.integers(300, 3000)) | 1, 3, int(rng.choice(BLOCK_SIZES)))
        g = real_values(rng, shape.n)
        g_dev = read_only(kernel_lab.to_device(g))
        out_dev = read_only(kernel_lab.to_device(np.array([norm, scale], np.float32)))
        label = f"{what} with {shape}, out=[{norm:.6g}, {scale:g}]"
        try:
            launch(kernel, shape, (g_dev, np.int64(shape.n), out_dev),
                   what=f"{what} with out[1]={scale:g}", schedules=False)
        except AssertionError as exc:
            raise AssertionError(f"{exc} — when out[1] >= 1 no clip is needed and "
                                 "`k_grad_scale` must not touch g at all: return before the "
                                 "loop (`if (out[1] >= 1.0f) return;`).") from None
        if not np.array_equal(kernel_lab.to_host(g_dev), g):
            raise AssertionError(f"{label}: g changed. When out[1] >= 1 no clip is needed and "
                                 "`k_grad_scale` must leave g untouched (and not write it).")

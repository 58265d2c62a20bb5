"""Fresh random inputs for hidden tests: shapes, gradient lists, a seeded generator."""

from __future__ import annotations

import numpy as np
import torch

from ..verdict.registry import SeededGenerator, fresh_rng  # noqa: F401 - re-exported


def random_shape(rng: np.random.Generator, max_dims: int = 3, max_size: int = 7) -> tuple[int, ...]:
    dims = int(rng.integers(0, max_dims + 1))
    return tuple(int(s) for s in rng.integers(1, max_size + 1, size=dims))


def random_grads(rng: np.random.Generator, *, max_tensors: int = 6, allow_none: bool = True,
                 dtype: torch.dtype = torch.float32) -> list[torch.Tensor | None]:
    """A list of 0–`max_tensors` gradient tensors of mixed shapes and scales (some `None`)."""
    count = int(rng.integers(0, max_tensors + 1))
    scale = float(10.0 ** rng.uniform(-3, 3))
    grads: list[torch.Tensor | None] = []
    for _ in range(count):
        if allow_none and rng.random() < 0.15:
            grads.append(None)
            continue
        values = rng.standard_normal(random_shape(rng)) * scale
        grads.append(torch.as_tensor(values, dtype=dtype))
    return grads

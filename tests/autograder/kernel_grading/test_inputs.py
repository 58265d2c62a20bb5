"""`autograder.kernel_grading.inputs`: the shapes cover the contract, exact data stay exact."""

from __future__ import annotations

import numpy as np

from autograder.kernel_grading import inputs


def test_shapes_cover_the_contract():
    rng = np.random.default_rng(0)
    shapes = inputs.partial_shapes(rng)
    assert {s.threads for s in shapes} >= set(inputs.BLOCK_SIZES)
    assert {0, 1} <= {s.n for s in shapes}
    assert any(s.n == s.threads - 1 for s in shapes) and any(s.n == s.threads + 1 for s in shapes)
    assert any(s.n % 2 and s.n > 10_000 for s in shapes)                 # odd, large
    assert any(s.blocks * s.threads > s.n > 0 for s in shapes)           # idle threads
    assert any(s.n > 2 * s.blocks * s.threads for s in shapes)           # several passes
    assert len({s.blocks for s in shapes}) >= 4
    finals = inputs.final_shapes(rng)
    assert all(s.blocks == 1 for s in finals)
    assert any(s.n > 2 * s.threads for s in finals) and any(s.n < s.threads for s in finals)


def test_exact_values_sum_exactly_in_float32():
    rng = np.random.default_rng(0)
    v = inputs.exact_values(rng, 100_003)
    assert set(np.unique(np.abs(v))) <= {1.0, 2.0, 3.0}
    total32 = np.float32(0)
    for x in v[:5000]:
        total32 = np.float32(total32 + x * x)
    assert float(total32) == float(np.sum(v[:5000].astype(np.float64) ** 2))


def test_dynamic_shared_memory_is_a_double_per_thread():
    assert [inputs.dynamic_shared_bytes(t) for t in (32, 1024)] == [256, 8192]


def test_contract_names_every_kernel():
    assert set(inputs.KERNEL_OF.values()) == set(inputs.CONTRACT)

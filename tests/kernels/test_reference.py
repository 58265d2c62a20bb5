"""The reference three-kernel clip (lesson 05's solution, `autograder/cuda/grad_clip.cu`,
through `autograder.reference.three_kernels`) against float64 NumPy and torch, on every
backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kernels
from autograder.reference import three_kernels as ref

from .conftest import to_numpy, xp_of


def mod(backend):
    return ref.module(backend)


def norm64(arrays):
    return float(np.sqrt(sum((np.asarray(a, np.float64) ** 2).sum() for a in arrays)))


@pytest.mark.parametrize("threads", [32, 64, 128, 256, 512, 1024])
@pytest.mark.parametrize("n,grid", [(0, 1), (1, 1), (255, 1), (257, 2), (257, 1), (10_007, 3),
                                    (100_003, 17), (65_537, 64)])
def test_partial_sums_of_squares(backend, threads, n, grid):
    xp = xp_of(backend)
    g = np.random.default_rng(n + threads).standard_normal(n).astype(np.float32)
    partial = xp.full(grid, -1.0, dtype=np.float32)
    mod(backend).get_function("k_grad_norm_partial")((grid,), (threads,), (xp.asarray(g), np.int64(n), partial))
    stride = grid * threads
    idx = np.arange(n)
    expect = [float((g[(idx // threads) % grid == b].astype(np.float64) ** 2).sum()) for b in range(grid)]
    del stride
    np.testing.assert_allclose(to_numpy(partial), expect, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [32, 256, 1024])
@pytest.mark.parametrize("num,max_norm", [(1, 1.0), (5, 100.0), (1000, 3.0), (4097, 1e6)])
def test_final_norm_and_scale_factor(backend, threads, num, max_norm):
    xp = xp_of(backend)
    partial = np.random.default_rng(num).random(num).astype(np.float32)
    out = xp.zeros(2, dtype=np.float32)
    mod(backend).get_function("k_grad_norm_final")(
        (1,), (threads,), (xp.asarray(partial), np.int32(num), np.float32(max_norm), out))
    norm = np.sqrt(partial.astype(np.float64).sum())
    got = to_numpy(out)
    assert got[0] == pytest.approx(norm, rel=1e-5)
    assert got[1] == pytest.approx(max_norm / (norm + 1e-6) if norm > max_norm else 1.0, rel=1e-5)


def test_scale_kernel_does_not_write_when_no_clip_is_needed():
    g = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    g.flags.writeable = False           # any write would fault
    out = np.array([3.0, 1.0], np.float32)
    mod("cpu").get_function("k_grad_scale")((4,), (256,), (g, np.int64(g.size), out))
    out[1] = 0.5
    with pytest.raises(kernels.KernelError, match="read-only"):
        mod("cpu").get_function("k_grad_scale")((4,), (256,), (g, np.int64(g.size), out))


def test_scale_kernel_writes_only_when_clipping():
    k = mod("cpu").get_function("k_grad_scale")
    g = np.ones(3000, np.float32)
    out = np.array([1.0, 1.0], np.float32)
    k((3,), (256,), (g, np.int64(g.size), out))
    assert kernels.last_written() == ()
    out[1] = 0.5
    k((3,), (256,), (g, np.int64(g.size), out))
    assert kernels.last_written() == ("g",) and (g == 0.5).all()


@pytest.mark.parametrize("sizes", [[0], [1], [255], [257], [3, 0, 1000, 1], [100_003, 7, 65_536]])
@pytest.mark.parametrize("max_norm", [0.5, 1e9])
def test_clip_grad_norm_matches_float64(backend, sizes, max_norm):
    xp = xp_of(backend)
    rng = np.random.default_rng(sum(sizes))
    host = [rng.standard_normal(s).astype(np.float32) * 3 for s in sizes]
    grads = [xp.asarray(h.copy()) for h in host]
    norm = ref.clip_grad_norm(grads, max_norm)
    expect = norm64(host)
    assert norm == pytest.approx(expect, rel=1e-5, abs=1e-6)
    scale = max_norm / (expect + 1e-6) if expect > max_norm else 1.0
    for h, g in zip(host, grads):
        np.testing.assert_allclose(to_numpy(g), h.astype(np.float64) * scale, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("threads", [32, 128, 1024])
@pytest.mark.parametrize("blocks", [1, 2, 5, 40])
def test_clip_with_every_block_size_and_grid(threads, blocks):
    host = [np.random.default_rng(threads + blocks).standard_normal(s).astype(np.float32) for s in (777, 3, 4096)]
    grads = [h.copy() for h in host]
    norm = ref.clip_grad_norm(grads, 1.0, threads=threads, blocks=blocks)
    assert norm == pytest.approx(norm64(host), rel=1e-5)
    assert norm64(grads) == pytest.approx(1.0, rel=1e-5)


def test_matches_torch_clip_grad_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    host = [rng.standard_normal(s).astype(np.float32) for s in [(64, 33), (33,), (10, 3, 5)]]
    params = [torch.nn.Parameter(torch.zeros(h.shape)) for h in host]
    for p, h in zip(params, host):
        p.grad = torch.from_numpy(h.copy())
    tnorm = torch.nn.utils.clip_grad_norm_(params, 2.0)
    grads = [h.copy() for h in host]
    norm = ref.clip_grad_norm(grads, 2.0)
    assert norm == pytest.approx(float(tnorm), rel=1e-5)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_empty_list_and_argument_checks():
    assert ref.clip_grad_norm([], 1.0) == 0.0
    with pytest.raises(ValueError, match="`threads`"):
        ref.clip_grad_norm([np.ones(3, np.float32)], 1.0, threads=100)
    with pytest.raises(TypeError, match=r"`grads\[1\]`"):
        ref.clip_grad_norm([np.ones(3, np.float32), np.ones(3)], 1.0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=4),
       scale=st.floats(1e-3, 1e3), max_norm=st.floats(1e-2, 1e2))
def test_clip_property(sizes, scale, max_norm):
    rng = np.random.default_rng(len(sizes))
    host = [(rng.standard_normal(s) * scale).astype(np.float32) for s in sizes]
    grads = [h.copy() for h in host]
    norm = ref.clip_grad_norm(grads, max_norm, threads=64)
    expect = norm64(host)
    assert norm == pytest.approx(expect, rel=1e-5, abs=1e-30)
    after = norm64(grads)
    assert after <= max_norm * (1 + 1e-5) or after == pytest.approx(expect, rel=1e-6)


def test_chunked_source_compiles_on_cpu():
    m = kernels.RawModule(code=ref.source("grad_clip_chunked.cu"), backend="cpu")
    m.compile()
    assert m.get_function("k_grad_norm_partial_chunked").signature.names[-1] == "partial"

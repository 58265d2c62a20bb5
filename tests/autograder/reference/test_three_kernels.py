"""The reference of lesson 05 (three kernels) against float64 NumPy and against PyTorch.

The reference kernels run on the backend in force (`kernels.backend()`: the CPU backend
here, CuPy on a GPU machine). Every kernel result is compared with a float64 computation
written independently of the kernels; the launcher with `torch.nn.utils.clip_grad_norm_`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from autograder.reference import three_kernels as ref
from course import kernel_lab
from kernels.signature import find_kernels

ON_CPU = kernels.backend() == "cpu"
THREADS = st.sampled_from([32, 64, 128, 256, 512, 1024])


def _partial_k():
    return ref._compiled()[0]


def _final_k():
    return ref._compiled()[1]


def _scale_k():
    return ref._compiled()[2]


def test_sources_define_the_contract_signatures():
    wanted = {
        "K_GRAD_NORM_PARTIAL": ("k_grad_norm_partial",
                                [("g", "const float*"), ("n", "long long"), ("partial", "float*")]),
        "K_GRAD_NORM_FINAL": ("k_grad_norm_final",
                              [("partial", "const float*"), ("num_partials", "int"),
                               ("max_norm", "float"), ("out", "float*")]),
        "K_GRAD_SCALE": ("k_grad_scale",
                         [("g", "float*"), ("n", "long long"), ("out", "const float*")]),
    }
    for variable, (name, params) in wanted.items():
        source = getattr(ref, variable)
        assert 'extern "C" __global__ void ' + name in source
        sig = find_kernels(source)[name]
        assert [(p.name, p.decl) for p in sig.params] == params
        assert ref.KERNEL_NAMES[variable] == name


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 5000), blocks=st.integers(1, 12), threads=THREADS,
       seed=st.integers(0, 2**32 - 1))
def test_partial_matches_float64(n, blocks, threads, seed):
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
    got = kernel_lab.run_partial(_partial_k(), g, blocks, threads)
    # Independent float64 computation: block b owns i with (i // threads) % blocks == b.
    want = np.zeros(blocks)
    g64 = g.astype(np.float64)
    for b in range(blocks):
        owned = [i for i in range(n) if (i // threads) % blocks == b]
        want[b] = float(np.sum(g64[owned] ** 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("threads", [32, 64, 128, 256, 512, 1024])
def test_partial_edge_lengths_exact(threads):
    rng = np.random.default_rng(threads)
    for n in (0, 1, threads - 1, threads, threads + 1, 3 * threads * 2 + 5):
        for blocks in (1, 2, 5):
            g = rng.integers(-3, 4, size=n).astype(np.float32)
            got = kernel_lab.run_partial(_partial_k(), g, blocks, threads, schedules=True)
            np.testing.assert_array_equal(got, kernel_lab.partials_spec(g, blocks, threads))


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 4000), threads=THREADS, factor=st.sampled_from([0.1, 0.7, 1.5]),
       seed=st.integers(0, 2**32 - 1))
def test_final_matches_float64(count, threads, factor, seed):
    rng = np.random.default_rng(seed)
    partial = (rng.uniform(0, 3, size=count) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)
    norm = math.sqrt(float(np.sum(partial.astype(np.float64))))
    max_norm = norm * factor if norm else 0.5
    out = kernel_lab.run_final(_final_k(), partial, max_norm, threads, schedules=count < 600)
    assert out[0] == pytest.approx(norm, rel=1e-5, abs=1e-30)
    if norm > np.float32(max_norm):
        assert out[1] == pytest.approx(max_norm / (norm + 1e-6), rel=1e-5)
    else:
        assert out[1] == 1.0


def test_final_with_no_partials_is_zero_norm_and_unit_scale():
    out = kernel_lab.run_final(_final_k(), np.zeros(0, np.float32), 0.5, 256)
    assert out.tolist() == [0.0, 1.0]


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 6000), blocks=st.integers(1, 9), threads=THREADS,
       scale=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_scale_multiplies_in_float32(n, blocks, threads, scale, seed):
    g = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    got = kernel_lab.run_scale(_scale_k(), g, [1.0, scale], blocks, threads)
    np.testing.assert_array_equal(got, g * np.float32(scale))


@pytest.mark.parametrize("scale", [1.0, 1.5, float("inf")])
def test_scale_touches_nothing_at_or_above_one(scale):
    g = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    g_dev = kernel_lab.to_device(g)
    out = kernel_lab.to_device(np.array([0.3, scale], np.float32))
    if ON_CPU:
        g_dev.flags.writeable = False  # a write would be a KernelError
    _scale_k()((3,), (256,), (g_dev, np.int64(g.size), out))
    np.testing.assert_array_equal(kernel_lab.to_host(g_dev), g)


def _torch_clip(host: list[np.ndarray], max_norm: float) -> tuple[float, list[np.ndarray]]:
    params = []
    for h in host:
        p = torch.nn.Parameter(torch.zeros(h.shape))
        p.grad = torch.from_numpy(h.copy())
        params.append(p)
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return norm, [p.grad.numpy() for p in params]


@settings(max_examples=15, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(0, 40), min_size=0, max_size=3), min_size=1,
                       max_size=6),
       factor=st.sampled_from([0.2, 0.9, 3.0]), threads=THREADS, seed=st.integers(0, 2**32 - 1))
def test_launcher_matches_torch_and_float64(shapes, factor, threads, seed):
    rng = np.random.default_rng(seed)
    host = [rng.standard_normal(tuple(s)).astype(np.float32) for s in shapes]
    norm64 = math.sqrt(sum(float(np.sum(h.astype(np.float64) ** 2)) for h in host))
    max_norm = norm64 * factor if norm64 else 1.0
    grads = [kernel_lab.to_device(h) for h in host]
    got = ref.clip_grad_norm_kernels(grads, max_norm, threads)
    assert isinstance(got, float)
    assert got == pytest.approx(norm64, rel=1e-5, abs=1e-30)
    torch_norm, torch_grads = _torch_clip(host, max_norm)
    assert got == pytest.approx(torch_norm, rel=1e-5, abs=1e-30)
    for g, h, t in zip(grads, host, torch_grads):
        after = kernel_lab.to_host(g)
        assert after.shape == h.shape and after.dtype == np.float32
        if norm64 > max_norm:
            np.testing.assert_allclose(after, h.astype(np.float64) * (max_norm / norm64),
                                       rtol=1e-5, atol=1e-30)
            np.testing.assert_allclose(after, t, rtol=1e-5, atol=1e-30)
        else:
            np.testing.assert_array_equal(after, h)  # not even rewritten


def test_launcher_empty_list_and_empty_tensors():
    assert ref.clip_grad_norm_kernels([], 1.0) == 0.0
    grads = [kernel_lab.to_device(np.zeros((0, 3), np.float32)),
             kernel_lab.to_device(np.array([3.0, 4.0], np.float32))]
    assert ref.clip_grad_norm_kernels(grads, 1.0, 32) == pytest.approx(5.0)
    np.testing.assert_allclose(kernel_lab.to_host(grads[1]), [0.6, 0.8], rtol=1e-6)
    assert kernel_lab.to_host(grads[0]).shape == (0, 3)


def test_launcher_caps_blocks_per_tensor():
    assert ref.blocks_for(0, 256) == 0
    assert ref.blocks_for(257, 256) == 2
    assert ref.blocks_for(10**9, 256) == ref.MAX_BLOCKS_PER_TENSOR


def test_exercise_and_tuned_launchers_agree():
    """`clip_grad_norm_kernels` (the lesson's grid) and `clip_grad_norm` (tuned per backend,
    one module of grad_clip.cu) give the same clip."""
    rng = np.random.default_rng(7)
    host = [rng.standard_normal(s).astype(np.float32) for s in [(64, 33), (5,), (1000,)]]
    a = [kernel_lab.to_device(h) for h in host]
    b = [kernel_lab.to_device(h) for h in host]
    norm_a = ref.clip_grad_norm_kernels(a, 1.5, 128)
    norm_b = ref.clip_grad_norm(b, 1.5, 128)
    assert norm_a == pytest.approx(norm_b, rel=1e-6)
    for x, y in zip(a, b):
        np.testing.assert_allclose(kernel_lab.to_host(x), kernel_lab.to_host(y), rtol=1e-6)


def test_exercise_sources_are_cut_from_the_one_cu_file():
    """`grad_clip.cu` is the only copy: the three strings are its kernels, in order, each
    a self-contained source that defines exactly its kernel."""
    text = ref.source()
    bodies = [getattr(ref, var).strip("\n") for var in ref.KERNEL_NAMES]
    positions = [text.index(body) for body in bodies]
    assert positions == sorted(positions)
    for var, name in ref.KERNEL_NAMES.items():
        src = getattr(ref, var)
        assert src.startswith('\nextern "C" __global__ void ' + name + "(") and src.endswith("\n}\n")
        assert set(find_kernels(src)) == {name}
    assert set(find_kernels(text)) == set(ref.KERNEL_NAMES.values())
    with pytest.raises(ValueError, match="k_missing"):
        ref.kernel_source("k_missing")


def test_the_learners_package_holds_no_solution():
    """Neither the sources nor a launcher of the reference are in `kernels`."""
    import kernels

    root = Path(kernels.__file__).parent
    assert not list(root.rglob("*.cu"))
    for py in root.rglob("*.py"):
        assert "k_grad_norm_partial" not in py.read_text(), py
    assert not (root / "reference.py").exists() and not (root / "cuda").exists()


def test_float64_specs_agree_with_course_helpers():
    g = np.random.default_rng(3).standard_normal(999).astype(np.float32)
    np.testing.assert_array_equal(ref.partials_spec(g, 7, 32), kernel_lab.partials_spec(g, 7, 32))
    assert ref.final_spec([1.0, 3.0], 1.0) == tuple(kernel_lab.final_spec([1.0, 3.0], 1.0))

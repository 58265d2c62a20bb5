"""`autograder.kernel_checks`: the reference passes every check on fresh seeds; each
plausible mistake fails with words that name it; the launch hooks leave `kernels` as they
found it; the asynchronous model catches a host read between kernels and nothing else.

(The lesson's own variants, through its test cells, are in tests/lessons/.)
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import kernels
from autograder import kernel_checks as kc
from autograder.checks import SeededGenerator
from autograder.reference import three_kernels as ref
from course import kernel_lab

ON_CPU = kernels.backend() == "cpu"
cpu_only = pytest.mark.skipif(not ON_CPU, reason="schedules and read-only arrays exist only "
                                                 "on the CPU backend")


def _without(source: str, old: str, new: str = "") -> str:
    assert old in source
    return source.replace(old, new)


LOOP_BARRIER = "        __syncthreads();  // this round's sums land before the next round reads them\n"


# -- the reference passes, on several fresh seeds -----------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_kernels_pass(seed):
    kc.check_partial_kernel(ref.K_GRAD_NORM_PARTIAL, rng=SeededGenerator(seed))
    kc.check_final_kernel(ref.K_GRAD_NORM_FINAL, rng=SeededGenerator(seed))
    kc.check_scale_kernel(ref.K_GRAD_SCALE, rng=SeededGenerator(seed))


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_launchers_pass(seed):
    kc.check_launcher(ref.clip_grad_norm_kernels, rng=SeededGenerator(seed))
    kc.check_launcher(ref.clip_grad_norm, rng=SeededGenerator(seed))  # the tuned one


def test_shapes_cover_the_contract():
    rng = SeededGenerator(0)
    shapes = kc.partial_shapes(rng)
    assert {s.threads for s in shapes} >= set(kc.BLOCK_SIZES)
    assert {0, 1} <= {s.n for s in shapes}
    assert any(s.n == s.threads - 1 for s in shapes) and any(s.n == s.threads + 1 for s in shapes)
    assert any(s.n % 2 and s.n > 10_000 for s in shapes)                 # odd, large
    assert any(s.blocks * s.threads > s.n > 0 for s in shapes)           # idle threads
    assert any(s.n > 2 * s.blocks * s.threads for s in shapes)           # several passes
    assert len({s.blocks for s in shapes}) >= 4
    finals = kc.final_shapes(rng)
    assert all(s.blocks == 1 for s in finals)
    assert any(s.n > 2 * s.threads for s in finals) and any(s.n < s.threads for s in finals)


def test_exact_values_sum_exactly_in_float32():
    rng = SeededGenerator(0)
    v = kc.exact_values(rng, 100_003)
    assert set(np.unique(np.abs(v))) <= {1.0, 2.0, 3.0}
    total32 = np.float32(0)
    for x in v[:5000]:
        total32 = np.float32(total32 + x * x)
    assert float(total32) == float(np.sum(v[:5000].astype(np.float64) ** 2))


# -- each mistake fails, in words ----------------------------------------------------------


@cpu_only
def test_partial_missing_barrier_is_a_thread_order_failure():
    with pytest.raises(AssertionError, match="depends on thread order.*__syncthreads") as e:
        kc.check_partial_kernel(_without(ref.K_GRAD_NORM_PARTIAL, LOOP_BARRIER),
                                rng=SeededGenerator(4))
    assert "never written" not in str(e.value) and "blockDim.x / 2" not in str(e.value)


@cpu_only
def test_partial_fixed_tree_start_is_an_uninitialized_read():
    """A tree that starts at 512 reads slots a 32-thread block never wrote: reported as an
    uninitialized read (slot, line, the fix), not as a race or as a generic error."""
    source = _without(ref.K_GRAD_NORM_PARTIAL, "half = blockDim.x / 2;", "half = 512;")
    with pytest.raises(AssertionError) as e:
        kc.check_partial_kernel(source, rng=SeededGenerator(4))
    message = str(e.value)
    assert re.search(r"reads shared memory that was never written — line \d+ of your kernel "
                     r"reads `sums\[\d+\]`", message), message
    assert "blockDim.x / 2" in message
    assert "UninitializedSharedError" not in message and "thread order" not in message


def test_uninitialized_message_without_a_traced_slot_quotes_the_runtime():
    """Without the traced run's slot and line, the runtime's own words say what changed."""
    exc = kernels.UninitializedSharedError("`partial`[0] is 1.0 when ... but 2.0 when ...",
                                           kernel="k", argument="partial", index=0)
    message = kc._uninitialized_message(exc, "`k` with n=1")
    assert message.startswith("`k` with n=1: your kernel reads shared memory that was never "
                              "written — `partial`[0] is 1.0")
    assert message.endswith(kc.UNINITIALIZED_HINT)


def test_partial_idle_blocks_must_write():
    source = _without(ref.K_GRAD_NORM_PARTIAL, "    if (t == 0) {\n        partial",
                      "    if (t == 0 && blockIdx.x * blockDim.x < n) {\n        partial")
    with pytest.raises(AssertionError, match=r"partial\[\d+\] still holds the NaN"):
        kc.check_partial_kernel(source, rng=SeededGenerator(5))


def test_partial_without_grid_stride_loop():
    source = _without(ref.K_GRAD_NORM_PARTIAL, "i += stride", "i += n")  # one pass only
    with pytest.raises(AssertionError, match="grid-stride"):
        kc.check_partial_kernel(source, rng=SeededGenerator(6))


def test_final_reading_one_partial_per_thread():
    source = _without(ref.K_GRAD_NORM_FINAL, "i < num_partials; i += blockDim.x",
                      "i < num_partials && i < (int)blockDim.x; i += blockDim.x")
    with pytest.raises(AssertionError, match=r"only partial\[threadIdx.x\] was read"):
        kc.check_final_kernel(source, rng=SeededGenerator(7))


def test_final_scaling_up_small_gradients():
    source = _without(ref.K_GRAD_NORM_FINAL, "(norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f",
                      "max_norm / norm")
    with pytest.raises(AssertionError, match="never scales small gradients up"):
        kc.check_final_kernel(source, rng=SeededGenerator(8))


def test_final_without_the_guard_is_accepted():
    source = _without(ref.K_GRAD_NORM_FINAL, "max_norm / (norm + 1e-6f)", "max_norm / norm")
    kc.check_final_kernel(source, rng=SeededGenerator(9))


def test_scale_that_always_writes():
    source = _without(ref.K_GRAD_SCALE, "    if (scale >= 1.0f) {\n"
                      "        return;  // no clip needed: skip every read and write of g\n    }\n")
    with pytest.raises(AssertionError, match="must not touch g"):
        kc.check_scale_kernel(source, rng=SeededGenerator(10))


def test_unanswered_and_broken_sources():
    with pytest.raises(AssertionError, match="not written yet"):
        kc.check_scale_kernel(None)
    with pytest.raises(AssertionError, match="K_GRAD_SCALE.*does not compile"):
        kc.check_scale_kernel(ref.K_GRAD_SCALE.replace("return;", "return"))
    with pytest.raises(AssertionError, match="does not define `k_grad_scale`"):
        kc.check_scale_kernel(ref.K_GRAD_NORM_FINAL)


# -- argument types ------------------------------------------------------------------------


def test_check_arguments_follows_cupy_conversions():
    a = kernel_lab.to_device(np.zeros(4, np.float32))
    kc.check_arguments(kc.PARTIAL, (a, 10, a))                # Python int -> long long: fine
    kc.check_arguments(kc.FINAL, (a, np.int32(3), np.float32(1.0), a))
    with pytest.raises(AssertionError, match=r"`int num_partials`.*Python int.*numpy\.int32"):
        kc.check_arguments(kc.FINAL, (a, 3, np.float32(1.0), a))
    with pytest.raises(AssertionError, match=r"`float max_norm`.*Python float.*double.*numpy\.float32"):
        kc.check_arguments(kc.FINAL, (a, np.int32(3), 1.0, a))
    with pytest.raises(AssertionError, match=r"numpy\.float32"):
        kc.check_arguments(kc.FINAL, (a, np.int32(3), np.float64(1.0), a))
    with pytest.raises(AssertionError, match="float32 array, got float64"):
        kc.check_arguments(kc.SCALE, (a.astype(np.float64), np.int64(4), a))
    with pytest.raises(AssertionError, match="takes 3 arguments"):
        kc.check_arguments(kc.SCALE, (a, np.int64(4)))


# -- the launch hook -----------------------------------------------------------------------


def test_recorder_restores_the_kernel_class_after_an_error():
    original = vars(kernels.RawKernel)["__call__"]
    with pytest.raises(ZeroDivisionError):
        with kc.launch_recorder():
            assert vars(kernels.RawKernel)["__call__"] is not original
            1 / 0
    assert vars(kernels.RawKernel)["__call__"] is original


def test_recorder_logs_and_substitutes_by_name():
    broken = kernels.RawKernel(ref.K_GRAD_SCALE.replace("g[i] *= scale;", "g[i] = 0.0f;"),
                               "k_grad_scale")
    g = kernel_lab.to_device(np.ones(100, np.float32))
    out = kernel_lab.to_device(np.array([2.0, 0.5], np.float32))
    with kc.launch_recorder(substitute={kc.SCALE: ref._compiled()[2]}) as rec:
        broken((2,), (64,), (g, np.int64(100), out))
    assert rec.names() == [kc.SCALE] and rec.launches[0].grid == (2,)
    np.testing.assert_array_equal(kernel_lab.to_host(g), np.full(100, 0.5, np.float32))


@pytest.mark.parametrize("poison", kc.POISONS)
def test_deferral_hides_results_until_the_scale_launch(poison):
    partial_k, final_k, scale_k = ref._compiled()
    g = kernel_lab.to_device(np.full(1000, 2.0, np.float32))
    partial = kernel_lab.to_device(np.zeros(4, np.float32))
    out = kernel_lab.to_device(np.zeros(2, np.float32))
    with kc.launch_recorder(defer_with=poison) as rec:
        partial_k((4,), (64,), (g, np.int64(1000), partial))
        final_k((1,), (64,), (partial, np.int32(4), np.float32(10.0), out))
        seen = kernel_lab.to_host(out)                        # a host read: the poison
        assert len(rec.pending) == 2
        scale_k((4,), (64,), (g, np.int64(1000), out))        # runs the deferred launches first
        assert not rec.pending
    np.testing.assert_array_equal(seen, np.full(2, poison, np.float32))
    assert float(kernel_lab.to_host(out)[0]) == pytest.approx(math.sqrt(4000.0))
    np.testing.assert_allclose(kernel_lab.to_host(g), 2.0 * 10.0 / (math.sqrt(4000.0) + 1e-6),
                               rtol=1e-6)


def test_deferral_handles_overlapping_views():
    """`partial[offset:]` views (as `ref.clip_grad_norm` passes them) overlap later launches'
    regions; the flush must not put a poison back over a result already written."""
    partial_k = ref._compiled()[0]
    a = kernel_lab.to_device(np.full(64, 1.0, np.float32))
    b = kernel_lab.to_device(np.full(64, 2.0, np.float32))
    partial = kernel_lab.to_device(np.zeros(3, np.float32))
    with kc.launch_recorder(defer_with=float("nan")) as rec:
        partial_k((1,), (32,), (a, np.int64(64), partial[0:]))
        partial_k((2,), (32,), (b, np.int64(64), partial[1:]))
        rec.flush()
    np.testing.assert_array_equal(kernel_lab.to_host(partial), [64.0, 128.0, 128.0])


def _launcher_reading(expression: str):
    """The reference launcher with a host read of `expression` between kernels 2 and 3."""
    def launcher(grads, max_norm, threads=256):
        partial_k, final_k, scale_k = ref._compiled()
        xp = kernels.xp
        blocks = [ref.blocks_for(int(g.size), threads) for g in grads]
        partial = xp.zeros(max(sum(blocks), 1), dtype=xp.float32)
        offset = 0
        for g, b in zip(grads, blocks):
            if b:
                partial_k((b,), (threads,), (g, np.int64(g.size), partial[offset:offset + b]))
                offset += b
        out = xp.zeros(2, dtype=xp.float32)
        final_k((1,), (threads,), (partial, np.int32(offset), np.float32(max_norm), out))
        if expression == "print":
            float(out[0])                                   # read, value unused
        elif expression == "branch":
            if float(out[1]) >= 1.0:
                return float(out[0])
        elif expression == "item":
            norm = float(out[0])
            for g, b in zip(grads, blocks):
                if b:
                    scale_k((b,), (threads,), (g, np.int64(g.size), out))
            return norm
        for g, b in zip(grads, blocks):
            if b:
                scale_k((b,), (threads,), (g, np.int64(g.size), out))
        return float(out[0])
    return launcher


@pytest.mark.parametrize("how", ["branch", "item"])
def test_launcher_host_reads_are_caught(how):
    with pytest.raises(AssertionError, match="reads the norm back to the host"):
        kc.check_launcher(_launcher_reading(how), rng=SeededGenerator(11))


def test_a_read_whose_value_is_unused_is_not_caught():
    """The documented limit of the value-based model: a read that changes nothing (a debug
    print) costs a sync on a GPU but leaves every result right, so it passes."""
    kc.check_launcher(_launcher_reading("print"), rng=SeededGenerator(12))


def test_missing_kernel_sources_are_filled_in_and_removed():
    namespace = {"kernels": kernels, "np": np, "xp": kernels.xp, "kernel_lab": kernel_lab}
    exec(  # noqa: S102 - a learner's notebook namespace, minus two answers
        "def clip_grad_norm_kernels(grads, max_norm, threads=256):\n"
        "    k1 = kernels.RawKernel(K_GRAD_NORM_PARTIAL, 'k_grad_norm_partial')\n"
        "    k2 = kernels.RawKernel(K_GRAD_NORM_FINAL, 'k_grad_norm_final')\n"
        "    k3 = kernels.RawKernel(K_GRAD_SCALE, 'k_grad_scale')\n"
        "    blocks = [max(1, kernel_lab.cdiv(g.size, threads)) for g in grads]\n"
        "    partial = xp.zeros(max(sum(blocks), 1), dtype=xp.float32)\n"
        "    off = 0\n"
        "    for g, b in zip(grads, blocks):\n"
        "        k1((b,), (threads,), (g, np.int64(g.size), partial[off:off + b])); off += b\n"
        "    out = xp.zeros(2, dtype=xp.float32)\n"
        "    k2((1,), (threads,), (partial, np.int32(off), np.float32(max_norm), out))\n"
        "    for g, b in zip(grads, blocks):\n"
        "        k3((b,), (threads,), (g, np.int64(g.size), out))\n"
        "    return float(out[0])\n", namespace)
    namespace["K_GRAD_SCALE"] = "not even CUDA"   # a wrong answer stays the learner's ...
    kc.check_launcher(namespace["clip_grad_norm_kernels"], rng=SeededGenerator(13))
    # ... (its launches ran the reference kernel, swapped in by name), and the two missing
    # sources were lent for the check only.
    assert namespace["K_GRAD_SCALE"] == "not even CUDA"
    assert "K_GRAD_NORM_PARTIAL" not in namespace and "K_GRAD_NORM_FINAL" not in namespace


def test_launcher_returning_an_array_is_told_to_return_a_float():
    def launcher(grads, max_norm, threads=256):
        ref.clip_grad_norm_kernels(grads, max_norm, threads)
        return kernels.xp.zeros(1, dtype=kernels.xp.float32)
    with pytest.raises(AssertionError, match="expected a Python float"):
        kc.check_launcher(launcher, rng=SeededGenerator(14))

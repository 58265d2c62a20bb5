"""`autograder.kernel_grading.launcher` with `course.launch_log.observe_launcher`: the
reference launchers pass; host reads between kernels, wrong orders and wrong returns fail
with words that name them. (Run here in one process: in grading, the scenario runs in the
learner's kernel and only its observations come back.)"""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from autograder.kernel_grading import launcher as lc
from autograder.reference import three_kernels as ref
from course import kernel_lab
from course.launch_log import observe_launcher

SUBSTITUTE = {name: getattr(ref, var) for var, name in ref.KERNEL_NAMES.items()}
LEND = {var: getattr(ref, var) for var in ref.KERNEL_NAMES}


def check(func, seed: int, *, poisons: bool = True) -> None:
    """What the hidden test does, with the scenario run in this process."""
    rng = np.random.default_rng(seed)
    cases = lc.launcher_cases(rng) + (lc.poison_cases(rng) if poisons else [])
    hosts = [lc.grads_for(rng, case) for case in cases]
    sent = [{"grads": [h.copy() for h in host], "max_norm": lc.expected(host, case.factor)[0],
             "threads": case.threads, "poison": case.poison} for case, host in zip(cases, hosts)]
    seen = observe_launcher(func, sent, substitute=SUBSTITUTE, lend=LEND)
    lc.judge(cases, hosts, seen, name="clip_grad_norm_kernels", seed=seed)


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_launchers_pass(seed):
    check(ref.clip_grad_norm_kernels, seed)
    check(ref.clip_grad_norm, seed)  # the tuned one: partial[offset:] views, resident arrays


def test_max_norm_is_never_one():
    rng = np.random.default_rng(0)
    for case in lc.launcher_cases(rng) + lc.poison_cases(rng):
        max_norm, norm, _ = lc.expected(lc.grads_for(rng, case), case.factor)
        assert max_norm != 1.0 and case.factor != 1.0


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
def test_host_reads_are_caught(how):
    with pytest.raises(AssertionError, match="reads the norm back to the host|never launched"):
        check(_launcher_reading(how), 11)


def test_a_read_whose_value_is_unused_is_not_caught():
    """The documented limit of the value-based model: a read that changes nothing (a debug
    print) costs a sync on a GPU but leaves every result right, so it passes."""
    check(_launcher_reading("print"), 12)


def test_returning_an_array_is_told_to_return_a_float():
    def launcher(grads, max_norm, threads=256):
        ref.clip_grad_norm_kernels(grads, max_norm, threads)
        return kernels.xp.zeros(1, dtype=kernels.xp.float32)
    with pytest.raises(AssertionError, match="expected a Python float"):
        check(launcher, 14, poisons=False)


def test_argument_types_are_checked_at_the_launch():
    """`kernels.marshal`'s own message (the parameter, the type to pass) reaches the learner."""
    def launcher(grads, max_norm, threads=256):
        partial_k, final_k, scale_k = ref._compiled()
        xp = kernels.xp
        partial = xp.zeros(max(len(grads), 1), dtype=xp.float32)
        out = xp.zeros(2, dtype=xp.float32)
        for i, g in enumerate(grads):
            if g.size:
                partial_k((1,), (threads,), (g, np.int64(g.size), partial[i:i + 1]))
        final_k((1,), (threads,), (partial, np.int32(len(grads)), max_norm, out))
        return float(out[0])
    with pytest.raises(AssertionError, match=r"raised TypeError: .*max_norm.*numpy\.float32"):
        check(launcher, 15, poisons=False)


def test_order_problems_name_the_launch():
    case = lc.LauncherCase(((10,),), 0.5, 64)
    log = [{"name": lc.PARTIAL, "grid": [1], "block": [64]},
           {"name": lc.FINAL, "grid": [2], "block": [64]},
           {"name": lc.SCALE, "grid": [1], "block": [64]}]
    assert "single block" in lc.order_problem(log, case, name="f")
    log[1]["grid"] = [1]
    assert lc.order_problem(log, case, name="f") == ""
    log[2]["block"] = [256]
    assert "use `threads` (64)" in lc.order_problem(log, case, name="f")
    assert "never launched `k_grad_scale`" in lc.order_problem(log[:2], case, name="f")


def test_missing_kernel_sources_are_lent_and_removed():
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
    check(namespace["clip_grad_norm_kernels"], 13)
    # ... (its launches ran the reference kernel, swapped in by name), and the two missing
    # sources were lent for the check only.
    assert namespace["K_GRAD_SCALE"] == "not even CUDA"
    assert "K_GRAD_NORM_PARTIAL" not in namespace and "K_GRAD_NORM_FINAL" not in namespace

"""`autograder.hidden.three_kernels`: a kernel source is read as data and checked in a
sandbox job; what goes wrong there reaches the learner as an AssertionError in words."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.hidden import three_kernels as hidden
from autograder.sandbox.job import JobFailed


class FakeLearner:
    def __init__(self, **values):
        self.values = values

    def value(self, name):
        return self.values[name]


def test_a_source_that_is_not_a_string_is_named():
    with pytest.raises(AssertionError, match="`K_GRAD_SCALE` should be a string .* it is int"):
        hidden.kernel_source(FakeLearner(K_GRAD_SCALE=3), "K_GRAD_SCALE")


def test_a_job_that_dies_is_told_in_words(monkeypatch):
    def dies(target, payload, timeout):
        assert target == "autograder.kernel_grading.scale:check_scale_kernel"
        assert set(payload) == {"source", "seed"} and isinstance(payload["seed"], int)
        raise JobFailed("the check did not finish within 240 s")
    monkeypatch.setattr(hidden, "run_job", dies)
    with pytest.raises(AssertionError, match="stopped before it finished .*endless loop"):
        hidden.sandboxed_check("scale:check_scale_kernel", FakeLearner(K_GRAD_SCALE="x"),
                               "K_GRAD_SCALE", np.random.default_rng(0))


@pytest.mark.parametrize("result, message", [
    ({"ok": False, "message": "partial[0] is 1", "type": "AssertionError"}, "partial[0] is 1"),
    ({"ok": False, "message": "TypeError: bad", "type": "TypeError"},
     "`K_GRAD_SCALE`: TypeError: bad"),
])
def test_a_failed_check_is_an_assertion(monkeypatch, result, message):
    monkeypatch.setattr(hidden, "run_job", lambda *a, **k: result)
    with pytest.raises(AssertionError) as e:
        hidden.sandboxed_check("scale:check_scale_kernel", FakeLearner(K_GRAD_SCALE="x"),
                               "K_GRAD_SCALE", np.random.default_rng(0))
    assert str(e.value) == message


def test_every_job_target_exists():
    import importlib

    for target in ("partial:check_partial_kernel", "final:check_final_kernel",
                   "scale:check_scale_kernel"):
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(f"autograder.kernel_grading.{module}"), name))


def test_job_modules_need_neither_references_nor_torch():
    """Jobs run where autograder/reference, autograder/cuda and autograder/hidden are hidden;
    importing torch would only slow every job down."""
    import subprocess
    import sys

    code = ("import sys, autograder.kernel_grading.partial, autograder.kernel_grading.final, "
            "autograder.kernel_grading.scale\n"
            "bad = [m for m in sys.modules if m.startswith(('autograder.reference', "
            "'autograder.hidden', 'autograder.checks', 'torch'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)

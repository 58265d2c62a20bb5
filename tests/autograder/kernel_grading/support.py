"""Shared helpers of the kernel-grading tests."""

from __future__ import annotations

import pytest

import kernels

ON_CPU = kernels.backend() == "cpu"
cpu_only = pytest.mark.skipif(not ON_CPU, reason="schedules and read-only arrays exist only "
                                                 "on the CPU backend")

LOOP_BARRIER = "        __syncthreads();  // this round's sums land before the next round reads them\n"


def without(source: str, old: str, new: str = "") -> str:
    assert old in source
    return source.replace(old, new)

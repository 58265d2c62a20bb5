"""The GPU benchmark script: GPT-2 shapes, and a clean skip without a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_clip_gpu.py"


def load():
    spec = importlib.util.spec_from_file_location("bench_clip_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpt2_small_has_148_tensors_and_124_4m_values():
    shapes = load().gpt2_shapes()
    assert len(shapes) == 148
    assert sum(int(np.prod(s)) for s in shapes) == 124_439_808


def test_skips_cleanly_without_a_gpu(capsys):
    mod = load()
    ok, _ = mod.gpu_available()
    if ok:
        pytest.skip("a GPU is here, so the script benchmarks instead of skipping "
                    "(run bench/bench_clip_gpu.py to see it)")
    assert mod.main([]) == 0
    assert "skipped" in capsys.readouterr().out

"""course.spike_runs and its recorded runs: the recording regenerates (a short prefix)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from course import spike_runs

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "record_beyond_global_norm", ROOT / "scripts" / "record_beyond_global_norm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_method_and_seed_is_recorded_small():
    runs = spike_runs.load_recorded()
    script = _script()
    assert set(runs) == {(m, s) for m in spike_runs.METHODS for s in script.SEEDS}
    total = sum(p.stat().st_size for p in spike_runs.DATA_DIR.glob("*.npz"))
    assert total < 1_000_000
    for trace in runs.values():
        assert len(trace["loss"]) == spike_runs.meta(trace)["steps"]


def test_recording_regenerates_a_prefix():
    problems = _script().check(steps=40)
    assert not problems, "\n".join(problems)


def test_methods_need_their_rule():
    with pytest.raises(ValueError, match="zclip_clipped_norms"):
        spike_runs.run("zclip", 0, steps=2)
    with pytest.raises(ValueError, match="method"):
        spike_runs.RunConfig(method="adaptive")


def test_spikes_are_spikes():
    t = spike_runs.load_recorded()[("none", 0)]
    spikes = spike_runs.meta(t)["spike_steps"]
    assert np.min(t["norm"][spikes]) > 10 * np.median(t["norm"])

"""`course.kernel_lab`: the specs against brute-force loops, the launch helpers against the
reference kernels, the recorded data against the design notes, and the plots headless."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import kernels  # noqa: E402
from autograder.reference import three_kernels as ref  # noqa: E402
from course import kernel_lab  # noqa: E402

ON_CPU = kernels.backend() == "cpu"


def _loop_partials(g: np.ndarray, blocks: int, threads: int) -> np.ndarray:
    """What a grid-stride kernel computes, thread by thread, in plain Python."""
    out = np.zeros(blocks)
    stride = blocks * threads
    for b in range(blocks):
        for t in range(threads):
            i = b * threads + t
            while i < g.size:
                out[b] += float(g[i]) ** 2
                i += stride
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), blocks=st.integers(1, 6), threads=st.sampled_from([1, 2, 4, 32]))
def test_partials_spec_is_the_grid_stride_loop(n, blocks, threads):
    g = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    np.testing.assert_allclose(kernel_lab.partials_spec(g, blocks, threads),
                               _loop_partials(g, blocks, threads), rtol=1e-12)


def test_partials_spec_keeps_empty_blocks_and_sums_to_the_total():
    g = np.arange(1, 11, dtype=np.float32)
    spec = kernel_lab.partials_spec(g, 8, 1)
    assert spec.shape == (8,)
    assert spec.sum() == pytest.approx(float(np.sum(g.astype(np.float64) ** 2)))
    assert kernel_lab.partials_spec(np.zeros(0, np.float32), 3, 32).tolist() == [0.0, 0.0, 0.0]


def test_final_spec_follows_the_contract_rule():
    norm, scale = kernel_lab.final_spec([9.0, 16.0], max_norm=1.0)
    assert norm == 5.0 and scale == pytest.approx(1.0 / (5.0 + 1e-6), rel=1e-15)
    assert kernel_lab.final_spec([9.0, 16.0], max_norm=5.0)[1] == 1.0     # equal: no clip
    assert kernel_lab.final_spec([9.0, 16.0], max_norm=1.0, eps=0.0)[1] == 0.2
    assert kernel_lab.final_spec([], max_norm=1.0).tolist() == [0.0, 1.0]


def test_scale_spec_is_float32_and_skips_at_or_above_one():
    g = np.array([1.0, -3.0, 0.1], np.float32)
    assert kernel_lab.scale_spec(g, [0.0, 0.5]).dtype == np.float32
    np.testing.assert_array_equal(kernel_lab.scale_spec(g, [0.0, 0.5]), g * np.float32(0.5))
    for s in (1.0, 1.5):
        np.testing.assert_array_equal(kernel_lab.scale_spec(g, [0.0, s]), g)


def test_cdiv():
    assert [kernel_lab.cdiv(n, 256) for n in (0, 1, 256, 257)] == [0, 1, 1, 2]


def test_to_device_and_back_copies():
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    dev = kernel_lab.to_device(host)
    assert dev.dtype == np.float32 and dev.shape == (2, 3) and dev.flags.c_contiguous
    back = kernel_lab.to_host(dev)
    assert isinstance(back, np.ndarray)
    back[0, 0] = 99
    assert float(kernel_lab.to_host(dev)[0, 0]) == 0.0       # to_host copies
    np.testing.assert_array_equal(back[1], host[1])


def test_gpt2_small_shapes_are_the_anchor_workload():
    """DESIGN.md's anchors: 124.4M values in 148 tensors, and the 0.51 / 0.17 ms floors."""
    shapes = kernel_lab.gpt2_small_shapes()
    values = sum(math.prod(s) for s in shapes)
    assert len(shapes) == kernel_lab.RECORDED_H100["tensors"] == 148
    assert values == 124_439_808
    assert round(values / 1e6, 1) == kernel_lab.RECORDED_H100["values"] / 1e6
    tb_s = kernel_lab.RECORDED_H100["copy_bandwidth_tb_s"]
    clip = round(kernel_lab.bandwidth_floor_ms(values, 12, tb_s), 2)
    skip = round(kernel_lab.bandwidth_floor_ms(values, 4, tb_s), 2)
    floor = kernel_lab.RECORDED_H100["times_ms"][
        "bandwidth floor (12 B/value to clip, 4 B/value to skip)"]
    assert (clip, skip) == (floor[0][0], floor[1][0]) == (0.51, 0.17)


def test_recorded_numbers_match_the_design_notes():
    times = kernel_lab.RECORDED_H100["times_ms"]
    assert times["three kernels, one flat buffer"] == ((0.53, 0.53), (0.18, 0.18))
    assert times["three kernels, 148 tensors via a chunk table"] == ((0.60, 0.60), (0.18, 0.18))
    assert times["torch.nn.utils.clip_grad_norm_(foreach=True)"][0] == (1.0, 1.3)
    assert times["one partial launch per tensor + host-side sums"][0] == (3.5, 5.2)
    race = kernel_lab.RECORDED_GPU_RACE
    assert (race["wrong"], race["launch_shapes"]) == (4, 108)
    assert "not measured" in race["source"]


def test_plots_say_they_are_recorded():
    fig = kernel_lab.plot_recorded_benchmark()
    assert "Recorded on an NVIDIA H100 SXM, not measured here" in fig._suptitle.get_text()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == list(kernel_lab.RECORDED_H100["times_ms"])
    fig2 = kernel_lab.plot_gpu_race()
    assert "4 of 108" in fig2.axes[0].get_title()
    import matplotlib.pyplot as plt
    plt.close("all")


def test_gpu_timings_are_the_recording_until_the_benchmark_has_run(tmp_path):
    missing = tmp_path / "none.json"
    recorded = kernel_lab.gpu_timings(missing)
    assert recorded is kernel_lab.RECORDED_H100 and recorded["measured"] is False
    assert "H100 SXM" in recorded["source"] and "bench/bench_clip_gpu.py" in recorded["source"]
    assert "DESIGN.md" not in recorded["source"]  # a learner has no design notes


def test_gpu_timings_read_what_bench_clip_gpu_writes(tmp_path):
    """The JSON shape is `bench/bench_clip_gpu.py`'s own (`--json`)."""
    import json

    path = tmp_path / "bench.json"
    path.write_text(json.dumps({
        "device": "NVIDIA H200", "values": 124_439_808, "tensors": 148, "bandwidth_Bps": 4.1e12,
        "floor_ms": {"clip": 0.36, "no clip": 0.12},
        "ms": {"three kernels, one flat buffer": {"clip": 0.38, "no clip": 0.13},
               "torch clip_grad_norm_(foreach=True)": {"clip": 0.9, "no clip": 0.9}}}))
    got = kernel_lab.gpu_timings(path)
    assert got["measured"] is True and got["device"] == "NVIDIA H200"
    assert got["copy_bandwidth_tb_s"] == 4.1
    assert got["times_ms"]["three kernels, one flat buffer"] == ((0.38, 0.38), (0.13, 0.13))
    assert str(path) in got["source"]
    fig = kernel_lab.plot_recorded_benchmark(timings=got)
    assert "Measured here, on this machine's NVIDIA H200" in fig._suptitle.get_text()
    import matplotlib.pyplot as plt
    plt.close("all")


def test_bench_writes_where_the_lesson_reads():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_clip_gpu", Path(kernel_lab.__file__).resolve().parents[1] / "bench" / "bench_clip_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parser().parse_args([]).json == kernel_lab.BENCH_RESULTS


def test_plot_tree_reduction_shows_rounds_and_barriers():
    fig = kernel_lab.plot_tree_reduction(values=range(1, 9))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("__syncthreads()") == 3          # after the writes, between rounds
    assert "36" in texts                                 # 1 + ... + 8 in slot 0
    assert [t for t in texts if t.startswith("round")] == [
        "round 1: 4 thread(s) add slot t + 4", "round 2: 2 thread(s) add slot t + 2",
        "round 3: 1 thread(s) add slot t + 1"]
    with pytest.raises(ValueError, match="power-of-two"):
        kernel_lab.plot_tree_reduction(values=[1, 2, 3])
    import matplotlib.pyplot as plt
    plt.close("all")


def test_compile_kernel_turns_errors_into_messages():
    with pytest.raises(AssertionError, match="should be a string of CUDA C"):
        kernel_lab.compile_kernel(None, "k_grad_scale")
    with pytest.raises(AssertionError, match="does not define `k_grad_scale`"):
        kernel_lab.compile_kernel(ref.K_GRAD_NORM_FINAL, "k_grad_scale")
    broken = ref.K_GRAD_SCALE.replace("g[i] *= scale;", "g[i] *= scale")  # missing semicolon
    with pytest.raises(AssertionError, match="does not compile"):
        kernel_lab.compile_kernel(broken, "k_grad_scale")


def test_run_helpers_on_the_reference_kernels():
    rng = np.random.default_rng(0)
    g = rng.integers(-3, 4, size=777).astype(np.float32)
    partial_k = kernel_lab.compile_kernel(ref.K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")
    got = kernel_lab.run_partial(partial_k, g, 5, 64, schedules=True)
    np.testing.assert_array_equal(got, kernel_lab.partials_spec(g, 5, 64))

    final_k = kernel_lab.compile_kernel(ref.K_GRAD_NORM_FINAL, "k_grad_norm_final")
    out = kernel_lab.run_final(final_k, got, 2.0, 128)
    np.testing.assert_allclose(out, kernel_lab.final_spec(got, 2.0), rtol=1e-6)

    scale_k = kernel_lab.compile_kernel(ref.K_GRAD_SCALE, "k_grad_scale")
    h = rng.standard_normal(300).astype(np.float32)
    np.testing.assert_array_equal(kernel_lab.run_scale(scale_k, h, [2.0, 0.5], 2, 32),
                                  kernel_lab.scale_spec(h, [2.0, 0.5]))


@pytest.mark.skipif(not ON_CPU, reason="thread schedules exist only on the CPU backend")
def test_launch_reports_a_race_with_the_launch_shape():
    racy = ref.K_GRAD_NORM_PARTIAL.replace(
        "        __syncthreads();  // this round's sums land before the next round reads them\n", "")
    kernel = kernel_lab.compile_kernel(racy, "k_grad_norm_partial")
    g = np.ones(4096, np.float32)
    with pytest.raises(AssertionError, match=r"with 2 block\(s\) of 256 threads: RaceError: .*thread order"):
        kernel_lab.run_partial(kernel, g, 2, 256, schedules=True)


@pytest.mark.skipif(not ON_CPU, reason="bounds are checked only on the CPU backend")
def test_launch_reports_out_of_bounds():
    off_by_one = ref.K_GRAD_SCALE.replace("i < n; i += stride", "i <= n; i += stride")
    kernel = kernel_lab.compile_kernel(off_by_one, "k_grad_scale")
    with pytest.raises(AssertionError, match="KernelError"):
        kernel_lab.run_scale(kernel, np.ones(100, np.float32), [2.0, 0.5], 1, 128)

"""Helpers for lesson `05_three_kernels`: launch plumbing, NumPy specs, recorded GPU data.

The lesson's learners write three CUDA C kernels and the launcher that chains them; this
module holds what they should not have to write twice:

* `to_device` / `to_host`: move arrays to `kernels.xp` (CuPy on a GPU, NumPy on the CPU
  backend) and back, so the same cell runs on both;
* `compile_kernel`, `run_partial`, `run_final`, `run_scale`: compile a learner's source and
  run one kernel on one input, turning the runtime's errors into messages that name the
  kernel and the launch shape (visible tests and demos use them);
* `partials_spec`, `final_spec`, `scale_spec`: what each kernel must compute, in float64
  NumPy, in the manner of GPU-Puzzles' spec functions;
* `gpt2_small_shapes`, `bandwidth_floor_ms`: the gradient shapes of GPT-2 124M and the
  memory-bandwidth arithmetic behind the benchmark anchors;
* `RECORDED_H100`, `RECORDED_GPU_RACE`, `plot_recorded_benchmark`, `plot_gpu_race`:
  measurements recorded on an NVIDIA H100 SXM for this course, shown as such;
  `gpu_timings()` returns this machine's own timings instead once `bench/bench_clip_gpu.py`
  has run on its GPU (it writes `BENCH_RESULTS`);
* `plot_tree_reduction`: the shared-memory tree reduction, round by round, with its barriers.

No solutions: every kernel a function here launches is one the caller passes in.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# -- arrays on the device -----------------------------------------------------------------


def xp():
    """The array module the kernels use: `cupy` on a GPU, `numpy` on the CPU backend."""
    import kernels

    return kernels.xp


def to_device(values: Any, dtype=np.float32):
    """`values` as a contiguous `kernels.xp` array of `dtype` (a fresh copy)."""
    module = xp()
    return module.array(np.asarray(values, dtype=dtype), dtype=dtype, copy=True, order="C")


def to_host(array: Any) -> np.ndarray:
    """A NumPy copy of a device (CuPy) or host array."""
    if hasattr(array, "get") and type(array).__module__.startswith("cupy"):
        return array.get()
    return np.array(array, copy=True)


def cdiv(a: int, b: int) -> int:
    """Ceiling of ``a / b`` for non-negative integers: blocks needed for `a` threads."""
    return -(-int(a) // int(b))


# -- compiling and launching one kernel ---------------------------------------------------


def _kernels_errors() -> tuple[type[BaseException], ...]:
    import kernels

    return tuple(getattr(kernels, n) for n in ("CompileError", "KernelError", "RaceError")
                 if isinstance(getattr(kernels, n, None), type))


def compile_kernel(source: str, name: str):
    """`kernels.RawKernel(source, name)`, compiled now so a typo shows here, not mid-launch.

    A compile error becomes an `AssertionError` that quotes the compiler; a source that is
    not a string (an unanswered exercise) says so.
    """
    import kernels

    if not isinstance(source, str):
        raise AssertionError(f"the source of `{name}` should be a string of CUDA C, "
                             f"got {type(source).__name__}")
    if name not in source:
        raise AssertionError(f"the source does not define `{name}`: the kernel must be "
                             f'declared `extern "C" __global__ void {name}(...)`')
    kernel = kernels.RawKernel(source, name)
    compile_now = getattr(kernel, "compile", None)
    if callable(compile_now):
        try:
            compile_now()
        except _kernels_errors() as exc:
            raise AssertionError(f"`{name}` does not compile: {exc}") from None
    return kernel


def shared_bytes(block: int) -> int:
    """The dynamic shared memory these helpers (and the graders) give every launch:
    ``blockDim.x * sizeof(double)`` bytes, so a kernel may use `extern __shared__` memory."""
    return int(block) * 8


def launch(kernel, grid: int, block: int, args: Sequence[Any], *, what: str,
           schedules: bool = False) -> None:
    """Launch `kernel` on `grid` blocks of `block` threads, with `shared_bytes(block)` of
    dynamic shared memory; with `schedules=True`, through `kernels.check`, which runs it
    under several thread orders and fails if the result depends on the order. Runtime
    errors become `AssertionError`s that say which launch."""
    import kernels

    shared = shared_bytes(block)
    try:
        if schedules:
            kernels.check(kernel, (grid,), (block,), tuple(args), shared_mem=shared)
        else:
            kernel((grid,), (block,), tuple(args), shared_mem=shared)
    except _kernels_errors() as exc:
        raise AssertionError(f"{what}: {type(exc).__name__}: {exc}") from None


def run_partial(kernel, g: Any, blocks: int, threads: int, *, schedules: bool = False
                ) -> np.ndarray:
    """Run `k_grad_norm_partial` on host values `g`; return the `blocks` partials (NumPy).

    The partials buffer starts as NaN: a block that forgets to write its slot shows up.
    """
    g_dev = to_device(np.asarray(g, dtype=np.float32).reshape(-1))
    partial = to_device(np.full(blocks, np.nan, dtype=np.float32))
    what = (f"`k_grad_norm_partial` on n={g_dev.size} values with {blocks} block(s) of "
            f"{threads} threads")
    launch(kernel, blocks, threads, (g_dev, np.int64(g_dev.size), partial), what=what,
           schedules=schedules)
    return to_host(partial)


def run_final(kernel, partial: Any, max_norm: float, threads: int, *,
              schedules: bool = False) -> np.ndarray:
    """Run `k_grad_norm_final` as one block over host `partial`; return `out` (2 values)."""
    p_dev = to_device(np.asarray(partial, dtype=np.float32).reshape(-1))
    out = to_device(np.full(2, np.nan, dtype=np.float32))
    what = (f"`k_grad_norm_final` over {p_dev.size} partials with one block of {threads} "
            f"threads, max_norm={max_norm:g}")
    launch(kernel, 1, threads, (p_dev, np.int32(p_dev.size), np.float32(max_norm), out),
           what=what, schedules=schedules)
    return to_host(out)


def run_scale(kernel, g: Any, out: Sequence[float], blocks: int, threads: int, *,
              schedules: bool = False) -> np.ndarray:
    """Run `k_grad_scale` on host values `g` with ``out = [norm, scale]``; return `g` after."""
    g_dev = to_device(np.asarray(g, dtype=np.float32).reshape(-1))
    out_dev = to_device(np.asarray(out, dtype=np.float32))
    what = (f"`k_grad_scale` on n={g_dev.size} values with out[1]={float(out[1]):g}, "
            f"{blocks} block(s) of {threads} threads")
    launch(kernel, blocks, threads, (g_dev, np.int64(g_dev.size), out_dev), what=what,
           schedules=schedules)
    return to_host(g_dev)


# -- what each kernel must compute (float64 specs) ---------------------------------------


def partials_spec(g: Any, blocks: int, threads: int) -> np.ndarray:
    """float64 ``partial[b]`` for every block: the sum of squares of the elements a
    grid-stride loop gives block ``b`` (``i // threads % blocks == b``)."""
    flat = np.asarray(g, dtype=np.float64).reshape(-1)
    owner = (np.arange(flat.size) // int(threads)) % int(blocks)
    return np.bincount(owner, weights=flat * flat, minlength=int(blocks))[: int(blocks)]


def final_spec(partial: Any, max_norm: float, eps: float = 1e-6) -> np.ndarray:
    """float64 ``[out[0], out[1]]``: the norm, and the scale ``max_norm / (norm + eps)`` if
    the norm exceeds `max_norm`, else 1.0."""
    norm = math.sqrt(float(np.sum(np.asarray(partial, dtype=np.float64))))
    return np.array([norm, max_norm / (norm + eps) if norm > max_norm else 1.0])


def scale_spec(g: Any, out: Sequence[float]) -> np.ndarray:
    """`g` after `k_grad_scale`: times ``out[1]`` in float32 if it is below 1, else as is."""
    g32 = np.asarray(g, dtype=np.float32)
    scale = np.float32(out[1])
    return g32 * scale if scale < 1 else g32.copy()


# -- the shapes and the arithmetic behind the benchmark -----------------------------------


def gpt2_small_shapes(vocab: int = 50257, context: int = 1024, width: int = 768,
                      layers: int = 12) -> list[tuple[int, ...]]:
    """The parameter (= gradient) shapes of GPT-2 124M, in Hugging Face's order:
    token and position embeddings, 12 blocks of 12 tensors, the final layer norm."""
    shapes: list[tuple[int, ...]] = [(vocab, width), (context, width)]
    for _ in range(layers):
        shapes += [(width,), (width,),                       # ln_1 weight, bias
                   (width, 3 * width), (3 * width,),         # attn.c_attn
                   (width, width), (width,),                 # attn.c_proj
                   (width,), (width,),                       # ln_2
                   (width, 4 * width), (4 * width,),         # mlp.c_fc
                   (4 * width, width), (width,)]             # mlp.c_proj
    shapes += [(width,), (width,)]                           # ln_f
    return shapes


def bandwidth_floor_ms(values: float, bytes_per_value: float, tb_per_s: float) -> float:
    """Milliseconds to move `values * bytes_per_value` bytes at `tb_per_s` terabytes/s."""
    return values * bytes_per_value / (tb_per_s * 1e12) * 1e3


# -- recorded on an H100 (not measured by the lesson) -------------------------------------

#: Times recorded on one NVIDIA H100 SXM for fp32 gradients shaped like GPT-2 124M (124.4M
#: values in 148 tensors), while this course was built. On a machine with a GPU, running that script replaces them
#: (`gpu_timings`). Each entry: label -> (ms when a clip is needed, ms when none is). A
#: range is `(low, high)`.
RECORDED_H100: dict[str, Any] = {
    "device": "NVIDIA H100 SXM",
    "workload": "fp32 gradients shaped like GPT-2 124M: 124.4M values, 148 tensors",
    "copy_bandwidth_tb_s": 2.9,
    "values": 124.4e6,
    "tensors": 148,
    "times_ms": {
        "bandwidth floor (12 B/value to clip, 4 B/value to skip)": ((0.51, 0.51), (0.17, 0.17)),
        "three kernels, one flat buffer": ((0.53, 0.53), (0.18, 0.18)),
        "three kernels, 148 tensors via a chunk table": ((0.60, 0.60), (0.18, 0.18)),
        "torch.nn.utils.clip_grad_norm_(foreach=True)": ((1.0, 1.3), (1.0, 1.3)),
        "one partial launch per tensor + host-side sums": ((3.5, 5.2), (3.5, 5.2)),
    },
    "source": ("recorded on an NVIDIA H100 SXM while this course was built, not measured by "
               "this notebook; run bench/bench_clip_gpu.py on a GPU to replace them"),
    "measured": False,
}

#: Where `bench/bench_clip_gpu.py` writes its measurements (`--json`, by default), and where
#: `gpu_timings` looks for them: `build/bench/` of this repository, or $GRADCLIP_BENCH_RESULTS.
BENCH_RESULTS = Path(os.environ.get(
    "GRADCLIP_BENCH_RESULTS",
    Path(__file__).resolve().parents[1] / "build" / "bench" / "bench_clip_gpu.json"))

_FLOOR_LABEL = "bandwidth floor (12 B/value to clip, 4 B/value to skip)"


def gpu_timings(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The clip timings lesson 05 shows, in `RECORDED_H100`'s shape.

    This machine's own, when `bench/bench_clip_gpu.py` has written them to `path` (default
    `BENCH_RESULTS`); otherwise the H100 SXM recording. `"measured"` says which, and
    `"source"` says where the numbers come from.
    """
    path = Path(path) if path is not None else BENCH_RESULTS
    if not path.is_file():
        return RECORDED_H100
    data = json.loads(path.read_text(encoding="utf-8"))
    floor = data["floor_ms"]
    times = {_FLOOR_LABEL: ((floor["clip"],) * 2, (floor["no clip"],) * 2)}
    for label, ms in data["ms"].items():
        times[label] = ((ms["clip"],) * 2, (ms["no clip"],) * 2)
    return {
        "device": data["device"],
        "workload": RECORDED_H100["workload"],
        "copy_bandwidth_tb_s": round(data["bandwidth_Bps"] / 1e12, 2),
        "values": data["values"],
        "tensors": data["tensors"],
        "times_ms": times,
        "source": f"measured on this machine's {data['device']} by bench/bench_clip_gpu.py ({path})",
        "measured": True,
    }

#: A shared-memory tree reduction with its in-loop `__syncthreads()` removed, run on an
#: H100 over many launch shapes (block sizes, grid sizes, lengths): how often it was wrong.
#: Recorded while this course was designed (the project's kernel-lesson issue), not
#: re-measured here: a CPU cannot show what a GPU's warp scheduler does.
RECORDED_GPU_RACE: dict[str, Any] = {
    "device": "NVIDIA H100 SXM",
    "kernel": "shared-memory tree reduction without the __syncthreads() inside its loop",
    "launch_shapes": 108,
    "wrong": 4,
    "source": "recorded on an H100 for the gradclip kernel lesson (project issue); "
              "not measured by this notebook",
}


def _range_text(low: float, high: float) -> str:
    return f"{low:.2f}" if low == high else f"{low:.1f}–{high:.1f}"


def plot_recorded_benchmark(ax=None, timings: dict[str, Any] | None = None):
    """A horizontal bar chart of `timings` (default `RECORDED_H100`), labelled as recorded
    or as measured here.

    Bars show the low end of a range with an error bar to the high end; the two panels are
    "a clip is needed" and "no clip is needed". Returns the figure.
    """
    import matplotlib.pyplot as plt

    timings = RECORDED_H100 if timings is None else timings
    rows = list(timings["times_ms"].items())
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
    else:
        axes = ax
        fig = axes[0].figure
    y = np.arange(len(rows))
    for panel, (axis, title) in enumerate(zip(axes, ("a clip is needed", "no clip needed"))):
        lows = np.array([r[1][panel][0] for r in rows])
        highs = np.array([r[1][panel][1] for r in rows])
        colors = ["#999999" if label == _FLOOR_LABEL else
                  "#4c72b0" if label.startswith("three kernels") else
                  "#dd8452" if label.startswith("torch") else "#c44e52" for label, _ in rows]
        axis.barh(y, lows, xerr=[np.zeros_like(lows), highs - lows], color=colors, capsize=3)
        right = max(highs) * 1.3
        for yi, (lo, hi) in enumerate(zip(lows, highs)):
            axis.text(hi + 0.02 * right, yi, f"{_range_text(lo, hi)} ms", va="center",
                      fontsize=8)
        axis.set_xlim(0, right)
        axis.set_xlabel("milliseconds per clip (lower is better)")
        axis.set_title(title)
    axes[0].set_yticks(y, [r[0] for r in rows])
    axes[0].invert_yaxis()
    where = (f"Measured here, on this machine's {timings['device']}" if timings.get("measured")
             else f"Recorded on an {timings['device']}, not measured here")
    fig.suptitle(f"{where}: {timings['workload']}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_gpu_race(ax=None):
    """One bar of `RECORDED_GPU_RACE`: launch shapes where the unsynchronised reduction was
    right vs wrong on the H100. Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 1.6))
    else:
        fig = ax.figure
    total, wrong = RECORDED_GPU_RACE["launch_shapes"], RECORDED_GPU_RACE["wrong"]
    ax.barh([0], [total - wrong], color="#55a868", label=f"right: {total - wrong}")
    ax.barh([0], [wrong], left=[total - wrong], color="#c44e52", label=f"wrong: {wrong}")
    ax.set_yticks([])
    ax.set_xlim(0, total)
    ax.set_xlabel("launch shapes")
    ax.legend(loc="lower left", fontsize=8, ncols=2)
    ax.set_title(f"Missing __syncthreads() on an {RECORDED_GPU_RACE['device']}: wrong in "
                 f"{wrong} of {total} launch shapes (recorded, not measured here)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tree_reduction(values: Sequence[float] = tuple(range(1, 9)), ax=None):
    """The shared-memory tree reduction of one block, round by round, barriers marked.

    One row per state of the `__shared__` array (one slot per thread): the threads' first
    writes, then after each round, where the first `half` threads add slot `t + half` to
    slot `t` and `half` halves. Arrows show the reads, greyed slots are threads with nothing
    left to do, and a dashed line marks the `__syncthreads()` every thread must reach before
    the next round reads. Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, Rectangle

    slots = [float(v) for v in values]
    n = len(slots)
    if n < 2 or n & (n - 1):
        raise ValueError(f"`values` needs a power-of-two length (one per thread), got {n}")
    states, halves = [list(slots)], []
    half = n // 2
    while half:
        row = list(states[-1])
        for t in range(half):
            row[t] = row[t] + row[t + half]
        states.append(row)
        halves.append(half)
        half //= 2
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 * n + 2.6, 1.05 * len(states) + 0.6))
    else:
        fig = ax.figure
    for r, row in enumerate(states):
        y = -1.6 * r
        active = n if r == 0 else halves[r - 1]
        for t, value in enumerate(row):
            live = t < active
            ax.add_patch(Rectangle((t, y), 0.86, 0.8, facecolor="#dbe8f5" if live else "#f2f2f2",
                                   edgecolor="#4c72b0" if live else "#c8c8c8"))
            ax.text(t + 0.43, y + 0.4, f"{value:g}", ha="center", va="center", fontsize=9,
                    color="black" if live else "#b0b0b0")
        label = ("every thread writes its acc" if r == 0 else
                 f"round {r}: {halves[r - 1]} thread(s) add slot t + {halves[r - 1]}")
        ax.text(n + 0.2, y + 0.4, label, va="center", fontsize=8)
        if r + 1 < len(states):
            h = halves[r]
            for t in range(h):
                for source in (t, t + h):      # slot t reads its own slot and slot t + h
                    ax.add_patch(FancyArrowPatch((source + 0.43, y), (t + 0.43, y - 0.8),
                                                 arrowstyle="->", mutation_scale=8, lw=0.8,
                                                 color="#4c72b0", alpha=0.7))
            ax.plot([-0.1, n - 0.05], [y - 0.4, y - 0.4], color="#c44e52", ls="--", lw=1.2)
            ax.text(n + 0.2, y - 0.4, "__syncthreads()", color="#c44e52", va="center",
                    fontsize=8, family="monospace")
    ax.text(0.43, -1.6 * (len(states) - 1) - 0.35, "slot 0 -> partial[blockIdx.x]",
            ha="left", va="top", fontsize=8)
    ax.set_xlim(-0.2, n + 3.4)
    ax.set_ylim(-1.6 * (len(states) - 1) - 0.8, 1.0)
    ax.set_axis_off()
    ax.set_title(f"Tree reduction in one block of {n} threads: {len(halves)} rounds, "
                 f"a barrier after the first writes and between rounds", fontsize=9)
    fig.tight_layout()
    return fig

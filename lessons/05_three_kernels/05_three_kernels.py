# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 5 — The global norm as three CUDA kernels
#
# In lesson 2 you computed the global L2 norm of a list of gradient tensors with one line of
# PyTorch. On a GPU that line hides real work: 124 million numbers in 148 separate tensors
# must be squared, summed, square-rooted, compared with `max_norm`, and — only when the norm
# is too large — multiplied by a scale. This lesson writes that work as **three CUDA
# kernels** and the launcher that chains them, the way llm.c, apex and PyTorch do it in
# their own forms.
#
# **What you will do**
#
# 1. See why the textbook loop (one running total) cannot be a GPU program.
# 2. `K_GRAD_NORM_PARTIAL` — kernel 1: every block sums the squares of its share of a
#    tensor (a *grid-stride loop* and a *shared-memory tree reduction*) into one partial.
# 3. Watch a missing `__syncthreads()` get caught on the CPU, and read what the same bug
#    did on an H100.
# 4. `K_GRAD_NORM_FINAL` — kernel 2: one block adds the partials, takes the square root
#    and computes the clip scale, on the device.
# 5. `K_GRAD_SCALE` — kernel 3: multiply by the scale, or touch no memory at all when no
#    clip is needed.
# 6. `clip_grad_norm_kernels` — run the three over many tensors of different shapes
#    through one partials buffer, without the norm ever visiting the host in between.
# 7. Compare with GPU timings (recorded on an H100 SXM, or measured on your GPU), see why
#    the clip runs *before* Adam, and answer `why_three_kernels`: why not one kernel?
#
# An optional part at the end shows how NVIDIA apex and llm.c organise the same work.
#
# **Where the kernels run.** The cells below run the same CUDA C source on a GPU (through
# CuPy) or, on a laptop, on this course's CPU backend, which compiles the kernel as C++ and
# runs each block's threads as fibers. `xp = kernels.xp` is `cupy` on a GPU and `numpy`
# otherwise, so every cell works on both.
#
# **Working in the released notebook.** Cells after an exercise that use your answer (demos,
# plots, later exercises) raise `NotImplementedError` (or `NameError`, for a value you
# have not assigned yet) until you have solved that exercise. Solve the exercises in
# order and re-run the cells below each one.

# %% nbgrader={"grade": false, "grade_id": "setup_imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

import kernels
from course import kernel_lab

xp = kernels.xp  # cupy on a GPU, numpy on the CPU backend
print("kernels backend:", kernels.backend(), "| arrays from:", xp.__name__)

# %% [markdown]
# ## 1. Why the naive loop cannot run on a GPU
#
# The norm, as a textbook writes it:
#
# ```text
# total = 0
# for each parameter p:
#     for each element g in p.grad:
#         total += g * g
# norm = sqrt(total)
# ```
#
# Two things make this a poor GPU program.
#
# **One accumulator.** Every addition reads `total` and writes it back: the loop is a chain
# of 124 million dependent steps. Give each GPU thread a share of the elements and let all
# of them do `total += g * g` on the same address, and their read-modify-writes interleave:
# two threads read the same old value, both add, one write is lost. An atomic add fixes the
# lost updates by making the additions take turns on one memory location — which serialises
# exactly what we wanted in parallel. The way out is a **reduction**: each thread keeps a
# private sum, threads of a block combine theirs in fast on-chip shared memory, and each
# block hands over a single number.
#
# **Heterogeneous tensors.** The gradient is not one array but many, of very different
# sizes, each its own allocation. For GPT-2 124M, the model our benchmark numbers use:

# %%
shapes = kernel_lab.gpt2_small_shapes()
sizes = [math.prod(s) for s in shapes]
print(f"{len(shapes)} gradient tensors, {sum(sizes):,} values ({sum(sizes) / 1e6:.1f}M) in all")
print(f"largest  {shapes[int(np.argmax(sizes))]}: {max(sizes):,} values (token embedding)")
print(f"smallest {shapes[int(np.argmin(sizes))]}: {min(sizes):,} values (a layer-norm scale or bias)")
print(f"{sum(1 for n in sizes if n <= 3072)} of the {len(shapes)} tensors hold at most 3072 values")

# %% [markdown]
# A kernel launch covers one grid of threads over memory it is told about. Launch one
# reduction per tensor and read each result back, and the GPU spends its time waiting for the
# host: the recorded H100 timings at the end of this lesson put that at 3.5–5.2 ms against
# 0.6 ms. The design we build keeps every number on the device:
#
# | kernel | grid | reads | writes |
# |---|---|---|---|
# | 1 `k_grad_norm_partial` | many blocks per tensor | the gradient (4 bytes a value) | one partial per block |
# | 2 `k_grad_norm_final` | **one** block | all partials (a few hundred floats) | `out[0]` = norm, `out[1]` = scale |
# | 3 `k_grad_scale` | many blocks per tensor | `out[1]`, then the gradient if it must shrink | the gradient, in place |
#
# Every tensor's kernel-1 launch writes its partials into its own slice of **one shared
# partials buffer**, so a single kernel-2 launch sees them all.

# %% [markdown]
# ## 2. Kernel 1: sums of squares, one partial per block
#
# **Grid-stride loop.** A launch has `gridDim.x` blocks of `blockDim.x` threads. Thread `t`
# of block `b` starts at element `b * blockDim.x + t` and then jumps by the whole grid,
# `blockDim.x * gridDim.x`, until it passes `n`:
#
# ```c
# float acc = 0.0f;
# for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
#      i += (long long)blockDim.x * gridDim.x)
#     acc += g[i] * g[i];
# ```
#
# The loop works for *any* `n` — smaller than one block, not a multiple of the block size,
# or many times the grid — and for any grid size. The indices are `long long`: a tensor
# may hold more than 2³¹ values. Which elements end up in block `b`'s sum is fixed by this
# loop: `i // blockDim.x % gridDim.x == b`. `kernel_lab.partials_spec(g, blocks, threads)`
# computes exactly that in NumPy, and the tests compare your partials with it.
#
# **Tree reduction in shared memory.** Now each of the block's threads holds one number
# `acc`. Each writes it to a `__shared__` array, one slot per thread; then in rounds, the
# first half of the threads add the second half's slots to their own, halving the active
# threads each time: 256 → 128 → … → 1. Slot 0 ends with the block's sum, and thread 0 writes it to `partial[blockIdx.x]`.
# Here it is for a block of 8 threads holding 1 to 8:

# %%
kernel_lab.plot_tree_reduction(values=range(1, 9))
plt.show()

# %% [markdown]
# The catch is **ordering**. A thread in round *k* reads a slot that another thread wrote
# in round *k − 1*. Nothing makes threads of a block run in step, so every round must end
# with `__syncthreads()`, the block-wide barrier: no thread passes it until all have
# reached it. The same holds after the first write of `acc`. Here is the pattern as a
# worked example on a different job, the largest `|x|` of each block's slice — once without
# the barrier inside the loop, once with it:

# %%
ABSMAX_SOURCE = r"""
extern "C" __global__ void k_block_absmax(const float* x, long long n, float* out)
{
    __shared__ float best[1024];                  // one slot per thread (blocks of <= 1024)
    const unsigned int t = threadIdx.x;
    const long long i = (long long)blockIdx.x * blockDim.x + t;
    best[t] = (i < n) ? fabsf(x[i]) : 0.0f;       // 1. every thread fills its own slot
    __syncthreads();                              //    ... and waits for all the others
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {                           // 2. halve the active threads each round
            best[t] = fmaxf(best[t], best[t + half]);
        }
        BARRIER                                   //    the barrier under test
    }
    if (t == 0) {
        out[blockIdx.x] = best[0];                // 3. one result per block
    }
}
"""
racy = kernels.RawKernel(ABSMAX_SOURCE.replace("BARRIER", "/* no barrier */"), "k_block_absmax")
fixed = kernels.RawKernel(ABSMAX_SOURCE.replace("BARRIER", "__syncthreads();"), "k_block_absmax")

rng = np.random.default_rng(0)
x_host = rng.standard_normal(4 * 256).astype(np.float32)
want = np.abs(x_host).reshape(4, 256).max(axis=1)
x = kernel_lab.to_device(x_host)
for label, kernel in [("without the barrier", racy), ("with the barrier", fixed)]:
    out = xp.zeros(4, dtype=xp.float32)
    kernel((4,), (256,), (x, np.int64(x.size), out))      # one launch, the default schedule
    right = np.allclose(kernel_lab.to_host(out), want)
    print(f"{label:20s}: one launch gives {'the right' if right else 'a WRONG'} answer")

# %% [markdown]
# One launch proves little either way: whether it comes out right depends on the order in
# which the threads happened to run, and on a GPU the racy version is usually right (see
# below). `kernels.check(kernel, grid, block, args)` runs the launch several times
# under different thread schedules — forward, reverse and random (it prints the seed) — and
# raises `kernels.RaceError` if the results differ: the result **depends on thread order**.
# When every schedule agrees, it then runs the launch once more under a race detector (as
# NVIDIA's `compute-sanitizer --tool racecheck` does on a GPU): it records which thread read
# and wrote each `__shared__` slot between two barriers, and raises `RaceError` naming the
# array, the slot, both threads and both lines for any two unordered accesses of which one
# writes — even when the answer happens to come out right. The visible and hidden tests of
# this lesson run every launch of your kernels this way.

# %%
if kernels.backend() != "cpu":
    print("On a GPU the hardware picks the thread order: kernels.check launches once and "
          "cannot replay schedules. Set KERNELS_BACKEND=cpu to see the race caught.")
for label, kernel in [("without the barrier", racy), ("with the barrier", fixed)]:
    out = xp.zeros(4, dtype=xp.float32)
    try:
        kernels.check(kernel, (4,), (256,), (x, np.int64(x.size), out))
        print(f"{label}: same result under every schedule tried")
    except kernels.RaceError as error:
        print(f"{label}: RaceError: {error}")

# %% [markdown]
# **What the same bug does on a GPU.** A GPU runs a block's threads in *warps* of 32 that
# usually execute in step (since Volta that is not guaranteed, which is why warp-level code
# uses `__syncwarp()`), and the scheduler interleaves warps in an order that depends on the
# launch shape, the other blocks on the SM and the timing of memory. A tree reduction without
# its in-loop barrier is therefore *usually* right: its last rounds (16 active threads or
# fewer) read only slots their own warp wrote, and the earlier rounds go wrong only when one
# warp runs ahead of another.
# This was measured while this course was built, on an NVIDIA H100 SXM, not by this notebook:

# %%
race = kernel_lab.RECORDED_GPU_RACE
print(f"{race['kernel']}, on an {race['device']}:")
print(f"  wrong in {race['wrong']} of {race['launch_shapes']} launch shapes "
      f"({race['wrong'] / race['launch_shapes']:.1%}), right in "
      f"{1 - race['wrong'] / race['launch_shapes']:.0%}; source: {race['source']}")
kernel_lab.plot_gpu_race()
plt.show()

# %% [markdown]
# A test that launches once on a GPU, at a shape picked at random from those, passes such a
# kernel with the probability printed above. GPU-Puzzles' checks have the same weakness:
# `CudaProblem.check` (`lib.py`) runs a puzzle once, at one fixed shape, and compares with the
# spec, and a learner reported a solution that passes with or without a `__syncthreads()`
# ([srush/GPU-Puzzles issue #14](https://github.com/srush/GPU-Puzzles/issues/14)). Running
# under several schedules on the CPU finds it every time.
#
# ### Exercise: `K_GRAD_NORM_PARTIAL`
#
# Write the CUDA C source of
#
# ```c
# extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
# ```
#
# Block `b` writes to `partial[b]` the sum of the squares of its grid-stride share of `g`.
# It must work for any `n >= 0` (including 0: then every block writes 0), any number of
# blocks, and every block size that is a power of two from 32 to 1024. `partial` may hold
# garbage when the kernel starts: **write** your slot, don't add to it. Accumulate in
# `float` (or `double`, if you like).

# %% nbgrader={"grade": false, "grade_id": "K_GRAD_NORM_PARTIAL", "locked": false, "schema_version": 3, "solution": true, "task": false}
# A string of CUDA C that defines
#   extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
# 1. grid-stride loop: each thread sums the squares of its elements into `acc`
# 2. tree reduction of the threads' `acc` in a __shared__ array (mind the barriers)
# 3. thread 0 writes the block's sum to partial[blockIdx.x]
### BEGIN SOLUTION
K_GRAD_NORM_PARTIAL = r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    // One slot per thread, sized for the largest block the contract allows.
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // 1. Grid-stride loop: thread t of block b visits b*blockDim + t, then every
    //    blockDim*gridDim elements, so any n (not only multiples of the block) is covered.
    float acc = 0.0f;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += stride) {
        const float v = g[i];
        acc += v * v;
    }
    sums[t] = acc;
    __syncthreads();  // every slot is written before anyone reads a neighbour's

    // 2. Tree reduction in shared memory: halve the active threads each round.
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();  // this round's sums land before the next round reads them
    }

    // 3. One partial per block; written even when the block saw no element (it is 0).
    if (t == 0) {
        partial[blockIdx.x] = sums[0];
    }
}
"""
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_NORM_PARTIAL", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close

partial_kernel = kernel_lab.compile_kernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")
rng = np.random.default_rng(1)
# (n, blocks, threads): several passes of the grid, one value, block - 1, nothing at all
for n, blocks, threads in [(3000, 4, 256), (1, 2, 32), (127, 1, 128), (0, 3, 64), (1500, 2, 1024)]:
    g = rng.integers(-3, 4, size=n).astype(np.float32)   # small integers: exact float32 sums
    got = kernel_lab.run_partial(partial_kernel, g, blocks, threads, schedules=True)
    assert_close(got, kernel_lab.partials_spec(g, blocks, threads),
                 name=f"partial after k_grad_norm_partial with n={n}, {blocks} block(s) of {threads}",
                 hint="Block b sums g[i]**2 for every i with i // blockDim.x % gridDim.x == b; "
                      "NaN means a block never wrote its slot.")
print("k_grad_norm_partial: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_NORM_PARTIAL_hidden", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
# Hidden tests run your kernel over every block size, edge lengths and grid sizes, under several thread schedules.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_K_GRAD_NORM_PARTIAL_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Kernel 2: one block finishes the sum — and decides the scale
#
# After kernel 1 the partials buffer holds one number per block of every tensor: a few
# hundred to a few thousand floats. They must be added, and here is the wall that gives
# this lesson its name: **blocks of one launch cannot wait for each other.** A block's
# shared memory is private to it, and there is no barrier across the grid inside a normal
# launch. The end of a kernel *is* such a barrier: when kernel 1 has finished, every
# partial is in global memory, and the next kernel on the same stream sees them all.
#
# So kernel 2 runs as **a single block**. Its threads walk the partials with a
# *block-stride* loop (`i = threadIdx.x; i < num_partials; i += blockDim.x`) — there may be
# many more partials than threads — reduce their sums in shared memory as in kernel 1, and
# thread 0 finishes the job:
#
# * `out[0] = sqrtf(total)`, the norm before clipping;
# * `out[1] = max_norm / (out[0] + 1e-6f)` if `out[0] > max_norm`, else `1.0f`.
#
# The scale is computed **on the device** and stays there: kernel 3 reads `out[1]` itself,
# so the host never needs the number to decide anything.
#
# **Which rule.** PyTorch's `clip_grad_norm_` (`torch/nn/utils/clip_grad.py`) computes
# `clip_coef = max_norm / (total_norm + 1e-6)`, clamps it to at most 1 and *always*
# multiplies: it never branches on the norm, so it never needs it on the host, and pays a
# full read and write of every gradient even when nothing is clipped. llm.c scales only when
# `norm > max_norm`, by `max_norm / norm` (`train_gpt2.cu`); Megatron-LM's
# `clip_grad_by_total_norm_fp32` (`megatron/core/optimizer/clip_grads.py`) computes PyTorch's
# coefficient and, when the norm is a host number, multiplies only if it is below 1. Our
# kernel 2 uses the branch of llm.c with PyTorch's `1e-6` guard; the tests accept the scale with or without the guard,
# because the two differ by a relative `1e-6 / norm`:

# %%
for norm, max_norm in [(3.5, 1.0), (1.3, 1.0), (50.0, 0.3), (0.4, 1.0)]:
    ours = max_norm / (norm + 1e-6) if norm > max_norm else 1.0
    torch_rule = min(max_norm / (norm + 1e-6), 1.0)
    plain = max_norm / norm if norm > max_norm else 1.0
    print(f"norm {norm:5}, max_norm {max_norm}: ours {ours:.9f}  PyTorch {torch_rule:.9f}  "
          f"without 1e-6 {plain:.9f}  (relative gap {abs(ours - plain) / plain:.1e})")

# %% [markdown]
# ### Exercise: `K_GRAD_NORM_FINAL`
#
# Write the CUDA C source of
#
# ```c
# extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
#                                              float max_norm, float* out)
# ```
#
# launched as **one block** of any power-of-two size from 32 to 1024. It writes `out[0]`,
# the square root of the sum of all `num_partials` partials (which may be more, or fewer,
# than the threads, or 0), and `out[1]`, the scale defined above.

# %% nbgrader={"grade": false, "grade_id": "K_GRAD_NORM_FINAL", "locked": false, "schema_version": 3, "solution": true, "task": false}
# A string of CUDA C that defines
#   extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
#                                                float max_norm, float* out)
# launched as ONE block: block-stride loop over the partials, shared-memory reduction,
# then thread 0 writes out[0] (the norm) and out[1] (the scale).
### BEGIN SOLUTION
K_GRAD_NORM_FINAL = r"""
extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // Launched as one block: a block-stride loop lets any number of partials fit.
    float acc = 0.0f;
    for (int i = t; i < num_partials; i += blockDim.x) {
        acc += partial[i];
    }
    sums[t] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();
    }

    // The norm and the scale stay on the device: the scale kernel reads out[1].
    if (t == 0) {
        const float norm = sqrtf(sums[0]);
        out[0] = norm;
        out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}
"""
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_NORM_FINAL", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close

final_kernel = kernel_lab.compile_kernel(K_GRAD_NORM_FINAL, "k_grad_norm_final")
rng = np.random.default_rng(2)
# (num_partials, threads, max_norm): more partials than threads, fewer, a clip, no clip
for count, threads, max_norm in [(700, 128, 2.5), (5, 256, 100.0), (33, 32, 0.75), (1, 64, 0.5)]:
    partial = rng.integers(1, 50, size=count).astype(np.float32)
    got = kernel_lab.run_final(final_kernel, partial, max_norm, threads, schedules=True)
    want = kernel_lab.final_spec(partial, max_norm)
    what = f"out after k_grad_norm_final over {count} partials, one block of {threads}, max_norm={max_norm}"
    assert_close(got[0], want[0], name=what + ": out[0]",
                 hint="out[0] is the square root of the sum of ALL num_partials partials.")
    assert_close(got[1], want[1], name=what + ": out[1]",
                 hint="out[1] = max_norm / (out[0] + 1e-6) if out[0] > max_norm, else 1.0.")
print("k_grad_norm_final: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_NORM_FINAL_hidden", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
# Hidden tests vary the number of partials, the block size and max_norm, under several thread schedules.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_K_GRAD_NORM_FINAL_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Kernel 3: scale — or touch nothing
#
# Kernel 3 is a grid-stride loop that multiplies every element by `out[1]`. What makes it
# worth a lesson is its first line: every thread reads `out[1]` and, if it is `>= 1`,
# **returns before touching the gradient**. On steps that need no clip — in a healthy run,
# often most of them — the whole pass costs one read of one float per thread.
#
# Clipping is memory-bound, so bytes are time. Computing the norm reads every value once
# (4 bytes); scaling reads and writes it again (8 more). At a GPU's device-to-device copy
# rate (the cell prints which GPU's, and where the number comes from), for GPT-2 124M's
# gradients:

# %%
rec = kernel_lab.gpu_timings()
print(f"{rec['device']}: {rec['source']}")
values = sum(sizes)
clip_floor = kernel_lab.bandwidth_floor_ms(values, 12, rec["copy_bandwidth_tb_s"])
skip_floor = kernel_lab.bandwidth_floor_ms(values, 4, rec["copy_bandwidth_tb_s"])
print(f"{values / 1e6:.1f}M values at {rec['copy_bandwidth_tb_s']} TB/s:")
print(f"  when a clip is needed (norm read + scale read/write, 12 B a value): {clip_floor:.2f} ms")
print(f"  when none is needed   (norm read only, 4 B a value):             {skip_floor:.2f} ms")
print(f"  skipping the scale pass saves {1 - skip_floor / clip_floor:.0%} of the traffic")

# %% [markdown]
# PyTorch's always-multiply rule gives up that saving in exchange for never branching; we
# keep it, and the branch happens on the device, so it costs no host round trip.
#
# ### Exercise: `K_GRAD_SCALE`
#
# Write the CUDA C source of
#
# ```c
# extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
# ```
#
# that multiplies every element of `g` (any `n >= 0`, any grid) by `out[1]`, and **touches no
# memory of `g`** — no write, and better no read either — when `out[1] >= 1`. (The tests pass
# `g` read-only in that case: a single write is an error.)

# %% nbgrader={"grade": false, "grade_id": "K_GRAD_SCALE", "locked": false, "schema_version": 3, "solution": true, "task": false}
# A string of CUDA C that defines
#   extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
# Read the scale from out[1]; return at once when it is >= 1; else a grid-stride loop.
### BEGIN SOLUTION
K_GRAD_SCALE = r"""
extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    const float scale = out[1];
    if (scale >= 1.0f) {
        return;  // no clip needed: skip every read and write of g
    }
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        g[i] *= scale;
    }
}
"""
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_SCALE", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close

scale_kernel = kernel_lab.compile_kernel(K_GRAD_SCALE, "k_grad_scale")
rng = np.random.default_rng(3)
for n, blocks, threads in [(5000, 3, 256), (1, 1, 32), (513, 2, 512)]:
    g = rng.standard_normal(n).astype(np.float32)
    got = kernel_lab.run_scale(scale_kernel, g, [4.0, 0.25], blocks, threads, schedules=True)
    assert_close(got, kernel_lab.scale_spec(g, [4.0, 0.25]), rtol=1e-6,
                 name=f"g after k_grad_scale with out[1]=0.25, n={n}, {blocks} block(s) of {threads}",
                 hint="Every g[i] becomes g[i] * out[1]: a grid-stride loop covers any n and grid.")
g = rng.standard_normal(2000).astype(np.float32)
got = kernel_lab.run_scale(scale_kernel, g, [0.5, 1.5], 4, 128)
assert_close(got, g, rtol=0, name="g after k_grad_scale with out[1]=1.5",
             hint="When out[1] >= 1 no clip is needed: return before touching g.")
print("k_grad_scale: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_K_GRAD_SCALE_hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests vary n, the grid and the scale, and check that nothing is written when out[1] >= 1.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_K_GRAD_SCALE_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Many tensors, one partials buffer
#
# Now chain the three. For each tensor `k` with `n_k` values, kernel 1 runs on
# `blocks_k = min(ceil(n_k / threads), cap)` blocks (an empty tensor needs none) and writes
# its `blocks_k` partials into the slice `partial[offset_k : offset_k + blocks_k]` of one
# buffer, where `offset_k` is the running total of the earlier tensors' blocks. Passing
# that slice to the kernel passes a pointer to its first element: block `b` writes
# `partial[b]` *of the slice*. For four small tensors and 256 threads a block:

# %%
example = [(300, 257), (7,), (0,), (5, 7, 9)]
offset = 0
print(f"{'shape':>12} {'n':>7} {'blocks':>6}  slice of partial")
for shape in example:
    n = math.prod(shape)
    blocks = min(kernel_lab.cdiv(n, 256), 1024)
    print(f"{str(shape):>12} {n:7d} {blocks:6d}  [{offset}:{offset + blocks}]")
    offset += blocks
print(f"kernel 2 then reduces num_partials = {offset} partials in one block")


# %% [markdown]
# **The norm must not come back to the host between kernels.** A launch returns to Python at
# once; the GPU works through its queue while the host runs ahead. Anything that needs the
# *value* of `partial` or `out` on the host — `float(out[0])`, `out.item()`, `out.get()`,
# `print(out)`, `if out[1] < 1:` — makes the host wait until the queue drains, and then the
# GPU waits for the host to queue the next launch. Kernel 3 reads the scale from `out`
# itself precisely so that no such wait is needed. Read `out[0]` once, after the last
# launch, to return the norm.
#
# (The hidden test checks this by replaying your launcher the way a GPU runs it: the norm
# kernels' results are not there yet when the host looks.)
#
# **Kernel arguments are not type-checked by CuPy.** A Python `int` is passed as an 8-byte
# `long long`, a Python `float` as an 8-byte `double`, and a NumPy scalar with its own width —
# whatever the kernel declares ([CuPy user guide, "User-Defined Kernels" → raw
# kernels](https://docs.cupy.dev/en/stable/user_guide/kernel.html#raw-kernels)). A kernel
# that declares `float max_norm` and is handed `1.0` reads 4 bytes of a double: garbage. (A
# Python `int` for an `int` parameter happens to work when the value fits: the driver reads
# the low 4 bytes of the little-endian `long long`.) So pass exactly the declared types:
# `np.int64(n)` for `long long`, `np.int32(...)` for `int`, `np.float32(...)` for `float`.
# This course's runtime refuses what goes wrong on a GPU and tells you which argument it was.
#
# ### Exercise: `clip_grad_norm_kernels`
#
# Write `clip_grad_norm_kernels(grads, max_norm, threads=256)`: `grads` is a list of float32
# arrays of `xp` (any shapes, some possibly empty), clipped **in place** by their global norm
# using your three kernels (`kernels.RawKernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")`,
# …) with `threads` threads a block; it returns the norm **before** clipping as a Python
# `float`. An empty list gives 0.0.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm_kernels", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm_kernels(grads, max_norm, threads=256):
    """Clip float32 `grads` (arrays of `xp`) in place by their global L2 norm, on the device.

    One `k_grad_norm_partial` launch per non-empty tensor, into its slice of one partials
    buffer; one single-block `k_grad_norm_final`; one `k_grad_scale` per tensor. Returns the
    norm before clipping, read from the device only after the last launch.
    """
    ### BEGIN SOLUTION
    partial_kernel = kernels.RawKernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")
    final_kernel = kernels.RawKernel(K_GRAD_NORM_FINAL, "k_grad_norm_final")
    scale_kernel = kernels.RawKernel(K_GRAD_SCALE, "k_grad_scale")
    blocks = [min(kernel_lab.cdiv(g.size, threads), 1024) for g in grads]  # 0 for an empty tensor
    total = sum(blocks)
    partial = xp.zeros(max(total, 1), dtype=xp.float32)
    offset = 0
    for g, b in zip(grads, blocks):
        if b:
            partial_kernel((b,), (threads,), (g, np.int64(g.size), partial[offset:offset + b]))
            offset += b
    out = xp.zeros(2, dtype=xp.float32)
    final_kernel((1,), (threads,), (partial, np.int32(total), np.float32(max_norm), out))
    for g, b in zip(grads, blocks):
        if b:
            scale_kernel((b,), (threads,), (g, np.int64(g.size), out))
    return float(out[0])  # the only read of the device, after every launch
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_kernels", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type, call

rng = np.random.default_rng(4)
shapes = [(40, 33), (7,), (), (3, 4, 5), (0,)]
host = [rng.standard_normal(s).astype(np.float32) for s in shapes]
norm = math.sqrt(sum(float(np.sum(h.astype(np.float64) ** 2)) for h in host))
for max_norm, threads in [(0.25 * norm, 256), (2.0 * norm, 64), (0.5 * norm, 1024)]:
    grads = [kernel_lab.to_device(h) for h in host]
    what = f"clip_grad_norm_kernels(<{len(shapes)} arrays>, max_norm={max_norm:.4g}, threads={threads})"
    got = call(clip_grad_norm_kernels, grads, max_norm, threads, name=what)
    assert_type(got, (float, np.floating), name=what + " (return float(out[0]))")
    assert_close(got, norm, rtol=1e-4, name=what, hint="Return the norm BEFORE clipping.")
    scale = max_norm / norm if norm > max_norm else 1.0
    for i, (g, h) in enumerate(zip(grads, host)):
        assert_close(kernel_lab.to_host(g), h.astype(np.float64) * scale, rtol=1e-4,
                     name=f"grads[{i}] (shape {shapes[i]}) after {what}",
                     hint="Scale in place; with max_norm above the norm nothing may change.")
empty = call(clip_grad_norm_kernels, [], 1.0, name="clip_grad_norm_kernels([], 1.0)")
assert_close(empty, 0.0, name="clip_grad_norm_kernels([], 1.0)")
print("clip_grad_norm_kernels: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_kernels_hidden", "locked": true, "points": 6, "schema_version": 3, "solution": false, "task": false}
# Hidden tests run your launcher (with reference kernels, so a kernel bug is not counted twice) on fresh lists of arrays, and as a GPU runs it, asynchronously.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_clip_grad_norm_kernels_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The same answer as PyTorch
#
# Run your pipeline on gradients shaped like a small GPT-2 (12 layers, width 64, a 2,048-token
# vocabulary: the same 148 tensors, fewer values) and compare with
# `torch.nn.utils.clip_grad_norm_` on copies. The two rules differ only in the `1e-6` guard
# and in whether an unclipped gradient is multiplied by 1.

# %%
small = kernel_lab.gpt2_small_shapes(vocab=2048, context=128, width=64, layers=12)
rng = np.random.default_rng(6)
host = [(rng.standard_normal(s) * 0.02).astype(np.float32) for s in small]
torch_grads = [torch.from_numpy(h.copy()) for h in host]
params = [torch.nn.Parameter(torch.zeros_like(t)) for t in torch_grads]
for p, t in zip(params, torch_grads):
    p.grad = t

norm_true = math.sqrt(sum(float(np.sum(h.astype(np.float64) ** 2)) for h in host))
max_norm = 0.5 * norm_true                                 # a step that needs clipping
grads = [kernel_lab.to_device(h) for h in host]
ours = clip_grad_norm_kernels(grads, max_norm)
theirs = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
worst = max(float(np.max(np.abs(kernel_lab.to_host(g) - p.grad.numpy()) / (np.abs(p.grad.numpy()) + 1e-12)))
            for g, p in zip(grads, params))
print(f"{len(small)} tensors, {sum(math.prod(s) for s in small):,} values, max_norm {max_norm:.4f}")
print(f"norm: ours {ours:.6f}, torch {theirs:.6f}, float64 {norm_true:.6f}")
print(f"largest relative difference between the clipped gradients: {worst:.1e}")

# %% [markdown]
# ## 7. How fast, on a real GPU
#
# The CPU backend is for correctness, not speed. The timings below were **recorded on an
# NVIDIA H100 SXM** while this course was built (fp32 gradients shaped like GPT-2 124M), not
# by this notebook. On a GPU, `python bench/bench_clip_gpu.py` measures your own, and the
# cell shows them too.

# %%
def show(r):
    return f"{r[0]:.2f}" if r[0] == r[1] else f"{r[0]:.1f}-{r[1]:.1f}"

for timings in [kernel_lab.RECORDED_H100] + ([rec] if rec["measured"] else []):
    print(f"{timings['device']} ({'measured here' if timings['measured'] else 'recorded, not measured here'}):")
    for label, (clip_ms, skip_ms) in timings["times_ms"].items():
        print(f"  {label:55s} clip {show(clip_ms):>8} ms   no clip {show(skip_ms):>8} ms")
recorded = kernel_lab.RECORDED_H100
three = recorded["times_ms"]["three kernels, one flat buffer"]
h100_floor = kernel_lab.bandwidth_floor_ms(values, 12, recorded["copy_bandwidth_tb_s"])
h100_skip = kernel_lab.bandwidth_floor_ms(values, 4, recorded["copy_bandwidth_tb_s"])
print(f"three kernels vs the 12-byte floor ({h100_floor:.2f} ms): {three[0][0] / h100_floor:.2f}x; "
      f"vs the 4-byte floor ({h100_skip:.2f} ms): {three[1][0] / h100_skip:.2f}x")
print(f"three kernels without a clip take {three[1][0] / three[0][0]:.0%} of the time with one")
print(f"the memory floor alone, for {values / 1e6:.0f}M values: {h100_floor * 1e3:.0f} microseconds "
      f"= {h100_floor:.1f} ms a clipped step")
kernel_lab.plot_recorded_benchmark(timings=rec)
plt.show()

# %% [markdown]
# What the H100 SXM recording says:
#
# * **The three kernels run at the memory floor**: a second and a third launch cost a few
#   microseconds; the work is moving bytes.
# * **Not "microseconds per step"**, as the lesson material says: the launches take
#   microseconds, the bytes about half a millisecond (the floor printed above).
# * **Skipping the scale pass pays**: without a clip the pipeline moves a third of the bytes,
#   and takes about a third of the time. PyTorch always multiplies, so it pays the full
#   price on every step.
# * **Many tensors need one launch, not 148.** Walking 148 tensors with per-tensor launches and
#   summing on the host costs 3.5–5.2 ms: launch overhead and a host round trip per tensor.
#   A chunk table (one launch per kernel over every tensor) comes close to the flat buffer;
#   the optional part at the end of this lesson shows how NVIDIA apex builds one, and how
#   llm.c avoids the third kernel altogether.
#
# ## 8. Clip first, then Adam
#
# The clip runs **before** the optimizer touches anything. Adam updates its moments from the
# gradient it is given, `m ← β₁m + (1 − β₁)g` and `v ← β₂v + (1 − β₂)g²`, and the step uses
# `m / √v`. A spike that reaches the optimizer is written into `v` with weight `1 − β₂` and
# decays by `β₂ = 0.999` per step: it shrinks every later step for thousands of steps. Clip
# after the update and the spike is already in `m` and `v`. One scalar parameter whose Adam
# state has **settled** on a steady gradient of 0.5 ($m = 0.5$, $v = 0.25$, as in lesson
# 04; from zero, $v$'s warm-up would mix with the spike's decay), then one spike of 40:

# %%
def adam_second_moment(gradients, clip_at=None, settled=0.5):
    """Adam's v before and after each of `gradients`, from the state a long run of
    gradients `settled` leaves (m = settled, v = settled**2, step count large)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1e-3, betas=(0.9, 0.999))
    p.grad = torch.tensor([settled])
    opt.step()                                             # creates Adam's state ...
    state = opt.state[p]
    state["exp_avg"].fill_(settled)                        # ... which we then settle
    state["exp_avg_sq"].fill_(settled ** 2)
    state["step"].fill_(10_000.0)
    trace = [float(state["exp_avg_sq"])]
    for value in gradients:
        p.grad = torch.tensor([value])
        if clip_at is not None:
            torch.nn.utils.clip_grad_norm_([p], clip_at)   # clip, THEN step
        opt.step()
        trace.append(float(state["exp_avg_sq"]))
    return np.array(trace)

stream = [40.0] + [0.5] * 300
plain, clipped = adam_second_moment(stream), adam_second_moment(stream, clip_at=1.0)
print(f"v settled before the spike: {plain[0]:.4f}")
print(f"v right after it: {plain[1]:.4f} unclipped vs {clipped[1]:.4f} clipped at 1.0 "
      f"({plain[1] / clipped[1]:.1f}x)")
print(f"300 steps later: {plain[-1]:.4f} vs {clipped[-1]:.4f} ({plain[-1] / clipped[-1]:.1f}x still; "
      f"0.999**300 = {0.999 ** 300:.3f} of the spike's excess is left)")
plt.figure(figsize=(7, 2.8))
plt.semilogy(plain, label="no clip")
plt.semilogy(clipped, label="clip at 1.0 before the step")
plt.xlabel("steps from the settled state (spike at step 1)"); plt.ylabel("Adam's v"); plt.legend()
plt.title("One spike of 40 among gradients of 0.5, from the settled state")
plt.show()

# %% [markdown]
# ## 9. Why three kernels, not one?
#
# Suppose someone merges `k_grad_norm_partial` and `k_grad_norm_final` into a single kernel
# that computes the whole norm in one launch. Explain why the straightforward merge fails or
# costs more on a GPU: say what blocks of one launch can and cannot share, and how they (do
# not) synchronise. Then name one way to do it in one launch anyway and what it costs.

# %% [markdown] nbgrader={"grade": true, "grade_id": "why_three_kernels", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** Kernel 1 ends with one partial sum per block, and the norm needs all of
# them. Inside a block, threads cooperate through shared memory and `__syncthreads()`. Across
# blocks of one launch neither exists: each block's shared memory is private and disappears
# when the block exits, and a normal launch has no grid-wide barrier. Blocks are scheduled
# onto the SMs in no guaranteed order, and a grid may have more blocks than can be resident
# at once, so a block that spins waiting for the others can deadlock: the block it waits for
# may never get an SM while the waiters hold them. The end of a kernel is the barrier a
# normal launch gets for free: when kernel 1 has finished, every partial is in global
# memory, and kernel 2, launched on the same stream, sees them all. The extra launch costs
# a few microseconds against about half a millisecond of memory traffic (the recorded H100
# times: 0.53 ms for the three kernels against a 0.51 ms floor).
#
# One-launch alternatives exist, each with a cost: (a) every block `atomicAdd`s its partial
# into one global float — contention on one address, and float addition in a run-dependent
# order makes the norm non-deterministic in its last bits; someone must still know when the
# last block has added before taking the square root; (b) the "last block" pattern: each
# block writes its partial, `__threadfence()`s, and increments an atomic counter; the block
# that sees the final count reduces all the partials — correct but subtle (memory fences,
# resetting the counter for the next step); (c) a cooperative launch with cooperative groups'
# `grid.sync()` — a real grid barrier, but only when every block fits on the GPU at once and
# the kernel is launched with `cudaLaunchCooperativeKernel`, which caps the grid size. (Folding
# kernel 2 *into kernel 3* — every block of the scale kernel re-reducing the few hundred
# partials — is another option: redundant work but no extra launch.)
#
# **Rubric (3 points).**
# * 1 point: there is no grid-wide barrier inside a normal launch — blocks cannot wait for
#   each other (ordering not guaranteed; spinning can deadlock), and the kernel boundary is
#   what guarantees that every partial is written.
# * 1 point: shared memory is per block, so partials must go through global memory and one
#   block (or a second launch) must combine them.
# * 1 point: names an alternative and its cost — atomics (contention, non-deterministic float
#   sums), last-block counter with `__threadfence()`, cooperative groups `grid.sync()`
#   (cooperative launch, grid limited to resident blocks) — or explains with numbers why the
#   extra launch is cheap for a memory-bound job.
# * No credit for "threads cannot share memory" (threads of a block can) or "launches are
#   slow" without the synchronisation reason.

# %% [markdown]
# ## Summary
#
# * The naive loop's single accumulator becomes a **reduction**: private sums per thread, a
#   shared-memory tree per block, one partial per block.
# * Kernel 1 uses a **grid-stride loop** (any `n`, any grid) and `__syncthreads()` after
#   every round of the tree. A missing barrier is caught on the CPU by running under several
#   thread schedules; on an H100 it was wrong in only a few launch shapes, which is why a
#   single GPU run cannot be trusted to find it.
# * Kernel 2 is **one block**, because blocks of a launch cannot synchronise; it computes the
#   norm and the scale on the device.
# * Kernel 3 **skips all memory traffic** when no clip is needed, a third of the bytes on
#   most steps.
# * Many tensors share **one partials buffer**; the norm stays on the device until the last
#   launch; kernel arguments get exactly their declared C types.
# * Clip **before** the optimizer step: what reaches Adam's `v` stays there for thousands of
#   steps.
#
# **References**
# * PyTorch, `torch/nn/utils/clip_grad.py` (`get_total_norm`, `clip_grads_with_norm_`).
# * A. Karpathy, llm.c: `train_gpt2.cu` (`gpt2_calculate_grad_norm`, the `grad_scale` line in
#   the training loop) and `llmc/adamw.cuh` (`adamw_update`).
# * NVIDIA Megatron-LM: `megatron/core/optimizer/clip_grads.py` (`clip_grad_by_total_norm_fp32`).
# * NVIDIA apex: `apex/multi_tensor_apply/__init__.py` (`MultiTensorApply(2048*32)`),
#   `csrc/multi_tensor_l2norm_kernel.cu` (`L2NormFunctor`, `cleanup`).
# * CuPy user guide, [User-Defined Kernels](https://docs.cupy.dev/en/stable/user_guide/kernel.html).
# * NVIDIA, *CUDA C++ Programming Guide*: `__syncthreads()`, shared memory, cooperative groups
#   (grid synchronisation).
# * srush, GPU-Puzzles, [issue #14](https://github.com/srush/GPU-Puzzles/issues/14).
# * This course: `course/kernel_lab.py` (`RECORDED_H100`, `RECORDED_GPU_RACE`: recorded on an
#   H100 SXM), `bench/bench_clip_gpu.py` (measures the timings on your GPU).

# %% [markdown]
# ## Optional: how apex and llm.c organise the same work
#
# Nothing below is graded. Two production code bases, two answers to the questions of
# sections 5 and 7.
#
# * **apex: a chunk table.** NVIDIA apex's `multi_tensor_l2norm` splits every tensor into
#   chunks of `2048 * 32` values (`apex/multi_tensor_apply/__init__.py`), gives each block one
#   chunk from a table of (tensor, chunk) pairs, and reduces the per-block results in a second,
#   single-block `cleanup` kernel (`csrc/multi_tensor_l2norm_kernel.cu`) — our kernels 1 and 2.
#   A block that sees a non-finite sum sets a *no-op flag* on the device, which later kernels
#   read to skip the update, again with no host round trip. For GPT-2 124M:

# %%
chunk = 2048 * 32
chunks = sum(kernel_lab.cdiv(n, chunk) for n in sizes)
print(f"apex chunk size: {chunk:,} values; GPT-2 124M's {len(sizes)} tensors make {chunks:,} chunks")

# %% [markdown]
# * **llm.c: no third kernel at all.** llm.c folds the scale into its AdamW kernel:
#   `adamw_update` multiplies each gradient by a `grad_scale` argument as it reads it
#   (`llmc/adamw.cuh`), so the gradient is read once for the norm and once for the update,
#   with no separate scale pass. Note what llm.c gives up to do that: it copies the norm to the
#   host (`cudaMemcpy` in `gpt2_calculate_grad_norm`, `train_gpt2.cu`) and computes
#   `grad_scale` there, because it also logs the norm and may skip a step whose norm is an
#   outlier. One 4-byte copy per step is cheap next to a 124M-parameter step; across 148
#   tensors, one per tensor, it is not.

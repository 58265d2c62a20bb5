"""Grading lesson `05_three_kernels`: a learner's three CUDA kernels and their launcher.

The hidden tests (`autograder.hidden.three_kernels`) call into this package; the modules
follow the concepts of the checks:

* `inputs`: the kernel names, the data (exact integers, real values at varied scales),
  the launch shapes (every block size, edge lengths, grids), and the dynamic shared
  memory every grader launch provides (`dynamic_shared_bytes`);
* `launching`: compiling a learner's source, checking its signature against the contract,
  launching it under several thread schedules, and the messages for what the runtime
  finds (a race, an uninitialized `__shared__` read, a fault);
* `partial`, `final`, `scale`: one module per kernel exercise, each a check over
  `course.kernel_lab`'s float64 NumPy spec;
* `launcher`: the launcher's cases and the analysis of what was observed when it ran
  (results, and the launch log recorded by `course.launch_log`).

Where each part runs
--------------------
* The kernel checks (`partial`, `final`, `scale`) compile and run learner-supplied CUDA C:
  each is a job for `autograder.sandbox.job.run_job`, run in a sandbox of its own, with
  the kernel source as data. They import only `numpy`, `kernels` and `course`, never the
  references (hidden from jobs).
* The launcher is learner Python and runs in the learner's kernel, through the course
  scenario `course.launch_log.observe_launcher`; `launcher` here builds its inputs and
  judges what comes back.

What is checked, and why this way
---------------------------------
* **Against float64 NumPy specs, never against a reference kernel**: `course.kernel_lab`'s
  `partials_spec` / `final_spec` / `scale_spec` state what each kernel must compute.
* **Exact data to catch dropped elements**: most cases use small non-zero integers
  (±1, ±2, ±3), whose squares sum exactly in float32 (every sum here stays below 2**24),
  so one missing element changes the answer by at least 1; the rest use real values at
  varied scales, compared with relative 1e-4.
* **Inputs that keep different answers apart**: `max_norm` is never 1 and `out[0]` is
  never ``1 / out[1]`` (a scale kernel dividing by the norm would agree with one
  multiplying by the scale); norms fall on both sides of 1.
* **Launch shapes**: every block size the contract allows (32 … 1024), lengths 0, 1,
  block−1, block+1 and odd large ones, one block, a few, more than the data needs.
* **Dynamic shared memory**: every launch provides ``blockDim.x * sizeof(double)`` bytes
  (the contract), so a kernel with `extern __shared__` memory is graded like one with a
  static array.
* **Thread order**: launches go through `kernels.check`, which replays them under several
  thread schedules (CPU backend) and raises `RaceError` or `UninitializedSharedError`.
* **Inputs stay inputs**: on the CPU backend the arrays a kernel declares `const` (and a
  gradient when ``out[1] >= 1``) are passed read-only, so a write is a `KernelError`.
"""

from .inputs import BLOCK_SIZES, FINAL, KERNEL_OF, PARTIAL, SCALE, dynamic_shared_bytes

__all__ = ["BLOCK_SIZES", "FINAL", "KERNEL_OF", "PARTIAL", "SCALE", "dynamic_shared_bytes"]

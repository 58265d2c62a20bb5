"""CPU-backend benchmarks for the `kernels` package.

    python bench/bench_kernels_cpu.py [--numba-path build/bench-deps] [--quick]

Measures, on this machine:
  1. first compile of autograder/cuda/grad_clip.cu (empty cache) and of a one-line kernel;
  2. the overhead of a cached launch (a kernel that does nothing, one small array);
  3. the reference three-kernel clip (autograder.reference.three_kernels.clip_grad_norm,
     lesson 05's solution) on 2**22 float32 values against NumPy doing the
     same work (the norm as the square root of np.dot, then an in-place multiply when
     clipping), clipping and not, checks on and off: CPU time (this process plus the
     kernel worker) and wall time, NumPy and kernels measured alternately;
  4. kernels.check's cost: the partial-norm kernel (n = 2**16 and 2**20, 16 x 256) as a
     plain launch, as one launch of the race-detector build (every shared and written-array
     access recorded), and a whole kernels.check (four schedules, the race detector, the
     real launch), CPU time;
  5. the same partial-norm reduction on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1,
     run in a subprocess; numba must be importable, e.g. from --numba-path).
Prints medians; numbers depend on the machine and its load (printed with them).
`--rounds N` repeats the pipeline measurement (default 3), `--no-numba` skips step 4.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_ms(fn, reps: int, setup=lambda: None) -> float:
    times = []
    for _ in range(reps):
        setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def numpy_clip(grads, max_norm: float) -> float:
    """The fast NumPy way: BLAS dot products for the norm, one in-place multiply."""
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
    if total > max_norm:
        s = np.float32(max_norm / (total + 1e-6))
        for g in grads:
            g *= s
    return total


def bench_compile() -> dict:
    import kernels
    from autograder.reference import three_kernels as ref
    out = {}
    with tempfile.TemporaryDirectory() as d:
        old = os.environ.get("GRADCLIP_CACHE_DIR")
        os.environ["GRADCLIP_CACHE_DIR"] = d
        try:
            t0 = time.perf_counter()
            kernels.RawModule(code=ref.source(), backend="cpu").compile()
            out["compile grad_clip.cu (3 kernels), s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            kernels.RawKernel('extern "C" __global__ void k(float* x) { x[threadIdx.x] = 1.0f; }',
                              "k", backend="cpu").compile()
            out["compile a one-line kernel, s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            kernels.RawModule(code=ref.source(), backend="cpu").compile()
            out["cached compile (new RawModule, same source), ms"] = (time.perf_counter() - t0) * 1e3
        finally:
            if old is None:
                del os.environ["GRADCLIP_CACHE_DIR"]
            else:
                os.environ["GRADCLIP_CACHE_DIR"] = old
    return out


def bench_launch() -> dict:
    import kernels
    k = kernels.RawKernel('extern "C" __global__ void k_noop(float* x) { }', "k_noop", backend="cpu")
    x = np.zeros(16, np.float32)
    k((1,), (32,), (x,))
    return {"cached launch overhead (no-op kernel), ms": median_ms(lambda: k((1,), (32,), (x,)), 200)}


def load() -> str:
    """The 1-minute load average (what `uptime` prints first)."""
    return f"{os.getloadavg()[0]:.1f}"


def timed(fn, setup=lambda: None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call: CPU is this process's plus the kernel
    worker's inside the launches, which a loaded machine disturbs far less than wall time."""
    from kernels.cpu import launch
    setup()
    w0, c0, k0 = time.perf_counter(), time.process_time(), launch.total_kernel_cpu_seconds
    fn()
    return (time.process_time() - c0 + launch.total_kernel_cpu_seconds - k0,
            time.perf_counter() - w0)


def bench_pipeline(n: int, reps: int, rounds: int = 1) -> dict:
    """NumPy and the three kernels, measured alternately (one NumPy clip, one kernel clip,
    ...) so that both see the same machine load; `rounds` repeats the whole measurement.
    Reports medians over all repetitions, the median of the per-repetition ratios, and
    the range of the per-round medians."""
    from autograder.reference import three_kernels as ref
    from kernels.cpu import module as cpu_module
    g0 = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    norm = float(np.linalg.norm(g0.astype(np.float64)))
    g = g0.copy()

    def reset():
        g[:] = g0

    def numpy_elementwise(max_norm):
        total = float(np.sqrt(np.sum(g * g, dtype=np.float64)))
        if total > max_norm:
            np.multiply(g, np.float32(max_norm / (total + 1e-6)), out=g)
        return total

    out = {}
    loads = []
    for case, max_norm in (("clip", norm / 2), ("no clip", norm * 2)):
        for checks in ("1", "0"):
            os.environ["KERNELS_BOUNDS_CHECK"] = checks
            ref.module.cache_clear()
            ref.clip_grad_norm([g], max_norm)  # compile outside the timing
            label = "checked" if checks == "1" else "fast mode (KERNELS_BOUNDS_CHECK=0)"
            runs = {"numpy": [], "kernels": []}
            per_round = []
            for _ in range(rounds):
                loads.append(os.getloadavg()[0])
                rnp, rk = [], []
                for _ in range(reps):
                    rnp.append(timed(lambda: numpy_clip([g], max_norm), reset))
                    rk.append(timed(lambda: ref.clip_grad_norm([g], max_norm), reset))
                runs["numpy"] += rnp
                runs["kernels"] += rk
                per_round.append(statistics.median(k[0] / a[0] for k, a in zip(rk, rnp)))
            med = lambda xs, i: statistics.median(x[i] for x in xs) * 1e3
            if checks == "1":
                out[f"numpy (np.dot), {case}, CPU ms"] = med(runs["numpy"], 0)
                out[f"numpy (np.dot), {case}, wall ms"] = med(runs["numpy"], 1)
            out[f"kernels CPU backend, {label}, {case}, CPU ms"] = med(runs["kernels"], 0)
            out[f"kernels CPU backend, {label}, {case}, wall ms"] = med(runs["kernels"], 1)
            ratios = [k[0] / a[0] for k, a in zip(runs["kernels"], runs["numpy"])]
            wall_ratios = [k[1] / a[1] for k, a in zip(runs["kernels"], runs["numpy"])]
            out[f"pipeline vs numpy np.dot, {label}, {case}, CPU (x slower)"] = statistics.median(ratios)
            out[f"pipeline vs numpy np.dot, {label}, {case}, wall (x slower)"] = statistics.median(wall_ratios)
            if rounds > 1:
                out[f"  {label}, {case}: CPU ratio, range of the {rounds} round medians"] = (
                    f"{min(per_round):.1f} .. {max(per_round):.1f}")
        out[f"numpy (sum of g*g), {case}, wall ms"] = median_ms(lambda: numpy_elementwise(max_norm), reps, reset)
        os.environ["KERNELS_BOUNDS_CHECK"] = "1"
        ref.module.cache_clear()
        assert cpu_module.bounds_checks()
    out["load average during the pipeline runs"] = f"{min(loads):.1f} .. {max(loads):.1f}"
    return out


def bench_check(reps: int) -> dict:
    """kernels.check on the reference partial-norm kernel, and what its race detector costs."""
    import kernels
    from autograder.reference import three_kernels as ref
    from kernels.cpu import launch
    k = ref.module("cpu").get_function("k_grad_norm_partial")
    out = {}
    for n in (1 << 16, 1 << 20):
        g = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        p = np.zeros(16, np.float32)
        args = (g, np.int64(n), p)

        def race():
            with launch.racecheck():
                k((16,), (256,), args)

        k((16,), (256,), args)
        race()                                   # compile both builds outside the timing
        kernels.check(k, (16,), (256,), args)
        cpu = lambda fn: statistics.median(timed(fn)[0] for _ in range(reps)) * 1e3
        plain, raced = cpu(lambda: k((16,), (256,), args)), cpu(race)
        whole = cpu(lambda: kernels.check(k, (16,), (256,), args))
        out[f"partial norm n={n}: plain launch, CPU ms"] = plain
        out[f"partial norm n={n}: race-detector launch, CPU ms"] = raced
        out[f"partial norm n={n}: race-detector launch vs plain (x)"] = raced / plain
        out[f"partial norm n={n}: whole kernels.check, CPU ms"] = whole
    return out


NUMBA_SCRIPT = textwrap.dedent('''
    import os, sys, time, numpy as np
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    from numba import cuda, float32
    n, grid, block = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

    @cuda.jit
    def k_partial(g, n, partial):
        sdata = cuda.shared.array(1024, float32)
        tid = cuda.threadIdx.x
        s = float32(0.0)
        i = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.blockDim.x * cuda.gridDim.x
        while i < n:
            s += g[i] * g[i]
            i += stride
        sdata[tid] = s
        cuda.syncthreads()
        k = cuda.blockDim.x // 2
        while k > 0:
            if tid < k:
                sdata[tid] += sdata[tid + k]
            cuda.syncthreads()
            k //= 2
        if tid == 0:
            partial[cuda.blockIdx.x] = sdata[0]

    g = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    p = np.zeros(grid, np.float32)
    t0 = time.perf_counter()
    k_partial[grid, block](g, n, p)
    dt = time.perf_counter() - t0
    assert abs(p.sum() - (g.astype(np.float64) ** 2).sum()) < 1e-3 * (g.astype(np.float64) ** 2).sum()
    print(dt)
''')


def bench_numba(n: int, grid: int, block: int, numba_path: str | None) -> dict:
    from autograder.reference import three_kernels as ref
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    if numba_path:
        env["PYTHONPATH"] = numba_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", NUMBA_SCRIPT, str(n), str(grid), str(block)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"numba simulator": f"unavailable: {proc.stderr.strip().splitlines()[-1:]}"}
    sim_ms = float(proc.stdout.strip().splitlines()[-1]) * 1e3
    k = ref.module("cpu").get_function("k_grad_norm_partial")
    g = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    p = np.zeros(grid, np.float32)
    k((grid,), (block,), (g, np.int64(n), p))
    ours = median_ms(lambda: k((grid,), (block,), (g, np.int64(n), p)), 20)
    return {f"numba CUDA simulator, partial-norm launch n={n} grid={grid} block={block}, ms": sim_ms,
            "kernels CPU backend, same launch, ms": ours,
            "speed-up over the numba simulator": sim_ms / ours}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numba-path", default=str(ROOT / "build" / "bench-deps"))
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--rounds", type=int, default=3, help="repeat the pipeline measurement")
    ap.add_argument("--no-numba", action="store_true", help="skip the Numba simulator")
    ap.add_argument("--only-check", action="store_true", help="only the kernels.check costs")
    args = ap.parse_args(argv)
    reps = 5 if args.quick else 15
    rounds = 1 if args.quick else args.rounds
    print(f"machine: {os.cpu_count()} cores, load average {load()} at start")
    parts = [bench_compile, bench_launch, lambda: bench_pipeline(1 << 22, reps, rounds),
             lambda: bench_check(reps)]
    if args.only_check:
        parts = [lambda: bench_check(reps)]
    if not args.no_numba and not args.only_check:
        parts.append(lambda: bench_numba(1 << 16, 16, 256, args.numba_path))
    for part in parts:
        r = part()
        for k, v in r.items():
            print(f"  {k:72s} {v:10.3f}" if isinstance(v, float) else f"  {k:72s} {v}")
        print(f"  (load average {load()})")
    print(f"load average {load()} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

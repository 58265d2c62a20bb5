"""CPU-backend benchmarks for the `kernels` package.

    python bench/bench_kernels_cpu.py [--numba-path build/bench-deps] [--quick]

Measures, on this machine:
  1. first compile of grad_clip.cu (empty cache) and of a one-line kernel;
  2. the overhead of a cached launch (a kernel that does nothing, one small array);
  3. the reference three-kernel clip on 2**22 float32 values against NumPy
     (np.dot for the norm, in-place multiply), clipping and not, checks on and off;
  4. the same partial-norm reduction on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1,
     run in a subprocess; numba must be importable, e.g. from --numba-path).
Prints medians; numbers depend on the machine and its load (printed with them).
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


def median_cpu_ms(fn, reps: int, setup=lambda: None) -> float:
    """CPU time (this process, plus the kernel worker's time inside launches): a measure
    that a loaded machine disturbs far less than wall time."""
    from kernels.cpu import launch
    times = []
    for _ in range(reps):
        setup()
        w0, c0 = launch.total_kernel_cpu_seconds, time.process_time()
        fn()
        times.append(time.process_time() - c0 + launch.total_kernel_cpu_seconds - w0)
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
    from kernels import reference
    out = {}
    with tempfile.TemporaryDirectory() as d:
        old = os.environ.get("GRADCLIP_CACHE_DIR")
        os.environ["GRADCLIP_CACHE_DIR"] = d
        try:
            t0 = time.perf_counter()
            kernels.RawModule(code=reference.source(), backend="cpu").compile()
            out["compile grad_clip.cu (3 kernels), s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            kernels.RawKernel('extern "C" __global__ void k(float* x) { x[threadIdx.x] = 1.0f; }',
                              "k", backend="cpu").compile()
            out["compile a one-line kernel, s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            kernels.RawModule(code=reference.source(), backend="cpu").compile()
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


def bench_pipeline(n: int, reps: int) -> dict:
    from kernels import reference
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
    for case, max_norm in (("clip", norm / 2), ("no clip", norm * 2)):
        out[f"numpy (np.dot), {case}, ms"] = median_ms(lambda: numpy_clip([g], max_norm), reps, reset)
        out[f"numpy (np.dot), {case}, CPU ms"] = median_cpu_ms(lambda: numpy_clip([g], max_norm), reps, reset)
        out[f"numpy (sum of g*g), {case}, ms"] = median_ms(lambda: numpy_elementwise(max_norm), reps, reset)
        for checks in ("1", "0"):
            os.environ["KERNELS_BOUNDS_CHECK"] = checks
            reference.module.cache_clear()
            reference.clip_grad_norm([g], max_norm)  # compile outside the timing
            label = "checked" if checks == "1" else "fast mode (KERNELS_BOUNDS_CHECK=0)"
            out[f"kernels CPU backend, {label}, {case}, ms"] = median_ms(
                lambda: reference.clip_grad_norm([g], max_norm), reps, reset)
            out[f"kernels CPU backend, {label}, {case}, CPU ms"] = median_cpu_ms(
                lambda: reference.clip_grad_norm([g], max_norm), reps, reset)
        os.environ["KERNELS_BOUNDS_CHECK"] = "1"
        reference.module.cache_clear()
        assert cpu_module.bounds_checks()
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
    from kernels import reference
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    if numba_path:
        env["PYTHONPATH"] = numba_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", NUMBA_SCRIPT, str(n), str(grid), str(block)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"numba simulator": f"unavailable: {proc.stderr.strip().splitlines()[-1:]}"}
    sim_ms = float(proc.stdout.strip().splitlines()[-1]) * 1e3
    k = reference.module("cpu").get_function("k_grad_norm_partial")
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
    args = ap.parse_args(argv)
    reps = 5 if args.quick else 15
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    results = {}
    for part in (bench_compile, bench_launch, lambda: bench_pipeline(1 << 22, reps),
                 lambda: bench_numba(1 << 16, 16, 256, args.numba_path)):
        r = part()
        results.update(r)
        for k, v in r.items():
            print(f"  {k:72s} {v:10.3f}" if isinstance(v, float) else f"  {k:72s} {v}")
    for case in ("clip", "no clip"):
        for unit in ("ms", "CPU ms"):
            ratio = (results[f"kernels CPU backend, checked, {case}, {unit}"]
                     / results[f"numpy (np.dot), {case}, {unit}"])
            print(f"  {f'pipeline vs numpy np.dot, checked, {case}, {unit} (x slower)':72s} {ratio:10.1f}")
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

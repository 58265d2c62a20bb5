"""GPU benchmark: global-norm gradient clipping on gradients shaped like GPT-2 124M.

Compares, in the clip and the no-clip case:
  - torch.nn.utils.clip_grad_norm_(foreach=True)
  - the three reference kernels with one launch per tensor (autograder/cuda/grad_clip.cu)
  - the same with a chunk table (one launch per kernel, grad_clip_chunked.cu)
  - the same on one flat buffer (the shape of the problem without tensor boundaries)
against the bandwidth floor: 12 bytes a value when clipping (read for the norm, read and
write to scale), 4 when not, at the measured device-to-device copy bandwidth.

    python bench/bench_clip_gpu.py [--iters 50] [--json build/bench/bench_clip_gpu.json]

The results go to build/bench/bench_clip_gpu.json by default, where lesson 05 reads them
(`course.kernel_lab.gpu_timings`) in place of the timings recorded on an H100 SXM.

Needs CuPy, torch with CUDA, and a GPU; elsewhere it prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK = 65536


def gpt2_shapes(vocab: int = 50257, ctx: int = 1024, d: int = 768, layers: int = 12) -> list[tuple[int, ...]]:
    """Parameter shapes of GPT-2 small (tied embeddings): 148 tensors, 124,439,808 values."""
    shapes: list[tuple[int, ...]] = [(vocab, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,),                  # ln_1 weight, bias
                   (d, 3 * d), (3 * d,),        # attn.c_attn
                   (d, d), (d,),                # attn.c_proj
                   (d,), (d,),                  # ln_2
                   (d, 4 * d), (4 * d,),        # mlp.c_fc
                   (4 * d, d), (d,)]            # mlp.c_proj
    shapes += [(d,), (d,)]                      # ln_f
    return shapes


def gpu_available() -> tuple[bool, str]:
    try:
        import cupy
        import torch
    except ImportError as e:
        return False, f"needs CuPy and torch ({e})"
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA device"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False, "CuPy sees no GPU"
    except Exception as e:
        return False, f"CuPy sees no GPU ({e})"
    return True, ""


def time_ms(fn, reset, iters: int, warmup: int) -> float:
    """Median milliseconds of fn() by CUDA events; reset() runs untimed before each."""
    import torch
    times = []
    for i in range(warmup + iters):
        reset()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth(nbytes: int, iters: int) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    import torch
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), lambda: None, iters, 5)
    return 2 * nbytes / (ms * 1e-3)


def parser() -> argparse.ArgumentParser:
    from course.kernel_lab import BENCH_RESULTS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=256)
    ap.add_argument("--json", type=Path, default=BENCH_RESULTS,
                    help="where the results go; lesson 05 shows them from there "
                         f"(default {BENCH_RESULTS})")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    ok, why = gpu_available()
    if not ok:
        print(f"bench_clip_gpu: skipped: {why}")
        return 0

    import cupy
    import torch

    import kernels
    from autograder.reference import three_kernels as ref

    dev = torch.cuda.get_device_properties(0)
    sms = dev.multi_processor_count
    shapes = gpt2_shapes()
    total = sum(int(np.prod(s)) for s in shapes)
    gen = torch.Generator(device="cuda").manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(s, device="cuda")) for s in shapes]
    backup = [torch.randn(s, device="cuda", generator=gen) * 1e-3 for s in shapes]
    for p, b in zip(params, backup):
        p.grad = b.clone()
    flat_backup = torch.cat([b.reshape(-1) for b in backup])
    flat = flat_backup.clone()
    norm = float(torch.linalg.vector_norm(flat_backup))

    def reset():
        torch._foreach_copy_([p.grad for p in params], backup)
        flat.copy_(flat_backup)

    mod = ref.module("cupy")
    kp, kf, ks = (mod.get_function(n) for n in ref.KERNEL_NAMES.values())
    chunked = kernels.RawModule(code=ref.source("grad_clip_chunked.cu"), backend="cupy")
    kpc, ksc = chunked.get_function("k_grad_norm_partial_chunked"), chunked.get_function("k_grad_scale_chunked")
    threads = args.threads
    grads_cp = [cupy.asarray(p.grad) for p in params]     # zero-copy views of torch's grads
    flat_cp = cupy.asarray(flat)

    # one launch per tensor, partials at offsets of one buffer
    blocks = [ref.default_blocks(int(g.size), threads, "cupy") for g in grads_cp]
    partial = cupy.zeros(sum(blocks), dtype=cupy.float32)
    out = cupy.zeros(2, dtype=cupy.float32)

    def per_tensor(max_norm):
        off = 0
        for g, b in zip(grads_cp, blocks):
            kp((b,), (threads,), (g, np.int64(g.size), partial[off:]))
            off += b
        kf((1,), (1024,), (partial, np.int32(partial.size), np.float32(max_norm), out))
        for g, b in zip(grads_cp, blocks):
            ks((b,), (threads,), (g, np.int64(g.size), out))

    # chunk table: built once, outside the timed region (as apex does per parameter group)
    ptrs = cupy.asarray(np.array([g.data.ptr for g in grads_cp], np.uint64))
    sizes = cupy.asarray(np.array([g.size for g in grads_cp], np.int64))
    table = [(t, s) for t, g in enumerate(grads_cp) for s in range(0, int(g.size), CHUNK)]
    chunk_tensor = cupy.asarray(np.array([t for t, _ in table], np.int32))
    chunk_start = cupy.asarray(np.array([s for _, s in table], np.int64))
    cgrid = min(len(table), sms * 8)
    cpartial = cupy.zeros(cgrid, dtype=cupy.float32)

    def chunk_table(max_norm):
        kpc((cgrid,), (threads,), (ptrs, sizes, chunk_tensor, chunk_start, np.int32(len(table)),
                                   np.int32(CHUNK), cpartial))
        kf((1,), (1024,), (cpartial, np.int32(cgrid), np.float32(max_norm), out))
        ksc((cgrid,), (threads,), (ptrs, sizes, chunk_tensor, chunk_start, np.int32(len(table)),
                                   np.int32(CHUNK), out))

    fgrid = sms * 8
    fpartial = cupy.zeros(fgrid, dtype=cupy.float32)

    def flat_buffer(max_norm):
        kp((fgrid,), (threads,), (flat_cp, np.int64(flat_cp.size), fpartial))
        kf((1,), (1024,), (fpartial, np.int32(fgrid), np.float32(max_norm), out))
        ks((fgrid,), (threads,), (flat_cp, np.int64(flat_cp.size), out))

    def torch_clip(max_norm):
        torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)

    bw = copy_bandwidth(total * 4, args.iters)
    floor = {"clip": 12 * total / bw * 1e3, "no clip": 4 * total / bw * 1e3}
    cases = {"clip": norm * 0.5, "no clip": norm * 2.0}
    methods = [("torch clip_grad_norm_(foreach=True)", torch_clip),
               ("three kernels, one launch per tensor", per_tensor),
               ("three kernels, chunk table", chunk_table),
               ("three kernels, one flat buffer", flat_buffer)]
    # correctness first: every method clips to the same values
    for label, fn in methods[1:]:
        reset()
        fn(cases["clip"])
        torch.cuda.synchronize()
        got = float(out[0].get())
        assert abs(got - norm) <= 1e-4 * norm, f"{label}: norm {got} != {norm}"
    results = {label: {c: time_ms(lambda: fn(m), reset, args.iters, args.warmup) for c, m in cases.items()}
               for label, fn in methods}

    print(f"GPT-2 124M gradients: {len(shapes)} tensors, {total:,} float32 values; {dev.name}, {sms} SMs")
    print(f"device copy bandwidth {bw / 1e12:.2f} TB/s -> floor {floor['clip']:.3f} ms when clipping "
          f"(12 B/value), {floor['no clip']:.3f} ms when not (4 B/value)")
    print(f"{'method':40s} {'clip ms':>9s} {'x floor':>8s} {'no-clip ms':>11s} {'x floor':>8s} {'x torch':>8s}")
    t_ref = results[methods[0][0]]
    for label, r in results.items():
        print(f"{label:40s} {r['clip']:9.3f} {r['clip'] / floor['clip']:8.2f} {r['no clip']:11.3f} "
              f"{r['no clip'] / floor['no clip']:8.2f} {t_ref['clip'] / r['clip']:8.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": dev.name, "values": total, "tensors": len(shapes),
                                         "bandwidth_Bps": bw, "floor_ms": floor, "ms": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

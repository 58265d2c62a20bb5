"""Record lesson 07's runs: a TinyMLP with injected outlier batches, five ways to clip.

    python scripts/record_beyond_global_norm.py            # every run (about 45 s on one core)
    python scripts/record_beyond_global_norm.py --check    # re-run a prefix, compare

Each run trains on CPU with one thread (deterministic for a given torch version) with the
course's reference clipping rules (`autograder.reference.beyond_global_norm`) and writes
`course/data/beyond_global_norm/<method>-s<seed>.npz`. See `course/spike_runs.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autograder.reference import beyond_global_norm as ref  # noqa: E402
from course import spike_runs  # noqa: E402

SEEDS = (0, 1, 2, 3, 4)
RULES = {"autoclip_threshold": ref.autoclip_threshold,
         "zclip_clipped_norms": ref.zclip_clipped_norms, "agc_": ref.agc_}


def record(out_dir: Path = spike_runs.DATA_DIR, seeds=SEEDS) -> list[Path]:
    torch.set_num_threads(1)
    paths = []
    for method in spike_runs.METHODS:
        for seed in seeds:
            start = time.time()
            trace = spike_runs.run(method, seed, rules=RULES)
            path = spike_runs.save(trace, out_dir / f"{method}-s{seed}.npz")
            paths.append(path)
            print(f"{path.name}: {time.time() - start:.1f} s, final held-out loss "
                  f"{trace['eval_loss'][-20:].mean():.4f}", flush=True)
    return paths


def check(steps: int = 40, data_dir: Path = spike_runs.DATA_DIR, seeds=(0,)) -> list[str]:
    """Re-run the first `steps` steps of each method and compare with the recording;
    a list of mismatches (empty when the recording regenerates)."""
    torch.set_num_threads(1)
    runs = spike_runs.load_recorded(data_dir)
    problems = []
    for method in spike_runs.METHODS:
        for seed in seeds:
            recorded = runs[(method, seed)]
            fresh = spike_runs.run(method, seed, rules=RULES, steps=steps)
            for key in ("loss", "eval_loss", "norm", "norm_after", "v_sum"):
                a, b = recorded[key][:steps].astype(np.float64), fresh[key].astype(np.float32)
                if not np.allclose(a, b, rtol=1e-4, atol=1e-7):
                    i = int(np.argmax(~np.isclose(a, b, rtol=1e-4, atol=1e-7)))
                    problems.append(f"{method}-s{seed} {key}[{i}]: recorded {a[i]:.6g}, "
                                    f"now {b[i]:.6g}")
            if not np.array_equal(recorded["clipped"][:steps], fresh["clipped"]):
                problems.append(f"{method}-s{seed}: clipped steps differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="re-run a prefix and compare")
    parser.add_argument("--steps", type=int, default=40, help="prefix length for --check")
    args = parser.parse_args()
    if args.check:
        problems = check(args.steps)
        print("\n".join(problems) or f"the first {args.steps} steps regenerate")
        return 1 if problems else 0
    record()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

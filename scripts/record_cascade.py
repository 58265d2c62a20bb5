"""Record the spike-cascade runs the lesson and the instructor widget replay.

    python scripts/record_cascade.py                 # every run in RUNS not yet recorded
    python scripts/record_cascade.py --only small-plain --force --workers 2

Each run trains on CPU with one thread (deterministic for a given torch version and source
hashes) and writes `course/data/cascade/<run name>.npz`. See docs/cascade.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.cascade.experiment import RunConfig  # noqa: E402
from course.cascade.trace import DATA_DIR  # noqa: E402

STEPS = 500
SEEDS = (0, 1, 2)


def core_runs() -> list[RunConfig]:
    """The runs the lesson needs: both sizes, plain vs guarded, and the static control."""
    runs = []
    for size in ("small", "large"):
        for recipe in ("plain", "guarded"):
            runs += [RunConfig(size=size, recipe=recipe, seed=s, steps=STEPS) for s in SEEDS]
    # The static control is cheap for the small model; for the large one the lesson compares
    # switches with switch-free steps of the same run instead.
    runs += [RunConfig(size="small", recipe="plain", mixer="static", seed=s, steps=STEPS)
             for s in SEEDS]
    return runs


def extra_runs() -> list[RunConfig]:
    """One guard at a time for the large model (used by the lesson when recorded)."""
    return [RunConfig(size="large", recipe=recipe, seed=s, steps=STEPS)
            for s in SEEDS for recipe in ("clip", "warmup")]


def planned_runs() -> list[RunConfig]:
    """All runs, most important first (about 45 CPU-minutes on one free core)."""
    return core_runs() + extra_runs()


def _record(cfg: RunConfig, out_dir: Path) -> str:
    import torch

    from course.cascade.experiment import run

    torch.set_num_threads(1)
    start = time.time()
    trace = run(cfg, progress=True)
    path = trace.save(out_dir / f"{cfg.name}.npz")
    return f"{path.name}: {time.time() - start:.0f} s, final loss {trace.loss[-10:].mean():.3f}"


def summarize(data_dir: Path = DATA_DIR) -> str:
    """Markdown tables of what the recorded runs show, per configuration across seeds."""
    import numpy as np

    from autograder.reference.spike_cascade import repetition_score, spikes_near_boundaries
    from course.cascade import analysis, textstats
    from course.cascade.trace import load_recorded

    runs = load_recorded(data_dir)
    fmt = lambda xs, f="{:.2f}": " / ".join(f.format(x) for x in xs)  # noqa: E731
    out = ["| size | recipe | mixer | final held-out loss (s0 / s1 / s2) | median norm lift: at "
           "switches / at switch-free steps | loss jump (nats): at switches / switch-free | jumps >2x "
           "(share near a switch) | jumps >3x (near) | chance of 'near' | jumps >5x "
           "| largest jump (step) | clipped steps | word repetition, last sample: temp 1 / greedy |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    configs = sorted({(t.meta["config"]["size"], t.meta["config"]["recipe"], t.meta["config"]["mixer"])
                      for t in runs.values()}, key=lambda c: (c[0] != "small", c[2], c[1]))
    moments = []
    for size, recipe, mixer in configs:
        ts = analysis.select_runs(runs, size=size, recipe=recipe, mixer=mixer)
        final = [analysis.final_eval_loss(t.eval_loss) for t in ts]
        lifts, jumps, j3, near, chance, j5, big, clipped, rep = [], [], [], [], [], [], [], [], []
        for t in ts:
            late = [b for b in t.boundaries if b >= 50]
            free = analysis.switch_free_steps(t.boundaries, t.steps)
            lifts.append("{:.2f}/{:.2f}".format(np.median(analysis.switch_lift(t.grad_norm, late)),
                                                np.median(analysis.switch_lift(t.grad_norm, free))))
            jumps.append("{:+.2f}/{:+.2f}".format(np.median(analysis.switch_loss_jump(t.loss, late)),
                                                  np.median(analysis.switch_loss_jump(t.loss, free))))
            spikes = analysis.norm_jumps(t.grad_norm, 20, 3.0)
            j3.append(f"{len(spikes)} ({spikes_near_boundaries(spikes, t.boundaries):.0%})")
            two = analysis.norm_jumps(t.grad_norm, 20, 2.0)
            near.append(f"{len(two)} ({spikes_near_boundaries(two, t.boundaries):.0%})")
            chance.append(spikes_near_boundaries(range(1, t.steps), t.boundaries))
            j5.append(len(analysis.norm_jumps(t.grad_norm, 20, 5.0)))
            step, ratio = analysis.largest_jump(t.grad_norm)
            big.append(f"{ratio:.0f}x ({step}{'*' if spikes_near_boundaries([step], t.boundaries) else ''})")
            clipped.append(int(t.clipped.sum()))
            rep.append("{:.2f}/{:.2f}".format(*(repetition_score(textstats.word_ids(t.samples[k][-1]))
                                                for k in ("temp1", "greedy"))))
            if recipe == "plain" and mixer == "bandit":
                r = analysis.moment_response(t.m_norm, t.v_sum, step, horizon=200)
                moments.append(f"| {t.name} | {ratio:.0f}x at {step} | {r['v_ratio']:.1f}x | "
                               f"{r['v_ratio_end']:.1f}x | {r['m_ratio']:.1f}x | {r['m_recovery']} |")
        out.append(f"| {size} | {recipe} | {mixer} | {fmt(final, '{:.3f}')} | {', '.join(lifts)} | "
                   f"{', '.join(jumps)} | {', '.join(near)} | {', '.join(j3)} | {fmt(chance, '{:.0%}')} | "
                   f"{fmt(j5, '{}')} | {', '.join(big)} | {fmt(clipped, '{}')} | {', '.join(rep)} |")
    out += ["", "`*`: within 3 steps after a switch.", "",
            "| plain run | largest jump | sum(v) peak | sum(v) after 200 steps | ||m|| peak "
            "| steps until ||m|| < 1.5x baseline |", "|---|---|---|---|---|---|"] + moments
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="record runs whose name contains this")
    parser.add_argument("--force", action="store_true", help="re-record existing traces")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--list", action="store_true", help="print the planned runs and exit")
    parser.add_argument("--summary", action="store_true",
                        help="print markdown tables of the recorded runs and exit")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"`--workers` must be >= 1, got {args.workers}")
    runs = [c for c in planned_runs() if args.only in c.name]
    if args.summary:
        print(summarize(args.out))
        return 0
    if args.list:
        print("\n".join(c.name for c in runs))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in runs if args.force or not (args.out / f"{c.name}.npz").exists()]
    print(f"{len(todo)} of {len(runs)} runs to record into {args.out}", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for message in pool.map(_record, todo, [args.out] * len(todo)):
            print(message, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Autograde time: with the sandbox and without, per learner and for a class.

    python bench/bench_autograde.py [--lesson 02_global_vs_per_tensor] [--learners 3]
                                    [--class-size 40] [--jobs 2] [--rounds 2]

1. Per learner: the lesson's instructor solution submitted by `--learners` learners,
   autograded one at a time, alternately with the sandbox and with `--unsafe-no-sandbox`
   (the verdict channel runs in both: hidden tests are always decided outside the
   kernel), `--rounds` times. Prints the median seconds a learner and the ratio, against
   the goal that the sandbox adds at most 15%.
2. A class: `--class-size` submissions of the synthetic lesson (tests/autograder/pipeline/
   synthetic.py), autograded with `--jobs N`, with the sandbox: total and per learner.

Everything runs through `python -m autograder` in throwaway courses under build/bench/.
The machine's load average is printed beside each figure: on a shared machine the ratio
of alternated runs is the number to read, not the absolute times.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder import cells  # noqa: E402
from autograder.pipeline.course import scaffold  # noqa: E402

GOAL = 1.15  # the sandbox may add at most 15% to a learner's autograde time


def driver(course_root: Path, *args: str) -> float:
    """Run `python -m autograder --course ROOT args`; its wall seconds (raises on failure)."""
    env = {k: v for k, v in os.environ.items() if k != "GRADCLIP_EXCHANGE"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_root),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def solved(release_nb, source_nb):
    nb = copy.deepcopy(release_nb)
    by_id = {cells.grade_id(c): c for c in source_nb.cells if cells.grade_id(c)}
    for cell in nb.cells:
        if cells.is_solution(cell) and cell.cell_type == "code":
            cell.source = "\n".join(line for line in by_id[cells.grade_id(cell)].source.splitlines()
                                    if "### " not in line)
    return nb


def load() -> str:
    return "%.1f" % os.getloadavg()[0]


def per_learner(lesson: str, learners: int, rounds: int) -> None:
    base = ROOT / "build" / "bench" / "per-learner"
    shutil.rmtree(base, ignore_errors=True)
    course = scaffold(base, {lesson: cells.lesson_path(lesson).parent})
    driver(course.root, "generate", lesson)
    release = nbformat.read(str(course.release_dir(lesson) / f"{lesson}.ipynb"), as_version=4)
    source = nbformat.read(str(course.lessons_dir / lesson / f"{lesson}.ipynb"), as_version=4)
    nb = solved(release, source)
    students = [f"s{i}" for i in range(learners)]
    for student in students:
        folder = course.submitted_dir(student, lesson)
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{lesson}.ipynb"))
    times = {"sandbox": [], "no sandbox": []}
    for round_ in range(rounds):
        for student in students:
            for mode in ("sandbox", "no sandbox"):
                extra = ["--unsafe-no-sandbox"] if mode == "no sandbox" else []
                seconds = driver(course.root, "autograde", lesson, "--student", student, *extra)
                times[mode].append(seconds)
                print(f"  round {round_ + 1} {student} {mode:>10}: {seconds:6.1f} s  (load {load()})")
    with_box, without = statistics.median(times["sandbox"]), statistics.median(times["no sandbox"])
    ratio = with_box / without
    print(f"{lesson}, one learner at a time: sandbox {with_box:.1f} s, no sandbox {without:.1f} s "
          f"(medians of {len(times['sandbox'])}); ratio {ratio:.3f} "
          f"({'within' if ratio <= GOAL else 'OVER'} the goal of {GOAL:.2f})")


def a_class(size: int, jobs: int) -> None:
    from tests.autograder.pipeline import synthetic as s
    from tests.autograder.pipeline.support import make_tiny_course

    os.environ.setdefault("GRADCLIP_HIDDEN_MODULES", f"{s.LESSON}={s.HIDDEN_MODULE}")
    base = ROOT / "build" / "bench" / "class"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    course = make_tiny_course(base)
    driver(course.root, "generate", s.LESSON)
    release = s.read(course.release_dir(s.LESSON) / f"{s.LESSON}.ipynb")
    for i in range(size):
        answers = {**s.SOLUTIONS, **s.ANSWERS} if i % 4 else {"double": s.WRONG["double"]}
        s.save(s.submission(release, answers), course.submitted_dir(f"l{i:02d}", s.LESSON)
               / f"{s.LESSON}.ipynb")
    seconds = driver(course.root, "autograde", s.LESSON, "--jobs", str(jobs))
    print(f"a class of {size} ({s.LESSON}), --jobs {jobs}, sandboxed: {seconds:.0f} s in all, "
          f"{seconds / size:.1f} s a learner (load {load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="02_global_vs_per_tensor")
    parser.add_argument("--learners", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--class-size", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-class", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {load()}, {os.cpu_count()} CPUs")
    per_learner(args.lesson, args.learners, args.rounds)
    if not args.skip_class:
        a_class(args.class_size, args.jobs)


if __name__ == "__main__":
    main()

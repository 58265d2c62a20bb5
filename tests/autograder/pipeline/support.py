"""Test support: run the driver as a user would, and build a temporary course."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder.pipeline.course import REPO_ROOT, Course, scaffold

from . import synthetic


def driver(course_root: Path, *args: str, env=None, check=True, timeout=900):
    """`python -m autograder --course ROOT <args>`, as an instructor or learner types it.

    The course's own exchange (under its build/) is used even where the environment names
    a shared one.
    """
    env = {k: v for k, v in (env or os.environ).items() if k != "GRADCLIP_EXCHANGE"}
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_root), *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"`python -m autograder {' '.join(args)}` exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def make_tiny_course(root: Path, lesson: str = synthetic.LESSON) -> Course:
    """A course with the synthetic lesson, its jupytext twin, a helper module and a data file."""
    folder = root / "src" / lesson
    folder.mkdir(parents=True)
    synthetic.write_lesson(folder / f"{lesson}.ipynb", lesson)
    (folder / f"{lesson}.py").write_text("# %%\nSOLUTION = 'return 2 * x'  # solutions live here\n")
    (folder / "helper.py").write_text("SECRET = 1\n")
    (folder / "data.csv").write_text("x,y\n1,2\n")
    return scaffold(root / "course", {lesson: folder})

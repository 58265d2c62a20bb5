"""Fixtures: a temporary course holding the synthetic lesson, generated and released."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.pipeline.course import REPO_ROOT, scaffold

from . import synthetic


def driver(course_root: Path, *args: str, env=None, check=True, timeout=900):
    """`python -m autograder --course ROOT <args>`, as an instructor or learner types it."""
    done = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_root), *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"`python -m autograder {' '.join(args)}` exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(autouse=True)
def _private_exchange(monkeypatch):
    """Never touch a shared exchange configured in the environment."""
    monkeypatch.delenv("GRADCLIP_EXCHANGE", raising=False)


def make_tiny_course(root: Path, lesson: str = synthetic.LESSON):
    """A course with the synthetic lesson, its build.py, a helper module and a data file."""
    folder = root / "src" / lesson
    folder.mkdir(parents=True)
    synthetic.write_lesson(folder / f"{lesson}.ipynb", lesson)
    (folder / "build.py").write_text("SOLUTION = 'return 2 * x'  # solutions live here\n")
    (folder / "helper.py").write_text("SECRET = 1\n")
    (folder / "data.csv").write_text("x,y\n1,2\n")
    return scaffold(root / "course", {lesson: folder})


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory):
    """Generated and released; tests must not change it (make your own for that)."""
    course = make_tiny_course(tmp_path_factory.mktemp("tiny"))
    driver(course.root, "release", synthetic.LESSON,
           env=None)
    return course

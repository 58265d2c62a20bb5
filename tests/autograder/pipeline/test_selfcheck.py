"""selfcheck: a learner grades their own copy, hidden tests included, in a throwaway course."""

import pytest

from autograder.pipeline import leaks

from . import synthetic as s
from .support import driver

pytestmark = pytest.mark.slow


def test_selfcheck_reports_each_exercise_and_each_failed_test(tiny_course, tmp_path):
    release = s.read(tiny_course.release_dir(s.LESSON) / f"{s.LESSON}.ipynb")
    mine = s.save(s.submission(release, {"double": s.SOLUTIONS["double"], "halve": s.WRONG["halve"]}),
                  tmp_path / "workspace" / s.LESSON / f"{s.LESSON}.ipynb")
    done = driver(tiny_course.root, "selfcheck", str(mine), "--cell-timeout", "60")
    out = done.stdout
    assert "double  3/3" in out and "halve   0/3" in out and "total   3/6" in out
    # which hidden test failed, and its message line
    assert "test_halve_hidden: AssertionError: `halve(0.5)` returned 0.5, expected 0.25" in out
    page = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Feedback: "))
    html = open(page, encoding="utf-8").read()
    assert s.CANARY not in html and leaks.find_leaks(html, [], is_html=True) == []
    # the course's own gradebook never saw this learner
    with tiny_course.gradebook() as gb:
        assert [st.id for st in gb.students] == []


def test_selfcheck_of_a_notebook_that_kills_its_kernel_says_so(tiny_course, tmp_path):
    release = s.read(tiny_course.release_dir(s.LESSON) / f"{s.LESSON}.ipynb")
    mine = s.save(s.submission(release, {"double": "import os\nos._exit(1)"}),
                  tmp_path / s.LESSON / f"{s.LESSON}.ipynb")
    done = driver(tiny_course.root, "selfcheck", str(mine), check=False)
    assert done.returncode == 1 and "kernel died" in done.stdout

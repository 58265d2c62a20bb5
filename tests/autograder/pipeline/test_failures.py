"""Submissions that misbehave are graded or flagged, and never cost the others their grades.

One class of the synthetic lesson, autograded through `python -m autograder`: an infinite
loop, a kernel killer, a syntax error, an edited test cell, deleted test cells, rebound
builtins, and a notebook too slow for the whole-notebook limit, beside correct work.
"""

from __future__ import annotations

import csv

import nbformat
import pytest

from autograder.pipeline import leaks, report
from autograder.pipeline.hide_hidden_tests import PLACEHOLDER

from . import synthetic as s
from .support import driver, make_tiny_course

# the module fixture drives a whole class through nbgrader: minutes on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

L = s.LESSON
SOLVED = {**s.SOLUTIONS, **s.ANSWERS}


def class_of(release):
    halve = {"halve": s.SOLUTIONS["halve"]}
    return {
        "solved": s.submission(release, SOLVED),
        "loops": s.submission(release, {"double": "while True:\n    pass", **halve}),
        "kills_kernel": s.submission(release, {"double": "import os\nos._exit(1)", **halve}),
        "syntax_error": s.submission(release, {"double": "def double(x)\n    return 2 * x", **halve}),
        "edits_test": s.submission(release, {"double": s.WRONG["double"], **halve},
                                   edit={"test_double": "pass"}),
        "deletes_tests": s.submission(release, {"double": s.WRONG["double"], **halve},
                                      delete=("test_double", "test_double_hidden")),
        "rebinds_abs": s.submission(release, {
            "double": "import builtins\nbuiltins.abs = lambda v: 0\n" + s.WRONG["double"],
            "halve": s.WRONG["halve"]}),
        "too_slow": too_slow(release),
    }


def too_slow(release):
    """Every cell under the per-cell limit, the whole far over the notebook limit."""
    nb = s.submission(release, SOLVED)
    nb.cells += [nbformat.v4.new_code_cell("import time\ntime.sleep(3)") for _ in range(25)]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_tiny_course(tmp_path_factory.mktemp("failures"))
    driver(course.root, "release", L)
    release = s.read(course.release_dir(L) / f"{L}.ipynb")
    for student, nb in class_of(release).items():
        s.save(nb, course.submitted_dir(student, L) / f"{L}.ipynb")
    # one run, one learner at a time: the per-cell limit interrupts `loops`, the notebook
    # limit stops `too_slow` (75 s of 3 s cells); a plain submission takes ~25 s on a
    # loaded machine
    run = driver(course.root, "autograde", L, "--cell-timeout", "10", "--limit", "60")
    driver(course.root, "feedback", L)
    driver(course.root, "export", "--to", str(course.root / "grades.csv"))
    with (course.root / "grades.csv").open() as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    with course.gradebook() as gb:
        cells = {student: s.cell_scores(gb, L, student) for student in rows}
    return course, run.stdout, report.load(course, L), rows, cells


def test_autograde_reports_every_learner(graded):
    _, output, results, _, _ = graded
    assert sorted(results) == sorted(["solved", "loops", "kills_kernel", "syntax_error",
                                      "edits_test", "deletes_tests", "rebinds_abs", "too_slow"])
    assert "Needs attention" in output


def test_correct_work_keeps_full_marks_in_the_same_run(graded):
    _, _, results, rows, cells = graded
    assert results["solved"].score == s.AUTOGRADED_MAX and not results["solved"].flags
    assert float(rows["solved"]["score"]) == s.AUTOGRADED_MAX and rows["solved"]["needs_attention"] == ""
    assert results["solved"].manual_pending  # the written answer awaits a person


def test_infinite_loop_is_interrupted_graded_and_flagged(graded):
    _, _, results, _, cells = graded
    assert cells["loops"]["test_double_hidden"] == 0 and cells["loops"]["test_halve_hidden"] == 3
    assert results["loops"].score == 3
    assert any("interrupted at the per-cell time limit: double" in f.reason
               for f in results["loops"].flags)


def test_dead_kernel_is_not_a_silent_zero(graded):
    _, _, results, rows, _ = graded
    result = results["kills_kernel"]
    assert result.score is None and any("kernel died" in f.reason for f in result.flags)
    assert rows["kills_kernel"]["score"] == "" and "kernel died" in rows["kills_kernel"]["needs_attention"]


def test_syntax_error_costs_only_its_exercise(graded):
    _, _, results, _, cells = graded
    assert cells["syntax_error"]["test_double_hidden"] == 0
    assert cells["syntax_error"]["test_halve_hidden"] == 3
    assert results["syntax_error"].score == 3 and results["syntax_error"].graded


def test_edited_test_cell_is_restored_and_flagged(graded):
    _, _, results, _, cells = graded
    assert cells["edits_test"]["test_double"] == 0  # the original test ran, and failed
    assert any("edited locked cell(s)" in f.reason and "test_double" in f.reason
               for f in results["edits_test"].flags)


def test_deleted_test_cells_are_put_back_and_graded(graded):
    _, _, results, _, cells = graded
    assert cells["deletes_tests"]["test_double"] == 0
    assert cells["deletes_tests"]["test_double_hidden"] == 0
    assert results["deletes_tests"].score == 3  # not a silent full mark for `double`
    assert any("deleted locked cell(s)" in f.reason for f in results["deletes_tests"].flags)


def test_rebound_builtin_does_not_earn_full_marks(graded):
    _, _, results, _, cells = graded
    assert cells["rebinds_abs"]["test_double_hidden"] == 0  # decided outside its kernel
    assert results["rebinds_abs"].score < s.AUTOGRADED_MAX
    assert any("rebinds Python builtins" in f.reason for f in results["rebinds_abs"].flags)


def test_whole_notebook_limit_stops_one_and_spares_the_rest(graded):
    course, _, results, rows, _ = graded
    result = results["too_slow"]
    assert result.score is None and any("whole-notebook limit of 60 s" in f.reason
                                        for f in result.flags)
    assert not course.autograded_dir("too_slow", L).exists()
    assert rows["too_slow"]["score"] == "" and "limit" in rows["too_slow"]["needs_attention"]
    assert results["solved"].score == s.AUTOGRADED_MAX  # graded in the same run


def test_feedback_shows_no_hidden_test_code_or_traceback(graded):
    course, _, _, _, _ = graded
    source = s.read(course.lessons_dir / L / f"{L}.ipynb")
    lines = leaks.hidden_lines(source, "import math")
    pages = {p.parent.parent.name: p.read_text() for p in
             course.build_dir.glob(f"feedback/*/{L}/{L}.html")}
    assert "solved" in pages and "rebinds_abs" in pages
    assert "kills_kernel" not in pages and "too_slow" not in pages
    for student, page in pages.items():
        text = leaks.html_text(page)
        assert s.CANARY not in page and "BEGIN HIDDEN TESTS" not in text, student
        assert "assert_builtins_intact" not in text, student
        assert leaks.find_leaks(page, lines, is_html=True) == [], student
        assert PLACEHOLDER in text
    # the learner sees which hidden test failed and its message line, nothing more
    # a rebound builtin in the learner's kernel cannot touch the grader's comparisons
    assert "`double(0.5)` returned 0.5, expected 1.0" in leaks.html_text(pages["rebinds_abs"])
    wrong = leaks.html_text(pages["edits_test"])
    assert "`double(0.5)` returned 0.5, expected 1.0" in wrong

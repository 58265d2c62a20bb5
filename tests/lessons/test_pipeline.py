"""Each lesson through the whole nbgrader pipeline, on the real command line.

In a temporary course (its own exchange and gradebook): `python -m autograder release`
(generate_assignment + release_assignment), three learners `submit` with separate
JUPYTER_DATA_DIRs, `collect`, one `autograde` run, `feedback`, `export`. The instructor's
solution must score full autograded marks, the untouched release 0, and a notebook with
one exercise solved strictly in between; neither the release nor the feedback may hold
solutions or hidden tests.

Parametrised over `autograder.cells.lesson_ids()`, plus the synthetic lesson of
tests/autograder/pipeline/ so the pipeline is exercised before any lesson exists.
"""

from __future__ import annotations

import copy
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import cells
from autograder.pipeline import leaks, report
from autograder.pipeline.course import Course, scaffold
from tests.autograder.pipeline import synthetic
from tests.autograder.pipeline.support import driver, make_tiny_course

# the module fixture drives a whole class through nbgrader: minutes on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

SYNTHETIC = "synthetic"
PARAMS = [pytest.param(lesson, id=lesson) for lesson in cells.lesson_ids()] + \
    [pytest.param(SYNTHETIC, id=f"synthetic-{synthetic.LESSON}")]
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


# -- submissions built from the source and its release --------------------------------------
def solution_text(cell) -> str:
    """The instructor's cell as a learner would type it: the markers' lines removed."""
    return "\n".join(line for line in cell.source.splitlines()
                     if line.strip() not in SOLUTION_MARKERS)


def code_exercises(source_nb) -> list[str]:
    return [e for e, ex in cells.exercises(source_nb).items() if ex.kind == "code" and ex.test_indices]


def answered(release_nb, source_nb, exercise_ids) -> nbformat.NotebookNode:
    """The release with the instructor's solution in the solution cells `exercise_ids`."""
    nb = copy.deepcopy(release_nb)
    by_id = {cells.grade_id(c): c for c in source_nb.cells if cells.grade_id(c)}
    for cell in nb.cells:
        if cells.is_solution(cell) and cells.grade_id(cell) in exercise_ids:
            cell.source = solution_text(by_id[cells.grade_id(cell)])
    return nb


# -- what must not reach a learner -------------------------------------------------------------
def solution_regions(source: str) -> list[str]:
    regions, current = [], None
    for line in source.splitlines():
        if line.strip() == SOLUTION_MARKERS[0]:
            current = []
        elif line.strip() == SOLUTION_MARKERS[1] and current is not None:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def secret_lines(source_nb) -> list[str]:
    """Distinctive lines of the solutions (code and written answers) and hidden tests:
    those that occur nowhere else in the source notebook."""
    secret, public = [], []
    for cell in source_nb.cells:
        if cells.is_solution(cell) and cell.cell_type == "markdown":
            secret += cell.source.splitlines()
            continue
        text = cell.source
        hidden = leaks.hidden_regions(text) + solution_regions(text)
        secret += [line for region in hidden for line in region.splitlines()]
        public += [line for line in text.splitlines()
                   if not any(line in region.splitlines() for region in hidden)]
    public_text = " ".join(" ".join(public).split())
    lines = {" ".join(line.split()) for line in secret}
    return sorted(line for line in lines
                  if len(line) >= 16 and not line.startswith("#") and line not in public_text)


# -- the pipeline, once per lesson ---------------------------------------------------------------
@dataclass
class Piped:
    course: Course
    lesson: str
    source: nbformat.NotebookNode
    release: nbformat.NotebookNode
    results: dict
    rows: dict
    partial_possible: bool


@pytest.fixture(scope="module", params=PARAMS)
def piped(request, tmp_path_factory) -> Piped:
    root = tmp_path_factory.mktemp("pipeline")
    if request.param == SYNTHETIC:
        course, lesson = make_tiny_course(root), synthetic.LESSON
    else:
        lesson = request.param
        course = scaffold(root / "course", {lesson: cells.lesson_path(lesson).parent})
    driver(course.root, "release", lesson)
    source = nbformat.read(str(course.lessons_dir / lesson / f"{lesson}.ipynb"), as_version=4)
    release = nbformat.read(str(course.release_dir(lesson) / f"{lesson}.ipynb"), as_version=4)
    exercises = code_exercises(source)
    learners = {"instructor": answered(release, source, exercises), "untouched": release}
    if len(exercises) > 1:
        learners["partial"] = answered(release, source, exercises[:1])
    for student, nb in learners.items():
        workspace = root / "learners" / student / "workspace"
        (workspace / lesson).mkdir(parents=True)
        nbformat.write(nb, str(workspace / lesson / f"{lesson}.ipynb"))
        env = {**os.environ, "JUPYTER_DATA_DIR": str(root / "learners" / student / "data")}
        driver(course.root, "submit", lesson, "--student", student, "--workspace", str(workspace),
               env=env)
    collected = driver(course.root, "collect", lesson).stdout
    assert all(student in collected for student in learners), collected
    driver(course.root, "autograde", lesson, "--jobs", "2")  # two learners at a time
    driver(course.root, "feedback", lesson)
    grades = root / "grades.csv"
    driver(course.root, "export", "--to", str(grades))
    with grades.open() as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == lesson}
    return Piped(course, lesson, source, release, report.load(course, lesson), rows,
                 "partial" in learners)


# -- the checks ---------------------------------------------------------------------------------
def test_release_holds_no_solution_and_no_hidden_test(piped):
    course, lesson = piped.course, piped.lesson
    outbound = course.exchange_root / course.course_id / "outbound" / lesson
    lines = secret_lines(piped.source)
    for folder in (course.release_dir(lesson), outbound):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert not [p.name for p in files if p.suffix == ".py"], f"Python file released: {files}"
        for file in files:
            if file.suffix != ".ipynb":
                continue
            nb = nbformat.read(str(file), as_version=4)
            text = "\n".join(c.source for c in nb.cells)
            for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS",
                           "END HIDDEN TESTS"):
                assert marker not in text, f"{file}: `{marker}` released"
            found = leaks.find_leaks(text, lines)
            assert not found, f"{file} holds solution or hidden-test lines: {found[:5]}"


def test_instructor_solution_scores_full_autograded_marks(piped):
    result = piped.results["instructor"]
    assert result.max_score > 0
    assert result.score == pytest.approx(result.max_score), report.table([result])
    assert not [f for f in result.flags], report.table([result])


def test_untouched_release_scores_zero(piped):
    result = piped.results["untouched"]
    assert result.score == 0, report.table([result])
    assert not [f for f in result.flags if f.ungraded], report.table([result])


def test_one_exercise_solved_scores_strictly_between(piped):
    if not piped.partial_possible:
        pytest.skip(f"{piped.lesson} has a single autograded exercise")
    result = piped.results["partial"]
    assert 0 < result.score < result.max_score, report.table([result])


def test_feedback_shows_no_hidden_test_nor_unwritten_solution(piped):
    course, lesson = piped.course, piped.lesson
    # a learner's own answers show in their feedback: solutions are checked in the
    # untouched learner's page, hidden tests in everyone's
    given = "\n".join(c.source for c in piped.release.cells)
    solutions = secret_lines(piped.source)
    pages = {p.parent.parent.name: p for p in course.build_dir.glob(f"feedback/*/{lesson}/*.html")}
    assert set(pages) >= {"instructor", "untouched"}
    for student, page in pages.items():
        html = page.read_text(encoding="utf-8")
        own = course.submitted_dir(student, lesson) / f"{lesson}.ipynb"
        own_text = "\n".join(c.source for c in nbformat.read(str(own), as_version=4).cells)
        lines = solutions if student == "untouched" else \
            leaks.hidden_lines(piped.source, given + "\n" + own_text)
        found = leaks.find_leaks(html, lines, is_html=True)
        assert not found, f"{student}'s feedback shows: {found[:5]}"
        assert "BEGIN HIDDEN TESTS" not in leaks.html_text(html)
    released = course.exchange_root / course.course_id / "feedback"
    assert len(list(released.glob("*.html"))) == len(pages)


def test_export_lists_every_learner_with_nothing_to_attend(piped):
    assert set(piped.rows) == set(piped.results)
    for student, row in piped.rows.items():
        assert row["needs_attention"] == "", f"{student}: {row['needs_attention']}"
    assert float(piped.rows["untouched"]["score"]) == 0

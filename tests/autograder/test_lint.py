"""autograder.lint: each house rule for nbgrader metadata fails on a notebook that breaks it."""

from __future__ import annotations

import nbformat
import pytest

from autograder import lint

from .pipeline.synthetic import lesson_notebook


@pytest.fixture
def nb():
    return nbformat.reads(lesson_notebook().render(), as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_the_synthetic_lesson_is_clean(nb):
    assert lint.problems(nb) == []


def only(nb, *words):
    (problem,) = lint.problems(nb)
    for word in words:
        assert word in problem, problem
    return problem


def test_schema_version(nb):
    cell(nb, "double").metadata.nbgrader["schema_version"] = 2
    only(nb, "`double`", "schema_version")


def test_required_booleans(nb):
    del cell(nb, "halve").metadata.nbgrader["locked"]
    only(nb, "`halve`", "`locked` must be true or false")


def test_grade_id_characters(nb):
    cell(nb, "setup_imports").metadata.nbgrader["grade_id"] = "setup imports"
    only(nb, "'setup imports'", "letters, digits")


def test_grade_ids_are_unique(nb):
    cell(nb, "setup_imports").metadata.nbgrader["grade_id"] = "double"
    only(nb, "`double` is already cell", "unique")


def test_graded_cells_carry_points(nb):
    del cell(nb, "test_double").metadata.nbgrader["points"]
    only(nb, "`test_double`", "points")


def test_ungraded_cells_carry_no_points(nb):
    cell(nb, "double").metadata.nbgrader["points"] = 2
    only(nb, "`double`", "ungraded")


def test_solution_markers_come_as_a_pair(nb):
    c = cell(nb, "double")
    c.source = c.source.replace("### END SOLUTION", "")
    only(nb, "`double`", "### END SOLUTION", "0 time(s)")


def test_solution_markers_in_order(nb):
    c = cell(nb, "double")
    c.source = (c.source.replace("### BEGIN SOLUTION", "@@").replace("### END SOLUTION", "### BEGIN SOLUTION")
                .replace("@@", "### END SOLUTION"))
    only(nb, "`double`", "before")


def test_markers_outside_graded_cells(nb):
    nb.cells[0] = nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\n### END SOLUTION")
    only(nb, "cell 0", "no nbgrader metadata")


def test_hidden_markers_come_as_a_pair(nb):
    c = cell(nb, "test_halve_hidden")
    c.source = c.source.replace("### END HIDDEN TESTS", "")
    only(nb, "`test_halve_hidden`", "### END HIDDEN TESTS")


def test_test_cells_are_locked(nb):
    cell(nb, "test_halve").metadata.nbgrader["locked"] = False
    only(nb, "`test_halve`", "locked")


def test_test_ids_name_an_exercise(nb):
    cell(nb, "test_halve").metadata.nbgrader["grade_id"] = "check_halve"
    only(nb, "`check_halve`", "test_<exercise id>")


def test_markdown_cells_with_metadata_are_written_answers(nb):
    cell(nb, "why_inverse").metadata.nbgrader["solution"] = False
    problems = lint.problems(nb)
    assert any("written answer" in p and "`why_inverse`" in p for p in problems), problems


def test_contract_exercises_have_their_solution_cells(nb):
    problems = lint.problems(nb, lesson_id="03_scale_factor")
    assert any("contract exercise `clip_scale`" in p for p in problems), problems


def test_kernelspec(nb):
    nb.metadata.kernelspec["name"] = "ir"
    only(nb, "kernelspec", "'ir'")

"""A tiny synthetic lesson and its submissions: cell factories for the pipeline tests.

The lesson has two autograded exercises (`double`, `halve`), each with a visible and a
hidden test, and one manually graded answer. It imports nothing heavy, so a submission
autogrades in a few seconds. Its hidden tests live in `tiny_hidden.py` beside this file
(registered for the lesson by `GRADCLIP_HIDDEN_MODULES`, see `support.py`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from .notebook_factory import Notebook

LESSON = "00_tiny"
CANARY = "hidden-canary-7f3a"  # a distinctive line of the hidden tests
POINTS = {"test_double": 0, "test_double_hidden": 3, "test_halve": 0, "test_halve_hidden": 3}
HIDDEN_MODULE = "tests.autograder.pipeline.tiny_hidden"
AUTOGRADED_MAX = sum(POINTS.values())

SOLUTIONS = {
    "double": 'def double(x):\n    """Twice `x`."""\n    return 2 * x',
    "halve": 'def halve(x):\n    """Half of `x`."""\n    return x / 2',
}
ANSWERS = {"why_inverse": "Halving undoes doubling: they are inverse maps."}
WRONG = {
    "double": "def double(x):\n    return x",
    "halve": "def halve(x):\n    return x",
}


def lesson_notebook(lesson_id: str = LESSON) -> Notebook:
    nb = Notebook(lesson_id)
    nb.markdown("# A tiny lesson\n\nTwo functions and one question.")
    nb.code("import math", grade_id="setup_imports", locked=True)
    for name, factor in (("double", "2 * x"), ("halve", "x / 2")):
        nb.solution(name, f'''
            def {name}(x):
                """{'Twice' if name == 'double' else 'Half of'} `x`."""
                ### BEGIN SOLUTION
                return {factor}
                ### END SOLUTION
        ''')
        nb.test(f"test_{name}", points=POINTS[f"test_{name}"], source=f'''
            # a naive visible test: a rebound `abs` fools it
            assert abs({name}(4) - ({factor.replace("x", "4")})) < 1e-9, "`{name}(4)` is wrong"
        ''')
        nb.hidden_test(f"test_{name}_hidden", points=POINTS[f"test_{name}_hidden"], source=f'''
            # {CANARY}
            from autograder.verdict import run_hidden_test
            run_hidden_test("test_{name}_hidden", globals())
        ''')
    nb.markdown("Why does doubling then halving give back `x`?")
    nb.written_answer("why_inverse", "They are inverse maps.\n\n**Rubric**: 1 point for 'inverse'.",
                      points=1)
    return nb


def write_lesson(path: Path, lesson_id: str = LESSON) -> Path:
    """`path` <- the lesson notebook (the instructor's source)."""
    path.write_text(lesson_notebook(lesson_id).render(), encoding="utf-8")
    return path


# -- submissions: the release notebook, edited -------------------------------------------
def _cell(nb, grade_id):
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def submission(release_nb, answers: dict[str, str] | None = None, *,
               edit: dict[str, str] | None = None, delete: tuple[str, ...] = ()):
    """A copy of `release_nb` with solution cells `answers` and other cells `edit`ed."""
    nb = copy.deepcopy(release_nb)
    for grade_id, source in {**(answers or {}), **(edit or {})}.items():
        _cell(nb, grade_id).source = source
    nb.cells = [c for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in delete]
    return nb


def save(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def cell_scores(gradebook, lesson: str, student: str) -> dict[str, float | None]:
    """grade_id -> auto_score (None: nbgrader could not grade it) for a submission."""
    submission = gradebook.find_submission(lesson, student)
    return {g.name: g.auto_score for nb in submission.notebooks for g in nb.grades}


__all__ = ["LESSON", "CANARY", "POINTS", "HIDDEN_MODULE", "AUTOGRADED_MAX", "SOLUTIONS", "ANSWERS", "WRONG",
           "lesson_notebook", "write_lesson", "submission", "save", "read", "cell_scores"]

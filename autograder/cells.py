"""Read a lesson notebook's nbgrader cells: exercises, their solution and test cells."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
LESSONS_DIR = REPO_ROOT / "lessons"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"


def lesson_ids() -> list[str]:
    """Every graded lesson: `lessons/<id>/<id>.ipynb`, sorted."""
    return sorted(p.parent.name for p in LESSONS_DIR.glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def lesson_path(lesson_id: str) -> Path:
    path = LESSONS_DIR / lesson_id / f"{lesson_id}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"no lesson `{lesson_id}`: expected {path}")
    return path


def load(lesson_id: str) -> nbformat.NotebookNode:
    return nbformat.read(lesson_path(lesson_id), as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and meta.get("grade") is True and not meta.get("solution")


def is_solution(cell) -> bool:
    return nbgrader_meta(cell).get("solution") is True


@dataclass(frozen=True)
class Exercise:
    """One exercise: its solution cell's index and its test cells' indices."""

    exercise_id: str
    kind: str  # "code" (autograded) or "markdown" (manually graded)
    solution_index: int
    test_indices: tuple[int, ...]


def exercises(nb) -> dict[str, Exercise]:
    """Exercises in notebook order, keyed by exercise id."""
    found: dict[str, Exercise] = {}
    for i, cell in enumerate(nb.cells):
        if is_solution(cell):
            gid = grade_id(cell)
            tests = tuple(j for j, c in enumerate(nb.cells)
                          if is_test(c) and _test_belongs(grade_id(c), gid))
            found[gid] = Exercise(gid, cell.cell_type, i, tests)
    return found


def _test_belongs(test_id: str, exercise_id: str) -> bool:
    """`test_<exercise>` or `test_<exercise>_<suffix>`, and not a longer exercise's name."""
    prefix = f"test_{exercise_id}"
    return test_id == prefix or test_id.startswith(prefix + "_")


def points(nb) -> dict[str, float]:
    """Autograded points per test cell grade_id."""
    return {grade_id(c): float(nbgrader_meta(c).get("points", 0)) for c in nb.cells if is_test(c)}

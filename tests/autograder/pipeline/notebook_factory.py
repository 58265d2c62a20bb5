"""Cell factories for the notebooks tests build (the synthetic lesson of `synthetic.py`).

Each factory writes nbgrader schema-3 metadata, so a test never spells out JSON.
`Notebook.render()` returns the notebook as nbformat 4.5 JSON without outputs. (The
course's own lessons are jupytext text files: docs/authoring.md.)
"""

from __future__ import annotations

import json
import textwrap

import nbformat


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}
    if grade:
        if points is None or points < 0:
            raise ValueError(f"`points` for graded cell {grade_id!r} must be >= 0 (0 for a "
                             f"visible test), got {points!r}")
        meta["points"] = points
    return meta


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


class Notebook:
    """An nbgrader lesson notebook under construction."""

    def __init__(self, lesson_id: str):
        self.lesson_id = lesson_id
        self.nb = nbformat.v4.new_notebook()
        self.nb.metadata = {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        }
        self._ids: set[str] = set()

    # -- plain cells -------------------------------------------------------------------
    def markdown(self, source: str) -> None:
        """Append a prose cell."""
        self._append(nbformat.v4.new_markdown_cell(_clean(source)))

    def code(self, source: str, *, grade_id: str | None = None, locked: bool = False) -> None:
        """Append an ordinary code cell; `locked=True` makes it read-only for learners."""
        cell = nbformat.v4.new_code_cell(_clean(source))
        if locked:
            if not grade_id:
                raise ValueError("a locked cell needs a `grade_id`")
            cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=False, solution=False,
                                                  locked=True)
        self._append(cell, grade_id)

    # -- graded cells ------------------------------------------------------------------
    def solution(self, exercise_id: str, source: str) -> None:
        """Append the solution cell of `exercise_id` (markers inside `source`)."""
        text = _clean(source)
        if "### BEGIN SOLUTION" not in text or "### END SOLUTION" not in text:
            raise ValueError(f"solution cell {exercise_id!r} needs BEGIN/END SOLUTION markers")
        cell = nbformat.v4.new_code_cell(text)
        cell.metadata["nbgrader"] = _nbgrader(exercise_id, grade=False, solution=True,
                                              locked=False)
        self._append(cell, exercise_id)

    def test(self, grade_id: str, source: str, *, points: float = 1) -> None:
        """Append a visible (locked, autograded) test cell."""
        if not grade_id.startswith("test_"):
            raise ValueError(f"test `grade_id` must start with 'test_', got {grade_id!r}")
        cell = nbformat.v4.new_code_cell(_clean(source))
        cell.metadata["nbgrader"] = _nbgrader(grade_id, grade=True, solution=False,
                                              locked=True, points=points)
        self._append(cell, grade_id)

    def hidden_test(self, grade_id: str, source: str, *, points: float = 2,
                    note: str = "# Hidden tests check your function on fresh random inputs.") -> None:
        """Append a test cell whose whole body is hidden from learners."""
        body = _clean(source)
        text = f"{note}\n### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS"
        self.test(grade_id, text, points=points)

    def written_answer(self, exercise_id: str, answer_and_rubric: str, *, points: float) -> None:
        """Append a manually graded markdown answer (model answer plus rubric)."""
        cell = nbformat.v4.new_markdown_cell(_clean(answer_and_rubric))
        cell.metadata["nbgrader"] = _nbgrader(exercise_id, grade=True, solution=True,
                                              locked=False, points=points)
        self._append(cell, exercise_id)

    # -- output --------------------------------------------------------------------------
    def _append(self, cell, grade_id: str | None = None) -> None:
        if grade_id:
            if grade_id in self._ids:
                raise ValueError(f"duplicate `grade_id` {grade_id!r} in {self.lesson_id}")
            self._ids.add(grade_id)
        cell.pop("id", None)
        self.nb.cells.append(cell)

    def render(self) -> str:
        """The notebook as committed: nbformat 4.5 JSON, no outputs, stable cell ids."""
        for index, cell in enumerate(self.nb.cells):
            cell["id"] = f"cell-{index:03d}"
        nbformat.validate(self.nb)
        return json.dumps(self.nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

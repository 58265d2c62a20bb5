"""Run one exercise's test cells against a variant solution, in this process.

`run_exercise(lesson, exercise, source)` executes the lesson's code cells in order, as
nbgrader would, with `source` in place of the exercise's solution cell (the instructor's
solution for every other exercise), then runs the exercise's test cells (visible and
hidden) and reports each one's outcome. It skips other exercises' test cells. Fast enough
to try many variants; the full nbgrader pipeline is exercised in `test_pipeline.py`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import textwrap
import traceback
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from autograder import cells  # noqa: E402
from autograder.verdict.static import submission_code  # noqa: E402

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@dataclass(frozen=True)
class CellOutcome:
    grade_id: str
    passed: bool
    error: str = ""  # last line of the traceback: what the learner would read


class ExerciseRun(dict):
    """`grade_id -> CellOutcome` for an exercise's test cells, with summaries."""

    @property
    def all_passed(self) -> bool:
        return bool(self) and all(o.passed for o in self.values())

    @property
    def any_failed(self) -> bool:
        return any(not o.passed for o in self.values())

    @property
    def errors(self) -> str:
        return "\n".join(f"{g}: {o.error}" for g, o in self.items() if not o.passed)


def _exec(source: str, namespace: dict, label: str) -> str:
    """Run `source`; return "" on success or the error line a notebook would show."""
    if any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        raise ValueError(f"cell {label} uses an IPython magic or shell escape; lessons must not")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<cell {label}>", "exec"), namespace)  # noqa: S102
    except Exception as exc:  # noqa: BLE001 - a failing cell is an outcome, not a crash
        return "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        plt.close("all")
    return ""


def solution_body(solution_source: str) -> str:
    """Dedent a variant written as a triple-quoted string."""
    return textwrap.dedent(solution_source).strip("\n")


def run_exercise(lesson_id: str, exercise_id: str, source: str | None = None) -> ExerciseRun:
    """Outcomes of `exercise_id`'s test cells with `source` as its solution cell.

    `source=None` keeps the instructor's solution; pass `STUB` for the untouched release.
    """
    nb = cells.load(lesson_id)
    table = cells.exercises(nb)
    if exercise_id not in table:
        raise KeyError(f"`{exercise_id}` is not an exercise of {lesson_id}: {sorted(table)}")
    exercise = table[exercise_id]
    if not exercise.test_indices:
        raise ValueError(f"`{exercise_id}` has no test cells (grade_id test_{exercise_id}...)")
    last = max(exercise.test_indices)
    namespace: dict = {"__name__": "__main__", "__gradclip_lesson__": lesson_id}
    # what the grader's static checks read: the notebook as the learner would submit it
    submitted = copy.deepcopy(nb)
    if source is not None:
        submitted.cells[exercise.solution_index].source = solution_body(source)
    namespace["__gradclip_code__"] = submission_code(submitted, nb)
    run = ExerciseRun()
    cwd = os.getcwd()
    os.chdir(cells.lesson_path(lesson_id).parent)
    try:
        for index, cell in enumerate(nb.cells[: last + 1]):
            if cell.cell_type != "code":
                continue
            gid = cells.grade_id(cell) or f"#{index}"
            if cells.is_test(cell):
                if index in exercise.test_indices:
                    error = _exec(cell.source, namespace, gid)
                    run[gid] = CellOutcome(gid, not error, error)
                continue
            text = solution_body(source) if index == exercise.solution_index and source is not None \
                else cell.source
            _exec(text, namespace, gid)
    finally:
        os.chdir(cwd)
    return run


def make_variant_tests(lesson_id: str, correct: dict[str, list[str]],
                       mistakes: dict[str, list[tuple[str, str]]]):
    """A pytest class checking a lesson's variants.

    `correct[exercise]`: differently written correct solutions (each must pass every test
    cell of the exercise). `mistakes[exercise]`: `(source, fragment)` pairs, plausible
    mistakes that must fail at least one test cell whose message contains `fragment`
    (case-insensitive), so the learner is told what went wrong.
    """
    import pytest

    nb = cells.load(lesson_id)
    autograded = [e for e, ex in cells.exercises(nb).items() if ex.kind == "code"]
    correct_params = [pytest.param(e, s, id=f"{e}-{i}") for e, ss in correct.items()
                      for i, s in enumerate(ss)]
    mistake_params = [pytest.param(e, s, f, id=f"{e}-{i}") for e, ms in mistakes.items()
                      for i, (s, f) in enumerate(ms)]

    class TestVariants:
        @pytest.mark.parametrize("exercise", autograded)
        def test_instructor_solution_passes(self, exercise):
            run = run_exercise(lesson_id, exercise)
            assert run.all_passed, run.errors

        @pytest.mark.parametrize("exercise", autograded)
        def test_untouched_stub_fails_every_test_cell(self, exercise):
            run = run_exercise(lesson_id, exercise, STUB)
            passing = [g for g, o in run.items() if o.passed]
            assert not passing, f"test cells pass on the unanswered stub: {passing}"

        @pytest.mark.parametrize("exercise", autograded)
        def test_every_exercise_has_variants(self, exercise):
            assert len(correct.get(exercise, [])) >= 2, f"{exercise}: need 2+ correct variants"
            assert len(mistakes.get(exercise, [])) >= 3, f"{exercise}: need 3+ mistakes"

        @pytest.mark.parametrize("exercise,source", correct_params)
        def test_correct_variant_passes(self, exercise, source):
            run = run_exercise(lesson_id, exercise, source)
            assert run.all_passed, run.errors

        @pytest.mark.parametrize("exercise,source,fragment", mistake_params)
        def test_mistake_fails_with_a_message(self, exercise, source, fragment):
            run = run_exercise(lesson_id, exercise, source)
            assert run.any_failed, f"a plausible mistake passed every test of `{exercise}`"
            assert fragment.lower() in run.errors.lower(), (
                f"the failure does not tell the learner {fragment!r}:\n{run.errors}")

    TestVariants.__name__ = f"TestVariants_{lesson_id}"
    return TestVariants

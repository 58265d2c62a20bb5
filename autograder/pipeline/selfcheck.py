"""Grade your own copy of a lesson, hidden tests included, as the instructor would.

For a learner studying alone. The grading happens in a throwaway course under
build/selfcheck/<id>/ (its own gradebook and folders; the course's are not touched):
generate the lesson there, place the notebook as a submission, autograde it under the
same limits as a class, write the feedback HTML, and report the score of each exercise
and the message of each failed test (for hidden tests: which one, and its message line).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import cells
from .assess import Result, gradebook_scores
from .autograde import DEFAULT_LIMIT, grade_one
from .course import Course, PipelineError, scaffold
from .feedback import feedback
from .generate import generate
from .hide_hidden_tests import message_line

STUDENT = "me"


@dataclass
class SelfCheck:
    lesson: str
    result: Result
    exercises: dict[str, tuple[float, float]] = field(default_factory=dict)  # id -> (got, max)
    failures: dict[str, str] = field(default_factory=dict)  # test grade_id -> message line
    feedback: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"Self-check of {self.lesson}:"]
        if self.result.score is None:
            lines.append("  not graded:")
        width = max([len(e) for e in self.exercises] or [0])
        for exercise, (got, most) in self.exercises.items():
            lines.append(f"  {exercise:<{width}}  {got:g}/{most:g}")
        if self.result.score is not None:
            lines.append(f"  {'total':<{width}}  {self.result.score:g}/{self.result.max_score:g}"
                         + ("  (written answers are graded by a person)"
                            if self.result.manual_pending else ""))
        if self.failures:
            lines += ["", "Failed tests:"] + [f"  {g}: {m}" for g, m in self.failures.items()]
        if self.result.flags or self.notes:
            lines += ["", "Notes:"] + [f"  - {f.reason}" for f in self.result.flags] + [
                f"  - {n}" for n in self.notes]
        for page in self.feedback:
            lines += ["", f"Feedback: {page}"]
        return "\n".join(lines)


def selfcheck(course: Course, notebook: Path, lesson: str | None = None, *,
              cell_timeout: float | None = None, limit: float | None = None) -> SelfCheck:
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise PipelineError(f"no notebook at {notebook}")
    lesson = course.check_lesson(lesson or notebook.stem)
    scratch_root = course.build_dir / "selfcheck" / lesson
    shutil.rmtree(scratch_root, ignore_errors=True)
    scratch = scaffold(scratch_root, {lesson: course.lessons_dir / lesson})
    generate(scratch, lesson)
    submitted = scratch.submitted_dir(STUDENT, lesson)
    submitted.mkdir(parents=True)
    shutil.copyfile(notebook, submitted / f"{lesson}.ipynb")
    # your own code: sandboxed where this machine can, as a class would be; else run plainly
    from ..sandbox import available
    from ..verdict.execute import SANDBOX_ENV

    sandboxed, why = available()
    result = grade_one(scratch, lesson, STUDENT, cell_timeout=cell_timeout,
                       limit=limit or DEFAULT_LIMIT,
                       env={SANDBOX_ENV: "on" if sandboxed else "off"})
    check = SelfCheck(lesson, result)
    if not sandboxed:
        check.notes.append(f"graded without the sandbox ({why}); the verdicts are decided "
                           "the same way")
    source = nbformat.read(str(scratch.lessons_dir / lesson / f"{lesson}.ipynb"), as_version=4)
    found = gradebook_scores(scratch, lesson, STUDENT)
    if found is not None and result.score is not None:
        check.exercises = exercise_scores(source, found[0])
    autograded = scratch.autograded_dir(STUDENT, lesson) / f"{lesson}.ipynb"
    if autograded.is_file():
        check.failures = failed_tests(nbformat.read(str(autograded), as_version=4))
    if result.graded:
        check.feedback = feedback(scratch, lesson, release=False)
    return check


def exercise_scores(source_nb, grades: dict[str, float | None]) -> dict[str, tuple[float, float]]:
    """Autograded exercise id -> (points got, points possible), in notebook order."""
    points = cells.points(source_nb)
    scores = {}
    for exercise_id, exercise in cells.exercises(source_nb).items():
        tests = [cells.grade_id(source_nb.cells[i]) for i in exercise.test_indices]
        if exercise.kind != "code" or not tests:
            continue
        scores[exercise_id] = (sum(grades.get(t) or 0.0 for t in tests),
                               sum(points.get(t, 0.0) for t in tests))
    return scores


def failed_tests(autograded_nb) -> dict[str, str]:
    """Test cell grade_id -> the message line of its first error."""
    failures = {}
    for cell in autograded_nb.cells:
        if not cells.is_test(cell):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            failures[cells.grade_id(cell)] = message_line(errors[-1].get("ename", "Error"),
                                                          errors[-1].get("evalue", ""))
    return failures

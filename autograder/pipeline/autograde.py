"""Autograde a lesson's submissions: one `nbgrader autograde` process per learner.

nbgrader's per-cell timeout (`Execute.timeout`) does not bound a whole notebook, and a
kernel that dies or hangs fails the whole `nbgrader autograde` run. Here each learner is
graded in a process of its own under a wall-clock limit, so one submission cannot stall
a class: a learner whose run dies or times out is flagged (never a silent 0) and the
others are graded.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from . import nbgrader_cli, report
from .assess import Result, assess
from .course import Course, PipelineError

DEFAULT_LIMIT = float(os.environ.get("GRADCLIP_NOTEBOOK_LIMIT", 600))  # seconds a notebook


def autograde(course: Course, lesson: str, students: list[str] | None = None, *,
              cell_timeout: float | None = None, limit: float | None = None,
              jobs: int = 1, log=print) -> list[Result]:
    """Grade `students` (default: every collected submission) and record the results."""
    course.check_lesson(lesson)
    limit = limit or DEFAULT_LIMIT
    known = course.submitted_students(lesson)
    students = students or known
    if not students:
        raise PipelineError(f"no submissions of `{lesson}` in "
                            f"{course.submitted_dir('*', lesson).parent.parent}: run collect")
    unknown = sorted(set(students) - set(known))
    if unknown:
        raise PipelineError(f"no submission of `{lesson}` from: {', '.join(unknown)}")
    _require_generated(course, lesson)

    def one(student: str) -> Result:
        result = grade_one(course, lesson, student, cell_timeout=cell_timeout, limit=limit)
        log(f"  {student}: {report.score_text(result)}"
            f"{' - needs attention' if result.needs_attention else ''}")
        return result

    # each learner is a process of its own; `jobs` of them at a time share the gradebook
    # (sqlite waits for a lock rather than failing: nbgrader's writes are short)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, students))
    report.save(course, lesson, results)
    return results


def grade_one(course: Course, lesson: str, student: str, *, cell_timeout: float | None,
              limit: float) -> Result:
    args = ["autograde", lesson, f"--student={student}", "--force"]
    if cell_timeout:
        args.append(f"--Execute.timeout={int(cell_timeout)}")
    run = nbgrader_cli.run(course, *args, limit=limit)
    if not run.ok and not run.timed_out and "database is locked" in run.output:
        run = nbgrader_cli.run(course, *args, limit=limit)  # a busy gradebook: once more
    if run.timed_out:
        # what a killed run left behind is half-written: drop it, as nbgrader itself does
        # with a submission it failed on, so generate_feedback skips this learner
        shutil.rmtree(course.autograded_dir(student, lesson), ignore_errors=True)
    return assess(course, lesson, student, run, limit=limit)


def _require_generated(course: Course, lesson: str) -> None:
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            gb.find_assignment(lesson)
        except MissingEntry:
            raise PipelineError(f"`{lesson}` is not in the gradebook: run "
                                f"`python -m autograder release {lesson}` first") from None

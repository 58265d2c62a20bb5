"""A learner hands in `workspace/<id>/`: `nbgrader submit` into the exchange's inbound."""

from __future__ import annotations

from pathlib import Path

from . import nbgrader_cli
from .course import Course, PipelineError


def submit(course: Course, lesson: str, *, student: str | None = None,
           workspace: Path | None = None, env: dict[str, str] | None = None) -> str:
    """`student`: submit under this id (default: the OS user, nbgrader's own default).

    `env` may set JUPYTER_DATA_DIR (where nbgrader caches what it submitted) to keep
    several learners on one machine apart.
    """
    workspace = Path(workspace or course.workspace)
    if not (workspace / lesson).is_dir():
        raise PipelineError(f"nothing to submit: {workspace / lesson} does not exist "
                            "(`make lab` puts your copy of each lesson there)")
    args = ["submit", lesson, f"--Exchange.assignment_dir={workspace}"]
    if student:
        args.append(f"--student={student}")
    run = nbgrader_cli.run(course, *args, limit=300, env=course.env(**(env or {})))
    if not run.ok:
        raise PipelineError(f"nbgrader submit failed:\n{run.tail()}")
    return run.output

"""Autograde a lesson's submissions: one `nbgrader autograde` process per learner.

nbgrader's per-cell timeout (`Execute.timeout`) does not bound a whole notebook, and a
kernel that dies or hangs fails the whole `nbgrader autograde` run. Here each learner is
graded in a process of its own under a wall-clock limit, so one submission cannot stall
a class: a learner whose run dies or times out is flagged (never a silent 0) and the
others are graded. Each learner's kernel runs in a sandbox of its own
(autograder/sandbox/); where this machine cannot sandbox, autograde refuses unless told
`unsafe_no_sandbox`. Before each learner the gradebook's definitions are checked against
what generate recorded, and each result is saved as soon as it is known.
"""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

from . import nbgrader_cli, report
from .assess import Flag, Result, assess
from .course import Course, PipelineError
from .integrity import check_definitions

DEFAULT_LIMIT = float(os.environ.get("GRADCLIP_NOTEBOOK_LIMIT", 600))  # seconds a notebook


def require_sandbox(unsafe_no_sandbox: bool) -> dict[str, str]:
    """The environment that selects the sandbox; PipelineError if it cannot run here."""
    from ..sandbox import available
    from ..verdict.execute import SANDBOX_ENV

    if unsafe_no_sandbox:
        return {SANDBOX_ENV: "off"}
    ok, why = available()
    if not ok:
        raise PipelineError(f"cannot sandbox the learners' notebooks here: {why}. Learner code "
                            "would run as you, able to read and change every grade. Fix "
                            "that, or pass --unsafe-no-sandbox to grade anyway (only for "
                            "code you trust).")
    return {SANDBOX_ENV: "on"}


def autograde(course: Course, lesson: str, students: list[str] | None = None, *,
              cell_timeout: float | None = None, limit: float | None = None,
              jobs: int = 1, unsafe_no_sandbox: bool = False, log=print) -> list[Result]:
    """Grade `students` (default: every collected submission) and record the results."""
    course.check_lesson(lesson)
    sandbox_env = require_sandbox(unsafe_no_sandbox)
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
    saving = threading.Lock()

    def one(student: str) -> Result:
        check_definitions(course, lesson)
        result = grade_one(course, lesson, student, cell_timeout=cell_timeout, limit=limit,
                           env=sandbox_env)
        with saving:  # saved as soon as it is known: a stopped run keeps what it graded
            report.save(course, lesson, [result])
        log(f"  {student}: {report.score_text(result)}"
            f"{' - needs attention' if result.needs_attention else ''}")
        return result

    # each learner is a process of its own; `jobs` of them at a time share the gradebook
    # (sqlite waits for a lock rather than failing: nbgrader's writes are short)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, students))
    return results


def grade_one(course: Course, lesson: str, student: str, *, cell_timeout: float | None,
              limit: float, env: dict[str, str] | None = None) -> Result:
    refused = refusal(course, lesson, student)
    if refused is not None:
        return Result(lesson, student, None, 0.0, flags=[refused])
    args = ["autograde", lesson, f"--student={student}", "--force"]
    if cell_timeout:
        args.append(f"--Execute.timeout={int(cell_timeout)}")
    full_env = course.env(GRADCLIP_NOTEBOOK_LIMIT=str(limit), **(env or {}))
    run = nbgrader_cli.run(course, *args, limit=limit, env=full_env)
    if not run.ok and not run.timed_out and "database is locked" in run.output:
        run = nbgrader_cli.run(course, *args, limit=limit, env=full_env)  # busy: once more
    if run.timed_out:
        # what a killed run left behind is half-written: drop it, as nbgrader itself does
        # with a submission it failed on, so generate_feedback skips this learner
        shutil.rmtree(course.autograded_dir(student, lesson), ignore_errors=True)
    return assess(course, lesson, student, run, limit=limit)


def refusal(course: Course, lesson: str, student: str) -> Flag | None:
    """Why nbgrader would refuse this learner's notebook (unreadable, invalid), if it would:
    the learner's problem, flagged on them, not a pipeline failure."""
    import nbformat

    path = course.submitted_dir(student, lesson) / f"{lesson}.ipynb"
    if not path.is_file():
        return Flag(f"the submission has no {lesson}.ipynb", ungraded=True, check="refused")
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is the learner's
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return Flag(f"the submitted notebook cannot be read as a notebook ({first}): ask the "
                    "learner to resubmit it", ungraded=True, check="refused")
    why = tampered_metadata(course, lesson, nb)
    if why:
        return Flag(f"nbgrader would refuse this notebook: {why}; ask the learner to resubmit "
                    "from a fresh copy of the release (or repair the cell metadata)",
                    ungraded=True, check="refused")
    return None


def tampered_metadata(course: Course, lesson: str, nb) -> str:
    """Why nbgrader's own checks would stop on this notebook's cell metadata, if they
    would: its metadata validator (duplicate grade ids, malformed nbgrader metadata), or a
    cell marked graded under a grade id the gradebook holds as another kind of cell
    (OverwriteCells looks it up as a graded cell and fails). '' when neither."""
    from nbgrader.api import MissingEntry
    from nbgrader.nbgraderformat import MetadataValidator

    try:
        MetadataValidator().validate_nb(nb)
    except Exception as exc:  # noqa: BLE001 - ValidationError, SchemaMismatchError...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return f"its nbgrader cell metadata is invalid ({first})"
    with course.gradebook() as gb:
        try:
            notebook = gb.find_notebook(lesson, lesson)
        except MissingEntry:
            return ""
        graded = {c.name for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
        locked = {c.name for c in notebook.source_cells if c.locked}
        known = {c.name for c in notebook.source_cells} | graded
    marked, unmarked, retyped = [], [], []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid not in known:
            continue  # nbgrader drops grade ids it does not know
        if bool(meta.get("grade")) and gid not in graded:
            marked.append(gid)
        elif not meta.get("grade") and gid in graded:
            unmarked.append(gid)
        elif gid in locked and bool(meta.get("solution")) != (gid in solutions):
            retyped.append(gid)  # a locked cell's checksum covers its flags
    if marked:
        return f"cell(s) {', '.join(sorted(marked))} were marked as graded (their points changed)"
    if unmarked:
        return f"test cell(s) {', '.join(sorted(unmarked))} were unmarked as graded"
    if retyped:
        return f"locked cell(s) {', '.join(sorted(retyped))} had their solution flag changed"
    return ""


def _require_generated(course: Course, lesson: str) -> None:
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            gb.find_assignment(lesson)
        except MissingEntry:
            raise PipelineError(f"`{lesson}` is not in the gradebook: run "
                                f"`python -m autograder release {lesson}` first") from None

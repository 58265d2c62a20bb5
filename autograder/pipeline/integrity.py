"""What makes a grade trustworthy after nbgrader has written it.

- `record_definitions` / `check_definitions`: a hash of the lesson's definitions in the
  gradebook (grade cells, their points, the checksums of the locked cells nbgrader restores
  from) taken at generate, compared before each learner is graded: a gradebook changed
  behind the pipeline's back stops grading instead of grading against altered tests.
- `enforce_verdicts`: each hidden test cell's score in the gradebook must be what the
  grading process decided (build/verdicts/); where they differ the verdict is written
  back and the learner flagged. A hidden test with no verdict has no trustworthy score.
- `hand_scores`: autograded cells whose score was set by hand (a `manual_score`), which
  export lists for a person to confirm.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..cells import HIDDEN_BEGIN
from ..verdict import record
from .assess import Flag
from .course import Course, PipelineError


def _definitions(course: Course, lesson: str) -> dict:
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            assignment = gb.find_assignment(lesson)
        except MissingEntry:
            raise PipelineError(f"`{lesson}` is not in the gradebook: run "
                                f"`python -m autograder release {lesson}` first") from None
        found = {}
        for notebook in assignment.notebooks:
            found[notebook.name] = {
                "grade_cells": sorted((c.name, float(c.max_score), c.cell_type)
                                      for c in notebook.grade_cells),
                "source_cells": sorted((c.name, c.checksum or "", bool(c.locked), c.cell_type)
                                       for c in notebook.source_cells),
            }
        return found


def definitions_hash(course: Course, lesson: str) -> str:
    text = json.dumps(_definitions(course, lesson), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _definitions_file(course: Course, lesson: str) -> Path:
    return record.verdicts_dir(course.root, lesson) / "definitions.sha256"


def record_definitions(course: Course, lesson: str) -> str:
    """After generate: remember the hash of the lesson's gradebook definitions."""
    digest = definitions_hash(course, lesson)
    path = _definitions_file(course, lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest + "\n")
    return digest


def check_definitions(course: Course, lesson: str) -> None:
    """Before grading a learner: the definitions are those generate recorded."""
    path = _definitions_file(course, lesson)
    if not path.is_file():
        raise PipelineError(f"no record of `{lesson}`'s gradebook definitions: run "
                            f"`python -m autograder release {lesson}` (generate) first")
    if definitions_hash(course, lesson) != path.read_text().strip():
        raise PipelineError(f"the gradebook's definitions of `{lesson}` (test cells, points or "
                            "checksums) changed since it was generated: grading stopped. "
                            f"Regenerate with `python -m autograder release {lesson}` and regrade.")


def hidden_cells(course: Course, lesson: str) -> dict[str, float]:
    """Hidden test cells of the lesson's source notebook: grade id -> points."""
    import nbformat

    from .. import cells

    path = course.lessons_dir / lesson / f"{lesson}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    return {cells.grade_id(c): float(cells.nbgrader_meta(c).get("points", 0))
            for c in nb.cells if cells.is_test(c) and HIDDEN_BEGIN in c.source}


def enforce_verdicts(course: Course, lesson: str, student: str) -> list[Flag]:
    """Make the gradebook's hidden-test scores the recorded verdicts; flags for differences."""
    from nbgrader.api import MissingEntry

    hidden = hidden_cells(course, lesson)
    if not hidden:
        return []
    verdicts = record.load(course.root, lesson, student) or {}
    flags: list[Flag] = []
    missing = sorted(g for g in hidden if g not in verdicts)
    changed: list[str] = []
    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(lesson, student)
        except MissingEntry:
            return []
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name not in hidden or grade.name not in verdicts:
                    continue
                decided = float(verdicts[grade.name]["points"])
                if grade.auto_score is None or abs(float(grade.auto_score) - decided) > 1e-9:
                    changed.append(f"{grade.name} ({grade.auto_score} -> {decided:g})")
                    grade.auto_score = decided
                    grade.needs_manual_grade = False
        if changed:
            gb.db.commit()
    if changed:
        flags.append(Flag("the gradebook disagreed with the grader's verdicts; the verdicts "
                          f"stand: {', '.join(changed)}", check="verdicts"))
    if missing and not changed:
        flags.append(Flag(f"no verdict for {len(missing)} hidden test(s): {', '.join(missing)}",
                          ungraded=True, check="verdicts"))
    return flags


def hand_scores(course: Course, lesson: str, student: str) -> list[Flag]:
    """Autograded (code) cells given a score by hand in the gradebook."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(lesson, student)
        except MissingEntry:
            return []
        names = sorted(g.name for nb in submission.notebooks for g in nb.grades
                       if g.cell_type == "code" and g.manual_score is not None)
    if not names:
        return []
    return [Flag(f"score set by hand on autograded test(s) {', '.join(names)}: confirm it "
                 "(the verdicts are in build/verdicts/)", check="hand")]

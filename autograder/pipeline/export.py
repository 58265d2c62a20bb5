"""Grades to CSV: nbgrader's own CSV export, then a `needs_attention` column.

`nbgrader export` writes 0.0 for a submission whose kernel died or hung (its grades are
`None`): a silent zero. Here every row gets the reasons recorded by the last autograde
run (build/reports/) plus a fresh look at the gradebook: missing grades, hidden-test
scores that are not the grader's verdicts (build/verdicts/; the verdicts are written back
first, so the exported score is theirs), scores set by hand on autograded tests, and
submissions that were never graded. A row whose score is unknown has its `raw_score` and
`score` left empty rather than 0.0.
"""

from __future__ import annotations

import csv
from pathlib import Path

from . import report
from .assess import Flag, Result, check_grades, gradebook_scores
from .course import Course
from .integrity import enforce_verdicts, hand_scores

COLUMN = "needs_attention"


def export(course: Course, to: Path | None = None) -> tuple[Path, list[Result]]:
    """Write the grades CSV (default build/grades.csv); return it and the flagged results."""
    from nbgrader.plugins import CsvExportPlugin

    to = Path(to or course.build_dir / "grades.csv").resolve()
    to.parent.mkdir(parents=True, exist_ok=True)
    submitted = set(_submitted(course))
    for lesson, student in submitted:
        if lesson in course.lesson_ids():
            enforce_verdicts(course, lesson, student)  # the verdicts, not the gradebook, stand
    plugin = CsvExportPlugin(config=course.config)
    plugin.to = str(to)
    with course.gradebook() as gb:
        plugin.export(gb)
    with to.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    flagged = []
    for row in rows:
        # a submission in the gradebook, with or without a timestamp (one placed in
        # build/submitted/ by hand has none): its scores are checked all the same
        key = (row["assignment"], row["student_id"])
        result = attention(course, *key, bool(row["timestamp"]) or key in submitted)
        if result is None or not result.flags:
            row[COLUMN] = ""
            continue
        flagged.append(result)
        row[COLUMN] = "; ".join(("not graded: " if f.ungraded else "") + f.reason
                                for f in result.flags)
        if any(f.ungraded for f in result.flags):
            row["raw_score"] = row["score"] = ""
    rows += _missing_rows(course, rows, flagged)
    fields = list(rows[0].keys()) if rows else ["assignment", "student_id", "score", COLUMN]
    with to.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return to, flagged


def attention(course: Course, lesson: str, student: str, submitted: bool) -> Result | None:
    """The recorded result of (lesson, student), with the gradebook's missing grades added."""
    recorded = report.load(course, lesson).get(student)
    if not submitted:  # no submission at all: nbgrader's 0.0 is the right grade
        return recorded
    found = gradebook_scores(course, lesson, student)
    fresh: list[Flag] = check_grades(found[0]) if found else []
    if lesson in course.lesson_ids():
        fresh += enforce_verdicts(course, lesson, student) + hand_scores(course, lesson, student)
    if recorded is None:
        if course.submitted_dir(student, lesson).is_dir():
            fresh.append(Flag("submitted but never autograded: run `python -m autograder "
                              f"autograde {lesson} --student {student}`", ungraded=True,
                              check="never"))
        if not fresh:
            return None
        recorded = Result(lesson, student, None, found[1] if found else 0.0)
    # these are read afresh (an instructor may have graded by hand since)
    recorded.flags = [f for f in recorded.flags if f.check not in ("grades", "verdicts", "hand")] + fresh
    return recorded


def _missing_rows(course: Course, rows: list[dict], flagged: list[Result]) -> list[dict]:
    """Rows for learners nbgrader does not know: autograde refused their notebook before
    nbgrader saw it (so the gradebook has no such student). They are listed, ungraded,
    with the reason, rather than vanish from the grades."""
    present = {(row["assignment"], row["student_id"]) for row in rows}
    fields = list(rows[0].keys()) if rows else ["assignment", "student_id", "raw_score",
                                                 "score", "max_score"]
    extra = []
    for lesson in course.lesson_ids():
        recorded = report.load(course, lesson)
        for student in sorted(set(recorded) | set(course.submitted_students(lesson))):
            if (lesson, student) in present:
                continue
            result = recorded.get(student) or Result(lesson, student, None, 0.0, flags=[Flag(
                "submitted but never autograded: run `python -m autograder autograde "
                f"{lesson} --student {student}`", ungraded=True, check="never")])
            row = {name: "" for name in fields}
            row.update(assignment=lesson, student_id=student)
            if "max_score" in row:
                row["max_score"] = f"{result.max_score:g}" if result.max_score else ""
            row[COLUMN] = "; ".join(("not graded: " if f.ungraded else "") + f.reason
                                    for f in result.flags) or "not graded: no result"
            flagged.append(result)
            extra.append(row)
    return extra


def _submitted(course: Course) -> list[tuple[str, str]]:
    """(lesson, student) of every submission in the gradebook."""
    with course.gradebook() as gb:
        return [(a.name, s.student.id) for a in gb.assignments for s in a.submissions]

"""Build a lesson's learner version: `nbgrader generate_assignment` (build/release/<id>/).

It also records the lesson's cells, hidden tests included, in the gradebook: autograde
restores edited or deleted test cells from there. nbgrader rejects malformed cell
metadata here (exit 1), so this step doubles as the lessons' metadata lint.
"""

from __future__ import annotations

from .course import Course


def generate(course: Course, lesson: str) -> str:
    """generate_assignment, then record the hash of the gradebook's definitions (checked
    before each learner is graded: autograder/pipeline/integrity.py)."""
    from .integrity import record_definitions

    course.check_lesson(lesson)
    log = course.call("generate_assignment", lesson, force=True, create=True)
    record_definitions(course, lesson)
    return log

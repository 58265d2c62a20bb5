"""Put a generated lesson in the exchange: `nbgrader release_assignment` (outbound/<id>/)."""

from __future__ import annotations

from .course import Course


def release(course: Course, lesson: str) -> str:
    course.check_lesson(lesson)
    # releasing again (a fixed typo) replaces the outbound copy; learners fetch anew
    return course.call("release_assignment", lesson,
                       overrides={"ExchangeReleaseAssignment.force": True})

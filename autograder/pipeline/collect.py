"""Copy submissions from the exchange's inbound into build/submitted/: `nbgrader collect`."""

from __future__ import annotations

from .course import Course


def collect(course: Course, lesson: str) -> list[str]:
    """Collect (newer submissions replace older ones); return who has a submission now."""
    course.check_lesson(lesson)
    course.call("collect", lesson, update=True)
    return course.submitted_students(lesson)

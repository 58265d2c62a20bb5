"""Feedback for a lesson: `nbgrader generate_feedback`, checked, then `release_feedback`.

Hidden tests are cut out of the HTML by `HideHiddenTests` inside generate_feedback
(nbgrader_config.py). Before anything leaves build/feedback/, every page is searched for
the lesson's hidden-test lines; a page that holds any is deleted and the step fails, so
a misconfigured nbgrader cannot hand hidden tests to learners.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import leaks
from .course import Course, PipelineError


def feedback(course: Course, lesson: str, *, release: bool = True) -> list[Path]:
    """Generate, check and (by default) release the feedback of every graded learner."""
    course.check_lesson(lesson)
    course.call("generate_feedback", lesson)
    pages = check_pages(course, lesson)
    if release:
        for page in pages:
            # release_feedback keys a page by the submission's timestamp.txt, which
            # `nbgrader submit` writes; a submission placed in build/submitted/ by hand
            # may lack it: its page stays in build/feedback/ for the instructor to pass on
            if (page.parent / "timestamp.txt").is_file():
                course.call("release_feedback", lesson, page.parent.parent.name)
    return pages


def pages_of(course: Course, lesson: str) -> list[Path]:
    return sorted(course.feedback_dir("*", lesson).parent.parent.glob(f"*/{lesson}/*.html"))


def check_pages(course: Course, lesson: str) -> list[Path]:
    source = _read(course.lessons_dir / lesson / f"{lesson}.ipynb")
    release = _text(_read(course.release_dir(lesson) / f"{lesson}.ipynb"))
    pages = pages_of(course, lesson)
    leaked = {}
    for page in pages:
        student = page.parent.parent.name
        # a line of the hidden tests that the learner also wrote in their own cells is theirs
        own = _text(_read(course.submitted_dir(student, lesson) / f"{lesson}.ipynb"))
        lines = leaks.hidden_lines(source, release + "\n" + own)
        found = leaks.find_leaks(page.read_text(encoding="utf-8"), lines, is_html=True)
        if found:
            leaked[page] = found
            page.unlink()
    if leaked:
        detail = "\n".join(f"  {p}: {found[:3]}" for p, found in leaked.items())
        raise PipelineError("feedback would show hidden tests; the pages were deleted "
                            f"(is HideHiddenTests in nbgrader_config.py?):\n{detail}")
    return pages


def _read(path: Path):
    return nbformat.read(str(path), as_version=4) if path.is_file() else None


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells) if nb is not None else ""

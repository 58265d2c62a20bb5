"""Feedback for a lesson: `nbgrader generate_feedback`, checked, then `release_feedback`.

Hidden tests are cut out of the HTML by `HideHiddenTests` inside generate_feedback
(nbgrader_config.py). Before anything leaves build/feedback/, every page is searched for
the lesson's hidden-test lines; a page that holds any is deleted, withheld and flagged
for its learner (the others are released), so a misconfigured nbgrader or one odd
notebook cannot hand hidden tests to learners, nor keep a class from its feedback. Where
nbgrader cannot generate feedback for the class at once, it is generated learner by
learner, and only the learners it fails on are withheld.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from . import leaks
from .course import Course, PipelineError


def feedback(course: Course, lesson: str, *, release: bool = True) -> list[Path]:
    """Generate, check and (by default) release the feedback of every graded learner."""
    course.check_lesson(lesson)
    withheld: dict[str, str] = {}
    try:
        course.call("generate_feedback", lesson)
    except PipelineError:
        for student in _graded(course, lesson):
            try:
                course.call("generate_feedback", lesson, student)
            except PipelineError as exc:
                withheld[student] = ("nbgrader could not make its feedback page: "
                                     + str(exc).strip().splitlines()[-1][:200])
    pages, leaked = check_pages(course, lesson)
    withheld.update({p.parent.parent.name: "its feedback page would show hidden tests; "
                     "withheld" for p in leaked})
    _flag(course, lesson, withheld)
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


def _graded(course: Course, lesson: str) -> list[str]:
    base = course.autograded_dir("*", lesson).parent.parent
    return sorted(p.parent.name for p in base.glob(f"*/{lesson}") if p.is_dir())


def _flag(course: Course, lesson: str, withheld: dict[str, str]) -> None:
    """Record a withheld page on its learner's result (export shows it)."""
    from . import report
    from .assess import Flag

    if not withheld:
        return
    results = report.load(course, lesson)
    for student, why in withheld.items():
        result = results.get(student)
        if result is None:
            continue
        result.flags = [f for f in result.flags if f.check != "feedback"] + [
            Flag(f"feedback not released: {why}", check="feedback")]
        report.save(course, lesson, [result])


def check_pages(course: Course, lesson: str) -> tuple[list[Path], list[Path]]:
    """(pages that may be released, pages deleted because they showed hidden tests)."""
    source = _read(course.lessons_dir / lesson / f"{lesson}.ipynb")
    release = _text(_read(course.release_dir(lesson) / f"{lesson}.ipynb"))
    pages = pages_of(course, lesson)
    leaked = {}
    for page in pages:
        student = page.parent.parent.name
        # a line of the hidden tests that the learner also wrote in their own cells is theirs
        own = _text(_read(course.submitted_dir(student, lesson) / f"{lesson}.ipynb"))
        lines = leaks.hidden_lines(source, release + "\n" + own)
        found = leaks.find_leaks(page.read_text(encoding="utf-8"), lines, is_html=True,
                                 own=own)
        if found:
            leaked[page] = found
            page.unlink()
    return [p for p in pages if p not in leaked], list(leaked)


def _read(path: Path):
    return nbformat.read(str(path), as_version=4) if path.is_file() else None


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells) if nb is not None else ""

"""Per-learner results: kept in build/reports/<lesson>.json, printed for the instructor.

`autograde` writes a lesson's results (replacing the entries of the learners it graded);
`export` reads them back, so flags that only the autograde run saw (a timeout, a dead
kernel) still reach the grades file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .assess import Result
from .course import Course


def path(course: Course, lesson: str) -> Path:
    return course.build_dir / "reports" / f"{lesson}.json"


def load(course: Course, lesson: str) -> dict[str, Result]:
    file = path(course, lesson)
    if not file.is_file():
        return {}
    data = json.loads(file.read_text(encoding="utf-8"))
    return {student: Result.from_json(entry) for student, entry in data.items()}


def save(course: Course, lesson: str, results: list[Result]) -> Path:
    merged = load(course, lesson)
    merged.update({r.student: r for r in results})
    file = path(course, lesson)
    file.parent.mkdir(parents=True, exist_ok=True)
    data = {s: merged[s].to_json() for s in sorted(merged)}
    file.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return file


def score_text(result: Result) -> str:
    if result.score is None:
        return "not graded"
    text = f"{result.score:g}/{result.max_score:g}"
    return text + " (+ written answers to grade)" if result.manual_pending else text


def table(results: list[Result]) -> str:
    """One line per learner, then the needs-attention list with every reason."""
    if not results:
        return "no submissions"
    width = max(len(r.student) for r in results)
    lines = [f"{r.student:<{width}}  {score_text(r):<34} "
             f"{'NEEDS ATTENTION' if r.needs_attention else 'ok'}" for r in results]
    attention = [r for r in results if r.needs_attention]
    if attention:
        lines += ["", f"Needs attention ({len(attention)} of {len(results)}):"]
        for r in attention:
            lines += [f"  {r.lesson} / {r.student}:"] + [
                f"    - {'[not graded] ' if f.ungraded else ''}{f.reason}" for f in r.flags]
    return "\n".join(lines)

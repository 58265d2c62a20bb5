"""Where verdicts are kept: build/verdicts/<lesson>/<student>.json, outside every sandbox.

Written by the grading process after each hidden test (so a run that dies halfway keeps
what it decided), read by `assess` (the verdict wins over the gradebook), `export` (every
exported score is checked against it) and `selfcheck`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .registry import Verdict

VERDICTS = "verdicts"


def verdicts_dir(course_root: Path, lesson: str) -> Path:
    return Path(course_root) / "build" / VERDICTS / lesson


def course_root_from(resources: dict) -> Path | None:
    """The course root nbgrader runs in (its CourseDirectory.root, via the environment)."""
    root = os.environ.get("GRADCLIP_COURSE_ROOT")
    return Path(root) if root else None


@dataclass
class VerdictRecord:
    path: Path | None
    lesson: str
    student: str
    verdicts: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def for_run(cls, resources: dict, lesson: str, student: str) -> "VerdictRecord":
        root = course_root_from(resources)
        path = None
        if root is not None and lesson and student:
            path = verdicts_dir(root, lesson) / f"{student}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.unlink()
        return cls(path, lesson, student)

    def add(self, verdict: Verdict, points: float) -> None:
        entry = verdict.to_json()
        entry["points"] = points if verdict.passed else 0.0
        entry["max_points"] = points
        self.verdicts[verdict.grade_id] = entry
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"lesson": self.lesson, "student": self.student,
                                   "verdicts": self.verdicts}, indent=1))
        os.replace(tmp, self.path)


def load(course_root: Path, lesson: str, student: str) -> dict[str, dict] | None:
    """`grade_id -> verdict entry` for one learner, or None when none were recorded."""
    path = verdicts_dir(course_root, lesson) / f"{student}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("lesson") != lesson or data.get("student") != student:
        return None
    return dict(data.get("verdicts", {}))

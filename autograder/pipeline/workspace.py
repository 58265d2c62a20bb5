"""The learner's workspace: each lesson's release copied to workspace/<id>/, never over.

`make lab` runs this after generating the releases. A file the learner already has is
never replaced (their work lives there); files missing from their copy (a new lesson, a
data file added later) are copied in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .course import Course


# JupyterLab's nbgrader panels (assignment list, Validate) read nbgrader_config.py from
# the folder JupyterLab serves: point them at the course's own.
CONFIG_STUB = """\
# Written by `make lab`: JupyterLab's nbgrader panels read their settings from the folder
# they serve; these are the course's own (../nbgrader_config.py).
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                            "nbgrader_config.py"))  # noqa: F821
"""


def write_config_stub(course: Course) -> Path:
    """workspace/nbgrader_config.py, if the learner has none."""
    stub = course.workspace / "nbgrader_config.py"
    if not stub.exists():
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(CONFIG_STUB, encoding="utf-8")
    return stub


def populate(course: Course, lesson: str) -> list[Path]:
    """Copy what `workspace/<lesson>/` lacks from build/release/<lesson>/; return the copies."""
    source = course.release_dir(lesson)
    dest = course.workspace / lesson
    copied = []
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        target = dest / file.relative_to(source)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)  # not copy2: the learner's copy must be writable
        copied.append(target)
    return copied

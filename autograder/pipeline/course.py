"""A course directory as nbgrader sees it: its config, paths, API and subprocess env.

Everything is read from the `nbgrader_config.py` at the course's root (the repository's,
or a copy of it in a temporary course made by `scaffold`), so the driver and nbgrader's
own command line always agree on where things are.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_NAME = "nbgrader_config.py"


class PipelineError(RuntimeError):
    """A step could not run (as opposed to a learner's submission failing its tests)."""


@dataclass(frozen=True)
class Course:
    """The course rooted at `root` (the directory holding `nbgrader_config.py`)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike | None = None) -> "Course":
        path = Path(root or REPO_ROOT).resolve()
        if not (path / CONFIG_NAME).is_file():
            raise PipelineError(f"no {CONFIG_NAME} in {path}: not a course directory")
        return cls(path)

    # -- configuration -------------------------------------------------------------------
    @cached_property
    def config(self) -> Config:
        return PyFileConfigLoader(CONFIG_NAME, path=str(self.root)).load_config()

    def _dir(self, name: str) -> Path:
        return self.root / self.config.CourseDirectory[name]

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.course_id

    @property
    def lessons_dir(self) -> Path:
        return self._dir("source_directory")

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def workspace(self) -> Path:
        return Path(self.config.Exchange.assignment_dir)

    @property
    def exchange_root(self) -> Path:
        return Path(self.config.Exchange.root)

    @property
    def db_url(self) -> str:
        return self.config.CourseDirectory.db_url

    def release_dir(self, lesson: str) -> Path:
        return self._dir("release_directory") / lesson

    def submitted_dir(self, student: str, lesson: str) -> Path:
        return self._dir("submitted_directory") / student / lesson

    def autograded_dir(self, student: str, lesson: str) -> Path:
        return self._dir("autograded_directory") / student / lesson

    def feedback_dir(self, student: str, lesson: str) -> Path:
        return self._dir("feedback_directory") / student / lesson

    # -- lessons and students -------------------------------------------------------------
    def lesson_ids(self) -> list[str]:
        """Graded lessons: `lessons/<id>/<id>.ipynb` (as `autograder.cells.lesson_ids`)."""
        return sorted(p.parent.name for p in self.lessons_dir.glob("*/*.ipynb")
                      if p.stem == p.parent.name)

    def check_lesson(self, lesson: str) -> str:
        if lesson not in self.lesson_ids():
            raise PipelineError(f"no lesson `{lesson}` in {self.lessons_dir} "
                                f"(lessons: {', '.join(self.lesson_ids()) or 'none'})")
        return lesson

    def submitted_students(self, lesson: str) -> list[str]:
        base = self._dir("submitted_directory")
        return sorted(p.parent.name for p in base.glob(f"*/{lesson}") if p.is_dir())

    # -- nbgrader ----------------------------------------------------------------------------
    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory
        return CourseDirectory(config=self.config)

    def api(self, **overrides):
        """`nbgrader.apps.NbGraderAPI` on this course; `overrides`: {"Class.trait": value}."""
        from nbgrader.apps import NbGraderAPI

        config = Config(self.config)
        for key, value in overrides.items():
            section, trait = key.split(".")
            config[section][trait] = value
        self.ensure_dirs()
        return NbGraderAPI(coursedir=self.coursedir(), config=config)

    def call(self, method: str, *args, overrides: dict | None = None, **kwargs) -> str:
        """`NbGraderAPI.<method>(*args)`; its captured log, or PipelineError with the log."""
        ensure_alembic_on_path()
        result = getattr(self.api(**(overrides or {})), method)(*args, **kwargs)
        log = result.get("log", "")
        if not result.get("success"):
            raise PipelineError(f"nbgrader {method} {' '.join(map(str, args))} failed:\n"
                                f"{log}\n{result.get('error', '')}".rstrip())
        return log

    def gradebook(self):
        from nbgrader.api import Gradebook
        self.ensure_dirs()
        return Gradebook(self.db_url, self.course_id)

    def ensure_dirs(self) -> None:
        """build/ and the exchange root (nbgrader requires the latter to exist).

        nbgrader_config.py makes both when it loads; this covers a `GRADCLIP_EXCHANGE`
        that does not exist yet (a shared one is made by its administrator, writable by
        every learner, as nbgrader's documentation describes).
        """
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.exchange_root.mkdir(parents=True, exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for nbgrader subprocesses.

        The interpreter's own bin/ goes first on PATH (nbgrader shells out to `alembic`
        when it creates a gradebook), and the repository is on PYTHONPATH (the grading
        process runs the hidden tests of `autograder/hidden/`; a sandboxed kernel gets its
        own environment, without it: autograder/sandbox/).
        """
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in paths
                                                                 if p != str(REPO_ROOT)])
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(extra)
        return env


def ensure_alembic_on_path() -> None:
    """In-process nbgrader calls also shell out to `alembic`: put our bin/ first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bin_dir]:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *parts])


def scaffold(root: str | os.PathLike, lessons: dict[str, str | os.PathLike] | None = None) -> Course:
    """A new course directory at `root` configured like the repository's.

    `lessons` maps lesson id -> a lesson folder to copy (`lessons/<id>/`, its `.py` twin and
    all: the config keeps Python files out of releases) or a notebook file to place as
    `lessons/<id>/<id>.ipynb`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / CONFIG_NAME, root / CONFIG_NAME)
    for lesson, source in (lessons or {}).items():
        add_lesson(root, lesson, source)
    return Course.at(root)


def add_lesson(root: str | os.PathLike, lesson: str, source: str | os.PathLike) -> Path:
    source = Path(source)
    dest = Path(root) / "lessons" / lesson
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    else:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / f"{lesson}.ipynb")
    return dest

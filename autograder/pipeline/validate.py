"""Validate a learner's notebook: nbgrader's `Validator`, with an honest exit status.

`nbgrader validate` prints failures but exits 0; `Validator.validate` returns them. A
notebook passes when it runs, its visible tests pass, and no locked cell was changed.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.filters import strip_ansi

from .course import Course, PipelineError


def validate(course: Course, notebook: Path) -> list[str]:
    """Problems found in `notebook` (empty: it passes), each in one short paragraph."""
    from nbgrader.validator import Validator

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise PipelineError(f"no notebook at {notebook}")
    results = Validator(config=course.config).validate(str(notebook))
    problems = []
    for cell in results.get("type_changed", []):
        problems.append(f"a cell changed from {cell['old_type']} to {cell['new_type']} "
                        f"(change it back):\n{_first_lines(cell['source'])}")
    for cell in results.get("changed", []):
        problems.append(f"a locked cell was edited (your copy must keep it as given):\n"
                        f"{_first_lines(cell['source'])}")
    for cell in results.get("failed", []):
        error = strip_ansi(cell.get("raw_error", "")).strip()
        problems.append(f"{_first_lines(cell['source'])}\n  -> {_last_line(error)}")
    return problems


def _first_lines(source: str, n: int = 3) -> str:
    lines = source.strip().splitlines()
    shown = "\n".join("    " + line for line in lines[:n])
    return shown + ("\n    ..." if len(lines) > n else "")


def _last_line(error: str) -> str:
    lines = [line for line in error.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "failed"

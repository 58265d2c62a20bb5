"""Every lesson's source notebook: in sync with its text twin, clean, valid, on contract, runnable.

Parametrised over `autograder.cells.lesson_ids()`: a lesson is checked from the moment
`lessons/<id>/<id>.ipynb` exists.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import cells, contract, lint, pairing
from autograder.pipeline.course import REPO_ROOT, scaffold

LESSONS = cells.lesson_ids()


def solution_binds(source: str, name: str) -> bool:
    """The cell defines `name` at top level (def, class, assignment or import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                any((a.asname or a.name) == name for a in node.names):
            return True
    return False


@pytest.mark.parametrize("lesson", LESSONS)
def test_notebook_and_its_text_twin_agree(lesson):
    """`<id>.ipynb` and `<id>.py` (jupytext percent format) hold the same cells."""
    problems = pairing.problems(cells.lesson_path(lesson))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_metadata_follows_the_house_rules(lesson):
    """Schema, unique grade ids, points, markers, contract ids: `autograder/lint.py`."""
    problems = lint.problems(cells.load(lesson), lesson_id=lesson)
    assert not problems, f"{lesson}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS)
def test_committed_without_outputs(lesson):
    nb = cells.load(lesson)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} has outputs"


@pytest.mark.parametrize("lesson", LESSONS)
def test_nbgrader_accepts_the_metadata(lesson, tmp_path):
    """`nbgrader generate_assignment` (the real command line) rejects bad metadata."""
    course = scaffold(tmp_path / "course", {lesson: cells.lesson_path(lesson).parent})
    env = course.env()
    env.pop("GRADCLIP_EXCHANGE", None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--force"],
                          cwd=course.root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    released = sorted(p.name for p in course.release_dir(lesson).rglob("*") if p.is_file())
    assert f"{lesson}.ipynb" in released and not [n for n in released if n.endswith(".py")]
    release = nbformat.read(course.release_dir(lesson) / f"{lesson}.ipynb", as_version=4)
    assert "jupytext" not in release.metadata, "a release carries no pairing metadata"


@pytest.mark.parametrize("lesson", [l for l in LESSONS if contract.exercises(l)])
def test_contract_exercises_exist(lesson):
    nb = cells.load(lesson)
    found = cells.exercises(nb)
    for exercise_id, kind in contract.exercises(lesson).items():
        assert exercise_id in found, f"{lesson}: contract exercise `{exercise_id}` is missing"
        assert found[exercise_id].kind == kind, (
            f"{lesson}: `{exercise_id}` should be a {kind} exercise, is {found[exercise_id].kind}")
        if kind == contract.CODE:
            source = nb.cells[found[exercise_id].solution_index].source
            assert solution_binds(source, exercise_id), (
                f"{lesson}: the solution cell `{exercise_id}` does not define `{exercise_id}`")


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_code_exercise_has_a_visible_and_a_hidden_test(lesson):
    nb = cells.load(lesson)
    for exercise_id, exercise in cells.exercises(nb).items():
        if exercise.kind != "code":
            continue
        tests = [nb.cells[i] for i in exercise.test_indices]
        visible = [c for c in tests if cells.HIDDEN_BEGIN not in c.source]
        hidden = [c for c in tests if cells.HIDDEN_BEGIN in c.source]
        assert any(cells.grade_id(c) == f"test_{exercise_id}" for c in visible), (
            f"{lesson}: `{exercise_id}` needs a visible test cell `test_{exercise_id}`")
        assert hidden, f"{lesson}: `{exercise_id}` needs a hidden test cell"


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_written_answer_carries_a_rubric(lesson):
    """A manually graded answer holds the model answer and the rubric it is graded by."""
    nb = cells.load(lesson)
    for exercise_id, exercise in cells.exercises(nb).items():
        if exercise.kind == contract.MARKDOWN:
            assert contract.RUBRIC in nb.cells[exercise.solution_index].source, (
                f"{lesson}: the written answer `{exercise_id}` has no {contract.RUBRIC}")


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_source_runs_top_to_bottom(lesson, tmp_path, monkeypatch):
    """The instructor's notebook, solutions and hidden tests included, runs without an error.

    It runs in a copy of the lesson folder, so nothing it writes lands in lessons/.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    folder = tmp_path / lesson
    shutil.copytree(cells.lesson_path(lesson).parent, folder)
    nb = nbformat.read(str(folder / f"{lesson}.ipynb"), as_version=4)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), *paths]))  # for the kernel
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{lesson} does not run top to bottom:\n{str(exc)[-3000:]}")

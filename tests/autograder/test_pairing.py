"""autograder.pairing: a lesson notebook and its jupytext twin, synced and checked."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder import pairing
from autograder.cells import LESSONS_DIR

from .pipeline.synthetic import lesson_notebook


@pytest.fixture
def pair(tmp_path):
    """A lessons/ folder holding the synthetic lesson, synced with its `.py` twin."""
    lessons = tmp_path / "lessons"
    (lessons / "00_tiny").mkdir(parents=True)
    shutil.copyfile(LESSONS_DIR / pairing.CONFIG_FILE, lessons / pairing.CONFIG_FILE)
    notebook = lessons / "00_tiny" / "00_tiny.ipynb"
    notebook.write_text(lesson_notebook().render(), encoding="utf-8")
    pairing.sync([notebook], quiet=True)
    return notebook


def test_sync_writes_the_twin_and_the_pair_agrees(pair):
    text = pairing.text_twin(pair).read_text(encoding="utf-8")
    assert '# %% nbgrader={"grade": true, "grade_id": "test_double"' in text
    assert pairing.problems(pair) == []
    assert pairing.notebooks(pair.parent.parent) == [pair]


def test_an_edit_in_the_text_is_a_disagreement_until_synced(pair):
    twin = pairing.text_twin(pair)
    twin.write_text(twin.read_text(encoding="utf-8").replace("Two functions", "Three functions"),
                    encoding="utf-8")
    problems = pairing.problems(pair)
    assert len(problems) == 1 and "cell 0" in problems[0] and "Three functions" in problems[0]
    assert "make sync" in problems[0]
    pairing.sync([twin], quiet=True)
    assert pairing.problems(pair) == []
    assert "Three functions" in nbformat.read(pair, as_version=4).cells[0].source


def test_changed_metadata_is_a_disagreement(pair):
    twin = pairing.text_twin(pair)
    twin.write_text(twin.read_text(encoding="utf-8").replace('"points": 3', '"points": 4', 1),
                    encoding="utf-8")
    (problem,) = pairing.problems(pair)
    assert "`test_double_hidden`" in problem and "metadata" in problem


def test_outputs_are_reported_and_sync_clears_them(pair):
    nb = nbformat.read(pair, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, pair)
    problems = pairing.problems(pair)
    assert any("has outputs" in p and "`setup_imports`" in p for p in problems)
    pairing.sync([pair], quiet=True)
    assert pairing.problems(pair) == []


def test_a_missing_twin_is_named(pair):
    pairing.text_twin(pair).unlink()
    (problem,) = pairing.problems(pair)
    assert "00_tiny.py" in problem and "missing" in problem


def test_pairing_metadata_in_the_notebook_is_reported(pair):
    nb = nbformat.read(pair, as_version=4)
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(nb, pair)
    problems = pairing.problems(pair)
    assert any("jupytext metadata" in p and "releases" in p for p in problems), problems

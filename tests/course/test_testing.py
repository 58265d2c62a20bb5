"""course.testing: a failed visible test reads as the learner's line and the message.

Run in a real kernel (nbclient), as a learner's notebook runs: the traceback IPython sends
holds the test cell's line and the message, and no frame of course/testing.py.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.cells import REPO_ROOT
from course import testing

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_cells(sources: list[str], monkeypatch, tmp_path) -> list:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), *paths]))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return [c.outputs for c in nb.cells]


def error_of(outputs) -> dict:
    (error,) = [o for o in outputs if o.output_type == "error"]
    return {"ename": error.ename, "evalue": error.evalue,
            "text": ANSI.sub("", "\n".join(error.traceback))}


def test_a_failed_check_shows_the_cell_line_and_message_only(monkeypatch, tmp_path):
    outputs = run_cells([
        "from course.testing import assert_close, call",
        "def double(x):\n    return x\n\n"
        "assert_close(call(double, 2.0, name='double(2.0)'), 4.0, name='double(2.0)')",
        "def broken(x):\n    raise ValueError('oops')\n\n"
        "call(broken, 1.0, name='broken(1.0)')",
    ], monkeypatch, tmp_path)
    first = error_of(outputs[1])
    assert first["ename"] == "AssertionError"
    assert "`double(2.0)` is 2, expected 4" in first["evalue"]
    assert "assert_close(call(double, 2.0" in first["text"]  # the learner's own line
    assert "testing.py" not in first["text"] and "as_float64" not in first["text"], first["text"]
    second = error_of(outputs[2])
    assert "`broken(1.0)` raised ValueError: oops" in second["evalue"]
    assert "call(broken, 1.0" in second["text"] and "testing.py" not in second["text"]


def test_the_learner_function_stays_in_the_traceback(monkeypatch, tmp_path):
    """Only the helpers' frames go: an error raised in the learner's own code keeps its path."""
    outputs = run_cells([
        "from course.testing import assert_close",
        "def scale(x):\n    assert x > 0, 'scale needs a positive x'\n    return x\n\n"
        "assert_close(scale(-1.0), 1.0, name='scale(-1.0)')",
    ], monkeypatch, tmp_path)
    error = error_of(outputs[1])
    assert "assert x > 0" in error["text"] and "scale(-1.0)" in error["text"]


def test_outside_ipython_a_failure_is_a_plain_assertion_error():
    with pytest.raises(AssertionError, match=r"`x` is 1, expected 2") as info:
        testing.assert_close(1.0, 2.0, name="x")
    assert type(info.value) is AssertionError
    frames = []
    tb = testing._without_helper_frames(info.value.__traceback__)
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    assert testing.__file__ not in frames and frames == [__file__]

"""assess: each check on its own evidence (no nbgrader run needed)."""

import copy

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.pipeline import assess, report
from autograder.pipeline.assess import Flag, Result
from autograder.pipeline.nbgrader_cli import Completed


def done(code, output=""):
    return Completed(("autograde",), code, output, 1.0)


@pytest.mark.parametrize("run,fragment,error", [
    (done(None), "whole-notebook limit of 30 s", False),
    (done(1, "nbclient.exceptions.DeadKernelError: Kernel died"), "kernel died", False),
    (done(1, "CellTimeoutError: A cell timed out"), "could not be interrupted", False),
    (done(1, "[AutogradeApp | ERROR] database is locked"), "database is locked", True),
])
def test_check_run_flags_every_failed_run_as_ungraded(run, fragment, error):
    flags = assess.check_run(run, limit=30)
    assert len(flags) == 1 and flags[0].ungraded and fragment in flags[0].reason
    assert flags[0].error is error


def test_check_run_passes_a_clean_run():
    assert assess.check_run(done(0), limit=30) == [] and assess.check_run(None, limit=30) == []


def test_missing_grades_are_named():
    flags = assess.check_grades({"test_a": 1.0, "test_b": None})
    assert flags[0].ungraded and "test_b" in flags[0].reason and "test_a" not in flags[0].reason
    assert assess.check_grades({"test_a": 0.0}) == []


def cell(source, grade_id=None, locked=False, outputs=()):
    c = new_code_cell(source, outputs=list(outputs))
    if grade_id:
        c.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "grade": locked,
                                  "solution": not locked, "schema_version": 3}
    return c


RELEASE = new_notebook(cells=[
    cell("import math", "setup", locked=True),
    cell("def f(x):\n    raise NotImplementedError()", "f"),
    cell("assert f(1) == 1", "test_f", locked=True),
    cell("# hidden\n", "test_f_hidden", locked=True),
])


def test_locked_cells_deleted_or_edited():
    nb = copy.deepcopy(RELEASE)
    nb.cells[2].source = "pass"
    del nb.cells[3]
    reasons = " | ".join(f.reason for f in assess.check_locked_cells(RELEASE, nb))
    assert "deleted locked cell(s), put back from the source and graded: test_f_hidden" in reasons
    assert "edited locked cell(s), restored from the source and graded: test_f" in reasons
    assert assess.check_locked_cells(RELEASE, copy.deepcopy(RELEASE)) == []


def test_solution_cells_may_change_freely():
    nb = copy.deepcopy(RELEASE)
    nb.cells[1].source = "def f(x):\n    return x"
    nb.cells.append(cell("print('my own scratch cell')"))
    assert assess.check_locked_cells(RELEASE, nb) == []


@pytest.mark.parametrize("source,found", [
    ("import builtins\nbuiltins.abs = lambda v: 0", "import builtins"),
    ("abs = lambda v: 0", "abs"),
    ("def sum(xs):\n    return 0", "sum"),
    ("__builtins__.len = None", "__builtins__"),
])
def test_rebinding_a_builtin_is_flagged(source, found):
    nb = new_notebook(cells=[cell(source, "f")])
    flags = assess.check_builtins(nb)
    assert flags and found in flags[0].reason and not flags[0].ungraded


@pytest.mark.parametrize("source", [
    "def f(xs):\n    sum = 0\n    for x in xs:\n        sum += x\n    return sum",
    "import numpy as np\nvalues = [max(1, 2) for max in range(3)]",
    "def f(x)\n    syntax error",
])
def test_ordinary_code_is_not_flagged(source):
    assert assess.check_builtins(new_notebook(cells=[cell(source, "f")])) == []


def test_interrupted_cells_are_named():
    timeout = new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
    nb = new_notebook(cells=[cell("while True: pass", "f", outputs=[timeout]), cell("x = 1")])
    flags = assess.check_interrupted_cells(nb)
    assert flags and "f" in flags[0].reason and not flags[0].ungraded


def test_result_round_trips_through_the_report(tmp_path):
    from autograder.pipeline.course import scaffold
    course = scaffold(tmp_path)
    results = [Result("l", "ann", 3.0, 6.0, True, []),
               Result("l", "bo", None, 6.0, False, [Flag("it died", ungraded=True)])]
    report.save(course, "l", results)
    report.save(course, "l", [Result("l", "cy", 6.0, 6.0)])
    loaded = report.load(course, "l")
    assert sorted(loaded) == ["ann", "bo", "cy"] and loaded["bo"].flags[0].ungraded
    text = report.table(list(loaded.values()))
    assert "3/6 (+ written answers to grade)" in text and "[not graded] it died" in text
    assert not loaded["bo"].graded and loaded["ann"].graded


def test_a_test_cell_zeroed_by_a_warning_is_flagged():
    warning = new_output("stream", name="stderr", text="UserWarning: slow path\n")
    nb = new_notebook(cells=[cell("assert f(1) == 1", "test_f", locked=True, outputs=[warning])])
    flags = assess.check_stderr_zeroes(nb)
    assert flags and "test_f" in flags[0].reason and not flags[0].ungraded
    failed = new_output("error", ename="AssertionError", evalue="", traceback=[])
    nb.cells[0].outputs.append(failed)
    assert assess.check_stderr_zeroes(nb) == []  # a real failure explains the 0


@pytest.mark.parametrize("source", [
    "from autograder.reference.global_vs_per_tensor import global_l2_norm",
    "import autograder.reference.scale_factor as r\nclip_scale = r.clip_scale",
    "def f(x):\n    import autograder\n    return x",
    "m = __import__('autograder.reference')",
])
def test_importing_the_reference_is_flagged(source):
    flags = assess.check_reference_imports(new_notebook(cells=[cell(source, "f")]))
    assert flags and "imports `autograder`" in flags[0].reason and "f" in flags[0].reason
    assert not flags[0].ungraded


@pytest.mark.parametrize("source", [
    "import numpy as np\nautograder = 1",
    "from course import testing",
    "def f(x)\n    syntax error",
])
def test_other_imports_are_not_flagged(source):
    assert assess.check_reference_imports(new_notebook(cells=[cell(source, "f")])) == []

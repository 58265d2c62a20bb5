"""HideHiddenTests: hidden code and tracebacks never reach feedback."""

from nbformat.v4 import new_code_cell, new_output

from autograder.pipeline.hide_hidden_tests import (
    PLACEHOLDER, HideHiddenTests, hide_outputs, hide_source, message_line)


def hidden_cell(outputs=()):
    source = ("# Hidden tests check your function on fresh random inputs.\n"
              "### BEGIN HIDDEN TESTS\nsecret = 42\nassert f(secret) == 1, 'f is wrong'\n"
              "### END HIDDEN TESTS")
    return new_code_cell(source, outputs=list(outputs))


def error(ename="AssertionError", evalue="`f(3)` returned 2, expected 1\nsecond line"):
    return new_output("error", ename=ename, evalue=evalue,
                      traceback=["Traceback", "----> 4 assert f(secret) == 1", f"{ename}: {evalue}"])


def test_hide_source_keeps_the_note_and_drops_the_region():
    text = hide_source(hidden_cell().source)
    assert text.splitlines() == ["# Hidden tests check your function on fresh random inputs.",
                                 PLACEHOLDER]
    assert "secret" not in text


def test_hide_source_keeps_visible_lines_after_the_region_and_hides_an_unclosed_one():
    assert hide_source("a = 1\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc = 3") == \
        f"a = 1\n{PLACEHOLDER}\nc = 3"
    assert hide_source("a\n### BEGIN HIDDEN TESTS\nsecret") == f"a\n{PLACEHOLDER}"


def test_outputs_shrink_to_the_message_line():
    outputs = hide_outputs([new_output("stream", name="stdout", text="secret input 42\n"), error()])
    assert len(outputs) == 1
    assert outputs[0]["traceback"] == ["AssertionError: `f(3)` returned 2, expected 1"]
    assert outputs[0]["evalue"] == "`f(3)` returned 2, expected 1"


def test_message_line_without_a_message_is_the_exception_name():
    assert message_line("AssertionError", "") == "AssertionError"
    assert message_line("NameError", "name 'f' is not defined") == "NameError: name 'f' is not defined"


def test_preprocessor_touches_only_cells_with_hidden_tests():
    visible = new_code_cell("assert f(1) == 1", outputs=[error()])
    cells = [hidden_cell([error()]), visible]
    pp = HideHiddenTests()
    out = [pp.preprocess_cell(c, {}, i)[0] for i, c in enumerate(cells)]
    assert "secret" not in out[0].source and "secret" not in str(out[0].outputs)
    assert out[1].outputs[0]["traceback"][1] == "----> 4 assert f(secret) == 1"  # untouched

"""Keep hidden tests out of feedback: an nbgrader preprocessor for `GenerateFeedback`.

nbgrader's feedback HTML shows every cell of the autograded notebook, and autograde puts
the hidden tests back (from the gradebook) before running them: their source and their
tracebacks would reach the learner. This preprocessor runs between nbgrader's `GetGrades`
and the HTML export (nbgrader_config.py) and leaves, for a cell with hidden tests:

* its source up to `### BEGIN HIDDEN TESTS` (the note saying hidden tests exist), a
  placeholder, and anything after `### END HIDDEN TESTS`;
* of its outputs, only errors, each cut down to one line: the exception's name and the
  first line of its message (what `autograder.checks` writes for the learner).

Printed output and tracebacks are dropped: they may quote the hidden code or its inputs.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests: the code is not shown; its result is below)"


def hide_source(source: str) -> str:
    """`source` with every hidden region (markers included) replaced by `PLACEHOLDER`."""
    kept: list[str] = []
    hidden = False
    for line in source.splitlines():
        marker = line.strip()
        if marker.startswith(HIDDEN_BEGIN):
            if not hidden:
                kept.append(PLACEHOLDER)
            hidden = True
        elif marker.startswith(HIDDEN_END):
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def message_line(ename: str, evalue: str) -> str:
    """`AssertionError: <first line of the message>` (just the name when there is none)."""
    first = (evalue or "").strip().splitlines()[0] if (evalue or "").strip() else ""
    return f"{ename}: {first}" if first else ename


def hide_outputs(outputs: list) -> list:
    """Only the error outputs, each reduced to its message line."""
    kept = []
    for out in outputs:
        if out.get("output_type") != "error":
            continue
        line = message_line(out.get("ename", "Error"), out.get("evalue", ""))
        evalue = line.split(": ", 1)[1] if ": " in line else ""
        kept.append(NotebookNode(output_type="error", ename=out.get("ename", "Error"),
                                 evalue=evalue, traceback=[line]))
    return kept


def has_hidden_tests(cell) -> bool:
    return cell.get("cell_type") == "code" and HIDDEN_BEGIN in cell.get("source", "")


class HideHiddenTests(NbGraderPreprocessor):
    """Replace hidden test code by a placeholder and their outputs by one message line."""

    def preprocess_cell(self, cell, resources, index):
        if has_hidden_tests(cell):
            cell.source = hide_source(cell.source)
            cell.outputs = hide_outputs(cell.get("outputs", []))
        return cell, resources

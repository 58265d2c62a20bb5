"""nbgrader's Execute, with the learner's kernel sandboxed and hidden tests run outside it.

`VerdictExecute` replaces `Execute` in `Autograde.autograde_preprocessors`
(nbgrader_config.py). Every cell runs in the learner's kernel as before, except a cell
with hidden tests: that one is never sent to the kernel. Its hidden test (registered in
`autograder.hidden.<lesson>`) runs here, in the grading process, against a
`KernelLearner` over the same kernel; this process writes the cell's outputs (a line that
it passed, or an AssertionError with the message), so nbgrader's SaveAutoGrades scores the
cell from what the grader decided, and the verdicts are saved under build/verdicts/ where
the sandbox cannot write.

`GRADCLIP_SANDBOX=off` (set by `autograde --unsafe-no-sandbox`) runs the kernel without the
sandbox; the verdicts are still decided here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute

from .. import cells
from .learner import KernelLearner
from .record import VerdictRecord
from .registry import Verdict, run_probe
from .static import submission_code

SANDBOX_ENV = "GRADCLIP_SANDBOX"


def sandbox_enabled() -> bool:
    return os.environ.get(SANDBOX_ENV, "on").strip().lower() not in ("off", "0", "no")


def verdict_outputs(verdict: Verdict) -> list[NotebookNode]:
    """The outputs the grader writes into a hidden test cell."""
    if verdict.passed:
        return [NotebookNode(output_type="stream", name="stdout",
                             text=f"{verdict.grade_id}: passed\n")]
    return [NotebookNode(output_type="error", ename="AssertionError", evalue=verdict.message,
                         traceback=[f"AssertionError: {verdict.message}"])]


def _lesson_notebook(lesson: str):
    """The instructor's source notebook of `lesson` in the course being graded, if found."""
    import nbformat

    root = os.environ.get("GRADCLIP_COURSE_ROOT")
    path = Path(root) / "lessons" / lesson / f"{lesson}.ipynb" if root else None
    if path is None or not path.is_file():
        return None
    return nbformat.read(path, as_version=4)


class VerdictExecute(Execute):
    """Execute, with hidden test cells decided by the grading process."""

    def __init__(self, *args, **kwargs):
        if sandbox_enabled():
            from ..sandbox.kernel import SandboxedKernelManager

            kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        info = (resources or {}).get("nbgrader", {})
        self._lesson = info.get("assignment", "")
        self._student = info.get("student", "")
        self._source, self._answers = submission_code(nb, _lesson_notebook(self._lesson))
        self._record = VerdictRecord.for_run(resources or {}, self._lesson, self._student)
        self._fallback: tempfile.TemporaryDirectory | None = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._fallback is not None:
                self._fallback.cleanup()

    # -- the exchange with the kernel ---------------------------------------------------------
    def _folders(self) -> tuple[Path, Path]:
        km = getattr(self, "km", None)
        if getattr(km, "job", None) is not None:
            return km.requests, km.replies
        if self._fallback is None:  # no sandbox: a private folder of the grader's
            self._fallback = tempfile.TemporaryDirectory(prefix="gc-verdict-")
        folder = Path(self._fallback.name)
        return folder, folder

    def _run_code(self, code: str) -> None:
        cell = new_code_cell(source=code)
        self.execute_cell(cell, -1, store_history=False)

    def learner(self) -> KernelLearner:
        requests, replies = self._folders()
        return KernelLearner(self._run_code, requests, replies, source=self._source,
                             answers=self._answers)

    # -- cells ------------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        """Run the cell; a hidden test cell waits until the last cell has run.

        Hidden tests run after the whole notebook, so nothing the learner's code sees
        during one (the inputs, a reference kernel's source) can reach a later cell's
        output, and so the feedback.
        """
        if index == 0:
            self._deferred: list = []
        if cells.is_test(cell) and cells.HIDDEN_BEGIN in cell.source:
            self._check_assign_resources(resources)
            cell.outputs, cell.execution_count = [], None
            self._deferred.append(cell)
        else:
            cell, resources = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:
            self._run_hidden_tests()
        return cell, self.resources

    def _run_hidden_tests(self) -> None:
        for cell in self._deferred:
            verdict = run_probe(self._lesson, cells.grade_id(cell), self.learner())
            cell.outputs = verdict_outputs(verdict)
            points = float(cells.nbgrader_meta(cell).get("points", 0))
            self._record.add(verdict, points)
        self._deferred = []

"""nbgrader's configuration for the gradclip course.

nbgrader reads this file from the directory it runs in (the repository root). Every path
is derived from this file's own location, so a copy of it placed at the root of another
course directory (the tests' temporary courses, `python -m autograder selfcheck`'s
throwaway course under build/) configures that directory the same way.

Layout (docs/grading.md):
    lessons/<id>/<id>.ipynb     source: solutions and hidden tests (committed)
    build/release/<id>/         learner versions         (generate_assignment)
    build/exchange/gradclip/    outbound, inbound, feedback (release, submit, collect)
    build/submitted/<s>/<id>/   collected submissions    (collect)
    build/autograded/<s>/<id>/  executed submissions     (autograde)
    build/feedback/<s>/<id>/    HTML feedback            (generate_feedback)
    build/gradebook.db          the gradebook
    workspace/<id>/             a learner's own copies   (make lab, submit from here)
"""

import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(ROOT, "build")

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

# sqlite cannot create the gradebook's folder, and nbgrader wants the exchange to exist:
# make both, so plain `nbgrader <command>` works on a fresh clone too.
os.makedirs(os.path.join(BUILD, "exchange"), exist_ok=True)

# -- the course directory ------------------------------------------------------------------
c.CourseDirectory.course_id = "gradclip"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "lessons"
c.CourseDirectory.release_directory = "build/release"
c.CourseDirectory.submitted_directory = "build/submitted"
c.CourseDirectory.autograded_directory = "build/autograded"
c.CourseDirectory.feedback_directory = "build/feedback"
c.CourseDirectory.solution_directory = "build/solution"
c.CourseDirectory.source_with_tests_directory = "build/source_with_tests"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(BUILD, "gradebook.db")

# Only the notebook and its data files leave lessons/<id>/. `<id>.py` (the notebook's
# jupytext twin, solutions included) and any other Python file stay behind:
# generate_assignment and autograde copy every non-notebook file not matched by `ignore`.
# `include` is applied by the exchange (release, submit, collect): data kinds a lesson may
# ship beside its notebook. tests/lessons/test_pipeline.py checks what a release holds.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
    "*.py", "*.bak", "*~", ".DS_Store",
]
c.CourseDirectory.include = [
    "*.ipynb", "*.csv", "*.json", "*.npz", "*.npy", "*.txt", "*.png", "*.svg",
]

# -- the exchange (release, submit, collect) -----------------------------------------------
# A shared class sets GRADCLIP_EXCHANGE to a directory every learner can write to.
c.Exchange.root = os.environ.get("GRADCLIP_EXCHANGE", os.path.join(BUILD, "exchange"))
c.Exchange.assignment_dir = os.path.join(ROOT, "workspace")

# -- autograding ---------------------------------------------------------------------------
# Per cell. nbgrader has no whole-notebook limit: `python -m autograder autograde` runs
# each submission in its own process under a wall-clock limit (autograder/pipeline/).
c.Execute.timeout = 120
# nbgrader reads a test cell's displayed value as partial credit: a hidden test ending in
# `checks.same_as_reference(...)` (which returns the learner's result) would score that
# result. Our tests pass or fail by raising; no cell displays its last value when graded.
c.Execute.extra_arguments = ["--InteractiveShell.ast_node_interactivity=none"]
# A deleted test cell is put back (from the gradebook, hidden tests included) and graded,
# rather than silently left ungraded.
c.OverwriteCells.add_missing_cells = True

# Feedback shows which hidden test failed and its message line, never its code or
# traceback (nbgrader's feedback HTML shows both). See autograder/pipeline/hide_hidden_tests.py.
# (In a course directory outside the repository, `autograder` comes from the installed
# package; without it this file fails loudly rather than let feedback leak hidden tests.)
if os.path.isdir(os.path.join(ROOT, "autograder")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from autograder.pipeline.hide_hidden_tests import HideHiddenTests  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# The learner's kernel runs in a sandbox, and hidden test cells are never sent to it: the
# grading process runs each hidden test (autograder/hidden/) against the kernel, data in and
# data out, and writes the cell's verdict itself (autograder/verdict/execute.py). Verdicts
# are saved under build/verdicts/, which the sandbox cannot see.
from autograder.verdict.execute import VerdictExecute  # noqa: E402
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades)

c.Autograde.autograde_preprocessors = [
    VerdictExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
os.environ["GRADCLIP_COURSE_ROOT"] = ROOT

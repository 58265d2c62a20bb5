"""After nbgrader has autograded one submission: its score, and what needs a person.

nbgrader reports a dead or hung kernel as `None` grades (which `nbgrader export` writes as
0.0) and repairs tampered test cells without saying so in the grades. Each check below
reads one source of evidence and returns `Flag`s; `assess` runs them in order.

A `Flag` is either *ungraded* (the score is unknown: the run died or timed out, or grades
are missing) or a *review* note (the score stands, but an instructor should look: a cell
was interrupted, a locked cell was edited or deleted, builtins were rebound). An `error`
flag is nbgrader failing for a reason not traced to the submission: the driver exits
non-zero for those, and only those.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .course import Course
from .nbgrader_cli import Completed


@dataclass(frozen=True)
class Flag:
    reason: str
    ungraded: bool = False  # True: there is no trustworthy score
    error: bool = False  # True: nbgrader failed for a reason not traced to the submission
    check: str = ""  # the check that raised it


@dataclass
class Result:
    """One learner's autograded result for one lesson."""

    lesson: str
    student: str
    score: float | None  # autograded points; None when the submission could not be graded
    max_score: float
    manual_pending: bool = False  # written answers await an instructor (normal)
    flags: list[Flag] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        return self.score is not None and not any(f.ungraded for f in self.flags)

    @property
    def needs_attention(self) -> bool:
        return bool(self.flags)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Result":
        flags = [Flag(**f) for f in data.pop("flags", [])]
        return cls(**data, flags=flags)


# -- the checks, each on one source of evidence -------------------------------------------
def check_run(run: Completed | None, *, limit: float | None) -> list[Flag]:
    """How the `nbgrader autograde` process ended."""
    if run is None or run.ok:
        return []
    if run.timed_out:
        return [Flag(f"stopped at the whole-notebook limit of {limit:g} s (the kernel was "
                     "killed); the other submissions were graded", ungraded=True)]
    if "DeadKernelError" in run.output or "Kernel died" in run.output:
        return [Flag("the kernel died while running the notebook (os._exit, a crash, or out "
                     "of memory)", ungraded=True)]
    if "CellTimeoutError" in run.output or "UnresponsiveKernelError" in run.output:
        return [Flag("a cell ran past the per-cell limit and the kernel could not be "
                     "interrupted", ungraded=True)]
    return [Flag(f"nbgrader could not grade it: {_last_error(run.output)}", ungraded=True,
                 error=True)]


def _last_error(output: str) -> str:
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line or "Error" in line]
    return errors[-1] if errors else (output.strip().splitlines() or ["no output"])[-1]


def check_grades(grades: dict[str, float | None]) -> list[Flag]:
    """Autograded test cells nbgrader gave no score (`None`; export would write 0.0)."""
    missing = sorted(name for name, score in grades.items() if score is None)
    if not missing:
        return []
    return [Flag(f"no grade for {len(missing)} test cell(s): {', '.join(missing)}",
                 ungraded=True, check="grades")]


def check_interrupted_cells(autograded: nbformat.NotebookNode | None) -> list[Flag]:
    """Cells nbgrader interrupted at the per-cell timeout (graded, but worth a look)."""
    if autograded is None:
        return []
    names = [_name(cell, i) for i, cell in enumerate(autograded.cells)
             if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))]
    if not names:
        return []
    return [Flag(f"interrupted at the per-cell time limit: {', '.join(names)}")]


def check_stderr_zeroes(autograded: nbformat.NotebookNode | None) -> list[Flag]:
    """Test cells nbgrader zeroed for writing to stderr (a warning) without failing."""
    if autograded is None:
        return []
    names = []
    for i, cell in enumerate(autograded.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in outputs) \
                and not any(o.get("output_type") == "error" for o in outputs):
            names.append(_name(cell, i))
    if not names:
        return []
    return [Flag(f"scored 0 only for printing to stderr (a warning?), no test failed: "
                 f"{', '.join(names)}")]


def check_locked_cells(release: nbformat.NotebookNode | None,
                       submitted: nbformat.NotebookNode | None) -> list[Flag]:
    """Locked cells (tests, setup) deleted or edited; nbgrader restored them before grading."""
    if release is None or submitted is None:
        return []
    theirs = {_grade_id(c): c for c in submitted.cells if _grade_id(c)}
    deleted, edited = [], []
    for cell in release.cells:
        gid = _grade_id(cell)
        if not gid or not cell.get("metadata", {}).get("nbgrader", {}).get("locked"):
            continue
        if gid not in theirs:
            deleted.append(gid)
        elif theirs[gid].source.strip() != cell.source.strip():
            edited.append(gid)
    flags = []
    if deleted:
        flags.append(Flag(f"deleted locked cell(s), put back from the source and graded: "
                          f"{', '.join(deleted)}"))
    if edited:
        flags.append(Flag(f"edited locked cell(s), restored from the source and graded: "
                          f"{', '.join(edited)}"))
    return flags


_BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))


def check_builtins(submitted: nbformat.NotebookNode | None) -> list[Flag]:
    """Learner cells that rebind or shadow Python's builtins (fools naive test cells)."""
    found: set[str] = set()
    for _, tree in _learner_code(submitted):
        found |= _touched_builtins(tree)
    if not found:
        return []
    return [Flag(f"rebinds Python builtins ({', '.join(sorted(found))}): test results from "
                 "this notebook cannot be trusted; read it")]


def _learner_code(submitted: nbformat.NotebookNode | None):
    """`(label, syntax tree)` of each code cell a learner may edit that parses."""
    for index, cell in enumerate(submitted.cells if submitted is not None else ()):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or meta.get("locked"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        yield meta.get("grade_id") or f"cell {index}", tree


def check_reference_imports(submitted: nbformat.NotebookNode | None) -> list[Flag]:
    """Learner cells that import `autograder` (the reference solutions): a score earned
    by calling the reference is not the learner's, so a person reads the notebook."""
    cells = [label for label, tree in _learner_code(submitted)
             if any(_imports_autograder(node) for node in ast.walk(tree))]
    if not cells:
        return []
    return [Flag(f"imports `autograder` (the reference solutions) in {', '.join(cells)}: "
                 "read it before the score stands")]


def _imports_autograder(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "autograder" for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "autograder"
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("__import__",):
        return any(isinstance(a, ast.Constant) and str(a.value).startswith("autograder")
                   for a in node.args)
    return False


def _touched_builtins(tree: ast.AST) -> set[str]:
    """`import builtins` or `__builtins__` anywhere; builtin names bound at module level."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if "builtins" in modules:
                found.add("import builtins")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            found.add("__builtins__")
    found |= _ModuleLevelBindings().names(tree) & _BUILTIN_NAMES
    return found


class _ModuleLevelBindings(ast.NodeVisitor):
    """Names a cell binds in the notebook's global namespace (not inside functions)."""

    def names(self, tree: ast.AST) -> set[str]:
        self.bound: set[str] = set()
        self.visit(tree)
        return self.bound

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bound.add(node.id)

    def _define(self, node) -> None:  # a def/class binds its name; its body is its own scope
        self.bound.add(node.name)
        for child in [*getattr(node, "decorator_list", []), *getattr(node, "bases", [])]:
            self.visit(child)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _define

    def visit_Lambda(self, node) -> None:
        pass

    def visit_ListComp(self, node) -> None:  # comprehension variables are local
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Import(self, node) -> None:
        self.bound |= {(a.asname or a.name).split(".")[0] for a in node.names}

    visit_ImportFrom = visit_Import


# -- putting it together --------------------------------------------------------------------
def gradebook_scores(course: Course, lesson: str, student: str):
    """(test cell -> auto_score, max autograded points, written answers pending) or None."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            submission = gb.find_submission(lesson, student)
        except MissingEntry:
            return None
        grades = {g.name: g.auto_score for nb in submission.notebooks for g in nb.grades
                  if g.cell_type == "code"}
        pending = any(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades
                      if g.cell_type == "markdown")
        return grades, float(submission.max_code_score), pending


def assess(course: Course, lesson: str, student: str, run: Completed | None = None, *,
           limit: float | None = None) -> Result:
    """Score and flags of one submission after autograde (`run`: how nbgrader ended).

    Checks, in order (the first three decide whether there is a score at all):
    1. check_run:     the process ended normally (else: ungraded, with the reason);
    2. enforce_verdicts: the hidden tests' scores are the grader's verdicts (written back
       into the gradebook where they differ, and flagged);
    3. check_grades:  every autograded test cell has a grade;
    3. check_interrupted_cells, check_stderr_zeroes, check_locked_cells, check_builtins,
       check_reference_imports:
       review notes on a score that stands (they read the autograded and submitted
       notebooks, which exist by now).
    """
    from .integrity import enforce_verdicts

    flags = check_run(run, limit=limit)
    if not any(f.ungraded for f in flags):
        flags += enforce_verdicts(course, lesson, student)  # before the scores are read
    found = gradebook_scores(course, lesson, student)
    if found is None:
        score, max_score, pending = None, 0.0, False
        if not flags:
            flags.append(Flag("not in the gradebook: it was never autograded", ungraded=True))
    else:
        grades, max_score, pending = found
        if not any(f.ungraded for f in flags):
            flags += check_grades(grades)
        score = None if any(f.ungraded for f in flags) else sum(v or 0.0 for v in grades.values())
    submitted = _read(_notebook(course.submitted_dir(student, lesson), lesson))
    autograded = _read(_notebook(course.autograded_dir(student, lesson), lesson))
    release = _read(_notebook(course.release_dir(lesson), lesson))
    flags += check_interrupted_cells(autograded)
    flags += check_stderr_zeroes(autograded)
    flags += check_locked_cells(release, submitted)
    flags += check_builtins(submitted)
    flags += check_reference_imports(submitted)
    return Result(lesson, student, score, max_score, pending and score is not None, flags)


def _notebook(folder: Path, lesson: str) -> Path:
    return folder / f"{lesson}.ipynb"


def _read(path: Path):
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError):
        return None


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _name(cell, index: int) -> str:
    return _grade_id(cell) or f"cell {index + 1}"

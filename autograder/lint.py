"""The house rules for a lesson notebook's nbgrader metadata, as one list of problems.

What the old notebook builder enforced as it wrote each cell, checked over the notebook
itself (an author now edits it in JupyterLab or as jupytext text). nbgrader's own rules
(schema 3, docs/authoring.md "Cells") plus the course's:

* every nbgrader cell has `schema_version` 3 and the booleans `grade`, `solution`,
  `locked`; a `grade_id` of letters, digits, `_` and `-`, unique in the notebook;
* a graded cell (`grade: true`) has `points` > 0, except a visible test cell, which has
  `points: 0` (it runs in the learner's kernel, so its result cannot be trusted: an
  exercise's points are all in its hidden tests, decided outside that kernel); an
  ungraded cell has none;
* a hidden test cell's hidden part only names its hidden test,
  `run_hidden_test("<its grade id>", globals())`, and that test is registered in
  `autograder/hidden/<lesson module>.py`;
* a code solution cell holds `### BEGIN SOLUTION` before `### END SOLUTION`, once each;
  no other cell holds either marker;
* a test cell (graded code, not a solution) is `locked`, its `grade_id` starts with
  `test_<exercise id>` of an exercise of the notebook, and hidden-test markers come as one
  `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` pair, in test cells only;
* a markdown cell with nbgrader metadata is a written answer: `solution` and `grade`;
* the lesson's contract exercises (`autograder/contract.py`) are its solution cells'
  grade ids, of the contract's kind.

tests/lessons/test_lesson_sources.py runs it over every lesson; tests/autograder/test_lint.py
shows each rule failing.
"""

from __future__ import annotations

import re

from . import cells, contract

SCHEMA_VERSION = 3
GRADE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
REQUIRED = ("grade", "solution", "locked")
MARKERS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}


def _pair_problem(source: str, begin: str, end: str) -> str | None:
    """Why `begin` ... `end` is not one well-ordered pair in `source`, or None."""
    lines = [line.strip() for line in source.splitlines()]
    b, e = lines.count(begin), lines.count(end)
    if (b, e) == (0, 0):
        return f"has no `{begin}` / `{end}` markers"
    if (b, e) != (1, 1):
        return f"holds `{begin}` {b} time(s) and `{end}` {e} time(s): one of each is the rule"
    if lines.index(begin) > lines.index(end):
        return f"has `{end}` before `{begin}`"
    return None


def _holds(source: str, marker: str) -> bool:
    return any(line.strip() == marker for line in source.splitlines())


def cell_problems(index: int, cell) -> list[str]:
    """Problems of one cell's metadata and markers (without the notebook-wide rules)."""
    meta = cells.nbgrader_meta(cell)
    source = cell.get("source", "")
    solution_markers = [m for m in MARKERS["solution"] if _holds(source, m)]
    hidden_markers = [m for m in MARKERS["hidden"] if _holds(source, m)]
    if not meta:
        found = []
        if solution_markers or hidden_markers:
            found.append(f"cell {index} holds `{(solution_markers + hidden_markers)[0]}` but "
                         "has no nbgrader metadata: markers belong in solution or test cells")
        return found
    gid = meta.get("grade_id")
    name = f"cell {index} (`{gid}`)"
    found = []
    if meta.get("schema_version") != SCHEMA_VERSION:
        found.append(f"{name}: `schema_version` is {meta.get('schema_version')!r}, "
                     f"nbgrader 0.9 reads {SCHEMA_VERSION}")
    for key in REQUIRED:
        if not isinstance(meta.get(key), bool):
            found.append(f"{name}: `{key}` must be true or false, is {meta.get(key)!r}")
    if not isinstance(gid, str) or not GRADE_ID.match(gid):
        found.append(f"cell {index}: `grade_id` {gid!r} must be letters, digits, `_` or `-`")
    graded, solution = meta.get("grade") is True, meta.get("solution") is True
    points = meta.get("points")
    visible_test = graded and not solution and cell.cell_type == "code" and not hidden_markers
    is_number = isinstance(points, (int, float)) and not isinstance(points, bool)
    if visible_test:
        if not (is_number and points == 0):
            found.append(f"{name}: a visible test cell has `points: 0` (its result comes from "
                         f"the learner's kernel; put the points on the hidden test), has {points!r}")
    elif graded and not (is_number and points > 0):
        found.append(f"{name}: a graded cell needs `points` > 0, has {points!r}")
    if not graded and points not in (None, 0):
        found.append(f"{name}: `points` {points!r} on an ungraded cell (set `grade` or drop them)")

    if cell.cell_type == "markdown":
        if not (solution and graded):
            found.append(f"{name}: a markdown cell with nbgrader metadata is a written answer: "
                         "`solution` and `grade` both true")
        if solution_markers or hidden_markers:
            found.append(f"{name}: a written answer is replaced whole; it holds no markers")
        return found
    if solution:
        problem = _pair_problem(source, *MARKERS["solution"])
        if problem:
            found.append(f"{name}: the solution cell {problem}")
        if hidden_markers:
            found.append(f"{name}: a solution cell holds no hidden tests")
    else:
        if solution_markers:
            found.append(f"{name}: `{solution_markers[0]}` outside a solution cell "
                         "(set `solution: true` or remove the marker)")
        if hidden_markers:
            problem = _pair_problem(source, *MARKERS["hidden"])
            if problem:
                found.append(f"{name}: the test cell {problem}")
            if not graded:
                found.append(f"{name}: hidden tests in an ungraded cell are never run for points")
            body = source.split(MARKERS["hidden"][0], 1)[-1].split(MARKERS["hidden"][1], 1)[0]
            if not names_its_hidden_test(body, gid):
                found.append(f"{name}: the hidden part must only name its hidden test: "
                             "`from autograder.verdict import run_hidden_test` then "
                             f"`run_hidden_test({gid!r}, globals())` (the test itself lives in "
                             "autograder/hidden/)")
        if graded and not meta.get("locked"):
            found.append(f"{name}: a test cell must be `locked` (nbgrader restores it)")
    return found


def problems(nb, lesson_id: str | None = None) -> list[str]:
    """Every broken house rule in `nb`; `lesson_id` adds the contract's rules for it."""
    found: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        found += cell_problems(index, cell)
        gid = cells.grade_id(cell)
        if gid is not None:
            if gid in seen:
                found.append(f"cell {index}: `grade_id` `{gid}` is already cell {seen[gid]}'s: "
                             "grade ids are unique in a notebook")
            seen.setdefault(gid, index)
    exercise_table = cells.exercises(nb)
    for index, cell in enumerate(nb.cells):
        gid = cells.grade_id(cell)
        if cells.is_test(cell) and not any(cells._test_belongs(gid, e) for e in exercise_table):
            found.append(f"cell {index} (`{gid}`): a test cell's `grade_id` is `test_<exercise "
                         f"id>[_suffix]` of an exercise here ({', '.join(exercise_table) or 'none'})")
    if lesson_id is not None:
        found += _hidden_test_problems(nb, lesson_id)
        for exercise_id, kind in contract.exercises(lesson_id).items():
            if exercise_id not in exercise_table:
                found.append(f"{lesson_id}: contract exercise `{exercise_id}` has no solution "
                             "cell (autograder/contract.py)")
            elif exercise_table[exercise_id].kind != kind:
                found.append(f"{lesson_id}: `{exercise_id}` is a {kind} exercise in the "
                             f"contract, a {exercise_table[exercise_id].kind} cell here")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        found.append(f"the notebook's kernelspec is {kernel!r}: lessons run on `python3`")
    return found


def names_its_hidden_test(body: str, grade_id: str) -> bool:
    """`body` is exactly the import of `run_hidden_test` and one call naming `grade_id`."""
    import ast

    try:
        tree = ast.parse(body)
    except SyntaxError:
        return False
    if len(tree.body) != 2:
        return False
    first, second = tree.body
    imports = (isinstance(first, ast.ImportFrom) and first.module == "autograder.verdict"
               and [a.name for a in first.names] == ["run_hidden_test"]
               and first.names[0].asname is None)
    call = second.value if isinstance(second, ast.Expr) else None
    calls = (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
             and call.func.id == "run_hidden_test" and not call.keywords
             and len(call.args) == 2 and isinstance(call.args[0], ast.Constant)
             and call.args[0].value == grade_id and isinstance(call.args[1], ast.Call)
             and isinstance(call.args[1].func, ast.Name) and call.args[1].func.id == "globals"
             and not call.args[1].args)
    return bool(imports and calls)


def _hidden_test_problems(nb, lesson_id: str) -> list[str]:
    """Each code exercise has a hidden test; each hidden test cell's test is registered."""
    from .verdict.registry import module_for, probes_of

    try:
        registered = probes_of(lesson_id)
    except ModuleNotFoundError:
        return [f"{lesson_id}: no hidden tests module {module_for(lesson_id)}"]
    found = []
    for exercise_id, exercise in cells.exercises(nb).items():
        if exercise.kind != "code":
            continue
        hidden = [cells.grade_id(nb.cells[i]) for i in exercise.test_indices
                  if cells.HIDDEN_BEGIN in nb.cells[i].source]
        if not hidden:
            found.append(f"`{exercise_id}`: an exercise needs a hidden test cell (its points)")
        for gid in hidden:
            if gid not in registered:
                found.append(f"`{gid}`: no hidden test registered under this grade id in "
                             f"{module_for(lesson_id)}")
    return found

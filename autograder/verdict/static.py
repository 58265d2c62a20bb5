"""Checks that read the learner's code rather than run it (from the notebook file).

`forbidden_uses(source, names)` lists where the code names a forbidden function or
attribute (`clip_grad_norm_`, ...), however it was imported; `dynamic_lookups(source)`
lists constructs that can reach a name without writing it (`getattr` with a computed
name, `eval`, `exec`, `importlib`, `__import__`), which a person should look at.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Use:
    name: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text.strip()[:100]}"


def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def forbidden_uses(source: str, names: set[str]) -> list[Use]:
    """Where `source` reaches one of `names`: an attribute (`torch.nn.utils.clip_grad_norm_`),
    an import of it (under any alias), a bare name it did not define itself, or a string
    that is exactly the name (`getattr(m, "clip_grad_norm_")`)."""
    tree = _parse(source)
    lines = source.splitlines()
    found: list[Use] = []
    if tree is None:
        return found
    own = {node.name for node in ast.walk(tree)
           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        hit = None
        if isinstance(node, ast.Name) and node.id in names and node.id not in own:
            hit = node.id
        elif isinstance(node, ast.Attribute) and node.attr in names:
            hit = node.attr
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name.split(".")[-1] in names:
                    hit = alias.name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.strip() in names:
            hit = node.value.strip()
        if hit is not None:
            line = getattr(node, "lineno", 0)
            found.append(Use(hit, line, lines[line - 1] if 0 < line <= len(lines) else ""))
    return found


DYNAMIC = {"eval", "exec", "compile", "__import__", "importlib", "globals", "vars", "setattr"}


def dynamic_lookups(source: str) -> list[Use]:
    """Calls that can name a function without writing its name, and `getattr` with a
    computed (non-literal) attribute name."""
    tree = _parse(source)
    lines = source.splitlines()
    found: list[Use] = []
    if tree is None:
        return found
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if called in DYNAMIC:
                name = called
            elif called == "getattr" and len(node.args) >= 2 \
                    and not isinstance(node.args[1], ast.Constant):
                name = "getattr"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, "module", None) or ""
            if module.startswith("importlib") or any(a.name.startswith("importlib")
                                                     for a in node.names):
                name = "importlib"
        if name:
            line = getattr(node, "lineno", 0)
            found.append(Use(name, line, lines[line - 1] if 0 < line <= len(lines) else ""))
    return found


def code_cells_source(nb, lesson=None) -> str:
    """The learner's own code in a notebook (see `submission_code`), joined."""
    return submission_code(nb, lesson)[0]


def submission_code(nb, lesson=None) -> tuple[str, dict[str, str]]:
    """(the learner's own code, {solution grade id: its source}).

    The learner's own code: every solution cell, and every other code cell that is not a
    test cell and is not, word for word, a code cell of `lesson` (the instructor's source
    notebook): lesson content left as it was (a demo calling torch's own clip, say) is not
    the learner's, while a cell the learner added or edited is.
    """
    lesson_code = set()
    if lesson is not None:
        lesson_code = {c.source.strip() for c in lesson.cells if c.cell_type == "code"
                       and not c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    parts, answers = [], {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id"):
            answers[meta["grade_id"]] = cell.source
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        if not meta.get("solution") and cell.source.strip() in lesson_code:
            continue
        parts.append(cell.source)
    return "\n\n".join(parts), answers


def submission_code_from_namespace(namespace: dict, lesson_id: str = "") -> tuple[str, dict[str, str]]:
    """For a notebook run in this process: `__gradclip_code__` (source, answers) if the
    runner set it (the variant tests), else the lesson's notebook file in the working
    folder (nbclient runs a lesson there), else IPython's input history."""
    given = namespace.get("__gradclip_code__")
    if isinstance(given, tuple) and len(given) == 2:
        return given
    import os

    if lesson_id and os.path.isfile(f"{lesson_id}.ipynb"):
        import nbformat

        nb = nbformat.read(f"{lesson_id}.ipynb", as_version=4)
        return submission_code(nb, nb)
    history = namespace.get("In")
    if isinstance(history, list):
        return "\n\n".join(str(h) for h in history if isinstance(h, str)), {}
    return "", {}

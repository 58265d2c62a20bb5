"""Each notebook under lessons/ and its jupytext twin: keep the pair in sync, and say where not.

`lessons/jupytext.toml` pairs every `lessons/<folder>/<name>.ipynb` with the percent-format
script `<name>.py` beside it (the text an author reviews and edits). JupyterLab, with
jupytext's extension, writes both on every save; after editing one in an editor,
`sync()` (`make sync`, `python -m autograder sync`) runs `jupytext --sync` over every pair and
then clears the notebooks' outputs, which are never committed. `problems()` lists what
makes a pair disagree; tests/lessons/test_lesson_sources.py fails on any of them.

Every `.py` file in a lesson folder is a notebook's text twin: helpers a lesson imports
live in the `course` package, not beside the notebook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

from .cells import LESSONS_DIR

TEXT_FORMAT = "py:percent"
CONFIG_FILE = "jupytext.toml"
SYNC_COMMAND = "make sync"


def notebooks(lessons_dir: Path = LESSONS_DIR) -> list[Path]:
    """Every paired notebook's `.ipynb` path, also when only its `.py` twin exists yet."""
    stems = {p.with_suffix("") for pattern in ("*/*.ipynb", "*/*.py")
             for p in Path(lessons_dir).glob(pattern)}
    return sorted(stem.with_suffix(".ipynb") for stem in stems)


def text_twin(notebook: Path) -> Path:
    return Path(notebook).with_suffix(".py")


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(LESSONS_DIR.parent))
    except ValueError:
        return str(path)


# -- syncing -------------------------------------------------------------------------------
def clear_outputs(notebook: Path) -> bool:
    """Drop every code cell's outputs and execution count; True if the file changed."""
    nb = nbformat.read(notebook, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count = [], None
            changed = True
    if changed:
        nbformat.write(nb, notebook)
    return changed


def sync(paths: list[Path] | None = None, *, quiet: bool = False) -> list[Path]:
    """`jupytext --sync` each pair (the newer file's inputs win), then clear outputs.

    `paths` are notebooks or their twins (default: every pair under lessons/). Returns the
    notebooks synced. The text twin is left the newer file, so JupyterLab opens the pair
    without a timestamp warning.
    """
    targets = sorted({Path(p).with_suffix(".ipynb") for p in (paths or notebooks())})
    for notebook in targets:
        if not notebook.exists() and not text_twin(notebook).exists():
            raise FileNotFoundError(f"`{_rel(notebook)}`: neither it nor its twin "
                                    f"`{_rel(text_twin(notebook))}` exists")
    args = [str(n if n.exists() else text_twin(n)) for n in targets]
    if args:
        done = subprocess.run([sys.executable, "-m", "jupytext", "--sync", *args],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"`jupytext --sync` failed:\n{done.stdout}{done.stderr}")
        if not quiet:  # jupytext's lines that say a file was written or why not
            said = (done.stdout + done.stderr).splitlines()
            print("\n".join(line for line in said if not line.startswith(
                ("[jupytext] Reading", "[jupytext] Loading", "[jupytext] Unchanged",
                 "[jupytext] Updating the timestamp"))) or f"{len(targets)} pair(s) in sync")
    for notebook in targets:
        if not notebook.exists():
            raise RuntimeError(f"`jupytext --sync` wrote no `{_rel(notebook)}`: is "
                               f"`{CONFIG_FILE}` in {_rel(LESSONS_DIR)}/ or a folder above?")
        if clear_outputs(notebook) and not quiet:
            print(f"cleared the outputs of {_rel(notebook)}")
        os.utime(text_twin(notebook))
    return targets


def is_lesson_source(path: Path) -> bool:
    """A notebook in a lesson folder beside the lessons' `jupytext.toml` (its pair's home)."""
    path = Path(path)
    return path.suffix == ".ipynb" and (path.parent.parent / CONFIG_FILE).is_file()


def pre_save_hook(model: dict, path: str, contents_manager, **kwargs) -> None:
    """Jupyter's `ContentsManager.pre_save_hook`: a lesson source is saved without outputs.

    Set in etc/jupyter/jupyter_server_config.py; JupyterLab keeps showing the outputs, the
    file (and so the commit) holds none. Other notebooks are saved as they are.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = Path(getattr(contents_manager, "root_dir", "."))
    if not is_lesson_source(root / path.strip("/")):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None


# -- checking ------------------------------------------------------------------------------
def _first_difference(a: str, b: str) -> str:
    a_lines, b_lines = a.splitlines(), b.splitlines()
    for number, (x, y) in enumerate(zip(a_lines, b_lines), 1):
        if x != y:
            return f"line {number}: {x!r} in the notebook, {y!r} in the text"
    return (f"the notebook has {len(a_lines)} line(s), the text {len(b_lines)}"
            if len(a_lines) != len(b_lines) else "whitespace at the end differs")


def _label(index: int, cell) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" (`{grade_id}`)" if grade_id else "")


def problems(notebook: Path) -> list[str]:
    """Why `notebook` and its text twin disagree, or why the notebook cannot be committed."""
    import jupytext

    notebook, text = Path(notebook), text_twin(notebook)
    missing = [p for p in (notebook, text) if not p.exists()]
    if missing:
        return [f"`{_rel(p)}` is missing: run `{SYNC_COMMAND}` to write it from its twin"
                for p in missing]
    found = []
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            found.append(f"`{_rel(notebook)}` {_label(index, cell)} has outputs: notebooks "
                         f"are committed without them (`{SYNC_COMMAND}` clears them)")
    if "jupytext" in nb.metadata:
        found.append(f"`{_rel(notebook)}` holds jupytext metadata {dict(nb.metadata['jupytext'])}: "
                     f"the pairing lives in lessons/{CONFIG_FILE}, and releases carry "
                     "the notebook's metadata to learners (remove it, then sync)")
    # What the text would hold if written from the notebook (jupytext's metadata filters
    # applied), against what it holds.
    expected = jupytext.reads(jupytext.writes(nb, fmt=TEXT_FORMAT), fmt=TEXT_FORMAT)
    actual = jupytext.read(text, fmt=TEXT_FORMAT)
    pair = f"`{_rel(notebook)}` and `{_rel(text)}`"
    if len(expected.cells) != len(actual.cells):
        found.append(f"{pair} disagree: {len(expected.cells)} cell(s) in the notebook, "
                     f"{len(actual.cells)} in the text; run `{SYNC_COMMAND}`")
    for index, (want, got) in enumerate(zip(expected.cells, actual.cells)):
        where = f"{pair} disagree at {_label(index, want)}"
        if want.cell_type != got.cell_type:
            found.append(f"{where}: a {want.cell_type} cell in the notebook, "
                         f"{got.cell_type} in the text; run `{SYNC_COMMAND}`")
        elif want.source != got.source:
            found.append(f"{where}: {_first_difference(want.source, got.source)}; "
                         f"run `{SYNC_COMMAND}`")
        elif dict(want.metadata) != dict(got.metadata):
            found.append(f"{where}: metadata {dict(want.metadata)} in the notebook, "
                         f"{dict(got.metadata)} in the text; run `{SYNC_COMMAND}`")
        if len(found) >= 5:
            break
    if expected.metadata.get("kernelspec") != actual.metadata.get("kernelspec"):
        found.append(f"{pair} disagree on the kernelspec; run `{SYNC_COMMAND}`")
    return found

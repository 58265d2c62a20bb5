"""The instructor notebook: committed as its build script writes it, runs headless."""

import importlib.util
import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "lessons" / "instructor" / "build.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("instructor_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebook_is_what_build_writes():
    module = _build_module()
    assert module.PATH.read_text(encoding="utf-8") == module.nb.render(), \
        "run `python lessons/instructor/build.py` and commit the notebook"


def test_notebook_runs_headless_and_draws_static_figures(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("GRADCLIP_WIDGETS", "0")
    nb = json.loads(_build_module().PATH.read_text(encoding="utf-8"))
    code = [c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in nb["cells"] if c["cell_type"] == "code"]
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.gcf()))
    namespace = {"__name__": "__main__"}
    for source in code:
        assert not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines())
        exec(compile(source, "<instructor cell>", "exec"), namespace)  # noqa: S102
    assert namespace["replay"].state.step == namespace["replay"].total - 1
    assert "largest jump" in capsys.readouterr().out
    assert shown and len(shown[-1].axes) == 4
    plt.close("all")

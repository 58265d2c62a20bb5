"""The instructor notebook: in sync with its text twin, committed clean, runs headless."""

import json
from pathlib import Path

import matplotlib

from autograder import pairing

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK = ROOT / "lessons" / "instructor" / "spike_cascade_replay.ipynb"


def test_notebook_and_its_text_twin_agree():
    problems = pairing.problems(NOTEBOOK)
    assert not problems, "\n".join(problems)


def test_notebook_runs_headless_and_draws_static_figures(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("GRADCLIP_WIDGETS", "0")
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
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

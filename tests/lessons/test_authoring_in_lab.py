"""An author edits a lesson in JupyterLab as `make lab` starts it; the text twin and tests follow.

The server is the one `make lab LAB_ROOT=...` runs (its command line read from `make -n`,
with a token and a free port added), serving a copy of lessons/. The edits go through
JupyterLab's REST contents API, so jupytext's own contents manager saves them, as it does
when an author presses save in the browser.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder import lint, pairing
from autograder.cells import LESSONS_DIR, nbgrader_meta
from tests.browser.lab import free_port, venv_env

REPO = LESSONS_DIR.parent
LESSON = "03_scale_factor"


def make_lab_command(lab_root: Path, port: int) -> list[str]:
    """The `jupyter lab` line of `make lab`, as make would run it."""
    done = subprocess.run(["make", "-n", "lab", f"LAB_ROOT={lab_root}", f"PORT={port}",
                           "NO_BROWSER=1"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=True)
    (line,) = [ln for ln in done.stdout.splitlines() if " lab " in f" {ln} " and "jupyter" in ln]
    return shlex.split(line)


class Lab:
    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, method=method, data=data, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
        return json.loads(text) if text else None

    def contents(self, path: str, **query) -> dict:
        return self.call("GET", f"/api/contents/{urllib.parse.quote(path)}?"
                         + urllib.parse.urlencode({"content": 1, **query}))

    def save(self, path: str, model: dict) -> dict:
        return self.call("PUT", f"/api/contents/{urllib.parse.quote(path)}",
                         {"type": "notebook", "format": "json", "content": model["content"]})


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("authoring")
    lessons = root / "lessons"
    shutil.copytree(LESSONS_DIR, lessons,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    port, token = free_port(), os.urandom(16).hex()
    env = venv_env(JUPYTER_CONFIG_DIR=str(root / "config"),
                   JUPYTER_RUNTIME_DIR=str(root / "runtime"), IPYTHONDIR=str(root / "ipython"))
    env.pop("JUPYTER_CONFIG_PATH", None)
    command = make_lab_command(lessons, port)
    assignments = [c for c in command if "=" in c and not c.startswith("-")]
    for a in assignments:  # `VAR=value jupyter lab ...` as make's shell runs it
        env[a.split("=", 1)[0]] = a.split("=", 1)[1]
    command = [c for c in command if c not in assignments]
    command += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}", "--allow-root"]
    log = open(root / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}", token)
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not start:\n"
                                   + (root / "lab.log").read_text(errors="replace")[-3000:])
            try:
                server.call("GET", "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        server.lessons = lessons
        server.log = root / "lab.log"
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def notebook_path(lab, lesson=LESSON) -> Path:
    return lab.lessons / lesson / f"{lesson}.ipynb"


def test_news_toast_and_update_check_are_off(lab):
    """etc/jupyter/labconfig/default_setting_overrides.json turns JupyterLab's defaults off."""
    settings = lab.call("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false", defaults  # JupyterLab's own default: "none" (ask)
    assert defaults["checkForUpdates"] is False, defaults
    assert "fetchNews" not in settings["settings"]  # a fresh user: the default is what applies


def test_edit_prose_and_code_run_and_save_in_lab(lab):
    rel = f"{LESSON}/{LESSON}.ipynb"
    model = lab.contents(rel)
    cells = model["content"]["cells"]
    prose = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown")
    demo = next(i for i, c in enumerate(cells)
                if c["cell_type"] == "code" and not c["metadata"].get("nbgrader"))
    solution = next(i for i, c in enumerate(cells)
                    if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code")
    meta_before = [c["metadata"].get("nbgrader") for c in cells]
    cells[prose]["source"] += "\n\nAn instructor's new sentence."
    cells[demo]["source"] += "\nprint('an instructor added this line')"
    cells[solution]["source"] = cells[solution]["source"].replace(
        "### END SOLUTION", "    pass  # an instructor's edit\n    ### END SOLUTION", 1)
    # the author ran the cells: outputs and counts come with the save
    cells[demo]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    cells[demo]["execution_count"] = 7
    lab.save(rel, model)

    text = pairing.text_twin(notebook_path(lab)).read_text(encoding="utf-8")
    assert "An instructor's new sentence." in text
    assert "print('an instructor added this line')" in text
    assert "pass  # an instructor's edit" in text
    saved = nbformat.read(notebook_path(lab), as_version=4)
    assert pairing.problems(notebook_path(lab)) == []  # in sync, and saved without outputs
    assert [nbgrader_meta(c) or None for c in saved.cells] == meta_before
    assert lint.problems(saved, lesson_id=LESSON) == []
    assert "jupytext" not in saved.metadata, "pairing lives in lessons/jupytext.toml, not here"


def test_edit_the_text_twin_opened_as_a_notebook(lab):
    rel = f"{LESSON}/{LESSON}.py"
    model = lab.contents(rel, type="notebook")
    assert model["type"] == "notebook", "jupytext's contents manager opens the .py as a notebook"
    model["content"]["cells"][0]["source"] += "\n\nEdited through the .py."
    lab.save(rel, model)
    saved = nbformat.read(notebook_path(lab), as_version=4)
    assert saved.cells[0].source.endswith("Edited through the .py.")
    assert pairing.problems(notebook_path(lab)) == []


def test_other_notebooks_keep_their_outputs(lab):
    """The no-outputs rule is for lesson sources only (lessons/<id>/<name>.ipynb)."""
    mine = lab.lessons / "mine.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"},
                                                  execution_count=1)]
    nbformat.write(nb, mine)
    assert not pairing.is_lesson_source(mine) and pairing.is_lesson_source(notebook_path(lab))
    lab.save("mine.ipynb", lab.contents("mine.ipynb"))
    assert nbformat.read(mine, as_version=4).cells[0].outputs

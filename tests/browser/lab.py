"""A JupyterLab server for the browser tests, and a page object that drives it.

`LabServer` starts the repository's JupyterLab the way `make lab` does (`jupyter lab
--ServerApp.root_dir=workspace` run from the course root, so nbgrader's Validate handler,
which reads `nbgrader_config.py` from the server's working directory, sees the course's
config) plus what a test needs: a free localhost port, a token, `--no-browser`,
`--allow-root` and `--LabApp.expose_app_in_browser=True`, which puts the application at
`window.jupyterapp`. Jupyter's config, runtime and IPython directories are temporary, so a
developer's own settings neither leak in nor get written.

`LabPage` waits on JupyterLab's own state (the kernel's status, each cell's execution
state, the promises its commands return), never on sleeps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

# JupyterLab's own settings for the test server: no "get notified about Jupyter news?"
# toast over the screenshots, and no update check (the test machine is offline).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_env(**extra: str) -> dict[str, str]:
    """os.environ with this interpreter's bin/ first on PATH (nbgrader runs `alembic`)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.update(extra)
    return env


class LabServer:
    """`jupyter lab` serving `root/workspace`, started from `root` (as `make lab` does)."""

    def __init__(self, root: Path, state: Path, startup_timeout: float = 120.0):
        self.root = Path(root)
        self.state = Path(state)
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state / "jupyterlab.log"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        jupyter = Path(sys.executable).parent / "jupyter"
        base = [str(jupyter)] if jupyter.exists() else [sys.executable, "-m", "jupyter"]
        return base + [
            "lab",
            # the Makefile's LAB_FLAGS
            "--ServerApp.root_dir=workspace", f"--port={self.port}", "--no-browser",
            "--allow-root",
            # the tests'
            "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.expose_app_in_browser=True",
        ]

    def env(self) -> dict[str, str]:
        config = self.state / "jupyter_config"
        for name, settings in LAB_SETTINGS.items():
            path = config / "lab" / "user-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings), encoding="utf-8")
        env = venv_env(JUPYTER_CONFIG_DIR=str(config),
                       JUPYTER_RUNTIME_DIR=str(self.state / "jupyter_runtime"),
                       IPYTHONDIR=str(self.state / "ipython"))
        # a learner's kernel: widgets live, matplotlib's inline backend
        for name in ("GRADCLIP_WIDGETS", "MPLBACKEND"):
            env.pop(name, None)
        return env

    def start(self) -> "LabServer":
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode} before "
                                   f"it served:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {self.startup_timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"},
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        """Ask the server to shut down (it stops its kernels), then make sure it has."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=10)
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001 - fall back to signals
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        self._log.close()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def lab_url(self, notebook: str, workspace: str) -> str:
        """A fresh JupyterLab workspace (`?reset`) with `notebook` open."""
        return f"{self.url}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}&reset"


# -- the page --------------------------------------------------------------------------------
# JavaScript run in the page. `panel()` is the notebook the test opened.
_PANEL = "window.jupyterapp.shell.currentWidget"

KERNEL_IDLE = f"""() => {{
  const panel = {_PANEL};
  if (!panel || !panel.sessionContext || !panel.content || !panel.content.widgets) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  return panel.content.widgets.every(c => c.model.type !== 'code'
                                          || c.model.executionState !== 'running');
}}"""

CELLS = f"""() => {{
  const panel = {_PANEL};
  return panel.content.widgets.map((cell, index) => {{
    const model = cell.model;
    const nbgrader = model.getMetadata('nbgrader') || {{}};
    const outputs = model.type === 'code' ? model.outputs.toJSON() : [];
    return {{index, type: model.type, grade_id: nbgrader.grade_id || null,
             source: model.sharedModel.getSource(),
             execution_count: model.type === 'code' ? model.executionCount : null,
             outputs}};
  }});
}}"""


class LabPage:
    """One browser page on the test server, with helpers over `window.jupyterapp`."""

    def __init__(self, page, server: LabServer, shots: Path):
        self.page = page
        self.server = server
        self.shots = shots
        self.console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))

    # -- opening ------------------------------------------------------------------------------
    def open(self, notebook: str, workspace: str, timeout: float = 90.0) -> None:
        """Open `notebook` (relative to the served folder) and wait for an idle kernel."""
        self.page.goto(self.server.lab_url(notebook, workspace))
        ms = int(timeout * 1000)
        self.page.wait_for_function("() => window.jupyterapp !== undefined", timeout=ms)
        self.page.evaluate("() => window.jupyterapp.restored.then(() => true)")
        self.page.wait_for_function(
            f"""(path) => {{ const p = {_PANEL};
                 return p && p.context && p.context.path === path && p.context.isReady; }}""",
            arg=notebook, timeout=ms)
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """The notebook's kernel is idle and no cell is queued or running."""
        self.page.wait_for_function(KERNEL_IDLE, timeout=int(timeout * 1000), polling=200)

    # -- the notebook through JupyterLab's API ----------------------------------------------
    def execute(self, command: str, args: dict | None = None):
        """`jupyterapp.commands.execute(command, args)`; what its promise resolves to."""
        return self.page.evaluate(
            "([c, a]) => window.jupyterapp.commands.execute(c, a || {})", [command, args])

    def run_all(self, timeout: float = 150.0):
        """Run all cells (JupyterLab's command resolves when the run is over) and wait idle."""
        result = self.execute("notebook:run-all-cells")
        self.wait_idle(timeout)
        return result

    def cells(self) -> list[dict]:
        return self.page.evaluate(CELLS)

    def index_of(self, grade_id: str) -> int:
        for cell in self.cells():
            if cell["grade_id"] == grade_id:
                return cell["index"]
        raise LookupError(f"no cell with nbgrader grade_id `{grade_id}`")

    def set_source(self, index: int, source: str) -> None:
        """Replace a cell's text in the notebook model, as typing it would."""
        self.page.evaluate(
            f"([i, s]) => {{ {_PANEL}.content.widgets[i].model.sharedModel.setSource(s); }}",
            [index, source])

    def run_cell(self, index: int, timeout: float = 60.0):
        """Select cell `index` alone and run it (`notebook:run-cell`); wait for idle."""
        result = self.page.evaluate(
            f"""async (i) => {{
                 const nb = {_PANEL}.content;
                 nb.activeCellIndex = i;
                 nb.deselectAll();
                 return await window.jupyterapp.commands.execute('notebook:run-cell');
               }}""", index)
        self.wait_idle(timeout)
        return result

    def scroll_to(self, index: int, align: str = "start") -> None:
        self.page.evaluate(
            f"""async ([i, a]) => {{ const nb = {_PANEL}.content;
                 nb.activeCellIndex = i; await nb.scrollToItem(i, a); }}""", [index, align])
        # two animation frames: the scroll is painted before a screenshot
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                           "requestAnimationFrame(r)))")

    def show_output_end(self, index: int) -> None:
        """Scroll so the end of cell `index`'s output (an error's last line) is in view."""
        self.scroll_to(index, "end")
        self.page.evaluate(
            f"""(i) => {_PANEL}.content.widgets[i].outputArea.node
                 .scrollIntoView({{block: 'end'}})""", index)
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                           "requestAnimationFrame(r)))")

    def shutdown_kernels(self) -> None:
        self.page.evaluate("() => window.jupyterapp.serviceManager.sessions.shutdownAll()")

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def errors_in(cells: list[dict]) -> list[tuple[int, str]]:
    """(cell index, 'ename: evalue') of every error output."""
    return [(c["index"], f"{o.get('ename')}: {o.get('evalue')}")
            for c in cells for o in c["outputs"] if o.get("output_type") == "error"]


def output_text(cell: dict) -> str:
    """A cell's stream, text/plain and error text, ANSI colours stripped."""
    parts = []
    for o in cell["outputs"]:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            parts.append("\n".join(o.get("traceback", [])))
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    text = "".join(p if isinstance(p, str) else "".join(p) for p in parts)
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def keep(shot: Path, dest_dir: Path, name: str) -> Path:
    """Copy a screenshot to `dest_dir/name.png` (the representative one for a test)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{name}.png"
    shutil.copyfile(shot, dest)
    return dest

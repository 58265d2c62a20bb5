"""Fixtures for the browser tests: a temporary course, its JupyterLab, headless Chromium.

One JupyterLab and one Chromium serve the whole session. The course is a temporary copy
made with the pipeline's own `scaffold`, and its workspace is built by the repository's
own command, `python -m autograder --course DIR workspace LESSON` (what `make lab` runs),
so the developer's workspace/ is never touched.

Skipped, with the reason, only when Playwright or Chromium is missing
(`bash scripts/install_browser.sh` installs both). Chromium is `$GRADCLIP_CHROMIUM` when
that is set, else /usr/bin/chromium, else `chromium` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .lab import CHROMIUM_ARGS, REPO, LabPage, LabServer, venv_env

SCREENSHOTS = REPO / "build" / "screenshots"
# The learner's lessons the server's workspace holds (each costs a generate_assignment).
WORKSPACE_LESSONS = ["02_global_vs_per_tensor"]
# Where source notebooks (solutions in, run as an instructor would) are copied to.
SOURCES = "sources"
INSTALL_HINT = "run `bash scripts/install_browser.sh` (as root) to install them"


def chromium_path() -> str | None:
    """$GRADCLIP_CHROMIUM when set (and nothing else), else Debian's, else PATH's."""
    given = os.environ.get("GRADCLIP_CHROMIUM")
    candidates = [given] if given else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing(reason: str) -> None:
    """Skip with `reason`; in CI (`GRADCLIP_REQUIRE_BROWSER=1`, set by .ci/run) fail instead,
    so a missing browser can never hide the browser tests."""
    if os.environ.get("GRADCLIP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (GRADCLIP_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing(f"Playwright is not installed: {INSTALL_HINT}")
    path = chromium_path()
    if path is None:
        where = (f"GRADCLIP_CHROMIUM={os.environ['GRADCLIP_CHROMIUM']} is not an executable"
                 if os.environ.get("GRADCLIP_CHROMIUM") else
                 "no /usr/bin/chromium, no `chromium` on PATH")
        _missing(f"Chromium not found ({where}): {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def lab_course(chromium_executable, tmp_path_factory) -> Path:
    """A temporary course with the workspace `make lab` would build for WORKSPACE_LESSONS."""
    from autograder.pipeline.course import scaffold

    root = tmp_path_factory.mktemp("course")
    course = scaffold(root, {lesson: REPO / "lessons" / lesson for lesson in WORKSPACE_LESSONS})
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "--course", str(root), "workspace",
         *WORKSPACE_LESSONS],
        cwd=REPO, env=venv_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"`python -m autograder workspace` failed "
                                  f"({done.returncode}):\n{done.stdout}\n{done.stderr}")
    assert course.workspace == root / "workspace", course.workspace
    for lesson in WORKSPACE_LESSONS:
        assert (course.workspace / lesson / f"{lesson}.ipynb").is_file(), done.stdout
    (course.workspace / SOURCES).mkdir()
    return root


@pytest.fixture(scope="session")
def lab_server(lab_course, tmp_path_factory):
    server = LabServer(lab_course, tmp_path_factory.mktemp("jupyter")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """The representative screenshot of each test is kept here (build/ is ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def lab(browser, lab_server, tmp_path, request):
    """A fresh browser context on the test server; its kernels are shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    page = LabPage(context.new_page(), lab_server, tmp_path)
    yield page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        try:
            page.screenshot("failure")
        except Exception:  # noqa: BLE001
            pass
        print(f"screenshots: {tmp_path}\nbrowser console errors: {page.console_errors[-10:]}"
              f"\njupyter lab log ({lab_server.log_path}):\n{lab_server.log_tail(3000)}")
    try:
        page.shutdown_kernels()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


@pytest.fixture
def served_copy(lab_course):
    """Copy a source notebook's folder (notebook and data, no .py twin) into the served
    folder; returns its path relative to it."""
    def copy(notebook: Path) -> str:
        dest = lab_course / "workspace" / SOURCES / notebook.parent.name
        shutil.copytree(notebook.parent, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.py", "tests", "__pycache__",
                                                      ".ipynb_checkpoints"))
        return f"{SOURCES}/{notebook.parent.name}/{notebook.name}"
    return copy

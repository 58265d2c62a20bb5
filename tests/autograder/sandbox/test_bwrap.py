"""autograder.sandbox: what a sandboxed process can and cannot reach (real bubblewrap)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import Sandbox, available, uid_slot
from autograder.sandbox.job import run_job
from autograder.sandbox.kernel import SLOT_LOCKS

REPO = Path(__file__).resolve().parents[3]
OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"no sandbox on this machine: {WHY}")


@pytest.fixture
def run_inside(tmp_path):
    """Run Python code in a fresh sandbox; its (returncode, stdout)."""
    home = tmp_path / "home"
    home.mkdir()

    def run(code: str, timeout: float = 120):
        with uid_slot(SLOT_LOCKS) as uid:
            if os.geteuid() == 0:
                os.chown(home, uid, uid)
            cmd = Sandbox(home, uid=uid if os.geteuid() == 0 else None).command(
                [sys.executable, "-c", code])
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout + done.stderr

    run.home = home
    return run


def test_learner_packages_import_and_the_grader_does_not(run_inside):
    code, out = run_inside(
        "import course, kernels\nprint('course', course.__file__)\n"
        "try:\n    import autograder\n    print('AUTOGRADER')\nexcept ImportError:\n    print('no autograder')\n")
    assert code == 0, out
    assert "course /opt/gradclip/course" in out and "no autograder" in out and "AUTOGRADER" not in out


def test_the_repository_build_and_network_are_out_of_reach(run_inside):
    probe = (f"import os, socket\n"
             f"for p in [{str(REPO / 'lessons')!r}, {str(REPO / 'autograder')!r}, "
             f"{str(REPO / 'build')!r}, {str(REPO / 'nbgrader_config.py')!r}]:\n"
             "    print(p, os.path.exists(p))\n"
             "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2); print('NET')\n"
             "except OSError as e:\n    print('no network', type(e).__name__)\n")
    code, out = run_inside(probe)
    assert code == 0, out
    assert " True" not in out and "no network" in out and "NET" not in out


def test_only_home_is_writable_and_the_uid_is_not_root(run_inside):
    code, out = run_inside(
        "import os\nopen('mine.txt', 'w').write('x')\nprint('uid', os.getuid())\n"
        f"for p in ['/usr/x', '/etc/x', {sys.prefix + '/x'!r}, '/opt/gradclip/course/x']:\n"
        "    try:\n        open(p, 'w'); print('WROTE', p)\n"
        "    except OSError:\n        print('read-only', p)\n")
    assert code == 0, out
    assert "WROTE" not in out and (run_inside.home / "mine.txt").read_text() == "x"
    assert "uid 0" not in out


def test_nothing_outlives_the_sandbox(run_inside, tmp_path):
    marker = f"gradclip-orphan-{os.getpid()}"
    code, out = run_inside(
        "import subprocess, os\n"
        f"subprocess.Popen(['sh', '-c', 'sleep 30 # {marker}'], start_new_session=True)\n"
        "print('started')\n")
    assert code == 0, out
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left.strip() == "", f"a process outlived its sandbox: {left}"


def test_a_job_sees_the_grader_without_its_references():
    listing = run_job("os:listdir", {"path": "/opt/gradclip-grader/autograder"})
    assert listing["ok"] and "checks" in listing["value"]
    for hidden in ("reference", "cuda", "hidden"):
        inside = run_job("os:listdir", {"path": f"/opt/gradclip-grader/autograder/{hidden}"})
        assert inside == {"ok": True, "value": []}, hidden


def test_a_job_reports_an_assertion_as_a_message():
    result = run_job("autograder.verdict.registry:module_for", {"lesson_id": "nonsense"})
    assert result["ok"] is False and "not a lesson id" in result["message"]

"""nbgrader_cli: the wall-clock limit kills the process and everything it started."""

import os
import sys
import time

from autograder.pipeline.nbgrader_cli import run_command

# a parent that starts a child in a session of its own (as jupyter_client starts kernels),
# prints the child's pid, and both sleep
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_limit_kills_the_child_in_its_own_session(tmp_path):
    start = time.monotonic()
    done = run_command([sys.executable, "-c", PARENT], cwd=tmp_path, limit=3)
    assert done.timed_out and not done.ok
    assert time.monotonic() - start < 20
    child = int(done.output.split()[0])
    if os.path.isdir("/proc"):
        for _ in range(50):
            if not alive(child):
                break
            time.sleep(0.1)
        assert not alive(child), "the grandchild survived the limit"


def test_exit_status_and_output_come_back(tmp_path):
    done = run_command([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], cwd=tmp_path)
    assert done.returncode == 3 and not done.timed_out and done.output.strip() == "hi"

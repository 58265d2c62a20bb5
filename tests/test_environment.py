"""The set-up: pinned dependencies agree, and the README's two commands exist."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def environment_pins() -> list[str]:
    """The `pip:` entries of environment.yml (a flat list; no YAML library needed)."""
    lines = (REPO / "environment.yml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    pins = []
    for line in lines[start + 1:]:
        match = re.match(r"^\s+- (\S.*)$", line)
        if not match:
            break
        pins.append(match.group(1).split("#")[0].strip())
    return [p for p in pins if not p.startswith("-e")]


def test_every_pin_is_exact():
    project = pyproject()["project"]
    for pin in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.+\-]*", pin), pin


def test_environment_yml_mirrors_pyproject():
    project = pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert sorted(environment_pins()) == sorted(wanted)


def test_environment_yml_python_is_allowed_by_pyproject():
    text = (REPO / "environment.yml").read_text(encoding="utf-8")
    version = re.search(r"-\s*python=(\d+\.\d+)", text).group(1)
    requires = pyproject()["project"]["requires-python"]
    low, high = re.search(r">=(\d+\.\d+),<(\d+\.\d+)", requires).groups()
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    assert as_tuple(low) <= as_tuple(version) < as_tuple(high)


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\s*(make \w+)\s*(?:#.*)?$", text, flags=re.M)


def test_readme_leads_with_the_two_commands():
    commands = readme_commands()
    assert commands[:2] == ["make lab", "make test"]


@pytest.mark.parametrize("target", ["lab", "test"])
def test_readme_commands_are_make_targets(target):
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{target}:", makefile, flags=re.M), f"no `{target}:` rule in Makefile"
    env = {**os.environ, "PYTHON": "python3"}
    done = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr


def test_make_lab_serves_the_workspace_and_allows_root():
    done = subprocess.run(["make", "-n", "lab", "PORT=9999", "NO_BROWSER=1"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    command = done.stdout
    assert "-m autograder workspace" in command
    assert "--ServerApp.root_dir=workspace" in command and "--port=9999" in command
    assert "--no-browser" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)


def test_ci_runs_make_test():
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    assert "make test" in ci.read_text(encoding="utf-8")


def test_build_products_and_workspace_are_ignored():
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert "build/" in ignored and "workspace/" in ignored and ".venv/" in ignored

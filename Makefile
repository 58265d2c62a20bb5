# gradclip: two commands.
#   make lab    set up, build your copies of the lessons in workspace/, open JupyterLab
#   make test   set up, run the test suite
#   make sync   after editing a lesson: sync lessons/<id>/<id>.ipynb with its .py twin
#
# Knobs (environment or `make VAR=value`):
#   PYTHON=python3.11   interpreter that creates .venv
#   PORT=8888           JupyterLab's port
#   LAB_ROOT=workspace  the folder JupyterLab serves (an author: LAB_ROOT=lessons)
#   NO_BROWSER=1        do not open a browser (on a server, over ssh)
#   PYTEST_ARGS='-m "not slow"'   extra pytest arguments for `make test`

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# pip install -e is redone only when pyproject.toml changes (or the venv is new)
STAMP := $(VENV)/.gradclip-installed
PORT ?= 8888
LAB_ROOT ?= workspace
NO_BROWSER ?=
PYTEST_ARGS ?=
LAB_FLAGS := --ServerApp.root_dir=$(LAB_ROOT) --port=$(PORT) \
	$(if $(NO_BROWSER),--no-browser,) \
	$(if $(filter 0,$(shell id -u)),--allow-root,)
# nbgrader shells out to `alembic`: the venv's bin/ must come first on PATH
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: lab test sync venv workspace browser sandbox clean help
.DEFAULT_GOAL := help

help:
	@echo "make lab    build your copies of the lessons (workspace/) and open JupyterLab"
	@echo "make test   run the test suite"
	@echo "make sync   sync each lesson notebook with its jupytext .py twin (after an edit)"

venv: $(STAMP)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it or pass PYTHON=..."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' || \
	  { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'): the course needs 3.11 or 3.12 (pass PYTHON=...)"; exit 1; }
	@command -v g++ >/dev/null || command -v clang++ >/dev/null || \
	  echo "note: no C++ compiler (g++ or clang++): lesson 05's CPU kernel backend needs one (apt-get install g++)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $@

workspace: $(STAMP)
	$(BIN)/python -m autograder workspace

# etc/jupyter: the course's own JupyterLab settings (no news toast; lesson sources saved
# without outputs, with their jupytext .py twins)
LAB_CONFIG_PATH := $(abspath etc/jupyter)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH),)

lab: workspace
	JUPYTER_CONFIG_PATH=$(LAB_CONFIG_PATH) $(BIN)/jupyter lab $(LAB_FLAGS)

# The browser tests drive Debian's chromium: installed here when run as root (CI is),
# otherwise they skip with the reason (`sudo bash scripts/install_browser.sh` to add it).
browser: $(STAMP)
	@if [ -x /usr/bin/chromium ] || [ -n "$$GRADCLIP_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then bash scripts/install_browser.sh; \
	else echo "note: chromium is missing, browser tests will skip (sudo bash scripts/install_browser.sh)"; fi

# Grading runs each learner's notebook in a bubblewrap sandbox: installed here when run as
# root (CI is); otherwise `sudo bash scripts/install_sandbox.sh` (autograde refuses without it).
sandbox:
	@if command -v bwrap >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then bash scripts/install_sandbox.sh; \
	else echo "note: bubblewrap is missing: grading will refuse to run (sudo bash scripts/install_sandbox.sh)"; fi

test: $(STAMP) browser sandbox
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# One command for authors: jupytext --sync over every lesson pair, outputs cleared.
sync: $(STAMP)
	$(BIN)/python -m autograder sync

clean:
	rm -rf build

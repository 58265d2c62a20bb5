#!/usr/bin/env bash
# Installs what the browser tests (tests/browser/, marker `browser`) need, idempotently:
#   - Debian's `chromium` package (apt-get update runs only when chromium is missing);
#   - Playwright from PyPI into the course's venv. `playwright install` is never run: it
#     downloads a browser build, which this course's machines cannot fetch; the tests drive
#     /usr/bin/chromium instead.
# Run it as root (CI does), after the venv exists (`make venv`). Knobs:
#   PYTHON=.venv/bin/python        the interpreter whose environment gets Playwright
#   PLAYWRIGHT_VERSION=1.65.2      keep equal to the pin in pyproject.toml's dev extras
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
PLAYWRIGHT_VERSION=${PLAYWRIGHT_VERSION:-1.65.2}

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
else
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium
    echo "chromium: $(/usr/bin/chromium --version)"
fi

if [ ! -x "$PYTHON" ]; then
    echo "error: $PYTHON not found: create the venv first (make venv) or set PYTHON=" >&2
    exit 1
fi
installed=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"))' \
            2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
    "$PYTHON" -m pip install --quiet "playwright==$PLAYWRIGHT_VERSION"
fi
echo "playwright: $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"))')"

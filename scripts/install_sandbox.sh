#!/usr/bin/env bash
# Installs what grading needs to sandbox learners' notebooks, idempotently: Debian's
# `bubblewrap` (bwrap). `setpriv` and `prlimit` come with util-linux, which Debian always
# has. Run it as root (CI does; `make test` and `make lab` call it when run as root).
# Without it `python -m autograder autograde` refuses to grade (see docs/grading.md).
set -euo pipefail
if command -v bwrap >/dev/null 2>&1; then
    echo "bubblewrap: $(bwrap --version)"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq bubblewrap
echo "bubblewrap: $(bwrap --version)"

"""Run a lesson's build.py without touching the committed notebook.

    python scripts/render_lesson.py lessons/<id>/build.py --out /tmp/x.ipynb   # write there
    python scripts/render_lesson.py lessons/<id>/build.py --check              # exit 1 if stale

`build.py` calls `Notebook.save()`; here `save` writes `Notebook.render()` to `--out`
instead (or compares it with the committed notebook for `--check`), so nothing in
lessons/ changes. tests/lessons/test_lesson_sources.py uses it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def render(build_py: Path) -> dict[Path, str]:
    """committed notebook path -> the text build.py renders for it."""
    sys.path.insert(0, str(REPO))
    from autograder.authoring import Notebook

    rendered: dict[Path, str] = {}

    def capture(self: Notebook) -> Path:
        rendered[self.path] = self.render()
        return self.path

    original = Notebook.save
    Notebook.save = capture
    cwd = os.getcwd()
    try:
        os.chdir(build_py.parent)
        runpy.run_path(str(build_py), run_name="__main__")
    finally:
        os.chdir(cwd)
        Notebook.save = original
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build_py", type=Path)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the rendered notebook here")
    group.add_argument("--check", action="store_true",
                       help="compare with the committed notebook; exit 1 with a diff if stale")
    args = parser.parse_args(argv)
    rendered = render(args.build_py.resolve())
    if len(rendered) != 1:
        print(f"error: {args.build_py} saved {len(rendered)} notebooks, expected 1",
              file=sys.stderr)
        return 1
    (path, text), = rendered.items()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        return 0
    committed = path.read_text(encoding="utf-8") if path.is_file() else ""
    if committed == text:
        print(f"{path.relative_to(REPO)} is up to date")
        return 0
    diff = difflib.unified_diff(committed.splitlines(), text.splitlines(),
                                f"{path.name} (committed)", f"{path.name} (build.py)", lineterm="")
    print("\n".join(list(diff)[:200]))
    print(f"\n{path.relative_to(REPO)} is stale: run `python {args.build_py}`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

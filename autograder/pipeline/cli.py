"""`python -m autograder <command>`: the course's grading commands over nbgrader.

Exit status: 0 when the command did its job (learners whose notebooks failed or had to be
flagged are results, not failures), 1 when it could not (a missing lesson, nbgrader
failing for a reason not traced to a submission, a notebook that fails `validate`),
2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import report
from .course import Course, PipelineError


def _lessons(course: Course, given: list[str]) -> list[str]:
    lessons = given or course.lesson_ids()
    if not lessons:
        raise PipelineError(f"no lessons in {course.lessons_dir}")
    return [course.check_lesson(lesson) for lesson in lessons]


# -- commands: each takes (course, args) and returns an exit status --------------------------
def cmd_generate(course: Course, args) -> int:
    from .generate import generate
    for lesson in _lessons(course, args.lessons):
        generate(course, lesson)
        print(f"generated {lesson} -> {course.release_dir(lesson)}")
    return 0


def cmd_release(course: Course, args) -> int:
    from .generate import generate
    from .release import release
    for lesson in _lessons(course, args.lessons):
        generate(course, lesson)
        release(course, lesson)
        print(f"released {lesson} -> {course.exchange_root / course.course_id / 'outbound' / lesson}")
    return 0


def cmd_workspace(course: Course, args) -> int:
    from .generate import generate
    from .workspace import populate, write_config_stub
    write_config_stub(course)
    lessons = _lessons(course, args.lessons)
    broken = []
    for lesson in lessons:
        try:  # one lesson that does not build must not keep a learner from the others
            generate(course, lesson)
        except PipelineError as exc:
            broken.append(lesson)
            print(f"{lesson}: could not be built, skipped:\n{str(exc)[-2000:]}", file=sys.stderr)
            continue
        copied = populate(course, lesson)
        state = f"copied {len(copied)} file(s)" if copied else "your copy is kept as it is"
        print(f"{lesson}: {course.workspace / lesson} ({state})")
    return 1 if len(broken) == len(lessons) else 0


def cmd_submit(course: Course, args) -> int:
    from .submit import submit
    submit(course, args.lesson, student=args.student,
           workspace=Path(args.workspace) if args.workspace else None)
    print(f"submitted {args.lesson}" + (f" as {args.student}" if args.student else ""))
    return 0


def cmd_collect(course: Course, args) -> int:
    from .collect import collect
    students = collect(course, args.lesson)
    print(f"{args.lesson}: {len(students)} submission(s): {', '.join(students) or '-'}")
    return 0


def cmd_autograde(course: Course, args) -> int:
    from .autograde import autograde
    if args.jobs < 1:
        raise PipelineError(f"`--jobs` must be at least 1, got {args.jobs}")
    print(f"autograding {args.lesson}:")
    results = autograde(course, args.lesson, args.student or None,
                        cell_timeout=args.cell_timeout, limit=args.limit, jobs=args.jobs,
                        unsafe_no_sandbox=args.unsafe_no_sandbox)
    print()
    print(report.table(results))
    errors = [r for r in results if any(f.error for f in r.flags)]
    if errors:
        print(f"\nnbgrader failed on {len(errors)} submission(s) for reasons not traced to "
              "the submission: see above", file=sys.stderr)
    return 1 if errors else 0


def cmd_feedback(course: Course, args) -> int:
    from .feedback import feedback
    pages = feedback(course, args.lesson, release=not args.no_release)
    print(f"{args.lesson}: {len(pages)} feedback page(s), hidden tests checked absent"
          + ("" if args.no_release else ", released to the exchange"))
    return 0


def cmd_export(course: Course, args) -> int:
    from .export import export
    to, flagged = export(course, Path(args.to) if args.to else None)
    print(f"grades written to {to}")
    if flagged:
        print()
        print(report.table(flagged).split("\n\n", 1)[-1])
    return 0


def cmd_validate(course: Course, args) -> int:
    from .validate import validate
    problems = validate(course, Path(args.notebook))
    if not problems:
        print(f"{args.notebook}: passes (it runs, visible tests pass, locked cells intact)")
        return 0
    print(f"{args.notebook}: {len(problems)} problem(s)\n")
    print("\n\n".join(problems))
    return 1


def cmd_selfcheck(course: Course, args) -> int:
    from .selfcheck import selfcheck
    check = selfcheck(course, Path(args.notebook), args.lesson,
                      cell_timeout=args.cell_timeout, limit=args.limit)
    print(check.text())
    return 0 if check.result.score is not None else 1


def cmd_sync(course: Course, args) -> int:
    from autograder import pairing
    if args.check:
        found = [p for nb in pairing.notebooks() for p in pairing.problems(nb)]
        print("\n".join(found) or "every lesson notebook agrees with its text twin")
        return 1 if found else 0
    pairing.sync([Path(p) for p in args.paths] or None)
    return 0


# -- the parser ------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    p.add_argument("--course", metavar="DIR", default=None,
                   help="course root holding nbgrader_config.py (default: this repository)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_):
        cmd = sub.add_parser(name, help=help_, description=help_)
        cmd.set_defaults(func=func)
        return cmd

    def limits(cmd):
        cmd.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                         help="per-cell limit (default: Execute.timeout in nbgrader_config.py)")
        cmd.add_argument("--limit", type=float, default=None, metavar="S",
                         help="whole-notebook wall-clock limit per learner (default 600, "
                              "or $GRADCLIP_NOTEBOOK_LIMIT)")

    add("generate", cmd_generate, "build learner versions (nbgrader generate_assignment)") \
        .add_argument("lessons", nargs="*", metavar="LESSON", help="default: every lesson")
    add("release", cmd_release, "generate and release lessons to the exchange") \
        .add_argument("lessons", nargs="*", metavar="LESSON", help="default: every lesson")
    add("workspace", cmd_workspace,
        "generate lessons and copy them into workspace/ where you have no copy yet") \
        .add_argument("lessons", nargs="*", metavar="LESSON", help="default: every lesson")
    cmd = add("submit", cmd_submit, "hand in workspace/LESSON (nbgrader submit)")
    cmd.add_argument("lesson", metavar="LESSON")
    cmd.add_argument("--student", default=None, help="submit under this id (default: your user)")
    cmd.add_argument("--workspace", default=None, metavar="DIR", help="default: workspace/")
    add("collect", cmd_collect, "collect submissions from the exchange") \
        .add_argument("lesson", metavar="LESSON")
    cmd = add("autograde", cmd_autograde,
              "autograde submissions, one process per learner under a time limit")
    cmd.add_argument("lesson", metavar="LESSON")
    cmd.add_argument("--student", action="append", metavar="S",
                     help="only this learner (repeatable; default: every submission)")
    cmd.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="learners graded at a time, each in a sandbox of its own (default 1)")
    cmd.add_argument("--unsafe-no-sandbox", action="store_true",
                     help="grade without the sandbox where none can run (learner code then "
                          "runs as you: only for code you trust)")
    limits(cmd)
    cmd = add("feedback", cmd_feedback, "generate, check and release feedback HTML")
    cmd.add_argument("lesson", metavar="LESSON")
    cmd.add_argument("--no-release", action="store_true", help="keep it in build/feedback/")
    add("export", cmd_export, "write grades.csv with a needs_attention column") \
        .add_argument("--to", default=None, metavar="CSV", help="default: build/grades.csv")
    add("validate", cmd_validate, "run a notebook's visible tests; exit 1 if any fails") \
        .add_argument("notebook", metavar="NOTEBOOK")
    cmd = add("selfcheck", cmd_selfcheck,
              "grade your own notebook with the hidden tests (studying alone)")
    cmd.add_argument("notebook", metavar="NOTEBOOK")
    cmd.add_argument("--lesson", default=None, help="default: the notebook's file name")
    limits(cmd)
    cmd = add("sync", cmd_sync,
              "sync each lesson notebook with its jupytext twin (.ipynb <-> .py), clear outputs")
    cmd.add_argument("paths", nargs="*", metavar="PATH",
                     help="notebooks or their .py twins (default: every pair under lessons/)")
    cmd.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 and say where a pair disagrees")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        course = Course.at(args.course)
        return args.func(course, args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

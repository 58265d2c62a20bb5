"""The grading pipeline: nbgrader's own commands, one small step a module, gaps closed.

Each step drives nbgrader (`NbGraderAPI` in-process, or its command line in a subprocess
where isolation matters); none re-implements it. `python -m autograder` (cli.py) runs
them. The instructor's steps, in order:

    generate.generate      lessons/<id>/        -> build/release/<id>/ + gradebook
    release.release        build/release/<id>/  -> exchange outbound
    (learners: submit.submit  workspace/<id>/   -> exchange inbound)
    collect.collect        exchange inbound     -> build/submitted/<student>/<id>/
    autograde.autograde    build/submitted/     -> build/autograded/ + gradebook + report
    feedback.feedback      build/autograded/    -> build/feedback/ (checked) -> exchange
    export.export          gradebook + reports  -> grades.csv with `needs_attention`

Ordering rules (as nbgrader writes them beside its preprocessor lists):
- generate before release: release_assignment copies build/release/<id>/; and generate
  saves the source cells, hidden tests included, in the gradebook, which autograde needs
  to restore edited or deleted test cells. Re-generate after every change to a lesson.
- collect before autograde: autograde reads build/submitted/ only.
- autograde before feedback and export: both read what autograde wrote (gradebook,
  build/autograded/, build/reports/).
- within feedback, the leak check comes after generate_feedback and before
  release_feedback: nothing leaves build/feedback/ unchecked.
- export last: it joins nbgrader's CSV with the flags autograde recorded.
"""

from __future__ import annotations

from . import autograde, collect, export, feedback, generate, release, submit

INSTRUCTOR_STEPS = (
    generate.generate,
    release.release,
    collect.collect,
    autograde.autograde,
    feedback.feedback,
    export.export,
)
LEARNER_STEPS = (submit.submit,)

__all__ = ["INSTRUCTOR_STEPS", "LEARNER_STEPS"]

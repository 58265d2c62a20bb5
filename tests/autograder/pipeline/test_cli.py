"""`python -m autograder`: commands, exit statuses, and `validate` failing honestly."""

import pytest

from autograder.pipeline import cli

from . import synthetic
from .support import driver


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("release", "collect", "autograde", "feedback", "export", "submit",
                    "validate", "selfcheck", "workspace"):
        assert command in out


def test_unknown_lesson_is_an_error_with_the_list(tiny_course, capsys):
    assert cli.main(["--course", str(tiny_course.root), "collect", "99_nope"]) == 1
    assert "no lesson `99_nope`" in capsys.readouterr().err


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["autograde"])
    assert exit_.value.code == 2


@pytest.mark.slow
def test_validate_exits_nonzero_when_a_visible_test_fails(tiny_course, tmp_path):
    release = synthetic.read(tiny_course.release_dir(synthetic.LESSON) / "00_tiny.ipynb")
    answers = {**synthetic.SOLUTIONS, **synthetic.ANSWERS}
    good = synthetic.save(synthetic.submission(release, answers), tmp_path / "g" / "00_tiny.ipynb")
    bad = synthetic.save(synthetic.submission(release, {**answers, "halve": synthetic.WRONG["halve"]}),
                         tmp_path / "b" / "00_tiny.ipynb")
    passed = driver(tiny_course.root, "validate", str(good), check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = driver(tiny_course.root, "validate", str(bad), check=False)
    assert failed.returncode == 1
    assert "`halve(4)` is wrong" in failed.stdout  # the learner reads the test's message

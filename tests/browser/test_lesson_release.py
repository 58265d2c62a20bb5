"""A learner's first minutes with lesson 02 in JupyterLab 4, in a real browser.

The release version (no solutions, no hidden tests) built by `python -m autograder
workspace` opens with nbgrader's Validate button; Run All stops at the first unanswered
exercise; a correct answer typed into the first solution cell passes its visible test;
Validate reports the exercises still open and does not crash.
"""

from __future__ import annotations

import pytest

from .lab import errors_in, keep, output_text

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

LESSON = "02_global_vs_per_tensor"
NOTEBOOK = f"{LESSON}/{LESSON}.ipynb"
FIRST_EXERCISE = "global_l2_norm"
FIRST_TEST = "test_global_l2_norm"
# A learner's answer, written differently from the instructor's solution.
ANSWER = '''\
def global_l2_norm(grads):
    squares = [float((g.double() ** 2).sum()) for g in grads if g is not None]
    return math.sqrt(sum(squares))
'''


def test_learner_runs_answers_and_validates_lesson_02(lab, screenshot_dir):
    lab.open(NOTEBOOK, workspace="lesson02")
    page = lab.page

    # nbgrader's lab extension put its button on the notebook's toolbar
    validate = page.locator(".jp-NotebookPanel-toolbar .validate-button")
    assert validate.count() == 1 and validate.is_visible(), "no Validate button on the toolbar"
    assert validate.inner_text().strip() == "Validate"

    # Run All: the release stub raises, so the run stops at the first exercise's test
    lab.run_all()
    cells = lab.cells()
    solution = lab.index_of(FIRST_EXERCISE)
    test = lab.index_of(FIRST_TEST)
    assert "NotImplementedError" in cells[solution]["source"], (
        "the release's solution cell should hold the stub:\n" + cells[solution]["source"])
    errors = errors_in(cells)
    assert errors, "Run All raised nothing: is the release's stub missing?"
    first_error_cell, message = errors[0]
    assert first_error_cell == test, (
        f"the first error is in cell {first_error_cell} ({cells[first_error_cell]['grade_id']}),"
        f" expected the first exercise's test `{FIRST_TEST}` (cell {test}): {message}")
    # course.testing.call turns the stub's NotImplementedError into a sentence for the learner
    assert ("NotImplementedError" in message or "not implemented" in message.lower()), message
    # stop on error: nothing after the failing cell ran
    later = [c["index"] for c in cells[test + 1:] if c["execution_count"] is not None]
    assert not later, f"cells {later} ran after the error (Run All should stop there)"
    lab.show_output_end(test)
    lab.screenshot("1-run-all-stops-at-first-exercise")

    # the learner answers the first exercise and runs it and its visible test
    lab.set_source(solution, ANSWER)
    lab.run_cell(solution)
    lab.run_cell(test)
    cells = lab.cells()
    assert cells[solution]["execution_count"] is not None and not errors_in([cells[solution]])
    assert cells[test]["execution_count"] is not None, "the visible test did not run"
    assert not errors_in([cells[test]]), output_text(cells[test])
    assert "passed" in output_text(cells[test]), output_text(cells[test])
    lab.scroll_to(test, "center")
    lab.screenshot("2-visible-test-passes")

    # Validate saves the notebook, runs it server-side and lists the failing test cells
    validate.click()
    dialog = page.locator(".jp-Dialog", has=page.locator("#validation-message"))
    dialog.wait_for(timeout=150_000)
    body = page.locator("#validation-message")
    text = body.inner_text()
    classes = (body.get_attribute("class") or "").split()
    assert "validation-failed" in classes, f"classes {classes}:\n{text[:3000]}"
    assert "There was an error running the validate command" not in text, text[:3000]
    failed_sources = body.locator(".jp-RenderedText pre").all_inner_texts()[0::2]
    sources = {c["grade_id"]: c["source"] for c in cells if c["grade_id"]}
    failed_ids = [next((g for g, s in sources.items() if s.strip() == f.strip()), "?")
                  for f in failed_sources]
    assert failed_ids, text[:3000]
    assert FIRST_TEST not in failed_ids, f"the answered exercise still fails: {failed_ids}"
    assert "?" not in failed_ids, f"a failed cell that is not a test cell: {text[:3000]}"
    assert failed_ids[0] == "test_clip_by_global_norm", failed_ids
    assert "not implemented" in text.lower(), text[:3000]
    # show the first failure's error in the screenshot
    page.locator("#validation-message .jp-RenderedText").nth(1).evaluate(
        "el => el.scrollIntoView({block: 'end'})")
    shot = lab.screenshot("3-validate-dialog")
    keep(shot, screenshot_dir, "lesson02_release_validate")
    page.locator(".jp-Dialog .jp-mod-accept").click()

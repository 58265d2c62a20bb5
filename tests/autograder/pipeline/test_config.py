"""nbgrader_config.py: where things go, and what a release holds."""

import nbformat

from autograder.pipeline.course import REPO_ROOT, Course

from . import synthetic


def test_repository_config_layout():
    course = Course.at(REPO_ROOT)
    cfg = course.config.CourseDirectory
    assert cfg.course_id == "gradclip" and cfg.source_directory == "lessons"
    for step in ("release", "submitted", "autograded", "feedback"):
        assert cfg[f"{step}_directory"] == f"build/{step}"
    assert course.db_url == f"sqlite:///{REPO_ROOT / 'build' / 'gradebook.db'}"
    assert course.exchange_root == REPO_ROOT / "build" / "exchange"
    assert course.config.Execute.timeout > 0
    assert course.config.OverwriteCells.add_missing_cells is True
    # no displayed value is mistaken for partial credit
    assert "--InteractiveShell.ast_node_interactivity=none" in course.config.Execute.extra_arguments
    assert "*.py" in cfg.ignore  # a lesson's jupytext twin holds its solutions
    names = [p.__name__ for p in course.config.GenerateFeedback.preprocessors]
    assert names.index("GetGrades") < names.index("HideHiddenTests")


def test_release_holds_the_notebook_and_data_but_no_python(tiny_course):
    release = tiny_course.release_dir(synthetic.LESSON)
    outbound = tiny_course.exchange_root / "gradclip" / "outbound" / synthetic.LESSON
    for folder in (release, outbound):
        names = sorted(p.name for p in folder.rglob("*") if p.is_file())
        assert names == ["00_tiny.ipynb", "data.csv"], folder


def test_release_has_stubs_and_no_hidden_tests(tiny_course):
    text = (tiny_course.release_dir(synthetic.LESSON) / "00_tiny.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert synthetic.CANARY not in text and "return 2 * x" not in text
    nb = nbformat.reads(text, as_version=4)
    assert sum("raise NotImplementedError()" in c.source for c in nb.cells) == 2

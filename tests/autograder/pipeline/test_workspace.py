"""workspace: a learner's copy is never overwritten; what it lacks is copied in."""

from autograder.pipeline import workspace
from autograder.pipeline.course import scaffold


def test_populate_copies_only_what_is_missing(tmp_path):
    course = scaffold(tmp_path / "course")
    release = course.release_dir("01_x")
    release.mkdir(parents=True)
    (release / "01_x.ipynb").write_text("released")
    (release / "data.csv").write_text("1,2")
    first = workspace.populate(course, "01_x")
    assert sorted(p.name for p in first) == ["01_x.ipynb", "data.csv"]
    mine = course.workspace / "01_x" / "01_x.ipynb"
    mine.write_text("my work")
    (course.workspace / "01_x" / "data.csv").unlink()
    (release / "01_x.ipynb").write_text("released again, changed")
    second = workspace.populate(course, "01_x")
    assert [p.name for p in second] == ["data.csv"]
    assert mine.read_text() == "my work"


def test_config_stub_loads_the_course_config(tmp_path, monkeypatch):
    from nbgrader.apps import NbGrader

    course = scaffold(tmp_path / "course")
    stub = workspace.write_config_stub(course)
    stub.write_text(stub.read_text() + "\n# mine\n")
    assert workspace.write_config_stub(course).read_text().endswith("# mine\n")  # kept
    monkeypatch.chdir(stub.parent)  # as nbgrader's lab extensions load it
    app = NbGrader()
    app.config_file_paths.append(str(stub.parent))
    app.load_config_file()
    assert app.config.CourseDirectory.course_id == "gradclip"
    assert app.config.Exchange.root == str(course.root / "build" / "exchange")

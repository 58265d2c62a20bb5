"""Hostile submissions: graded beside honest ones in one run, they earn nothing they did not
solve (or are flagged with the reason), and reach nothing that is not theirs.

Each case is the released synthetic lesson (`00_tiny`) with hostile code in an answer cell
or an added cell, graded by `python -m autograder release/autograde --jobs 2/feedback/
export` over a temporary course beside honest controls. The hostile code solves nothing
(its answers are wrong), so any mark it gets was stolen; where an attack needs a path
(the course, the repository) it is written into the notebook, as a learner who knows the
layout would. Checked for every case: the honest controls keep exactly their scores; the
gradebook's definitions, the lessons, the course config, the grader's code (`autograder/`,
`course/`) and the others' feedback pages are unchanged; nothing the learners started is
left running; no file the hostile code tried to make on the host exists.

Attacks from the earlier review, and where each is stopped:
- hidden tests in the learner's interpreter (import the reference, read the checker's
  frame, monkeypatch comparisons / sys.modules / __import__ / settrace, a post_run_cell
  hook, a leftover `ref`): hidden tests run in the grading process (autograder/verdict).
- reading or writing what is not theirs (source notebook, classmates, gradebook, lessons,
  grader code, compile caches, feedback), detached processes, killing the driver, CUDA C
  calling system(): the bubblewrap sandbox (autograder/sandbox).
- a reply that makes the grader run code: course/wire.py (tests/course/test_wire.py).
- pipeline logic: hand-set scores flagged at export, per-learner reports, an honest
  `# BEGIN SOLUTION` comment, notebooks nbgrader refuses flagged on the learner.
"""

from __future__ import annotations

import codecs
import base64
import csv
import fcntl
import hashlib
import os
import secrets
import time
from pathlib import Path

import nbformat
import pytest

from autograder.pipeline import integrity, leaks, report
from autograder.pipeline.course import REPO_ROOT
from autograder.sandbox import slots
from autograder.sandbox.kernel import SLOT_LOCKS

from . import synthetic as s
from .support import driver, make_tiny_course

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

L = s.LESSON
SOLVED = {**s.SOLUTIONS, **s.ANSWERS}
WRONG = dict(s.WRONG)
HONEST = {"honest_full": s.AUTOGRADED_MAX, "honest_half": 3.0, "honest_comment": s.AUTOGRADED_MAX}


# -- the hostile code -------------------------------------------------------------------------
# placeholders: __COURSE__ (the course root), __REPO__ (this repository), __MARK__ (a
# random token: host files named with it must never appear)

STEAL_REFERENCE = r'''
import codecs, importlib, sys
sys.path[:0] = ["__REPO__", "__COURSE__"]
stolen = None
for name in ["".join(["auto", "grader"]) + ".reference.global_vs_per_tensor",
             "auto" + "grader.hidden.global_vs_per_tensor",
             ".".join(["tests", "autograder", "pipeline", "tiny_hidden"]),
             codecs.decode("nhgbtenqre.purpxf", "rot13")]:
    try:
        stolen = importlib.import_module(name)
    except Exception as exc:
        print(name, type(exc).__name__)
ref = globals().get("ref") or stolen          # a `ref` an earlier hidden cell left behind
if ref is not None and hasattr(ref, "double"):
    double = ref.double
'''

READ_THE_CHECKER = r'''
import gc, inspect, sys
def double(x):
    # the checker's frame: its locals hold the expected value when it runs in-process
    for frame in inspect.stack()[1:]:
        for key in ("expected", "want", "reference", "ref"):
            value = frame.frame.f_locals.get(key)
            if callable(value):
                return value(x)
            if isinstance(value, (int, float)):
                return value
    for obj in gc.get_objects():
        if callable(obj) and getattr(obj, "__name__", "") == "double" \
                and getattr(obj, "__module__", "") not in ("__main__", None):
            return obj(x)
    return x
'''

MONKEYPATCH = r'''
import builtins, math, sys, types
import numpy as np
import course.testing as ct
for name in dir(ct):
    if not name.startswith("_") and callable(getattr(ct, name)):
        setattr(ct, name, lambda *a, **k: True)
np.allclose = np.isclose = np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
math.isclose = lambda *a, **k: True
try:
    import torch
    torch.allclose = torch.equal = lambda *a, **k: True
    torch.testing.assert_close = lambda *a, **k: None
except Exception:
    pass
fake = types.ModuleType("autograder")
fake.checks = types.SimpleNamespace(same_as_reference=lambda *a, **k: None)
sys.modules["autograder"] = fake
sys.modules["autograder.checks"] = fake.checks
_real_import = builtins.__import__
def _import(name, *args, **kwargs):
    if name.startswith("autograder"):
        return fake
    return _real_import(name, *args, **kwargs)
builtins.__import__ = _import
def _tracer(frame, event, arg):
    if event == "return" and frame.f_code.co_name in ("_check", "same_as_reference"):
        frame.f_locals["got"] = frame.f_locals.get("expected")
    return _tracer
sys.settrace(_tracer)
try:
    ip = get_ipython()
    def _all_passed(result):
        result.error_in_exec = None
        result.error_before_exec = None
        print("test_double_hidden: passed\ntest_halve_hidden: passed")
    ip.events.register("post_run_cell", _all_passed)
    ip.set_custom_exc((BaseException,), lambda *a, **k: None)   # swallow every error
except Exception:
    pass
def double(x):
    return x
'''

REACH_OUT = r'''
import glob, os, sqlite3, shutil
COURSE, REPO, MARK = "__COURSE__", "__REPO__", "__MARK__"
found = {}
for path in [f"{COURSE}/lessons/00_tiny/00_tiny.ipynb", f"{COURSE}/lessons/00_tiny/00_tiny.py",
             f"{COURSE}/build/submitted/honest_full/00_tiny/00_tiny.ipynb",
             f"{COURSE}/build/gradebook.db", f"{REPO}/autograder/checks.py",
             f"{REPO}/tests/autograder/pipeline/tiny_hidden.py", "/etc/shadow", "/root/.bash_history"]:
    try:
        found[path] = len(open(path, "rb").read())
    except Exception as exc:
        found[path] = type(exc).__name__
print("read:", found)
try:  # the gradebook: my score up, a classmate's down, hidden tests "fixed" with a checksum
    db = sqlite3.connect(f"{COURSE}/build/gradebook.db")
    db.execute("update grade set manual_score = 100 where id like '%'")
    db.execute("update source_cell set source = 'pass', checksum = 'forged'")
    db.execute("update grade_cell set max_score = 1000")
    db.commit()
    print("gradebook: written")
except Exception as exc:
    print("gradebook:", type(exc).__name__)
targets = [f"{COURSE}/lessons/00_tiny/00_tiny.ipynb", f"{COURSE}/nbgrader_config.py",
           f"{COURSE}/build/reports/00_tiny.json",
           f"{COURSE}/build/verdicts/00_tiny/honest_full.json",
           f"{COURSE}/build/feedback/honest_full/00_tiny/00_tiny.html",
           f"{REPO}/autograder/gradclip-pwned-{MARK}.py", f"{REPO}/course/gradclip-pwned-{MARK}.py",
           f"{REPO}/build/kernels-cache/gradclip-pwned-{MARK}",
           os.path.expanduser(f"~root/.cache/gradclip/kernels/gradclip-pwned-{MARK}"),
           f"/tmp/gradclip-pwned-{MARK}"]
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("\n# pwned\n")
        print("wrote", path)
    except Exception as exc:
        print("write", path, type(exc).__name__)
for so in glob.glob(f"{REPO}/build/kernels-cache/*/kernel.so") + glob.glob("/root/.cache/gradclip/kernels/*/kernel.so"):
    try:
        shutil.copyfile("/bin/true", so)
    except Exception:
        pass
def double(x):
    return x
'''

DETACH = r'''
import os, subprocess, sys, time
MARK, COURSE = "__MARK__", "__COURSE__"
payload = (f"import time, os\n"
           f"for _ in range(600):\n"
           f"    time.sleep(0.5)\n"
           f"    for p in ('/tmp/gradclip-pwned-{MARK}', '{COURSE}/build/gradclip-pwned-{MARK}'):\n"
           f"        try: open(p, 'w').write('still here')\n"
           f"        except Exception: pass\n")
# a double fork into a new session
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", payload, f"gradclip-hostile-{MARK}"])
    os._exit(0)
# nohup, and a setsid'd shell loop
subprocess.Popen(["nohup", sys.executable, "-c", payload, f"gradclip-hostile-{MARK}"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
subprocess.Popen(["setsid", "sh", "-c", f"while true; do sleep 1; done # gradclip-hostile-{MARK}"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
def double(x):
    return x
'''

KILL_EVERYTHING = r'''
import os, signal
# the autograde driver, nbgrader, the kernel's parents: everything this uid can signal
for pid in [os.getppid(), 1]:
    try:
        os.kill(pid, signal.SIGKILL)
    except Exception as exc:
        print("kill", pid, type(exc).__name__)
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != os.getpid():
        try:
            os.kill(int(entry), signal.SIGKILL)
        except Exception:
            pass
os.kill(-1, signal.SIGKILL)
'''

CUDA_SYSTEM = r'''
import glob, os
import numpy as np
from kernels import RawKernel
MARK, REPO = "__MARK__", "__REPO__"
src = ('extern "C" __global__ void k(float* x) { system("touch /tmp/gradclip-pwned-' + MARK
       + ' ' + REPO + '/gradclip-pwned-' + MARK + '; kill -9 -1"); x[0] = 1.0f; }')
try:
    RawKernel(src, "k")((1,), (1,), (np.zeros(1, dtype=np.float32),))
    print("kernel ran (in the sandbox)")
except Exception as exc:
    print("kernel:", type(exc).__name__, str(exc)[:200])
# the shared compile caches: an honest learner's reference kernels replaced
for root in (f"{REPO}/build/kernels-cache", "/root/.cache/gradclip/kernels"):
    for so in glob.glob(f"{root}/*/kernel.so"):
        try:
            open(so, "wb").write(b"not a kernel")
        except Exception:
            pass
def double(x):
    return x
'''

WIRE_REPLY_RCE = r'''
import os, pickle, course.wire as w
MARK = "__MARK__"
class Boom:
    def __reduce__(self):
        return (os.system, (f"touch /tmp/gradclip-pwned-{MARK}",))
def evil_serve(request_stem, reply_stem):
    folder = os.path.dirname(reply_stem)
    evil = os.path.join(folder, "evil.pkl")
    open(evil, "wb").write(pickle.dumps(Boom()))
    node = {"$module": "numpy:load", "args": [evil], "kwargs": {"allow_pickle": True}}
    w.write(reply_stem, "reply", {"value": node}, {})
w.serve = evil_serve
def double(x):
    return x
'''

ENCODED_LEAK = r'''
import base64, codecs, glob, os
texts = []
for path in glob.glob("**/*.ipynb", recursive=True) + glob.glob("/opt/**/*.py", recursive=True):
    try:
        texts.append(open(path).read())
    except Exception:
        pass
texts += [str(x) for x in globals().get("In", [])]
for text in texts:
    for line in text.splitlines():
        if "hidden" in line.lower() or "canary" in line.lower():
            print(codecs.encode(line, "rot13"), base64.b64encode(line.encode()).decode())
def double(x):
    return x
'''


def _fill(code: str, course_root: Path, mark: str) -> str:
    return (code.replace("__COURSE__", str(course_root)).replace("__REPO__", str(REPO_ROOT))
            .replace("__MARK__", mark))


def _added(nb, *sources: str):
    nb.cells += [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


def class_of(release, course_root: Path, mark: str) -> dict:
    f = lambda code: _fill(code, course_root, mark)  # noqa: E731
    wrong_halve = {"halve": WRONG["halve"]}
    comment = {"double": "# BEGIN SOLUTION -- my own marker, honest\n" + s.SOLUTIONS["double"]
                         + "\n# END SOLUTION",
               "halve": s.SOLUTIONS["halve"], **s.ANSWERS}
    duplicate = s.submission(release, {"double": WRONG["double"], **wrong_halve})
    copy = nbformat.from_dict(dict(next(c for c in duplicate.cells
                                        if c.metadata.get("nbgrader", {}).get("grade_id") == "double")))
    duplicate.cells.append(copy)
    forged = s.submission(release, {"double": WRONG["double"], **wrong_halve})
    bonus = nbformat.v4.new_code_cell("print('bonus')")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus_points", "locked": False,
                                  "points": 100, "schema_version": 3, "solution": False,
                                  "task": False}
    forged.cells.append(bonus)
    for cell in forged.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "double":
            meta.update(grade=True, points=50)
    unmarked = s.submission(release, {"double": WRONG["double"], **wrong_halve})
    for cell in unmarked.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "test_double_hidden":
            meta["grade"] = False  # nbgrader stopped on "Inconsistent checksums"
    return {
        "honest_full": s.submission(release, SOLVED),
        "honest_half": s.submission(release, {"double": s.SOLUTIONS["double"], **wrong_halve}),
        "honest_comment": s.submission(release, comment),
        # the reference by import, a leftover `ref`, the checker's frame, then print (ROT13,
        # base64) every hidden-test line the kernel can find
        "steals_reference": s.submission(release, {"double": f(ENCODED_LEAK + READ_THE_CHECKER
                                                               + STEAL_REFERENCE), **wrong_halve}),
        "monkeypatches": s.submission(release, {"double": f(MONKEYPATCH), **wrong_halve}),
        "reaches_out": s.submission(release, {"double": f(REACH_OUT), **wrong_halve}),
        "detaches": s.submission(release, {"double": f(DETACH), **wrong_halve}),
        "kills_all": _added(s.submission(release, {"double": WRONG["double"], **wrong_halve}),
                            f(KILL_EVERYTHING)),
        "cuda_system": s.submission(release, {"double": f(CUDA_SYSTEM), **wrong_halve}),
        "wire_rce": s.submission(release, {"double": f(WIRE_REPLY_RCE), **wrong_halve}),
        "hand_scored": s.submission(release, {"double": WRONG["double"], **wrong_halve}),
        "duplicate_ids": duplicate,
        "forged_points": forged,
        "unmarks_test": unmarked,
    }


HOSTILE_EARNED = {name: 0.0 for name in (
    "steals_reference", "monkeypatches", "reaches_out", "detaches", "kills_all",
    "cuda_system", "wire_rce", "hand_scored", "duplicate_ids", "forged_points",
    "unmarks_test")}
NOT_A_NOTEBOOK = "not_a_notebook"


# -- evidence -------------------------------------------------------------------------------------
def tree_hash(*roots: Path) -> str:
    h = hashlib.sha256()
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            if "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            h.update(str(p).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def host_marks(mark: str) -> list[str]:
    candidates = [Path("/tmp"), REPO_ROOT, REPO_ROOT / "autograder", REPO_ROOT / "course",
                  REPO_ROOT / "build" / "kernels-cache", Path("/root/.cache/gradclip/kernels")]
    return [str(p) for d in candidates if d.is_dir() for p in d.glob(f"*{mark}*")]


def leftover_processes(course_root: Path, mark: str) -> list[str]:
    """Processes the class left: any mentioning the course or the token, and any of a
    sandbox uid whose slot nobody holds (a held slot is another run's live sandbox)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if mark in cmdline or str(course_root) in cmdline or cwd.startswith(str(course_root)):
            found.append(f"{entry.name}: {cmdline[:120]} (cwd {cwd})")
    if os.geteuid() == 0:
        for slot in range(slots.SLOTS):
            lock = SLOT_LOCKS / f"slot-{slot}.lock"
            if not lock.exists():
                continue
            with open(lock, "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use by a live sandbox (this run's are all closed)
                try:
                    found += [f"{pid}: uid {slots.BASE_UID + slot}"
                              for pid in slots.processes_of(slots.BASE_UID + slot)]
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
    return found


def feedback_pages(course) -> dict[str, str]:
    pages = {}
    for p in sorted(course.build_dir.rglob(f"{L}.html")):
        pages[str(p.relative_to(course.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return pages


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    mark = secrets.token_hex(8)
    course = make_tiny_course(tmp_path_factory.mktemp("hostile"))
    driver(course.root, "release", L)
    release = s.read(course.release_dir(L) / f"{L}.ipynb")
    students = class_of(release, course.root, mark)
    for student, nb in students.items():
        s.save(nb, course.submitted_dir(student, L) / f"{L}.ipynb")
    bad = course.submitted_dir(NOT_A_NOTEBOOK, L)
    bad.mkdir(parents=True)
    (bad / f"{L}.ipynb").write_bytes(b"\x89PNG not a notebook {")
    grader_trees = (course.lessons_dir, course.root / "nbgrader_config.py",
                    REPO_ROOT / "autograder", REPO_ROOT / "course")
    before = {"definitions": integrity.definitions_hash(course, L),
              "trees": tree_hash(*grader_trees)}
    autograde = driver(course.root, "autograde", L, "--jobs", "2", "--cell-timeout", "20",
                       "--limit", "120", check=False)
    # a learner who wrote a score into the gradebook (as they could without the sandbox)
    with course.gradebook() as gb:
        submission = gb.find_submission(L, "hand_scored")
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name == "test_double_hidden":
                    grade.manual_score = 3.0
        gb.db.commit()
    feedback = driver(course.root, "feedback", L, check=False)
    pages_after_feedback = feedback_pages(course)
    time.sleep(3)  # a detached process that survived would act now
    export = driver(course.root, "export", "--to", str(course.root / "grades.csv"), check=False)
    rows = {}
    if (course.root / "grades.csv").is_file():
        with (course.root / "grades.csv").open() as fh:
            rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    after = {"definitions": integrity.definitions_hash(course, L),
             "trees": tree_hash(*grader_trees)}
    return dict(course=course, mark=mark, runs=(autograde, feedback, export),
                results=report.load(course, L), rows=rows, before=before, after=after,
                pages_after_feedback=pages_after_feedback, pages_end=feedback_pages(course),
                leftovers=leftover_processes(course.root, mark), marks=host_marks(mark),
                students=sorted([*students, NOT_A_NOTEBOOK]))


# -- the whole run ------------------------------------------------------------------------------
def test_every_step_exits_zero_and_every_learner_is_reported(graded):
    for run in graded["runs"]:
        assert run.returncode == 0, f"{run.args}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert sorted(graded["results"]) == graded["students"]
    assert sorted(graded["rows"]) == graded["students"]  # nobody vanished from grades.csv


def test_honest_controls_keep_exactly_their_scores(graded):
    for student, expected in HONEST.items():
        result = graded["results"][student]
        assert result.score == expected and not result.flags, (student, result)
        row = graded["rows"][student]
        assert float(row["score"]) == expected and row["needs_attention"] == "", (student, row)


def test_no_hostile_submission_gets_marks_it_did_not_earn(graded):
    for student, earned in HOSTILE_EARNED.items():
        result, row = graded["results"][student], graded["rows"][student]
        flagged = bool(row["needs_attention"])
        if row["score"] != "" and float(row["score"]) > earned:
            assert flagged, (student, row)
        if result.score is not None and result.score > earned:
            assert result.flags, (student, result)
    # nothing here passes a hidden test without a flag saying why
    for student in HOSTILE_EARNED:
        if graded["rows"][student]["needs_attention"] == "":
            assert float(graded["rows"][student]["score"]) == 0.0, student


def test_the_gradebook_lessons_and_grader_code_are_unchanged(graded):
    assert graded["after"]["definitions"] == graded["before"]["definitions"]
    assert graded["after"]["trees"] == graded["before"]["trees"]


def test_feedback_pages_are_not_changed_after_feedback(graded):
    assert graded["pages_end"] == graded["pages_after_feedback"]
    assert any("honest_full" in p for p in graded["pages_end"])


def test_nothing_is_left_running(graded):
    assert graded["leftovers"] == []


def test_no_file_appears_on_the_host(graded):
    assert graded["marks"] == []
    assert not list(graded["course"].root.rglob(f"*{graded['mark']}*"))


# -- per case ---------------------------------------------------------------------------------
def _flags(graded, student) -> str:
    return graded["rows"][student]["needs_attention"]


def test_hidden_tests_never_run_in_the_learners_interpreter(graded):
    for student in ("steals_reference", "monkeypatches"):
        assert graded["results"][student].score == 0.0, (student, graded["results"][student])
        assert float(graded["rows"][student]["score"]) == 0.0


def test_a_reply_cannot_make_the_grader_run_code(graded):
    assert graded["results"]["wire_rce"].score == 0.0


def test_a_learner_who_kills_everything_costs_only_themselves(graded):
    result = graded["results"]["kills_all"]
    assert result.score in (0.0, None)
    if result.score is None:
        assert any(f.ungraded and "kernel died" in f.reason for f in result.flags)
    # the others were graded in the same run (see the honest controls)


def test_detached_processes_and_cuda_system_stay_in_the_sandbox(graded):
    assert graded["results"]["detaches"].score == 0.0
    assert graded["results"]["cuda_system"].score in (0.0, None)


def test_a_hand_set_score_is_flagged_at_export(graded):
    assert "score set by hand" in _flags(graded, "hand_scored")


def test_notebooks_nbgrader_refuses_are_flagged_on_the_learner(graded):
    for student in (NOT_A_NOTEBOOK, "duplicate_ids", "forged_points", "unmarks_test"):
        result = graded["results"][student]
        assert not any(f.error for f in result.flags), (student, result.flags)
        if result.score is None:
            assert any(f.ungraded for f in result.flags), student
        else:
            assert result.score <= 0.0 or result.flags, (student, result)
    assert graded["rows"][NOT_A_NOTEBOOK]["score"] == ""
    assert "cannot be read as a notebook" in _flags(graded, NOT_A_NOTEBOOK)


def test_an_honest_begin_solution_comment_does_not_cost_the_class_its_feedback(graded):
    course = graded["course"]
    for student in HONEST:
        assert (course.feedback_dir(student, L) / f"{L}.html").is_file(), student
    assert "feedback not released" not in _flags(graded, "honest_comment")


def test_feedback_shows_no_hidden_test_even_re_encoded(graded):
    course = graded["course"]
    source = s.read(course.lessons_dir / L / f"{L}.ipynb")
    lines = leaks.hidden_lines(source, "import math")
    encoded = [codecs.encode(s.CANARY, "rot13"), base64.b64encode(s.CANARY.encode()).decode()[:12]]
    for page in course.build_dir.rglob(f"{L}.html"):
        text = page.read_text()
        student = page.parent.parent.name
        own = "\n".join(c.source for c in s.read(course.submitted_dir(student, L) / f"{L}.ipynb").cells)
        assert s.CANARY not in text, page
        assert leaks.find_leaks(text, lines, is_html=True, own=own) == [], page
        for e in encoded:
            assert e not in text, (page, e)

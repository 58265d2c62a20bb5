"""Hidden tests by grade id: `@hidden_test` registers one; `run_probe` runs it to a Verdict.

A lesson's hidden tests live in `autograder/hidden/<module>.py`, where `<module>` is the
lesson id without its number (`02_global_vs_per_tensor` -> `global_vs_per_tensor`, as for
`autograder/reference/`). Each is a function of `(learner, rng)` that raises
AssertionError with a message for the learner when the submission is wrong:

    @hidden_test("test_global_l2_norm_hidden")
    def global_l2_norm(learner, rng):
        f = learner.function("global_l2_norm")
        ...

The notebook's hidden test cell only names it (`run_hidden_test("<grade id>", globals())`):
its code is here, out of the learner's reach, and its points come from the verdict.
"""

from __future__ import annotations

import importlib
import os
import secrets
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .learner import Learner, LearnerError, NoAnswer

Probe = Callable[[Learner, np.random.Generator], None]
_PROBES: dict[str, tuple[str, Probe]] = {}  # grade id -> (module, probe)


def hidden_test(grade_id: str) -> Callable[[Probe], Probe]:
    """Register `probe` as the hidden test of the test cell with `grade_id`."""

    def register(probe: Probe) -> Probe:
        module = probe.__module__
        known = _PROBES.get(grade_id)
        if known is not None and known[0] != module:
            raise ValueError(f"hidden test `{grade_id}` is defined twice: in {known[0]} and {module}")
        _PROBES[grade_id] = (module, probe)
        return probe

    return register


#: `lesson=module,lesson=module`: hidden tests of lessons outside this repository (a
#: course's own lesson, the tests' synthetic one), importable by the grading process.
MODULES_ENV = "GRADCLIP_HIDDEN_MODULES"


def _overrides() -> dict[str, str]:
    pairs = [p.split("=", 1) for p in os.environ.get(MODULES_ENV, "").split(",") if "=" in p]
    return {k.strip(): v.strip() for k, v in pairs}


def module_for(lesson_id: str) -> str:
    """`autograder.hidden.<lesson id without its number>` (or as `GRADCLIP_HIDDEN_MODULES`
    says for that lesson)."""
    override = _overrides().get(lesson_id)
    if override:
        return override
    prefix, _, rest = lesson_id.partition("_")
    if not prefix.isdigit() or not rest:
        raise ValueError(f"`{lesson_id}` is not a lesson id (NN_name)")
    return f"autograder.hidden.{rest}"


def probe_for(lesson_id: str, grade_id: str) -> Probe:
    """The registered hidden test `grade_id` of `lesson_id`; KeyError naming both if none."""
    module = module_for(lesson_id)
    importlib.import_module(module)
    found = _PROBES.get(grade_id)
    if found is None or found[0] != module:
        raise KeyError(f"no hidden test `{grade_id}` in {module}")
    return found[1]


def probes_of(lesson_id: str) -> dict[str, Probe]:
    module = module_for(lesson_id)
    importlib.import_module(module)
    return {gid: probe for gid, (mod, probe) in _PROBES.items() if mod == module}


class SeededGenerator(np.random.Generator):
    """A numpy Generator that remembers its seed (quoted in the verdict record)."""

    def __init__(self, seed: int):
        super().__init__(np.random.PCG64(seed))
        self.seed = seed


def fresh_rng(seed: int | None = None) -> SeededGenerator:
    """Seeded from the OS unless `seed` is given: hidden tests see new inputs each time."""
    return SeededGenerator(secrets.randbits(32) if seed is None else int(seed))


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hidden test, decided outside the learner's process."""

    grade_id: str
    passed: bool
    message: str  # for the learner: what went wrong ('' when passed)
    seed: int
    seconds: float
    error_type: str = ""  # AssertionError for a failed check; another name for a grader fault

    def to_json(self) -> dict:
        return dict(self.__dict__)


def run_probe(lesson_id: str, grade_id: str, learner: Learner, *,
              seed: int | None = None) -> Verdict:
    """Run hidden test `grade_id` against `learner`; a Verdict, whatever happens."""
    rng = fresh_rng(seed)
    start = time.perf_counter()
    try:
        probe = probe_for(lesson_id, grade_id)
        probe(learner, rng)
    except (AssertionError, NoAnswer) as exc:
        return Verdict(grade_id, False, _first_lines(str(exc)) or "a check failed", rng.seed,
                       time.perf_counter() - start, "AssertionError")
    except LearnerError as exc:
        return Verdict(grade_id, False, f"your code raised {exc}", rng.seed,
                       time.perf_counter() - start, "AssertionError")
    except NotImplementedError:
        return Verdict(grade_id, False, "not implemented yet", rng.seed,
                       time.perf_counter() - start, "AssertionError")
    except Exception as exc:  # noqa: BLE001 - a learner's exception re-raised, or a fault
        # a builtin exception re-raised from the learner's side that no check caught
        return Verdict(grade_id, False, _first_lines(f"your code raised {type(exc).__name__}: "
                                                     f"{exc}"), rng.seed,
                       time.perf_counter() - start, type(exc).__name__ + "|" +
                       traceback.format_exc(limit=3).splitlines()[-1][:200])
    return Verdict(grade_id, True, "", rng.seed, time.perf_counter() - start)


def _first_lines(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."


def run_hidden_test(grade_id: str, namespace: dict) -> None:
    """What a hidden test cell runs in the instructor's own notebook (trusted): the hidden
    test on the notebook's own definitions, raising AssertionError if it fails.

    When a submission is graded this cell is never sent to the learner's kernel: the
    grading process runs the same hidden test against the sandboxed kernel instead.
    """
    from .learner import InProcessLearner
    from .static import submission_code_from_namespace

    lesson_id = namespace.get("__gradclip_lesson__") or _lesson_of(grade_id)
    source, answers = submission_code_from_namespace(namespace, lesson_id)
    learner = InProcessLearner(namespace, source=source, answers=answers)
    verdict = run_probe(lesson_id, grade_id, learner)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(f"{grade_id}: passed")


def _lesson_of(grade_id: str) -> str:
    """The lesson whose hidden tests register `grade_id` (searched across lessons)."""
    from .. import cells

    for lesson_id in [*_overrides(), *cells.lesson_ids()]:
        try:
            if grade_id in probes_of(lesson_id):
                return lesson_id
        except ModuleNotFoundError:
            continue
    raise KeyError(f"no lesson registers the hidden test `{grade_id}`")

"""Hidden tests decided outside the learner's process.

- `registry`: `@hidden_test(grade_id)` registers a hidden test; `run_probe` runs one to a
  `Verdict`; `run_hidden_test` is what a hidden test cell runs in the instructor's notebook.
- `learner`: the learner's functions and values, reached as data (`KernelLearner` in a
  sandboxed kernel, `InProcessLearner` for trusted code).
- `execute`: nbgrader's Execute preprocessor with hidden test cells run here.
- `record`: verdicts saved where the sandbox cannot write.
- `static`: checks that read the submitted code instead of running it.
"""

from .learner import InProcessLearner, KernelLearner, Learner, LearnerError, NoAnswer
from .registry import Verdict, fresh_rng, hidden_test, run_hidden_test, run_probe

__all__ = ["InProcessLearner", "KernelLearner", "Learner", "LearnerError", "NoAnswer",
           "Verdict", "fresh_rng", "hidden_test", "run_hidden_test", "run_probe"]

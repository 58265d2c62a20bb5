"""Suite-wide set-up."""

import os

from tests.autograder.pipeline import synthetic

# The synthetic lesson's hidden tests, for the grading processes the tests start.
os.environ.setdefault("GRADCLIP_HIDDEN_MODULES", f"{synthetic.LESSON}={synthetic.HIDDEN_MODULE}")

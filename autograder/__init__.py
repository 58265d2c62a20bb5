"""Reference implementations, hidden-test checks and the grading driver over nbgrader."""

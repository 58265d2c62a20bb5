"""Hidden tests, one module per lesson (named as in `autograder/reference/`).

Each function registered with `autograder.verdict.hidden_test(grade_id)` is the hidden
test of the notebook cell with that grade id. It runs in the grading process, never in the
learner's kernel: it picks fresh inputs, calls the learner's functions through a
`Learner` (data in, data out), compares with the reference, and raises AssertionError
with a message for the learner when the submission is wrong.
"""

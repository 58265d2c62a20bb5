"""gradclip's course package: what lessons import (plots, widgets, tiny models, data).

It never imports `autograder`: a learner's environment holds no solutions.
"""

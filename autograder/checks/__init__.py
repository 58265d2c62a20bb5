"""What hidden tests use (in the grading process): inputs, comparisons, numeric answers.

- `inputs`: `fresh_rng`, `random_shape`, `random_grads`;
- `compare`: `describe`, `same_as_reference`, `same_as_one_of`, `same_in_place`;
- `answers`: `assert_answer`;
- and `course.testing`'s assertions, re-exported (`assert_close`, `call`, ...).
"""

from course.testing import (  # noqa: F401 - re-exported for hidden tests
    as_float64,
    assert_builtins_intact,
    assert_close,
    assert_raises,
    assert_scalar,
    assert_type,
    assert_unchanged,
    call,
    snapshot,
)

from .answers import assert_answer  # noqa: F401
from .compare import describe, same_as_one_of, same_as_reference, same_in_place  # noqa: F401
from .inputs import SeededGenerator, fresh_rng, random_grads, random_shape  # noqa: F401

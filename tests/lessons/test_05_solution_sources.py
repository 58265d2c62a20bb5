"""Lesson 05's kernel solutions are the reference CUDA sources in autograder/cuda/.

`autograder/cuda/grad_clip.cu` is the one source of the three kernels (nvcc compiles it,
the reference and the benchmarks cut their kernels from it); the lesson's solution cells
hold copies of them, which this test keeps equal.
"""

from __future__ import annotations

import pytest

from autograder import cells
from autograder.reference import three_kernels as ref

LESSON = "05_three_kernels"


def solution_value(exercise_id: str) -> str:
    nb = cells.load(LESSON)
    source = nb.cells[cells.exercises(nb)[exercise_id].solution_index].source
    namespace: dict = {}
    exec(compile(source, f"<solution cell {exercise_id}>", "exec"), namespace)  # noqa: S102
    return namespace[exercise_id]


@pytest.mark.parametrize("variable, kernel", sorted(ref.KERNEL_NAMES.items()))
def test_solution_cell_is_the_reference_kernel(variable, kernel):
    ours = solution_value(variable).strip("\n").splitlines()
    theirs = ref.kernel_source(kernel, ref.source()).strip("\n").splitlines()
    for number, (a, b) in enumerate(zip(ours, theirs), 1):
        assert a == b, (
            f"lessons/{LESSON}: the solution cell `{variable}` differs from `{kernel}` in "
            f"autograder/cuda/grad_clip.cu at line {number} of the kernel:\n  cell: {a!r}\n"
            f"  .cu:  {b!r}\nthe .cu file is the source: copy the kernel from it")
    assert len(ours) == len(theirs), (
        f"lessons/{LESSON}: the solution cell `{variable}` has {len(ours)} line(s), `{kernel}` "
        f"in autograder/cuda/grad_clip.cu {len(theirs)}: copy the kernel from the .cu file")

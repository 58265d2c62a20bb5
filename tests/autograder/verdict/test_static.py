"""autograder.verdict.static: rules read from the learner's code, however it is spelled."""

from __future__ import annotations

import nbformat

from autograder.verdict.static import dynamic_lookups, forbidden_uses, submission_code

TORCH_OWN = {"clip_grad_norm_", "get_total_norm"}


def names(source):
    return [u.name for u in forbidden_uses(source, TORCH_OWN)]


def test_an_attribute_an_alias_and_a_string_are_found():
    assert names("torch.nn.utils.clip_grad_norm_(ps, 1.0)") == ["clip_grad_norm_"]
    assert names("from torch.nn.utils import get_total_norm as t\nt(ps)") == ["get_total_norm"]
    assert names("import torch.nn.utils as u\ngetattr(u, 'clip_grad_norm_')(ps, 1)") == \
        ["clip_grad_norm_"]


def test_the_learners_own_function_of_that_name_and_docstrings_are_not_uses():
    source = ('def clip_grad_norm_(parameters, max_norm):\n'
              '    """Like torch.nn.utils.clip_grad_norm_ (parameters, max_norm)."""\n'
              '    return clip_grad_norm_helper(parameters)\n'
              'clip_grad_norm_(ps, 0.5)\n')
    assert names(source) == []


def test_a_line_is_quoted_for_the_learner():
    (use,) = forbidden_uses("x = 1\ny = torch.nn.utils.get_total_norm(g)\n", TORCH_OWN)
    assert use.line == 2 and "get_total_norm(g)" in str(use)


def test_computed_lookups_are_listed_and_literal_getattr_is_not():
    found = [u.name for u in dynamic_lookups(
        "getattr(m, 'weight')\ngetattr(m, 'clip_' + 'grad_norm_')\neval('1')\n"
        "import importlib\n__import__('torch')\n")]
    assert found.count("getattr") == 1 and {"eval", "importlib", "__import__"} <= set(found)


def test_unparsable_code_has_no_uses():
    assert forbidden_uses("def f(:\n", TORCH_OWN) == [] and dynamic_lookups("def f(:") == []


def code(source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def test_submission_code_is_the_learners_cells_not_the_lessons():
    lesson = nbformat.v4.new_notebook(cells=[
        code("demo = torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)"),
        code("def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION",
             grade_id="f", solution=True, grade=False, locked=False),
        code("assert f() is None", grade_id="test_f", grade=True, solution=False, locked=True),
    ])
    submitted = nbformat.v4.new_notebook(cells=[
        code("demo = torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)"),   # lesson content
        code("def f():\n    return g()", grade_id="f", solution=True, grade=False, locked=False),
        code("from torch.nn.utils import get_total_norm as g"),               # added by the learner
        code("assert f() is None", grade_id="test_f", grade=True, solution=False, locked=True),
    ])
    source, answers = submission_code(submitted, lesson)
    assert "demo =" not in source and "get_total_norm as g" in source and "return g()" in source
    assert "assert f()" not in source
    assert answers == {"f": "def f():\n    return g()"}

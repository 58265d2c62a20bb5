"""autograder.verdict.learner: the learner's functions reached as data, behaving as if local."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.verdict import InProcessLearner, LearnerError, NoAnswer
from course import wire


def learner_with(source: str) -> InProcessLearner:
    namespace: dict = {"__name__": "__main__", "torch": torch, "np": np}
    exec(source, namespace)  # noqa: S102 - a learner's answer cell
    return InProcessLearner(namespace)


def params(*grads):
    out = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = None if g is None else torch.tensor(g)
        out.append(p)
    return out


def test_return_values_arrive_as_new_objects_of_the_same_kind():
    f = learner_with("def f(x):\n    return [x * 2, None, (1, 2.5), {'k': np.arange(3)}]").function("f")
    got = f(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.equal(got[0], torch.tensor([2.0, 4.0], dtype=torch.float64))
    assert got[1] is None and got[2] == (1, 2.5) and np.array_equal(got[3]["k"], np.arange(3))


def test_in_place_changes_come_back_into_the_callers_objects():
    f = learner_with("def scale_(ps):\n    for p in ps:\n        if p.grad is not None:\n"
                     "            p.grad.mul_(0.5)\n").function("scale_")
    ps = params([2.0, 4.0], None)
    grad_object = ps[0].grad
    f(ps)
    assert ps[0].grad is grad_object and torch.equal(ps[0].grad, torch.tensor([1.0, 2.0]))
    assert ps[1].grad is None


def test_a_replaced_grad_is_a_new_object_on_the_callers_side_too():
    f = learner_with("def scale_(ps):\n    for p in ps:\n        p.grad = p.grad * 0.5\n").function("scale_")
    ps = params([2.0, 4.0])
    grad_object = ps[0].grad
    f(ps)
    assert ps[0].grad is not grad_object and torch.equal(ps[0].grad, torch.tensor([1.0, 2.0]))


def test_a_generator_argument_is_iterated_once_and_its_items_still_reflect():
    f = learner_with("def zero_(ps):\n    ps = list(ps)\n    for p in ps:\n"
                     "        p.grad.zero_()\n    return len(list(ps))\n").function("zero_")
    ps = params([1.0, 1.0], [3.0, 3.0])
    assert f(p for p in ps) == 2
    assert all(torch.equal(p.grad, torch.zeros(2)) for p in ps)
    twice = learner_with("def n(ps):\n    return len(list(ps)) + len(list(ps))").function("n")
    assert twice(iter(params([1.0, 1.0]))) == 1  # a generator can be consumed only once


def test_mutating_an_input_shows_as_a_changed_input():
    f = learner_with("def bad(xs):\n    xs[0].mul_(3)\n    return xs\n").function("bad")
    xs = [torch.ones(2)]
    f(xs)
    assert torch.equal(xs[0], torch.full((2,), 3.0))


def test_learner_exceptions_keep_their_builtin_type_or_become_learner_errors():
    learner = learner_with("def v(x):\n    raise ValueError('max_norm must be > 0')\n"
                           "class Mine(Exception):\n    pass\n"
                           "def m():\n    raise Mine('boom')\n")
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        learner.function("v")(1)
    with pytest.raises(LearnerError, match="Mine: boom"):
        learner.function("m")()


def test_missing_names_and_values_that_cannot_travel_say_so():
    learner = learner_with("x = 3.5\nnot_a_function = 1\n"
                           "def returns_code():\n    return lambda: 0\n")
    assert learner.value("x") == 3.5
    with pytest.raises(NoAnswer, match="`nope` is not defined"):
        learner.function("nope")(1)
    with pytest.raises(NoAnswer, match="should be a function"):
        learner.function("not_a_function")()
    assert isinstance(learner.function("returns_code")(), wire.Opaque)


def test_a_built_module_travels_with_its_parameters_and_grads():
    model = wire.build("torch.nn.Linear", 3, 2)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    f = learner_with("def clip_(m):\n    for p in m.parameters():\n        p.grad.mul_(0.25)\n"
                     "    return sum(p.numel() for p in m.parameters())\n").function("clip_")
    weight_before = model.weight.detach().clone()
    assert f(model) == 8
    assert torch.equal(model.weight, weight_before)
    assert all(torch.equal(p.grad, torch.full_like(p, 0.25)) for p in model.parameters())


def test_requires_grad_travels_both_ways():
    model = wire.build("torch.nn.Linear", 2, 2)
    model.bias.requires_grad_(False)
    f = learner_with("def freeze(m):\n    was = [p.requires_grad for p in m.parameters()]\n"
                     "    m.weight.requires_grad_(False)\n    return was\n").function("freeze")
    assert f(model) == [True, False]
    assert model.weight.requires_grad is False and model.bias.requires_grad is False

"""Hidden tests of lesson 02 (global vs per-tensor clipping), run outside the learner's kernel."""

from __future__ import annotations

import math

import torch

from .. import checks
from ..reference import global_vs_per_tensor as ref
from ..verdict import hidden_test
from ..verdict.static import dynamic_lookups, forbidden_uses

DTYPES = (torch.float32, torch.float64)


@hidden_test("test_global_l2_norm_hidden")
def global_l2_norm(learner, rng):
    f = learner.function("global_l2_norm")
    for dtype in DTYPES:
        for _ in range(25):
            grads = checks.random_grads(rng, dtype=dtype)
            checks.same_as_reference(f, ref.global_l2_norm, (grads,), name="global_l2_norm")
    edge_cases = [
        [], [None], [None, None],
        [torch.zeros(3, 2)],
        [torch.tensor(2.0), torch.tensor([-3.0])],           # a 0-dim tensor counts too
        [torch.full((4, 5), 1e15), torch.ones(3)],            # huge
        [torch.full((6,), 1e-15), None],                      # tiny
        [torch.tensor([1.0, float("inf")]), torch.ones(2)],   # inf makes the norm inf
        [torch.tensor([float("nan"), 1.0])],                  # NaN makes it NaN
        [torch.ones(1000, 10)],                               # many elements
    ]
    for grads in edge_cases:
        checks.same_as_reference(f, ref.global_l2_norm, (grads,), name="global_l2_norm")


@hidden_test("test_clip_by_global_norm_hidden")
def clip_by_global_norm(learner, rng):
    f = learner.function("clip_by_global_norm")
    rules = [ref.clip_by_global_norm, ref.clip_by_global_norm_torch_rule]  # +1e-6 accepted
    for dtype in DTYPES:
        for _ in range(20):
            grads = checks.random_grads(rng, dtype=dtype)
            norm = ref.global_l2_norm(grads)
            for max_norm in (norm * rng.uniform(0.05, 0.95), norm * rng.uniform(1.05, 20.0),
                             float(10.0 ** rng.uniform(-3, 3))):
                checks.same_as_one_of(
                    f, rules, (grads, max_norm), name="clip_by_global_norm",
                    hint="Scale every tensor by max_norm / global norm, only when the norm "
                         "exceeds max_norm.")
    at_max = [torch.tensor([3.0, 4.0], dtype=torch.float64)]
    edge_cases = [
        ([], 1.0), ([None, None], 1.0), ([torch.zeros(2, 2), None], 1.0),
        (at_max, 5.0),                                             # exactly at max_norm
        ([torch.full((3, 3), 1e15), torch.ones(2)], 0.7),          # huge norm
        ([torch.full((3,), 1e-12)], 0.7),                          # tiny norm: unchanged
        ([torch.tensor([1.0, float("inf")]), torch.ones(2)], 0.7), # inf
        ([torch.tensor([float("nan"), 1.0])], 0.7),                # NaN
    ]
    for grads, max_norm in edge_cases:
        checks.same_as_one_of(f, rules, (grads, max_norm), name="clip_by_global_norm")


@hidden_test("test_clip_per_tensor_hidden")
def clip_per_tensor(learner, rng):
    f = learner.function("clip_per_tensor")
    rules = [ref.clip_per_tensor, ref.clip_per_tensor_torch_rule]
    for dtype in DTYPES:
        for _ in range(20):
            grads = checks.random_grads(rng, dtype=dtype)
            norms = [ref.global_l2_norm([g]) for g in grads if g is not None] or [1.0]
            for max_norm in (float(sorted(norms)[len(norms) // 2]), float(min(norms)) * 0.5,
                             float(max(norms)) * 2.0):
                checks.same_as_one_of(
                    f, rules, (grads, max_norm), name="clip_per_tensor",
                    hint="Clip each tensor by its own norm; leave tensors under max_norm alone.")
    edge_cases = [([], 1.0), ([None], 1.0), ([torch.zeros(4), torch.ones(4)], 1.0),
                  ([torch.full((2, 2), 1e15), torch.full((2,), 1e-12)], 1.0),
                  ([torch.tensor([3.0, 4.0]), torch.tensor([6.0, 8.0])], 5.0)]
    for grads, max_norm in edge_cases:
        checks.same_as_one_of(f, rules, (grads, max_norm), name="clip_per_tensor")


def _partner(grads, rng):
    """Gradients of the same shapes: a mix of `grads` and independent noise (None kept)."""
    mix = rng.uniform(-1, 1)
    return [None if g is None else
            g * mix + torch.as_tensor(rng.standard_normal(tuple(g.shape)), dtype=g.dtype)
            * g.abs().mean()
            for g in grads]


@hidden_test("test_flat_cosine_hidden")
def flat_cosine(learner, rng):
    f = learner.function("flat_cosine")
    for _ in range(40):
        a = checks.random_grads(rng)
        b = _partner(a, rng)
        checks.same_as_reference(f, ref.flat_cosine, (a, b), name="flat_cosine", atol=1e-6)
    big, small = torch.full((50,), 3.0), torch.tensor([1.0])
    edge_cases = [
        ([big, small], [big, -small]),             # per-tensor mean would say 0
        ([big, small], [2.0 * big, 5.0 * small]),  # a rescaled tensor turns the vector
        ([torch.ones(3)], [-torch.ones(3)]),       # opposite: -1
        ([], []), ([None], [None]),                # nothing: 0.0
        ([torch.zeros(2)], [torch.ones(2)]),       # zero vector: 0.0
        ([torch.full((4,), 1e15), None], [torch.full((4,), 1e12), None]),  # huge
    ]
    for a, b in edge_cases:
        checks.same_as_reference(f, ref.flat_cosine, (a, b), name="flat_cosine", atol=1e-6)


#: PyTorch's own clipping functions, which `clip_grad_norm_` must not call.
TORCH_OWN = {"clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_",
             "_clip_grads_with_norm_", "get_total_norm", "_get_total_norm"}


def _setup_for(grads, max_norm, container):
    def setup():
        params = []
        for g in grads:
            p = torch.nn.Parameter(torch.zeros(g.shape if g is not None else (2,),
                                               dtype=torch.float32 if g is None else g.dtype))
            p.grad = None if g is None else g.clone()
            params.append(p)
        grad_objects = [p.grad for p in params]

        def observe(returned):
            for i, (p, before) in enumerate(zip(params, grad_objects)):
                if before is not None and p.grad is not None and p.grad is not before:
                    raise AssertionError(
                        f"`clip_grad_norm_` replaced `p.grad` of parameter {i} by a new tensor: "
                        "scale the existing one in place, `p.grad.mul_(scale)`.")
            return {"the returned norm": returned,
                    **{f"p.grad of parameter {i}": p.grad for i, p in enumerate(params)}}

        return (container(params), max_norm), observe
    return setup


def assert_no_torch_clip(learner) -> None:
    """From the submitted code: no use of PyTorch's own clipping, however imported."""
    uses = forbidden_uses(learner.source, TORCH_OWN)
    if uses:
        alias = " (imported under another name)" if " as " in uses[0].text else ""
        raise AssertionError(
            f"your notebook uses `{uses[0].name}`{alias} ({uses[0]}): this exercise asks you "
            "to write it yourself, without PyTorch's own clipping functions.")
    cell = learner.answers.get("clip_grad_norm_", "")
    dynamic = dynamic_lookups(cell)
    if dynamic:
        raise AssertionError(
            f"your clip_grad_norm_ reaches a function by a computed name ({dynamic[0]}): "
            "write it yourself with plain calls, so it can be checked.")


@hidden_test("test_clip_grad_norm__hidden")
def clip_grad_norm_(learner, rng):
    assert_no_torch_clip(learner)
    f = learner.function("clip_grad_norm_")
    rules = [ref.clip_grad_norm_, ref.clip_grad_norm_torch_rule_]
    containers = {"a list": list, "a tuple": tuple, "a generator": lambda ps: (p for p in ps)}
    for _ in range(25):
        grads = checks.random_grads(rng, dtype=torch.float32 if rng.random() < 0.7 else torch.float64)
        norm = ref.global_l2_norm(grads)
        for max_norm in (norm * rng.uniform(0.05, 0.95), norm * rng.uniform(1.05, 20.0)):
            kind = str(rng.choice(list(containers)))
            checks.same_in_place(
                f, rules, _setup_for(grads, max_norm, containers[kind]),
                name=f"clip_grad_norm_({kind} of {len(grads)} parameters, {max_norm:.4g})",
                hint="(the tests pass lists, tuples and generators; some `p.grad` are None)")
    edge_cases = [([], 1.0), ([None, None], 1.0), ([torch.tensor([3.0, 4.0])], 5.0),
                  ([torch.full((3, 3), 1e15), None], 0.7), ([torch.full((4,), 1e-12)], 0.7),
                  ([torch.zeros(3)], 0.7), ([torch.tensor([1.0, float("inf")]), torch.ones(2)], 0.7)]
    for grads, max_norm in edge_cases:
        checks.same_in_place(f, rules, _setup_for(grads, max_norm, lambda ps: iter(ps)),
                             name=f"clip_grad_norm_(iter({checks.describe(grads)}), {max_norm})")
    # A NaN gradient: PyTorch returns a NaN norm (what happens to the gradients then differs by rule).
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([float("nan"), 1.0])
    returned = checks.call(f, [p], 1.0, name="clip_grad_norm_([p with a NaN gradient], 1.0)")
    if not math.isnan(checks.assert_scalar(returned, name="the norm returned for a NaN gradient")):
        raise AssertionError("`clip_grad_norm_` should return a NaN norm for a NaN gradient, "
                             "as torch does.")

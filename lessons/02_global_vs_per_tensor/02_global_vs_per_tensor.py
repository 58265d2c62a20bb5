# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 — Global vs per-tensor gradient clipping
#
# A model's gradient is not one tensor but a list of them: one per weight matrix, bias,
# embedding table and layer-norm scale. When a bad batch makes the gradient spike, there are
# two natural ways to cap it:
#
# * **per-tensor clipping**: cap each tensor's L2 norm at `max_norm`, one tensor at a time;
# * **global clipping**: treat the whole list as *one* long vector, compute its L2 norm, and
#   if it exceeds `max_norm` shrink *every* tensor by the same factor.
#
# PyTorch's `torch.nn.utils.clip_grad_norm_`, Hugging Face's `max_grad_norm`, llm.c and
# Megatron-LM all clip globally. By the end of this lesson you will have written both, measured
# on real gradients why they differ, and rebuilt `clip_grad_norm_` yourself.
#
# **What you will do**
#
# 1. `global_l2_norm` — the norm of a list of tensors seen as one vector.
# 2. `clip_by_global_norm` and `clip_per_tensor` — the two ways to clip.
# 3. `flat_cosine` — a measure of whether clipping changed the *direction* of the gradient.
# 4. See both on a small MLP (a batch with one outlier example) and a one-block transformer,
#    and contrast them with *value* clipping (`clip_grad_value_`).
# 5. `clip_grad_norm_` — PyTorch's function, rebuilt, in place, matching its results.
# 6. `why_direction` — explain in your own words what you measured.
#
# Each exercise has visible tests you can run now; hidden tests check your function again on
# fresh random inputs when your work is graded.
#
# **Working in the released notebook.** Cells after an exercise that use your answer (demos,
# plots, later exercises) raise `NotImplementedError` (or `NameError`, for a value you
# have not assigned yet) until you have solved that exercise. Solve the exercises in
# order and re-run the cells below each one.

# %% nbgrader={"grade": false, "grade_id": "setup_imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

from course import models, plots

torch.set_printoptions(precision=4, sci_mode=False)
print("torch", torch.__version__)


# %% [markdown]
# ## 1. The global L2 norm
#
# Write the gradients as tensors $g_1, \dots, g_K$ (one per parameter). Their **global L2
# norm** is the norm of all their elements laid end to end:
#
# $$\|g\| = \sqrt{\sum_{k=1}^{K} \sum_{i} g_{k,i}^2} = \sqrt{\sum_{k=1}^{K} \|g_k\|^2}.$$
#
# The second form is the useful one in code: square each tensor's own norm, add those up,
# take one square root. Three things that look similar and are *not* the global norm: the sum
# of the per-tensor norms $\sum_k \|g_k\|$ (too big), the largest of them (too small), and the
# mean of the squares (depends on how many elements there are, not only on their size).
#
# A parameter that received no gradient has `p.grad is None` (a frozen layer, or a part of the
# model this loss did not reach, such as a second output head). It contributes nothing: skip
# it.

# %% nbgrader={"grade": false, "grade_id": "global_l2_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def global_l2_norm(grads):
    """The L2 norm of every element of every tensor in `grads`, as one vector.

    grads: a list of tensors of any shapes; `None` entries are skipped.
    Returns a Python float; an empty list (or only `None`s) gives 0.0.
    """
    ### BEGIN SOLUTION
    total = 0.0
    for g in grads:
        if g is not None:
            total += float(g.detach().double().pow(2).sum())
    return math.sqrt(total)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_global_l2_norm", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type, call

# 3-4-12: the tensors' norms are 5 and 12, the global norm sqrt(9 + 16 + 144) = 13.
grads = [torch.tensor([3.0, 4.0]), torch.tensor([[0.0], [12.0]])]
call_name = "global_l2_norm([tensor([3., 4.]), tensor([[0.], [12.]])])"
got = call(global_l2_norm, grads, name=call_name)
assert_type(got, float, name=call_name + " (return a Python float: use float(...) or .item())")
known_mistakes = {
    17.0: "17 = 5 + 12 is the sum of the per-tensor norms; add the squares first, then take one square root.",
    12.0: "12 is the largest tensor norm (or element); the global norm counts every element.",
    169.0: "169 is the sum of squares: take its square root.",
    42.25: "42.25 is the mean of the four squares; the norm sums them (no division by the count).",
    6.5: "6.5 is the root of the mean square; the norm sums the squares (no division by the count).",
}
hint = next((why for wrong, why in known_mistakes.items() if math.isclose(got, wrong, rel_tol=1e-3)), "")
assert_close(got, 13.0, name=call_name, hint=hint)

got = call(global_l2_norm, [None, torch.tensor([3.0, 4.0]), None],
           name="global_l2_norm([None, tensor([3., 4.]), None])",
           hint="Skip `None` entries: a parameter without a gradient contributes nothing.")
assert_close(got, 5.0, name="global_l2_norm([None, tensor([3., 4.]), None])")
got = call(global_l2_norm, [], name="global_l2_norm([])")
assert_close(got, 0.0, name="global_l2_norm([])", hint="An empty list has norm 0.0.")
print("global_l2_norm: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_global_l2_norm_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_global_l2_norm_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Clipping by the global norm
#
# The rule this lesson uses (the one in llm.c, and in Pascanu et al. 2013):
#
# $$\text{if } \|g\| > \text{max\_norm}: \quad g_k \leftarrow g_k \cdot \frac{\text{max\_norm}}{\|g\|} \quad \text{for every } k,$$
#
# otherwise leave the gradients alone. After clipping the global norm is exactly `max_norm`.
# Clipping only ever *shrinks*: a gradient already below the threshold is not scaled up.
#
# Your function returns **new** tensors and leaves its inputs untouched (a function whose name
# does not end in `_` must not change its arguments). A `None` stays `None`, in its place.
# PyTorch adds `1e-6` to the norm before dividing (section 7); that is accepted too.

# %% nbgrader={"grade": false, "grade_id": "clip_by_global_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_by_global_norm(grads, max_norm):
    """Scale every tensor by max_norm / global norm if the global norm exceeds max_norm.

    grads: a list of tensors (some may be `None`); max_norm: a positive float.
    Returns a new list of new tensors (same shapes and dtypes; `None` stays `None`);
    `grads` itself is left unchanged.
    """
    ### BEGIN SOLUTION
    norm = global_l2_norm(grads)
    scale = max_norm / norm if norm > max_norm else 1.0
    return [None if g is None else g * scale for g in grads]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_by_global_norm", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_unchanged, call, snapshot

def check_clip(grads, max_norm, expected, label, known_mistakes=()):
    """Call clip_by_global_norm(grads, max_norm) and compare with `expected`."""
    name = f"clip_by_global_norm({label}, {max_norm})"
    before = snapshot(grads)
    out = call(clip_by_global_norm, grads, max_norm, name=name,
               hint="`None` entries must be skipped and kept in place.")
    assert_unchanged(before, grads, name=f"the list given to {name}")
    if not isinstance(out, (list, tuple)) or len(out) != len(grads):
        raise AssertionError(f"`{name}` should return a list of {len(grads)} entries, got {out!r}")
    for i, (g, o, e) in enumerate(zip(grads, out, expected)):
        if g is None:
            if o is not None:
                raise AssertionError(f"`{name}`[{i}] should stay None (the input was None)")
            continue
        if o is g or (o.numel() and o.untyped_storage().data_ptr() == g.untyped_storage().data_ptr()):
            raise AssertionError(f"`{name}`[{i}] shares memory with the input tensor: return new "
                                 "tensors (e.g. `g * scale` or `g.clone()`), so a caller who later "
                                 "changes the result in place does not change its gradients.")
        if o.dtype != g.dtype:
            raise AssertionError(f"`{name}`[{i}] has dtype {o.dtype}, the input {g.dtype}: keep the dtype.")
        hint = next((why for wrong, why in known_mistakes if o.shape == wrong.shape
                     and torch.allclose(o.double(), wrong.double(), rtol=1e-4)), "")
        assert_close(o, e, name=f"{name}[{i}]", hint=hint)

# The global norm is 13; max_norm 6.5 halves every tensor.
a, b = torch.tensor([3.0, 4.0]), torch.tensor([[0.0, 12.0]])
check_clip([a, None, b], 6.5, [torch.tensor([1.5, 2.0]), None, torch.tensor([[0.0, 6.0]])],
           "[tensor([3., 4.]), None, tensor([[0., 12.]])]",
           known_mistakes=[(torch.tensor([3.0, 4.0]), "Tensor 0 has norm 5 < 6.5 but the *global* norm is 13: "
                            "every tensor must shrink by the same factor 6.5 / 13 (you may have clipped per tensor)."),
                           (torch.tensor([6.0, 8.0]), "You scaled by norm / max_norm = 2; the factor is max_norm / norm.")])
# Below the threshold: unchanged, never scaled up.
small = [torch.tensor([0.3, 0.4])]
check_clip(small, 1.0, [torch.tensor([0.3, 0.4])], "[tensor([0.3, 0.4])]",
           known_mistakes=[(torch.tensor([0.6, 0.8]), "The global norm 0.5 is below max_norm 1.0: clipping "
                            "must leave it unchanged, never scale a small gradient up.")])
# Exactly at the threshold: unchanged (within tolerance).
check_clip([torch.tensor([3.0, 4.0])], 5.0, [torch.tensor([3.0, 4.0])], "[tensor([3., 4.])]")
# Nothing to clip.
check_clip([], 1.0, [], "[]")
check_clip([None], 1.0, [None], "[None]")
print("clip_by_global_norm: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_clip_by_global_norm_hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_clip_by_global_norm_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Clipping each tensor on its own
#
# Per-tensor clipping applies the same rule to each tensor separately, with that tensor's own
# norm $\|g_k\|$ in place of the global one. A tensor whose norm is under `max_norm` is left
# alone even if another tensor is huge; a tensor of zeros stays zeros (its norm is 0, which
# is not above `max_norm`: nothing to divide). Same conventions as before: new list, inputs
# untouched, `None` kept in place.
#
# Hint: you have just written a function that clips a list of one tensor.

# %% nbgrader={"grade": false, "grade_id": "clip_per_tensor", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_per_tensor(grads, max_norm):
    """Clip each tensor in `grads` by its own L2 norm (`None` stays `None`).

    Returns a new list; `grads` itself is left unchanged.
    """
    ### BEGIN SOLUTION
    return [None if g is None else clip_by_global_norm([g], max_norm)[0] for g in grads]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_per_tensor", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_unchanged, call, snapshot

# Norms 5 and 12: with max_norm 6.5 only the second tensor is clipped, to norm 6.5.
a, b, z = torch.tensor([3.0, 4.0]), torch.tensor([[0.0, 12.0]]), torch.zeros(3)
grads = [a, None, b, z]
name = "clip_per_tensor([tensor([3., 4.]), None, tensor([[0., 12.]]), zeros(3)], 6.5)"
before = snapshot(grads)
out = call(clip_per_tensor, grads, 6.5, name=name,
           hint="`None` entries must be kept; a tensor of zeros has norm 0 (do not divide by it).")
assert_unchanged(before, grads, name=f"the list given to {name}")
if not isinstance(out, (list, tuple)) or len(out) != 4:
    raise AssertionError(f"`{name}` should return a list of 4 entries, got {out!r}")
if out[1] is not None:
    raise AssertionError(f"`{name}`[1] should stay None (the input was None)")
if torch.allclose(out[0], torch.tensor([1.5, 2.0])):
    raise AssertionError(f"`{name}`[0] is [1.5, 2.0]: that is global clipping (norm 13). Per tensor, "
                         "tensor 0 has its own norm 5 <= 6.5 and must come back unchanged.")
assert_close(out[0], a, name=f"{name}[0]",
             hint="Its own norm (5) is below max_norm: leave it alone, never scale it up.")
assert_close(out[2], torch.tensor([[0.0, 6.5]]), name=f"{name}[2]",
             hint="Its own norm is 12 > 6.5: multiply it by 6.5 / 12.")
assert_close(out[3], z, name=f"{name}[3]", hint="A tensor of zeros must come back as zeros, not NaN.")
print("clip_per_tensor: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_clip_per_tensor_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_clip_per_tensor_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Did clipping change the direction? Cosine similarity
#
# To compare two gradients $u$ and $v$ (two lists of tensors of matching shapes) we flatten
# each into one vector and take the cosine of the angle between them:
#
# $$\cos(u, v) = \frac{\sum_k \sum_i u_{k,i} v_{k,i}}{\|u\|\,\|v\|},$$
#
# with the global norms of section 1 in the denominator. It is 1 when one is a positive
# multiple of the other (same direction, any length), 0 when they are orthogonal. The
# *mean of per-tensor cosines* is a different quantity: it gives a small bias vector the
# same say as a large weight matrix, and it cannot see one tensor growing relative to another
# — exactly what per-tensor clipping does.
#
# Conventions: a `None` at the same position in both lists is skipped; if either gradient is
# all zeros the angle is undefined and you return 0.0 (as
# `torch.nn.functional.cosine_similarity` does).

# %% nbgrader={"grade": false, "grade_id": "flat_cosine", "locked": false, "schema_version": 3, "solution": true, "task": false}
def flat_cosine(a, b):
    """Cosine similarity of two gradient lists, each flattened into one vector.

    a, b: lists of tensors with matching shapes, position by position (`None` skipped).
    Returns a Python float in [-1, 1]; 0.0 if either list is all zeros.
    """
    ### BEGIN SOLUTION
    dot = 0.0
    for x, y in zip(a, b):
        if x is not None and y is not None:
            dot += float((x.double() * y.double()).sum())
    norms = global_l2_norm(a) * global_l2_norm(b)
    return dot / norms if norms > 0 else 0.0
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_flat_cosine", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type, call

# Tensor 0 agrees, tensor 1 points the opposite way; flat: (9 - 1) / (sqrt(10) * sqrt(10)) = 0.8.
a = [torch.tensor([3.0, 0.0]), torch.tensor([1.0])]
b = [torch.tensor([3.0, 0.0]), torch.tensor([-1.0])]
name = "flat_cosine([tensor([3., 0.]), tensor([1.])], [tensor([3., 0.]), tensor([-1.])])"
got = call(flat_cosine, a, b, name=name)
assert_type(got, float, name=name + " (return a Python float)")
hint = ""
if abs(got) < 1e-6:
    hint = ("0 is the mean of the per-tensor cosines (1 and -1); flatten both lists into one vector each: "
            "the big agreeing tensor outweighs the small disagreeing one.")
elif abs(got) > 1 + 1e-6:
    hint = "A cosine is never above 1: divide the dot product by both global norms."
assert_close(got, 0.8, name=name, atol=1e-6, hint=hint)

got = call(flat_cosine, a, [3.0 * t for t in a], name="flat_cosine(a, 3 * a)")
assert_close(got, 1.0, name="flat_cosine(a, 3 * a)", atol=1e-6,
             hint="A positive multiple points the same way: the cosine divides by both norms.")
got = call(flat_cosine, [None, torch.tensor([1.0, 2.0])], [None, torch.tensor([2.0, 4.0])],
           name="flat_cosine([None, tensor([1., 2.])], [None, tensor([2., 4.])])",
           hint="Skip positions where the gradient is `None`.")
assert_close(got, 1.0, name="flat_cosine([None, tensor([1., 2.])], [None, tensor([2., 4.])])", atol=1e-6)
got = call(flat_cosine, [torch.zeros(3)], [torch.ones(3)], name="flat_cosine([zeros(3)], [ones(3)])",
           hint="A zero gradient has no direction: return 0.0 instead of dividing by zero.")
assert_close(got, 0.0, name="flat_cosine([zeros(3)], [ones(3)])", atol=1e-6,
             hint="A zero gradient has no direction: return 0.0 instead of dividing by zero.")
print("flat_cosine: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_flat_cosine_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_flat_cosine_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Seeing the difference
#
# ### Two tensors, two arrows
#
# Start with the smallest case that shows the effect: a model with two parameters, A and B,
# each a single number, so the gradient is an arrow in the plane. Norm clipping shrinks the
# arrow along its own line until it touches the circle of radius `max_norm`. Clipping each
# tensor on its own caps each component separately: here A is cut down and B, already small,
# is kept — the arrow turns towards B. (With one number per tensor, per-tensor clipping is the
# same as clipping each *value*; with real tensors it caps each tensor's norm instead.)

# %%
g2 = [torch.tensor([4.0]), torch.tensor([0.5])]            # tensor A, tensor B
max_norm_2d = 1.0
clipped_2d = {"global": clip_by_global_norm(g2, max_norm_2d),
              "per-tensor": clip_per_tensor(g2, max_norm_2d)}
for label, c in clipped_2d.items():
    print(f"{label:>10}: A = {c[0].item():.3f}, B = {c[1].item():.3f}, "
          f"norm = {global_l2_norm(c):.3f}, cosine with the raw gradient = {flat_cosine(c, g2):.4f}")
raw_2d = [t.item() for t in g2]
arrows_2d = {k: [t.item() for t in c] for k, c in clipped_2d.items()}
turn = {k: plots.direction_deg(v) - plots.direction_deg(raw_2d) for k, v in arrows_2d.items()}
print(f"direction of the raw gradient: {plots.direction_deg(raw_2d):.1f} degrees; turned by "
      + ", ".join(f"{k} {t:+.1f}" for k, t in turn.items()))
plots.clip_arrows_2d(raw_2d, arrows_2d, max_norm_2d, zoom=True,
                     title=f"Clipping a two-tensor gradient: per-tensor turns it "
                           f"{turn['per-tensor']:.1f}\u00b0")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### A real gradient: an MLP and one outlier example
#
# Now a real model: `course.models.TinyMLP`, three linear layers (six tensors: three weight
# matrices, three biases). Its batch of 32 regression examples contains one **outlier**: its
# input is multiplied by `outlier_scale = 30` and its target is far off — the kind of example
# that makes a gradient spike. We compute the gradient of the mean squared error on that batch, and
# on the same batch without the outlier for comparison.

# %%
mlp = models.TinyMLP(d_in=8, d_hidden=32, d_out=1, depth=2, seed=0)
mlp_names = models.parameter_names(mlp)
x_out, y_out = models.outlier_regression_batch(batch=32, d_in=8, outlier_scale=30.0, seed=0)
x_clean, y_clean = models.clean_regression_batch(batch=32, d_in=8, seed=0)
g_mlp = models.loss_gradients(mlp, F.mse_loss, x_out, y_out)
g_clean = models.loss_gradients(mlp, F.mse_loss, x_clean, y_clean)
input_norms = x_out.norm(dim=1)
print(f"{len(g_mlp)} gradient tensors; the outlier's input norm is "
      f"{(input_norms[0] / input_norms[1:].median()).item():.1f}x the median of the others'")

print(f"{'tensor':<16}{'with outlier':>14}{'without':>10}")
for name, g, c in zip(mlp_names, g_mlp, g_clean):
    print(f"{name:<16}{global_l2_norm([g]):>14.4f}{global_l2_norm([c]):>10.4f}")
print(f"{'global norm':<16}{global_l2_norm(g_mlp):>14.4f}{global_l2_norm(g_clean):>10.4f}")

# %% [markdown]
# The outlier inflates some tensors far more than others: the first layer's weight gradient is
# proportional to the input, so the 30x input lands mostly there. Clip both ways at
# `max_norm = 1.0` and compare each tensor's norm, and the direction of the whole:

# %%
MAX_NORM = 1.0
g_global = clip_by_global_norm(g_mlp, MAX_NORM)
g_per_tensor = clip_per_tensor(g_mlp, MAX_NORM)
for label, c in [("global", g_global), ("per-tensor", g_per_tensor)]:
    print(f"{label:>10}: global norm after = {global_l2_norm(c):.4f}, "
          f"cosine with the unclipped gradient = {flat_cosine(c, g_mlp):.4f}")

norms = {label: [global_l2_norm([t]) for t in c]
         for label, c in [("raw", g_mlp), ("global", g_global), ("per-tensor", g_per_tensor)]}
plots.tensor_norms(mlp_names, norms, max_norm=MAX_NORM,
                   title=f"TinyMLP, outlier batch: per-tensor gradient norms (max_norm = {MAX_NORM:g})")
plt.show()


# %% [markdown]
# Read the bars. Global clipping shifts every bar left by the *same* distance on the log axis
# (one common factor), so the ratios between tensors — and with them the direction — are
# kept: cosine 1. Per-tensor clipping cuts the tall bars down to `max_norm` and leaves the
# short ones where they were, so the small tensors now weigh relatively more. The update is
# still a descent direction (every tensor is multiplied by a positive number), but it is no
# longer the gradient: in effect each tensor got its own, batch-dependent learning rate.
#
# How much the direction turns depends on how hard you clip. Sweep the threshold and add the
# third option, **value clipping** (`torch.nn.utils.clip_grad_value_`, which clamps every
# element to `[-clip_value, clip_value]`), on the MLP and on a one-block transformer
# (`course.models.TinyTransformer`: token and position embeddings, attention, layer norms, MLP
# and output head — 18 tensors whose gradient norms differ by two orders of magnitude).

# %%
def value_clipped(model, grads, clip_value):
    """torch.nn.utils.clip_grad_value_ on a copy of `model` holding `grads`; the clipped grads."""
    twin = copy.deepcopy(model)
    models.set_gradients(twin, grads)
    torch.nn.utils.clip_grad_value_(twin.parameters(), clip_value)
    return [p.grad for p in twin.parameters()]

thresholds = [10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01]
mlp_curves = {
    "global": [flat_cosine(clip_by_global_norm(g_mlp, t), g_mlp) for t in thresholds],
    "per-tensor": [flat_cosine(clip_per_tensor(g_mlp, t), g_mlp) for t in thresholds],
    "value (clip_value = threshold)": [flat_cosine(value_clipped(mlp, g_mlp, t), g_mlp) for t in thresholds],
}

transformer = models.TinyTransformer(vocab=32, d_model=32, n_heads=4, context=16, seed=0)
tokens, targets = models.token_batch(batch=8, context=16, vocab=32, seed=0)
g_tf = models.loss_gradients(transformer, models.next_token_loss, tokens, targets)
tf_norms = [global_l2_norm([t]) for t in g_tf]
print(f"TinyTransformer: {len(g_tf)} gradient tensors, per-tensor norms from {min(tf_norms):.4f} "
      f"to {max(tf_norms):.4f} (a ratio of {max(tf_norms) / min(tf_norms):.0f}), "
      f"global norm {global_l2_norm(g_tf):.4f}")
tf_curves = {
    "global": [flat_cosine(clip_by_global_norm(g_tf, t), g_tf) for t in thresholds],
    "per-tensor": [flat_cosine(clip_per_tensor(g_tf, t), g_tf) for t in thresholds],
    "value (clip_value = threshold)": [flat_cosine(value_clipped(transformer, g_tf, t), g_tf) for t in thresholds],
}
print(f"{'threshold':>10} | MLP: {'global':>7} {'per-tensor':>10} {'value':>7} | transformer: "
      f"{'global':>7} {'per-tensor':>10} {'value':>7}")
for i, t in enumerate(thresholds):
    print(f"{t:>10g} |      " + " ".join(f"{c[i]:>{w}.4f}" for c, w in zip(mlp_curves.values(), (7, 10, 7)))
          + " |              " + " ".join(f"{c[i]:>{w}.4f}" for c, w in zip(tf_curves.values(), (7, 10, 7))))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
plots.cosine_vs_threshold(thresholds, mlp_curves, ax=ax1, title="TinyMLP, outlier batch")
plots.cosine_vs_threshold(thresholds, tf_curves, ax=ax2, title="TinyTransformer, one batch")
fig.tight_layout()
plt.show()

# %% [markdown]
# Global clipping stays on the line cosine = 1 at every threshold: scaling a vector never turns
# it. Per-tensor clipping starts turning the gradient as soon as the threshold falls below the
# largest tensor's norm. Value clipping starts once the threshold falls below the largest
# *element*, which can be no larger than the norm of the tensor holding it (and usually is
# much smaller), so at the same number it bites at the same point or later —
# but when it bites it also flattens the pattern *inside* each tensor, and on the MLP it ends
# up turning the gradient the most. Which of the two distorts more depends on the gradient; only
# global clipping never does. (The x axis is a norm for the first two curves and a bound on
# each element for the third.)
#
# One more honest check: does global clipping make the outlier batch's gradient *good*? Compare
# each version with the gradient of the same batch without the outlier:

# %%
for label, c in [("unclipped", g_mlp), ("global", g_global), ("per-tensor", g_per_tensor)]:
    print(f"{label:>10}: cosine with the clean-batch gradient = {flat_cosine(c, g_clean):+.4f}")

# %% [markdown]
# Global clipping leaves that cosine exactly where it was: clipping limits **how far** a bad
# batch moves the parameters, not **where** it points. That is its whole contract — a bounded
# step in the direction the loss asked for. Per-tensor clipping moves the cosine too, by an
# amount and in a direction that depend on which tensors happened to exceed the threshold on
# this batch; nothing guarantees it moves towards the clean gradient.
#
# ## 6. Value clipping, and where norm clipping came from
#
# Clipping started element-wise. In Tomas Mikolov's recurrent-network language models, the
# error gradients accumulated in the hidden neurons during backpropagation through time were
# truncated to the range ±15 (Mikolov 2012, PhD thesis, Brno University of Technology); he
# reports that without it RNN language models could not be trained successfully on large data
# sets. That
# clamps the back-propagated signals, not the parameter gradients; PyTorch's nearest tool,
# `clip_grad_value_(parameters, 15)`, clamps each element of the parameter gradients instead.
# As the sweep showed, clamping elements changes the direction, and the change depends on how
# many elements are large.
#
# **Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
# networks", ICML** ([arXiv:1211.5063](https://arxiv.org/abs/1211.5063)) studied why
# *recurrent* networks are hard to train, from an analytical, a geometric and a
# dynamical-systems point of view. They argued that exploding gradients come with steep "walls"
# in the error surface: a gradient step taken on a wall is huge and throws the parameters far
# from where they were. Their remedy (their Algorithm 1) rescales the gradient of *all* the
# parameters, $\hat g \leftarrow \frac{\text{threshold}}{\|\hat g\|}\hat g$ whenever
# $\|\hat g\| \ge \text{threshold}$ — global norm clipping in this lesson's words: the step
# keeps its direction and loses only its length. They presented it as very close to
# Mikolov's element-wise clipping, departing from it to guarantee that the clipped step is
# still a descent direction for the current mini-batch (and noted that in practice the two
# behave similarly); they suggested picking the threshold from the average gradient norm seen
# over many updates, and tested clipping (together with a regulariser they
# proposed for vanishing gradients) on synthetic long-range tasks, polyphonic music
# prediction and character-level language modelling.
#
# A claim you may meet in course material online: "Pascanu et al. showed that global
# clipping beats per-tensor clipping for transformer training." The paper studied recurrent
# networks, predates the Transformer (Vaswani et al., 2017), and did not compare global with
# per-tensor clipping. The argument for global clipping is the one you just measured: it is
# the only one of the three that keeps the gradient's direction.

# %% [markdown]
# ## 7. Two rules that agree: this lesson's and PyTorch's
#
# This lesson's rule multiplies only when the norm exceeds `max_norm`, by `max_norm / norm`.
# That is llm.c's rule (`train_gpt2.cu`: `grad_scale = (grad_norm > grad_clip) ? grad_clip /
# grad_norm : 1.0f`). PyTorch's `torch.nn.utils.clip_grad_norm_` computes the total norm with
# `get_total_norm` and then calls `clip_grads_with_norm_`, which **always** multiplies, by
#
# $$\text{clip\_coef} = \min\Big(\frac{\text{max\_norm}}{\text{total\_norm} + 10^{-6}},\ 1\Big)$$
#
# — the `1e-6` keeps a zero norm from dividing by zero, and always multiplying (by 1 when there
# is nothing to clip) avoids an `if` that would make the GPU wait while the CPU reads the norm
# (a host–device synchronisation). Megatron-LM's `clip_grad_by_total_norm_fp32`
# (`megatron/core/optimizer/clip_grads.py`) uses PyTorch's coefficient, and skips the multiply
# when it is not below 1 if the norm is a Python number.
#
# Sources: the [PyTorch documentation of `clip_grad_norm_`](https://docs.pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
# and its source, `torch/nn/utils/clip_grad.py` in the installed torch, printed here:

# %%
torch_source = inspect.getsource(torch.nn.utils.clip_grad._clip_grads_with_norm_)
print(f"torch {torch.__version__}, {inspect.getsourcefile(torch.nn.utils.clip_grad)}:")
print("\n".join(line for line in torch_source.splitlines() if "clip_coef" in line and "#" not in line))

# %% [markdown]
# The two factors differ by the relative amount $10^{-6}/(\text{norm} + 10^{-6})$, about
# $10^{-6}/\text{norm}$, when clipping happens. Near the threshold there is a sliver, from
# $\text{max\_norm} - 10^{-6}$ up to $\text{max\_norm}$ itself, where PyTorch multiplies by
# a factor just under 1 and this lesson's rule does not multiply at all; the gap there is at
# most the same amount. The cell below measures the gap for a range of norms
# (each clipped to half its size), then runs your `clip_by_global_norm` and PyTorch's
# `clip_grad_norm_` on the MLP's outlier gradient.

# %%
print(f"{'norm':>8} {'ours':>12} {'PyTorch':>12} {'relative gap':>13}")
for norm in [1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e3]:
    max_norm = norm / 2
    ours = max_norm / norm if norm > max_norm else 1.0
    pytorch = min(max_norm / (norm + 1e-6), 1.0)
    print(f"{norm:>8g} {ours:>12.8f} {pytorch:>12.8f} {abs(ours - pytorch) / ours:>13.2e}")
print(f"the gap is below the course's 1e-5 tolerance for every clipped norm above {1e-6 / 1e-5:g}")
print(f"at the threshold itself (norm = max_norm = 1): PyTorch multiplies by {1.0 / (1.0 + 1e-6):.7f}")

twin = copy.deepcopy(mlp)
models.set_gradients(twin, g_mlp)
torch_norm = torch.nn.utils.clip_grad_norm_(twin.parameters(), MAX_NORM)
ours = clip_by_global_norm(g_mlp, MAX_NORM)
gap = max(((o - p.grad).abs().max() / p.grad.abs().max()).item() for o, p in zip(ours, twin.parameters()))
print(f"MLP outlier gradient: PyTorch returned total norm {torch_norm.item():.6f} "
      f"(ours {global_l2_norm(g_mlp):.6f}); largest relative gap between the clipped gradients {gap:.1e}")


# %% [markdown]
# ## 8. Rebuild `clip_grad_norm_`
#
# Now write PyTorch's function yourself, with its calling convention:
#
# * `parameters` is an iterable of `nn.Parameter` — typically `model.parameters()`, which is a
#   **generator**: it can be iterated only **once**. Collect what you need in a list first.
# * It works **in place** (hence the trailing `_`): multiply each `p.grad` tensor itself
#   (`p.grad.mul_(scale)`), do not assign a new tensor to `p.grad` — optimizers and
#   distributed wrappers may hold a reference to the original tensor.
# * Parameters with `p.grad is None` are skipped.
# * It returns the total norm **before** clipping, as a 0-dim tensor (`torch.tensor(norm)`):
#   that is the number training loops log (Hugging Face's Trainer logs it as `grad_norm`).
# * Use either rule from section 7. Do **not** call PyTorch's own `clip_grad_norm_`,
#   `clip_grads_with_norm_` or `get_total_norm`: the hidden tests replace them with functions
#   that fail.
#
# You may reuse `global_l2_norm`.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm_", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm_(parameters, max_norm):
    """Clip the global L2 norm of the parameters' gradients to `max_norm`, in place.

    parameters: an iterable of nn.Parameter (may be a generator); `p.grad` of None is skipped.
    Returns the total norm before clipping as a 0-dim tensor, like
    torch.nn.utils.clip_grad_norm_(parameters, max_norm).
    """
    ### BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]  # a list: one pass over a generator
    norm = global_l2_norm(grads)
    if norm > max_norm:
        scale = max_norm / norm
        with torch.no_grad():
            for g in grads:
                g.mul_(scale)
    return torch.tensor(norm)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_scalar, call

def compare_with_torch(model, grads, max_norm, *, as_generator, label):
    """Run yours on `model` and torch's on a copy, both holding `grads`; compare everything."""
    yours, theirs = model, copy.deepcopy(model)
    models.set_gradients(yours, grads)
    models.set_gradients(theirs, grads)
    grad_objects = [p.grad for p in yours.parameters()]
    params = yours.parameters() if as_generator else list(yours.parameters())
    name = f"clip_grad_norm_({label}, {max_norm})"
    got = call(clip_grad_norm_, params, max_norm, name=name,
               hint="Some parameters have `p.grad = None`: skip them.")
    want = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        raise AssertionError(f"`{name}` should return a 0-dim tensor (torch.tensor(norm)), got {got!r}")
    assert_close(got, want, name=f"the norm returned by {name}",
                 hint="Return the total norm *before* clipping, as torch does." if
                 assert_scalar(want, name="torch's norm") > max_norm else "")
    for i, (p, q, before) in enumerate(zip(yours.parameters(), theirs.parameters(), grad_objects)):
        if q.grad is None:
            if p.grad is not None:
                raise AssertionError(f"after `{name}`, parameter {i} has a gradient; it had none (keep None)")
            continue
        if p.grad is not before:
            raise AssertionError(f"`{name}` replaced `p.grad` of parameter {i} by a new tensor: scale the "
                                 "existing one in place, `p.grad.mul_(scale)`.")
        if as_generator:
            hint = ("`parameters` was a generator: it can be iterated only once, so collect "
                    "`list(parameters)` (or the grads) before looping twice.")
        else:
            hint = "Scale every `p.grad` in place (`p.grad.mul_(scale)`): the caller reads the gradients from the model."
        assert_close(p.grad, q.grad, name=f"p.grad of parameter {i} ({names[i]}) after {name}", hint=hint)

model = models.TinyMLP(d_in=8, d_hidden=32, d_out=1, depth=2, seed=0)
names = models.parameter_names(model)
grads = models.loss_gradients(model, F.mse_loss, *models.outlier_regression_batch(seed=0))
compare_with_torch(model, grads, 1.0, as_generator=False, label="list(model.parameters())")
compare_with_torch(model, grads, 1.0, as_generator=True, label="model.parameters()")
compare_with_torch(model, grads, 100.0, as_generator=True, label="model.parameters()")   # nothing to clip
with_none = [None if i % 2 else g for i, g in enumerate(grads)]                          # biases have no grad
compare_with_torch(model, with_none, 0.5, as_generator=True, label="model.parameters() with None grads")
print("clip_grad_norm_: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm__hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_clip_grad_norm__hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 9. In your own words
#
# Explain why per-tensor clipping changes the direction of the update and global clipping
# does not. Use what you measured in section 5 (at least one number from a cell), and say what
# that means for the optimizer step.

# %% [markdown] nbgrader={"grade": true, "grade_id": "why_direction", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** The update direction is the direction of the whole gradient vector — all
# tensors laid end to end. Global clipping multiplies that whole vector by one positive number
# $c = \text{max\_norm}/\|g\| \le 1$; $c\,g$ points exactly where $g$ points, so the cosine with
# the raw gradient is 1 at every threshold (as the sweep in section 5 shows), and only the step
# length changes. Per-tensor clipping multiplies each tensor by its *own* factor: tensors above
# the threshold shrink, tensors below it do not. The relative sizes of the blocks change, so the
# concatenated vector turns: on the outlier batch the MLP's cosine fell below 1 as soon as the
# threshold dropped under the largest tensor's norm (the cell printed e.g. the cosine at
# `max_norm = 1.0`), and the transformer's fell as well. For the optimizer this means global
# clipping is an SGD step along the true gradient with a smaller learning rate, while per-tensor
# clipping gives each tensor its own batch-dependent learning rate — still a descent direction
# (each factor is positive), but no longer the gradient, and a different distortion on every
# batch.
#
# **Rubric** (3 points)
# * 1 point: global clipping scales every element by the same positive factor, so the direction
#   (cosine 1) is unchanged and only the length shrinks.
# * 1 point: per-tensor clipping uses a different factor per tensor (only tensors above the
#   threshold shrink), which changes the relative sizes of the tensors and so turns the vector.
# * 1 point: cites a number measured in the lesson (a cosine below 1 for per-tensor, or exactly 1
#   for global) and states a consequence for the step (per-tensor acts as per-tensor,
#   batch-dependent learning rates / not the gradient direction; global is a shorter step along
#   the gradient).
# No point for restating the formulas without the direction argument; "per-tensor is wrong
# because it clips less" earns no credit for the second point.

# %% [markdown]
# ## Summary
#
# * The global L2 norm treats all gradient tensors as one vector; `None` gradients add nothing.
# * Global clipping multiplies every tensor by the same factor: the step shrinks, its
#   direction does not change. Per-tensor and value clipping change the direction, and the more
#   so the harder they clip.
# * Clipping bounds how far one bad batch can move the model; it does not make that batch's
#   gradient point anywhere better.
# * This lesson's rule (`max_norm / norm`, only when `norm > max_norm`; llm.c) and PyTorch's
#   (`min(max_norm / (norm + 1e-6), 1)`, always applied, no host sync) agree to a relative
#   `1e-6 / norm`.
# * `clip_grad_norm_` works in place, reads `parameters` once, skips `None` gradients and
#   returns the norm *before* clipping.
#
# **References**
# * R. Pascanu, T. Mikolov, Y. Bengio. *On the difficulty of training recurrent neural
#   networks.* ICML 2013, PMLR 28(3):1310–1318. [arXiv:1211.5063](https://arxiv.org/abs/1211.5063)
# * T. Mikolov. *Statistical Language Models Based on Neural Networks.* PhD thesis, Brno
#   University of Technology, 2012.
# * PyTorch: [`torch.nn.utils.clip_grad_norm_`](https://docs.pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html),
#   [`clip_grad_value_`](https://docs.pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_value_.html);
#   source `torch/nn/utils/clip_grad.py`.
# * A. Karpathy, llm.c, `train_gpt2.cu` (the `grad_scale` line in the training loop).
# * NVIDIA Megatron-LM, `megatron/core/optimizer/clip_grads.py`, `clip_grad_by_total_norm_fp32`.
#
# Next lesson: the arithmetic of the scale factor, and what clipping bounds for SGD and for Adam.

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
# # Lesson 1 — Where gradient spikes come from
#
# Gradient clipping exists because the size of a training step's gradient is not steady. Most
# steps produce a **global gradient norm**
#
# $$\lVert g \rVert = \sqrt{\textstyle\sum_{p}\sum_{j} g_{p,j}^2}$$
#
# (every element $j$ of every parameter tensor $p$, treated as one long vector) in a narrow
# band; now and then one step's norm is many times the usual. That step is a **spike**. An
# optimizer that takes it at face value moves the weights, and (lesson 4) its own running
# averages, far more than any ordinary step would.
#
# This lesson runs small real models to show three sources of spikes, then measures what a
# real training run's norms look like and builds a spike detector:
#
# 1. **Outlier examples** — one unusual input in a batch owns most of the batch's gradient.
# 2. **Numerical edge cases** — overflow in float16, near-zero denominators, a degenerate
#    layer norm: each turns an ordinary step into a huge or non-finite gradient.
# 3. **Distribution shifts** — a data stream whose mixture of sources switches every few
#    steps to few dozen steps, and the norm jump that follows each switch.
#
# Along the way: per-example gradient norms (exercise), float16's overflow point (exercise),
# a softmax that survives float16 (exercise), and a trailing-median spike detector
# (exercise), applied to a recorded training run.
#
# Everything runs on a laptop CPU: the models are small, and the long training runs were
# recorded in advance by `scripts/record_cascade.py` and are loaded from
# `course/data/cascade/`. Norm clipping itself was proposed for recurrent networks by Pascanu,
# Mikolov & Bengio, [*On the difficulty of training recurrent neural
# networks*](https://arxiv.org/abs/1211.5063) (ICML 2013); lesson 2 starts there.
#
# **Working in the released notebook.** Cells after an exercise that use your answer (demos,
# plots, later exercises) raise `NotImplementedError` (or `NameError`, for a value you
# have not assigned yet) until you have solved that exercise. Solve the exercises in
# order and re-run the cells below each one.

# %% nbgrader={"grade": false, "grade_id": "setup_imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course import spike_sources as ss
from course.cascade.mixer import PHASE_LENGTHS, bandit_schedule
from course.cascade.sources import SOURCE_NAMES
from course.cascade.trace import load_recorded

torch.manual_seed(0)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Outlier examples
#
# With a loss averaged over a batch of $B$ examples, the batch gradient is the average of the
# per-example gradients: $g = \frac1B \sum_i g_i$. If one example's gradient $g_k$ is many
# times longer than the others, it dominates the sum: the batch gradient points
# mostly where that one example wants to go, and its norm is roughly $\lVert g_k\rVert / B$
# however ordinary the rest of the batch is.
#
# A tiny regression network first (`ss.tiny_mlp`: `Linear(8, 32) → ReLU → Linear(32, 1)`).
# Its batch of 16 inputs is drawn from a standard normal, except one row (row 5) that was
# multiplied by 20 — the kind of thing a unit mix-up or a corrupted record does to a feature
# vector.

# %%
mlp = ss.tiny_mlp(seed=0)
xs_clean, ys = ss.regression_batch(16, seed=0)
xs_outlier, _ = ss.regression_batch(16, seed=0, outlier=5, scale=20.0)


def batch_grad_norm(model, loss_fn, xs, ys):
    """Global L2 norm of the gradient of the batch loss (leaves p.grad alone)."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(model(xs), ys), params)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads))


mse = nn.MSELoss()
clean_norm = batch_grad_norm(mlp, mse, xs_clean, ys)
outlier_norm = batch_grad_norm(mlp, mse, xs_outlier, ys)
print(f"batch gradient norm, clean batch:          {clean_norm:.4f}")
print(f"batch gradient norm, one row scaled by 20: {outlier_norm:.4f}  "
      f"({outlier_norm / clean_norm:.1f}x)")


# %% [markdown]
# The batch norm alone cannot tell *which* example did it. For that we need one gradient per
# example.
#
# ### Exercise 1 — `per_example_grad_norms`
#
# Write `per_example_grad_norms(model, loss_fn, xs, ys)`. It returns a tensor of shape `[B]`
# whose entry `i` is the global L2 norm of the gradient of
#
# ```python
# loss_fn(model(xs[i:i+1]), ys[i:i+1])
# ```
#
# with respect to every **trainable** parameter of `model` (those with
# `requires_grad=True`; a frozen parameter gets no gradient, and clipping never sees it).
# A trainable parameter that this loss does not reach contributes 0.
#
# Rules:
#
# * one gradient per example, fresh each time: example 2's norm must not include example 1's
#   gradient;
# * one norm over *all* parameters together: square every element of every gradient, add
#   them all up, take one square root (not a per-tensor norm);
# * leave the model exactly as you found it: its parameters, and every `p.grad` — including a
#   gradient someone accumulated before calling you, and `None` where there was none.
#
# Hint: `torch.autograd.grad(loss, params)` returns the gradients as new tensors and does not
# touch any `.grad` (pass `allow_unused=True` to get `None` for a parameter the loss does not
# reach). If you prefer `loss.backward()`, save every `p.grad` first and put it back after.
# A loop over the batch is fine here; `torch.func` can also compute all per-example gradients
# in one vectorised call (`functional_call` + `vmap` + `grad`, see PyTorch's
# [per-sample gradients tutorial](https://docs.pytorch.org/tutorials/intermediate/per_sample_grads.html)).

# %% nbgrader={"grade": false, "grade_id": "per_example_grad_norms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def per_example_grad_norms(model, loss_fn, xs, ys):
    """Global L2 norm of each example's gradient w.r.t. the trainable parameters, shape [B].

    Entry i is the norm of the gradient of loss_fn(model(xs[i:i+1]), ys[i:i+1]); every
    p.grad is left as it was found.
    """
    ### BEGIN SOLUTION
    params = [p for p in model.parameters() if p.requires_grad]
    norms = []
    for i in range(len(xs)):
        loss = loss_fn(model(xs[i:i + 1]), ys[i:i + 1])
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        squares = sum(g.pow(2).sum() for g in grads if g is not None)
        norms.append(torch.sqrt(torch.as_tensor(squares, dtype=torch.float32)))
    return torch.stack(norms) if norms else torch.zeros(0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_per_example_grad_norms", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# A linear model with squared error has a closed-form per-example gradient: with residual
# r_i = w . x_i + b - y_i, the weight gradient is 2 r_i x_i and the bias gradient 2 r_i,
# so the global norm is 2 |r_i| sqrt(||x_i||^2 + 1).
from course.testing import assert_close, assert_type

torch.manual_seed(1)
lin = nn.Linear(3, 1)
xs_t = torch.randn(4, 3)
xs_t[2] *= 100.0                       # example 2 is an outlier
ys_t = torch.randn(4, 1)
got = per_example_grad_norms(lin, nn.MSELoss(), xs_t, ys_t)

assert_type(got, torch.Tensor, name="per_example_grad_norms(...)")
assert tuple(got.shape) == (4,), (
    f"`per_example_grad_norms` should return one norm per example, shape (4,), "
    f"got shape {tuple(got.shape)}")
with torch.no_grad():
    x64 = xs_t.double()
    r = (x64 @ lin.weight.double().T + lin.bias.double() - ys_t.double()).squeeze(1)
    expected = 2 * r.abs() * torch.sqrt((x64 ** 2).sum(1) + 1)
    largest_tensor = 2 * r.abs() * torch.maximum(x64.norm(dim=1), torch.ones(4, dtype=torch.float64))
g = got.detach().double()
assert not torch.allclose(g, g[0].expand(4), rtol=1e-4), (
    f"all four norms are equal ({float(g[0]):.6g}): that is the norm of the whole batch's "
    "gradient. Compute one gradient per example, from loss_fn(model(xs[i:i+1]), ys[i:i+1]).")
assert not torch.allclose(g, largest_tensor, rtol=1e-4), (
    "your norms equal the largest per-tensor norm (weight or bias, whichever is bigger): "
    "the global norm adds the squares of every parameter's gradient, then takes one sqrt.")
if torch.isclose(g[0], expected[0], rtol=1e-4) and not torch.allclose(g, expected, rtol=1e-4):
    raise AssertionError(
        "example 0 is right but later examples are not: gradients seem to accumulate across "
        "examples. Start each example from a fresh gradient (torch.autograd.grad returns one).")
assert_close(got, expected, name="per_example_grad_norms(linear model, MSE)", rtol=1e-5,
             hint="For this model the norm of example i is 2 |r_i| sqrt(||x_i||^2 + 1).")
print("per-example norms:", got.detach().numpy(), "- example 2 is the outlier")

# %% nbgrader={"grade": true, "grade_id": "test_per_example_grad_norms_grads", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# The model must come back untouched: parameters, requires_grad flags and every p.grad
# (an accumulated gradient stays, None stays None). Frozen parameters do not count.
torch.manual_seed(2)
net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
net[0].weight.grad = torch.full_like(net[0].weight, 0.5)   # accumulated earlier
net[2].bias.requires_grad_(False)                          # frozen
named = dict(net.named_parameters())
grads_before = {n: None if p.grad is None else p.grad.clone() for n, p in named.items()}
params_before = {n: p.detach().clone() for n, p in named.items()}
flags_before = {n: p.requires_grad for n, p in named.items()}
xs_t, ys_t = torch.randn(5, 3), torch.randn(5, 1)
xs_copy, ys_copy = xs_t.clone(), ys_t.clone()
per_example_grad_norms(net, nn.MSELoss(), xs_t, ys_t)
for n, p in named.items():
    if grads_before[n] is None:
        assert p.grad is None, (
            f"`{n}.grad` was None before the call and now holds a gradient: leave every p.grad "
            "as you found it (torch.autograd.grad never writes to .grad).")
    else:
        assert p.grad is not None and torch.equal(p.grad, grads_before[n]), (
            f"`{n}.grad` held an accumulated gradient before the call and it changed: leave "
            "every p.grad as you found it (save and restore it, or use torch.autograd.grad, "
            "which never writes to .grad).")
    assert torch.equal(p.detach(), params_before[n]), f"parameter `{n}` was changed"
    assert p.requires_grad == flags_before[n], f"`{n}.requires_grad` was changed"
assert torch.equal(xs_t, xs_copy) and torch.equal(ys_t, ys_copy), "`xs` or `ys` was modified"

# Frozen parameters contribute nothing: a linear model with a frozen bias has
# per-example norm 2 |r_i| ||x_i||.
lin = nn.Linear(3, 1)
lin.bias.requires_grad_(False)
got = per_example_grad_norms(lin, nn.MSELoss(), xs_t, ys_t)
with torch.no_grad():
    r = (lin(xs_t) - ys_t).squeeze(1).double()
    expected = 2 * r.abs() * xs_t.double().norm(dim=1)
assert_close(got, expected, name="per_example_grad_norms(linear model with a frozen bias)",
             hint="Only parameters with requires_grad=True count: a frozen bias has no gradient.")

# %% nbgrader={"grade": true, "grade_id": "test_per_example_grad_norms_hidden", "locked": true, "points": 8, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_per_example_grad_norms_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# Now look at the regression batch one example at a time:

# %%
norms_outlier = per_example_grad_norms(mlp, mse, xs_outlier, ys).detach().numpy()
norms_clean = per_example_grad_norms(mlp, mse, xs_clean, ys).detach().numpy()
share = norms_outlier[5] / norms_outlier.sum()
print(f"example 5 (the scaled row): {norms_outlier[5]:.3f}, "
      f"{norms_outlier[5] / np.median(norms_outlier):.0f}x the batch median; "
      f"{share:.0%} of the sum of all 16 per-example norms")

fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(np.arange(16) - 0.2, norms_clean, width=0.4, label="clean batch")
ax.bar(np.arange(16) + 0.2, norms_outlier, width=0.4, label="row 5 scaled by 20")
ax.set_yscale("log")
ax.set_xlabel("example")
ax.set_ylabel("per-example gradient norm")
ax.legend()
plt.show()

# %% [markdown]
# The scaled row's own gradient is far longer than any other, and it makes up most of the
# batch's. Nothing is numerically wrong here: the model is learning from what it was given.
# Clipping does not judge the example; it only limits how far one step can go. Section 4 comes
# back to outliers with a language model and a sequence of text that is merely odd.

# %% [markdown]
# ## 2. Numerical edge cases
#
# The second source is arithmetic. A finite-precision number format has a largest value, a
# smallest positive value, and operations (division, square root, `exp`, `log`) whose
# derivative blows up near some input. When a forward pass wanders near one of those places,
# the gradient can become enormous, `inf`, or `NaN`, from a perfectly ordinary batch.
#
# ### float16's ceiling
#
# IEEE 754 half precision (*binary16* in IEEE 754-2008, §3.6) has 5 exponent bits and 10
# fraction bits. Its largest finite value is $(2 - 2^{-10}) \cdot 2^{15}$; anything that
# rounds above it becomes `inf`. The next cell computes that ceiling and where `exp` hits it
# (NumPy's `finfo` reports the same maximum:
# [numpy.finfo](https://numpy.org/doc/stable/reference/generated/numpy.finfo.html)).

# %%
fp16_max = (2 - 2 ** -10) * 2 ** 15
print(f"largest finite float16: (2 - 2^-10) * 2^15 = {fp16_max:.0f};  "
      f"np.finfo(np.float16).max = {float(np.finfo(np.float16).max):.0f}")
print(f"exp(x) passes it at x = ln({fp16_max:.0f}) = {math.log(fp16_max):.4f}")
with np.errstate(over="ignore"):
    for x in range(9, 14):
        print(f"  np.exp(np.float16({x})) = {np.exp(np.float16(x))}")

# %% [markdown]
# ### Exercise 2 — `smallest_overflowing_logit`
#
# Set `smallest_overflowing_logit` to the smallest integer `x` for which
# `np.exp(np.float16(x))` is `inf` in float16. Compute it (a loop is fine) rather than
# reading it off the table; it must be a Python `int`.

# %% nbgrader={"grade": false, "grade_id": "smallest_overflowing_logit", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
smallest_overflowing_logit = 0
with np.errstate(over="ignore"):
    while np.isfinite(np.exp(np.float16(smallest_overflowing_logit))):
        smallest_overflowing_logit += 1
### END SOLUTION
print("smallest overflowing logit:", smallest_overflowing_logit)

# %% nbgrader={"grade": true, "grade_id": "test_smallest_overflowing_logit", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_type

assert_type(smallest_overflowing_logit, int, name="smallest_overflowing_logit")
assert not isinstance(smallest_overflowing_logit, bool), (
    "`smallest_overflowing_logit` should be an integer such as 7, not True/False")

# %% nbgrader={"grade": true, "grade_id": "test_smallest_overflowing_logit_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check the exact value.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_smallest_overflowing_logit_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# So in float16 every logit from `smallest_overflowing_logit` up is past the edge, and a
# softmax written the textbook way, $\mathrm{softmax}(z)_j = e^{z_j} / \sum_k e^{z_k}$,
# divides `inf` by `inf`. Large logits are ordinary in a confident model: the loss rewards
# making the right one large. Here is `ss.naive_softmax` in float16, and what it does to a
# gradient in PyTorch:

# %%
logits16 = np.array([[1.0, 2.0, float(smallest_overflowing_logit)]], dtype=np.float16)
print("naive float16 softmax of", logits16[0], "->", ss.naive_softmax(logits16)[0])

z = torch.tensor([[1.0, 2.0, float(smallest_overflowing_logit)]], dtype=torch.float16,
                 requires_grad=True)
loss = -torch.log(ss.naive_softmax(z)[0, 0])      # cross-entropy with target class 0
loss.backward()
print("loss:", loss.item(), "  gradient w.r.t. the logits:", z.grad[0].tolist())


# %% [markdown]
# One overflowing logit turns the probabilities into 0 and `NaN` and the loss into `inf`, and
# backpropagation spreads `NaN` to every gradient it touches. The fix is an identity: for any constant $c$,
# $e^{z_j - c} / \sum_k e^{z_k - c} = e^{z_j} / \sum_k e^{z_k}$. Choosing $c = \max_k z_k$ makes
# every exponent $\le 0$, so nothing overflows, and the largest term is exactly $e^0 = 1$, so
# the denominator is at least 1. `torch.softmax` and `F.cross_entropy` do this internally.
#
# ### Exercise 3 — `stable_softmax_fp16`
#
# Write `stable_softmax_fp16(logits)`: the softmax over the **last axis** of a float16 NumPy
# array of any shape, returned as a float16 array of the same shape. It must be finite and
# within `1e-3` (absolute) of a float64 softmax for logits anywhere in ±60000 (float16 holds
# them), and an entry of `-inf` (a masked position) gets probability 0. You may compute in a
# wider type inside; do not modify the input.

# %% nbgrader={"grade": false, "grade_id": "stable_softmax_fp16", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stable_softmax_fp16(logits):
    """Softmax over the last axis of a float16 array, returned as float16, without overflow."""
    ### BEGIN SOLUTION
    x = np.asarray(logits, dtype=np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float16)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stable_softmax_fp16", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type

def check(logits, expected, what):
    x = np.array(logits, dtype=np.float16)
    x_copy = x.copy()
    with np.errstate(all="ignore"):
        got = stable_softmax_fp16(x)
    assert_type(got, np.ndarray, name=f"stable_softmax_fp16 of {what}")
    assert got.dtype == np.float16, (
        f"stable_softmax_fp16 of {what} returned dtype {got.dtype}; it should return float16 "
        "(compute wider inside if you like, then .astype(np.float16))")
    assert got.shape == x.shape, (
        f"stable_softmax_fp16 of {what} has shape {got.shape}, expected {x.shape}")
    assert np.array_equal(x, x_copy, equal_nan=True), "stable_softmax_fp16 modified its input"
    assert np.isfinite(got).all(), (
        f"stable_softmax_fp16 of {what} has inf/NaN values {got.tolist()}: exp overflowed, or "
        "a whole row underflowed to 0. Subtract each row's own maximum (over the last axis, "
        "keepdims=True) before exp.")
    assert_close(got, np.array(expected), name=f"stable_softmax_fp16 of {what}", rtol=0,
                 atol=1e-3, hint="The softmax runs over the last axis: each row sums to 1.")

e = np.exp([0.0, 1.0, 2.0])
check([[0, 1, 2], [11, 12, 13]], [e / e.sum(), e / e.sum()],
      "[[0, 1, 2], [11, 12, 13]] (a softmax ignores a common shift)")
check([[60000, -60000, 60000]], [[0.5, 0.0, 0.5]], "[[60000, -60000, 60000]]")
check(np.full((2, 3, 5), -60000), np.full((2, 3, 5), 0.2), "a (2, 3, 5) array of -60000")
check([[0.0, -np.inf, 0.0, -np.inf]], [[0.5, 0.0, 0.5, 0.0]], "a row with masked (-inf) entries")
check([[5.0], [60000.0]], [[1.0], [1.0]], "rows of length 1")
check([[1000, 0], [0, 0]], [[1.0, 0.0], [0.5, 0.5]],
      "[[1000, 0], [0, 0]] (each row needs its own maximum)")

# %% nbgrader={"grade": true, "grade_id": "test_stable_softmax_fp16_hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_stable_softmax_fp16_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# Your softmax on the logits that broke the naive one, and on the extremes float16 can hold:

# %%
print(stable_softmax_fp16(logits16)[0], "vs float64", (lambda e: e / e.sum())(
    np.exp(logits16[0].astype(np.float64) - logits16[0].max())))
print(stable_softmax_fp16(np.array([60000, 59968, -60000], dtype=np.float16)))

# %% [markdown]
# ### Near-zero denominators
#
# Whenever a forward pass divides by something, the gradient contains
# $\partial (a/b)/\partial b = -a/b^2$; if $b$ can get close to 0, the gradient is unbounded.
# Two common places:
#
# * **A softmax denominator that underflows.** Shifting by the maximum also protects the other
#   end: in float32, $e^{-100}$ is a subnormal number with few significant bits and $e^{-110}$
#   is 0. A naive softmax over logits that are *all* very negative divides by a denominator that
#   is tiny or exactly 0, and the backward pass squares that denominator.
# * **Normalising by a norm.** $y = x / \lVert x\rVert$ (as in cosine similarity or an
#   RMS-style norm without an epsilon) has a Jacobian of size $1/\lVert x\rVert$: the smaller
#   the input, the larger the gradient, until it overflows to `inf`, and once
#   $\lVert x\rVert^2$ underflows to 0 the forward pass itself is $0/0$ = `NaN`.

# %%
print("naive float32 softmax, logits = v + [1, 0, 0, 0], loss = -log p[0]:")
for v in [-80.0, -100.0, -110.0]:
    z = torch.full((1, 4), v)
    z[0, 0] += 1
    z.requires_grad_(True)
    p = ss.naive_softmax(z)
    (-torch.log(p[0, 0])).backward()
    z2 = z.detach().clone().requires_grad_(True)
    F.cross_entropy(z2, torch.tensor([0])).backward()
    print(f"  v = {v:6.0f}: denominator {torch.exp(z).sum().item():.3g}, p[0] = {p[0, 0].item():.4f}, "
          f"grad norm {z.grad.norm().item():.4g}  (shifted, F.cross_entropy: p[0] = "
          f"{torch.softmax(z2, -1)[0, 0].item():.4f}, grad norm {z2.grad.norm().item():.4g})")

print("\ny = x / ||x||, loss = w . y, gradient norm w.r.t. x:")
gen = torch.Generator().manual_seed(0)
direction, w = torch.randn(8, generator=gen), torch.randn(8, generator=gen)
for scale in [1.0, 1e-3, 1e-6, 1e-12, 1e-19, 1e-23]:
    x = (direction / direction.norm() * scale).requires_grad_(True)
    (w * (x / x.norm())).sum().backward()
    print(f"  ||x|| = {scale:7.0e}: ||grad|| = {float(x.grad.norm()):.4g}")

# %% [markdown]
# ### A degenerate layer norm
#
# `torch.nn.LayerNorm` computes $y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}
# \cdot \gamma + \beta$ over the last dimension, with $\epsilon$ = `eps` "a value added to the
# denominator for numerical stability", default `1e-5`
# ([PyTorch docs](https://docs.pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html)).
# The gradient through it carries the factor $1/\sqrt{\mathrm{Var}[x] + \epsilon}$. A row whose
# features are (nearly) all equal — a padding position, a dead channel, a saturated
# activation — has $\mathrm{Var}[x] \approx 0$:
#
# * with `eps=0` and an exactly constant row, the forward pass computes $0/0$: the output and
#   every gradient that flows through it are `NaN`;
# * with `eps=0` and a nearly constant row, the gradient grows like $1/\mathrm{std}(x)$, without
#   bound;
# * with the default `eps`, it stops growing at about $1/\sqrt{\epsilon}$ times the gradient
#   of a well-spread row: large, but finite.

# %%
ln = nn.LayerNorm(16)
print("default LayerNorm eps:", ln.eps, "-> 1/sqrt(eps) =", round(1 / math.sqrt(ln.eps), 1))
gen = torch.Generator().manual_seed(0)
noise, w = torch.randn(1, 16, generator=gen), torch.randn(1, 16, generator=gen)
print(f"{'std of the row':>15} | grad norm, eps=1e-5 | grad norm, eps=0")
for std in [1.0, 1e-2, 1e-4, 1e-6, 0.0]:
    row = []
    for eps in [1e-5, 0.0]:
        ln.eps = eps
        x = (3.0 + std * noise).requires_grad_(True)   # a row of 3.0s plus a little noise
        (w * ln(x)).sum().backward()
        row.append(float(x.grad.norm()))
    if std == 1.0:
        spread = row[0]
    print(f"{std:15.0e} | {row[0]:19.4g} | {row[1]:.4g}")
print(f"with eps=1e-5 a constant row's gradient is {row[0] / spread:.0f}x that of the std-1 row")
ln.eps = 1e-5

# %% [markdown]
# ### What a non-finite gradient does to clipping
#
# Clipping by the global norm does not rescue a `NaN` or an `inf`. The norm of a gradient
# with a `NaN` anywhere is `NaN`, and so is the scale $\text{max\_norm}/\text{norm}$ that then
# multiplies *every* gradient; an `inf` gives a scale of 0, and $0 \cdot \infty$ is `NaN`.
# `torch.nn.utils.clip_grad_norm_` can raise instead with `error_if_nonfinite=True`
# ([PyTorch docs](https://docs.pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)).
# Such a step has to be skipped, not clipped; mixed-precision training does exactly that
# (`torch.amp.GradScaler` skips `optimizer.step()` when it finds an `inf` or a `NaN`; lesson 3
# shows it).

# %%
for bad in [float("nan"), float("inf")]:
    params = [nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))]
    params[0].grad = torch.tensor([0.1, bad, 0.2])
    params[1].grad = torch.tensor([0.3, 0.4])
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    print(f"one {bad} element: total norm {float(total)}; after clipping "
          f"{params[0].grad.tolist()} {params[1].grad.tolist()}")
try:
    params[0].grad = torch.tensor([0.1, float("nan"), 0.2])
    nn.utils.clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=True)
except RuntimeError as exc:
    print("error_if_nonfinite=True raises RuntimeError:", str(exc)[:60], "...")

# %% [markdown]
# ## 3. Distribution shifts
#
# The lesson material tells the story of a model trained on a stream whose sources were mixed
# by a bandit: every 7 to 42 steps (printed below), at a **phase boundary**, the mixture switched to favour
# another source, and (in the story) each switch produced a gradient spike that, without
# clipping, pushed the larger of two models into degenerate, repetitive output. There is no
# public record of those runs; what we can do is build the same kind of stream and measure.
#
# `course.cascade.mixer.bandit_schedule` draws each phase's length from a fixed set and puts
# most of the weight on one source, a different one from the previous phase:

# %%
schedule = bandit_schedule(500, len(SOURCE_NAMES), seed=0)
print("phase lengths allowed:", PHASE_LENGTHS, "(min", min(PHASE_LENGTHS), "max", max(PHASE_LENGTHS), ")")
print("first phases:", schedule.phase_lengths[:8], "dominant source:",
      [SOURCE_NAMES[d] for d in schedule.dominant[:8]])
print("weights in the first phase:", schedule.weights[0], "   boundaries:", schedule.boundaries[:8])
fig, ax = plt.subplots(figsize=(11, 2.2))
ax.stackplot(np.arange(200), schedule.weights[:200].T, labels=SOURCE_NAMES, alpha=0.8)
ax.set_xlabel("step")
ax.set_ylabel("source weight")
ax.legend(fontsize=8, loc="upper right")
plt.show()

# %% [markdown]
# **One switch, under control.** Before the recorded bandit runs of section 4, isolate the effect:
# `ss.switch_run` trains a fresh TinyGPT on `prose` alone, then feeds it `qa` batches
# (question/answer pairs) from one step on. Nothing about the model or the optimizer changes;
# only the data does.

# %%
run = ss.switch_run("prose", "qa", steps_before=60, steps_after=15, seed=0)
g, l, s = np.array(run["grad_norm"]), np.array(run["loss"]), run["switch"]
before = np.median(g[s - 10:s])
print(f"median norm of the 10 steps before the switch: {before:.3f}")
print("norm / that median, steps s-2 .. s+5:", np.round(g[s - 2:s + 6] / before, 2))
print(f"loss: {np.mean(l[s - 5:s]):.2f} nats before, {l[s]:.2f} at the switch")
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8))
axes[0].plot(g)
axes[1].plot(l)
for ax, label in zip(axes, ["global gradient norm", "loss (nats)"]):
    ax.axvline(s, color="C3", ls="--", lw=1)
    ax.set_xlabel(f"step (dashed: switch to '{run['after']}')")
    ax.set_ylabel(label)
plt.tight_layout()
plt.show()

# %% [markdown]
# The loss jumps because the model meets text it has not learned to predict, and the
# gradient norm jumps with it, then decays as the model adapts. That is a spike of a few
# times the usual norm, not of orders of magnitude.

# %% [markdown]
# ## 4. The norms of a real run: heavy tails
#
# Sections 1 to 3 staged each source on its own. What does the global gradient norm look like step by step in an
# actual training run? `course/data/cascade/` holds recorded runs of the same TinyGPT on a data
# bandit stream of section 3, which mixes the three text sources. We look first at
# the runs with plain Adam, no learning-rate warmup and no clipping, three seeds each.
# Their configuration travels with the trace:

# %%
traces = load_recorded()
plain = [traces[f"small-plain-bandit-s{s}"] for s in range(3)]
cfg = plain[0].meta["config"]
print(f"{plain[0].meta['n_params']:,} parameters; {plain[0].steps} steps; batch {cfg['batch']}; "
      f"lr {cfg['lr']}; optimizer {plain[0].meta['optimizer']}; warmup {plain[0].meta['warmup']}; "
      f"max_norm {plain[0].meta['max_norm']}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
edges = ss.log_edges(*(t.grad_norm for t in plain), bins=40)
for t in plain:
    axes[0].plot(t.grad_norm, lw=0.8, label=t.name)
    ss.log_hist(axes[1], t.grad_norm, bins=edges, log_count=True, histtype="step", label=t.name)
axes[0].set_yscale("log")
axes[0].set_xlabel("step")
axes[0].set_ylabel("global gradient norm")
axes[1].set_xlabel("global gradient norm (log-spaced bins)")
axes[1].set_ylabel("steps (log scale)")
axes[1].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# Most steps sit in a narrow band (the cell below prints how narrow: the ratio of the 90th
# to the 10th percentile); a few sit far to the right. A normal distribution has almost no
# mass that far out. The next cell makes that precise: for
# each run it fits a normal curve to the middle of the distribution (the median, and a standard
# deviation from the interquartile range, $\sigma = \mathrm{IQR}/1.349$) and asks how likely a
# step above five times the median would be under that curve, against how many the run has.

# %%
for t in plain:
    g = np.asarray(t.grad_norm, dtype=np.float64)
    s = ss.tail_summary(g)
    q1, q3 = np.percentile(g, [25, 75])
    sigma = (q3 - q1) / 1.349
    z = 4 * s["median"] / sigma                      # 5x median is 4 medians above the median
    p_normal = 0.5 * math.erfc(z / math.sqrt(2))
    p10, p90 = np.percentile(g, [10, 90])
    print(f"{t.name}: median {s['median']:.3f}, p90/p10 {p90 / p10:.1f}, p99/median {s['p99 / median']:.1f}, "
          f"max/median {s['max / median']:.1f}; steps > 5x median: "
          f"{int(round(s['share > 5x median'] * s['n']))} of {s['n']} "
          f"(a normal fit expects {p_normal * s['n']:.1e})")


# %% [markdown]
# A fixed threshold on that histogram is a poor spike detector, because "usual" drifts: the
# norm falls steeply over the first steps of a run and keeps drifting afterwards. A spike is
# better defined **relative to the recent past**: a step whose norm is many times the median
# of the steps just before it. The median, not the mean, because one earlier spike inflates a
# mean for a whole window and would hide the next one.
#
# ### Exercise 4 — `spike_steps`
#
# Write `spike_steps(grad_norms, window=20, factor=5.0)`. It returns, as a list of ints in
# ascending order, every index `i >= 1` with
#
# ```
# grad_norms[i] > factor * median(grad_norms[max(0, i - window):i])
# ```
#
# The trailing window holds at most `window` steps and **excludes step `i` itself** (a spike
# must not raise its own threshold); near the start it holds whatever history there is. A norm
# exactly equal to the threshold is not a spike. For an even number of values the median is
# the mean of the two middle ones (`np.median` and `statistics.median` do that; `torch.median`
# does not). `grad_norms` may be a list or a NumPy array; do not modify it.

# %% nbgrader={"grade": false, "grade_id": "spike_steps", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spike_steps(grad_norms, window=20, factor=5.0):
    """Ascending indices i >= 1 whose norm exceeds factor x the median of the previous window."""
    ### BEGIN SOLUTION
    g = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(g))
            if g[i] > factor * np.median(g[max(0, i - window):i])]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_spike_steps", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_type

def check(args, kwargs, expected, why):
    norms = list(args[0])
    got = spike_steps(*args, **kwargs)
    call = f"spike_steps({norms}{''.join(f', {k}={v}' for k, v in kwargs.items())})"
    assert_type(got, list, name=call)
    assert all(isinstance(i, (int, np.integer)) for i in got), f"`{call}` should hold ints, got {got}"
    assert list(args[0]) == norms, f"`{call}` modified its input"
    assert [int(i) for i in got] == expected, f"`{call}` returned {got}, expected {expected}: {why}"

check(([1, 1, 1, 1, 1, 10],), {}, [5], "10 is more than 5 times the median (1) of the steps before it")
check(([1.0, 10.0],), dict(window=2), [1],
      "step 1's trailing window is grad_norms[0:1] = [1.0] and excludes step 1 itself")
check(([2, 2, 2, 10],), {}, [],
      "10 equals 5 * median 2: a norm exactly at the threshold is not a spike (use >)")
check(([1, 1, 1, 100, 1, 6],), dict(window=5), [3, 5],
      "at step 5 the median of [1, 1, 1, 100, 1] is 1, so 6 is a spike; use the median, not the mean")
check(([1, 2, 10, 30],), dict(window=2), [2],
      "with window=2 the trailing window holds exactly 2 steps (not 3: off by one); step 3's "
      "is [2, 10] (median 6, and 30 is not > 5 * 6) and step 2's is [1, 2] (median 1.5)")
check(([1, 3, 9],), dict(window=2), [],
      "the median of [1, 3] is 2 (the mean of the two middle values), so the threshold is 10")
check(([3.0, 0.5, 16.0],), dict(window=100, factor=5.0), [2],
      "a window longer than the history uses every earlier step: median of [3.0, 0.5] is 1.75")
check(([],), {}, [], "an empty sequence has no spikes")
check(([7.0],), {}, [], "step 0 has no history, so it is never a spike")
got = spike_steps(np.array([1.0, 1.0, 1.0, 8.0]), window=3, factor=5.0)
assert [int(i) for i in got] == [3], f"spike_steps on a numpy array returned {got}, expected [3]"

# %% nbgrader={"grade": true, "grade_id": "test_spike_steps_hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_spike_steps_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# Your detector on the recorded runs, at the default `factor=5` and at a looser `factor=3`:

# %%
fig, axes = plt.subplots(len(plain), 1, figsize=(11, 2.2 * len(plain)), sharex=True)
for ax, t in zip(axes, plain):
    g = np.asarray(t.grad_norm, dtype=np.float64)
    s5, s3 = spike_steps(g, 20, 5.0), spike_steps(g, 20, 3.0)
    print(f"{t.name}: factor 5 -> steps {s5}; factor 3 -> steps {s3}")
    ax.plot(g, lw=0.8, color="C0")
    for b in t.boundaries:
        ax.axvline(b, color="0.85", lw=0.8, zorder=0)
    ax.scatter(s3, g[s3], color="C1", zorder=3, label="> 3x trailing median")
    ax.scatter(s5, g[s5], color="C3", marker="x", s=60, zorder=4, label="> 5x trailing median")
    ax.set_yscale("log")
    ax.set_ylabel(t.name.split("-")[-1])
axes[0].legend(fontsize=8, loc="upper right")
axes[-1].set_xlabel("step (grey lines: phase boundaries, section 3)")
plt.tight_layout()
plt.show()
for t in plain:
    for i in spike_steps(t.grad_norm, 20, 5.0):
        last = max([b for b in t.boundaries if b <= i], default=None)
        where = "before the first boundary" if last is None else f"{i - last} steps after the boundary at {last}"
        print(f"{t.name}: spike at step {i}, {t.grad_norm[i] / np.median(t.grad_norm[max(0, i - 20):i]):.0f}x "
              f"the trailing median, {where}")

# %% [markdown]
# **The bandit runs, at their switches.** Back to the distribution shifts of section 3. In the
# recorded runs the switches are softer (the dominant source holds
# most, not all, of the weight, and the model has seen every source before). Align every phase
# boundary of the three seeds, divide each step's norm by the median of the five steps before
# the boundary, and average. The **static control** runs draw every batch from a fixed equal
# mixture, with the same nominal boundaries, so any rise there is chance. The first 30 steps
# are left out: there the norm falls steeply whatever the data do.

# %%
static = [traces[f"small-plain-static-s{s}"] for s in range(3)]
offsets = list(range(-3, 7))
curves = {}
for label, runs in [("bandit mixture", plain), ("static control", static)]:
    ratios = np.concatenate([ss.boundary_ratios(t.grad_norm, t.boundaries, offsets=offsets,
                                                baseline=5, skip=30) for t in runs])
    curves[label] = ratios
    print(f"{label}: {len(ratios)} boundaries; mean norm ratio at offsets 0, 1, 2: "
          f"{np.round(ratios[:, 3:6].mean(axis=0), 2)}; largest at offset 0: {ratios[:, 3].max():.1f}x; "
          f"boundaries with a > 5x step in offsets 0-2: {int((ratios[:, 3:6].max(axis=1) > 5).sum())}")
fig, ax = plt.subplots(figsize=(7, 3))
for label, ratios in curves.items():
    ax.plot(offsets, ratios.mean(axis=0), marker="o", label=label)
ax.axhline(1.0, color="0.6", lw=0.8)
ax.set_xlabel("steps after a phase boundary")
ax.set_ylabel("norm / median of 5 steps before")
ax.legend()
plt.show()

# %% [markdown]
# **What the runs show, and what they do not.** A switch of the data mixture does lift the
# gradient norm for a step or two, and the static control, whose curve stays flat, shows that
# this is not chance. But read the printed numbers before repeating the story. The average
# lift at a bandit switch is modest (the first ratio printed for the bandit mixture), no
# boundary in any seed is followed by a step above five times its baseline, and the biggest
# spikes your detector found came early in the runs, mostly away from a boundary: they look
# more like an odd batch hitting a model that is still fragile (sources 1 and 2) than like
# source 3. A switch that replaces the whole stream at once, as in `ss.switch_run`, lifts the
# norm more than the bandit's partial switches do. Lesson 8 measures how often spikes fall
# near a switch against chance, on larger models too, and what clipping changes; the recorded
# runs with warmup and clipping live in the same folder.

# %% [markdown]
# ### Back to outliers: a language model and an odd sequence
#
# The largest spikes in these runs come in the first steps, while the model is still
# fragile, and most are not at a phase boundary. Source 1 is a candidate: one odd batch.
# Scaling an input by 20, as in section 1, is blunt; the same thing happens with a byte-level
# language model and a sequence that merely looks unlike the training text.
# `ss.train_tiny_gpt` trains the same TinyGPT (`course.cascade.model.TinyGPT`) for a few
# dozen Adam steps on the three text sources of `course.cascade.sources`. Then we take a batch
# of 16 ordinary text windows and put one odd sequence in row 3: a run of NUL bytes, random
# high bytes, or a run of spaces — all things scraped text contains. Your
# `per_example_grad_norms` measures each row.

# %%
gpt, _ = ss.train_tiny_gpt(steps=80, seed=0)
print(f"TinyGPT: {sum(p.numel() for p in gpt.parameters()):,} parameters, {gpt.cfg.n_layers} layers, "
      f"width {gpt.cfg.d_model}, context {gpt.cfg.context} bytes; trained 80 Adam steps")
windows = ss.text_windows(16, seed=1)
odd_rows = {}
for name, seq in ss.odd_sequences().items():
    batch = windows.clone()
    batch[3] = seq
    with ss.one_thread():     # tiny models run faster on one thread
        n = per_example_grad_norms(gpt, ss.next_byte_loss, batch[:, :-1], batch[:, 1:])
    odd_rows[name] = n.detach().numpy()
    others = np.delete(odd_rows[name], 3)
    print(f"{name:28s} row 3: {odd_rows[name][3]:7.3f}   median of the other 15: "
          f"{np.median(others):.3f}   ratio {odd_rows[name][3] / np.median(others):5.1f}x")

# %% [markdown]
# The repeated bytes do the most damage. A plausible reason: every next-byte prediction in
# such a row sees nearly the same input and makes the same error, so the per-position
# gradients point the same way and add up, where the predictions in ordinary text make varied
# errors that partly cancel. One such row among sixteen is enough to move the batch gradient.
#
# How unusual is "unusual"? The per-example norms of 48 ordinary windows, on a log axis, with
# the three odd sequences marked:

# %%
plain_windows = ss.text_windows(48, seed=2)
with ss.one_thread():
    ordinary = per_example_grad_norms(gpt, ss.next_byte_loss, plain_windows[:, :-1],
                                      plain_windows[:, 1:]).detach().numpy()
fig, ax = plt.subplots(figsize=(8, 3))
ss.log_hist(ax, ordinary, bins=20, label="48 ordinary text windows")
for (name, n), color in zip(odd_rows.items(), ["C3", "C2", "C4"]):
    ax.axvline(n[3], color=color, linestyle="--", label=name)
ax.set_xlabel("per-example gradient norm (log scale)")
ax.set_ylabel("windows")
ax.legend(fontsize=8)
plt.show()
print(f"ordinary windows: median {np.median(ordinary):.3f}, max {ordinary.max():.3f} "
      f"({ordinary.max() / np.median(ordinary):.1f}x the median)")

# %% [markdown]
# ## Summary
#
# * **Outliers:** one example's gradient can dominate a batch's. Per-example norms find it.
# * **Numerics:** float16's `exp` overflows from `smallest_overflowing_logit` up; shift by the
#   maximum. Divisions by near-zero numbers (softmax denominators, norms, a layer norm's
#   standard deviation) scale gradients by their inverse, and `eps` exists to bound that.
#   Clipping cannot repair a `NaN`.
# * **Distribution shifts:** a switch of the data source lifts the norm for a few steps.
# * **Heavy tails:** per-step norms are far from normal; a spike is best defined against the
#   trailing median.
#
# Next, lesson 2: bounding a spike by clipping the global norm, and why per-tensor clipping
# changes the direction of the update.

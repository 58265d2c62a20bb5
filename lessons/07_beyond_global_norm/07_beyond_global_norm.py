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
# # Lesson 7 — Beyond the global norm
#
# Lessons 2 to 6 clipped one number, the global L2 norm, at one fixed threshold
# `max_norm`. This lesson looks at what people reach for when that is not enough:
#
# * the threshold is wrong, or should move as training goes: **AutoClip** (a percentile of
#   the norms seen so far) and **ZClip** (a z-score against running statistics);
# * one number for the whole model is too coarse: **AGC**, adaptive gradient clipping,
#   unit by unit and relative to the weights (NFNets);
# * the Euclidean norm is not the right ruler: **generalized clipping** with non-Euclidean
#   norms (ClippedScion);
# * the gradient does not live in one process: the **global norm across shards**, with
#   real `torch.distributed` processes, where a plain `clip_grad_norm_` silently clips each
#   shard alone.
#
# Each method is written against its authors' code — the repository and file are named in
# each section — and the cases where the code and the usual description differ (the first
# step, warm-up, NaN and inf norms, zero-initialised weights) are shown and tested. Then the
# methods are compared by experiment on one of the course's small models with injected
# spikes, across five seeds, and the lesson says plainly where they do not differ.
#
# **What you will do**
#
# 1. `autoclip_threshold` — AutoClip's percentile threshold.
# 2. `zclip_clipped_norms` — what ZClip lets through, step by step.
# 3. `agc_` — unit-wise adaptive gradient clipping, in place.
# 4. Read the experiment: loss and norm curves, steps clipped, Adam's `v` after the spikes.
# 5. `dual_norm` — the norms generalized clipping measures a layer with, and its step.
# 6. `sharded_clip_grad_norm_` — the global norm over processes, run in 2–4 real processes.
# 7. `which_method` — in your own words, from the lesson's own numbers.
#
# **Working in the released notebook.** Cells after an exercise that use your answer (demos,
# plots, later exercises) raise `NotImplementedError` until you have solved that exercise.
# Solve the exercises in order and re-run the cells below each one.

# %% nbgrader={"grade": false, "grade_id": "setup_imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist

from course import distributed, models, spike_runs

torch.set_printoptions(precision=4, sci_mode=False)
print("torch", torch.__version__, "| numpy", np.__version__,
      "| gloo available:", dist.is_gloo_available())

# %% [markdown]
# ## 1. AutoClip: clip at a percentile of the history
#
# Seetharaman, Wichern, Pardo & Le Roux (2020), *AutoClip: Adaptive Gradient Clipping for
# Source Separation Networks* (IEEE MLSP; [arXiv:2007.14469](https://arxiv.org/abs/2007.14469)),
# keep every gradient norm seen so far and clip at its `p`-th percentile (the paper settles
# on `p = 10`). Their code, **pseeth/autoclip, `autoclip.py`** (the version that accompanies
# the paper, written for pytorch-ignite), does three things after each backward pass:
# compute the global norm, **append it to the history**, then take
# `np.percentile(history, p)` and call `torch.nn.utils.clip_grad_norm_` with it.
#
# The order matters. Because the current norm is in the history before the percentile is
# taken, the threshold on the very first step is that norm itself: nothing is clipped.
# `np.percentile` interpolates linearly between the two nearest ranks by default (not a
# nearest-rank percentile), and `p` is in 0–100.
#
# The same repository's later package, `autoclip/torch/quantile.py` (`QuantileClip`), does
# it differently: it takes `torch.quantile` of the history **before** appending the current
# norm (so the first step's threshold is `inf`), takes `quantile` as a fraction 0–1, keeps
# only the last `history_length = 1000` norms and, by default (`global_threshold=False`),
# clips each parameter by its own history rather than the global norm. This exercise follows `autoclip.py`, as
# the course contract says; the cell after it shows where the two differ.

# %% nbgrader={"grade": false, "grade_id": "autoclip_threshold", "locked": false, "schema_version": 3, "solution": true, "task": false}
def autoclip_threshold(history, current, percentile):
    """AutoClip's clipping threshold for a step whose gradient norm is `current`.

    history: the norms of the earlier steps (a sequence of floats; leave it unchanged).
    percentile: in 0-100. Returns np.percentile (linear interpolation) of the history with
    `current` appended, as a Python float.
    """
    ### BEGIN SOLUTION
    return float(np.percentile(list(history) + [current], percentile))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_autoclip_threshold", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type, call

got = call(autoclip_threshold, [], 3.5, 10.0, name="autoclip_threshold([], 3.5, 10.0)",
           hint="On the first step the history is empty: append the current norm first.")
assert_type(got, float, name="autoclip_threshold([], 3.5, 10.0) (return a Python float)")
assert_close(got, 3.5, name="autoclip_threshold([], 3.5, 10.0)",
             hint="With the current norm appended, the first step's threshold is that norm.")
history = [1.0, 2.0, 3.0, 4.0]
got = call(autoclip_threshold, history, 100.0, 10.0, name="autoclip_threshold([1, 2, 3, 4], 100.0, 10.0)")
if history != [1.0, 2.0, 3.0, 4.0]:
    raise AssertionError("`autoclip_threshold` appended to the caller's history: work on a copy.")
# five values 1, 2, 3, 4, 100: the 10th percentile sits 0.4 of the way from rank 0 to rank 1
mistakes = {1.0: "1.0 is a nearest-rank percentile; np.percentile interpolates linearly.",
            1.3: "1.3 is the 10th percentile of the history alone: append the current norm first.",
            1.004: "1.004 takes the percentile as a fraction (0.1); it is in 0-100."}
hint = next((why for wrong, why in mistakes.items() if math.isclose(got, wrong, rel_tol=1e-6)), "")
assert_close(got, 1.4, name="autoclip_threshold([1, 2, 3, 4], 100.0, 10.0)", hint=hint)
print("autoclip_threshold: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_autoclip_threshold_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_autoclip_threshold_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# The first step, a spike, and a NaN, with your function and with the later package's rule
# (`torch.quantile` of the history before the current norm, `inf` on the first step):

# %%
def package_threshold(history, quantile):
    """QuantileClip's threshold (autoclip/torch/quantile.py): inf on the first step."""
    return math.inf if not history else float(torch.quantile(torch.tensor(history, dtype=torch.float64), quantile))

norms_seen = [0.8, 0.9, 0.7, 1.1, 0.85, 40.0, 0.9]
history = []
print(f"{'step':>4} {'norm':>6} {'autoclip.py (p=10)':>19} {'QuantileClip (q=0.1)':>21}")
for step, norm in enumerate(norms_seen):
    print(f"{step:>4} {norm:>6.2f} {autoclip_threshold(history, norm, 10.0):>19.4f} "
          f"{package_threshold(history, 0.1):>21.4f}")
    history.append(norm)
print("a NaN norm stays in the history, and np.percentile returns NaN from then on:",
      autoclip_threshold([0.8, float('nan'), 0.9], 0.85, 10.0))
p = torch.nn.Parameter(torch.zeros(2))
p.grad = torch.tensor([0.3, 0.4])
torch.nn.utils.clip_grad_norm_([p], float("nan"))
print("clip_grad_norm_ with max_norm = NaN: clip_coef is NaN, and the gradient [0.3, 0.4] becomes",
      p.grad.tolist())

# %% [markdown]
# The 40.0 spike is clipped by both rules, to the thresholds printed in its row, and it
# stays in the history, where a 10th percentile barely notices it. Two failure modes of the paper's
# version are plain from the code: a NaN norm enters the history and makes every later
# threshold NaN — and `clip_grad_norm_(params, nan)` turns every gradient into NaN — so
# AutoClip needs a finite-norm check in front of it (the later package has the same
# weakness: `torch.quantile` of a history holding a NaN is NaN). And with `p = 10`, by
# construction about 90% of steps are clipped once the norms are stationary: AutoClip is a
# permanent, adaptive rescaling, not a spike detector (the experiment in section 4 counts it).

# %% [markdown]
# ## 2. ZClip: a z-score against running statistics
#
# Kumar, Owen, Roy Chowdhury & Güra (2025), *ZClip: Adaptive Spike Mitigation for LLM
# Pre-Training* ([arXiv:2504.02507](https://arxiv.org/abs/2504.02507)), treat the
# gradient norm as a signal with a running mean $\mu$ and variance $\sigma^2$ and clip only
# the steps whose norm is an outlier. Their reference implementation is
# **bluorion-com/ZClip, `zclip/zclip.py`** (class `ZClip`, defaults `alpha=0.97`,
# `z_thresh=2.5`, `warmup_steps=25`, `mode="zscore"`, `clip_option="adaptive_scaling"`,
# `eps=1e-6`, `clip_factor=1.0`). Reading its `step`, `_initialize_ema`, `_compute_clip_val`
# and `_update_ema`, with `max_grad_norm=None` (no absolute cap):
#
# 1. **Warm-up.** The first `warmup_steps` norms pass unclipped and go into a buffer. When
#    the buffer holds `warmup_steps` norms, $\mu$ is their mean and $\sigma^2$ their
#    **population** variance (divide by $n$).
# 2. From the next step on, $z = (g - \mu) / (\sigma + 10^{-6})$. If $z > z_{thresh}$ the
#    norm is clipped to
#    $$\mu + \frac{z_{thresh}\,\sigma}{z / z_{thresh}} = \mu + \frac{z_{thresh}^2\,\sigma}{z},$$
#    which is below $\mu + z_{thresh}\,\sigma$, and the further out the spike, the closer to
#    $\mu$ ("adaptive scaling").
# 3. Then $\mu \leftarrow \alpha\mu + (1-\alpha)\,g'$ and
#    $\sigma^2 \leftarrow \alpha\sigma^2 + (1-\alpha)(g' - \mu)^2$ with the **new** $\mu$,
#    where $g'$ is the **clipped** norm on a clipped step and the raw norm otherwise: a
#    spike never enters the statistics at full size.
#
# Your function replays that on a sequence of norms and returns, for each step, the norm
# ZClip lets through: the raw norm, or the threshold when it clips. (The code multiplies
# the gradients by `threshold / (norm + 1e-6)`, so what passes is the threshold to a
# relative 1e-6 / norm.) Use Python floats, as the reference code does: `float('inf')`
# and NaN then behave as they do there (the cell after the tests shows how).

# %% nbgrader={"grade": false, "grade_id": "zclip_clipped_norms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
    """The gradient norm ZClip lets through at each step (z-score mode, adaptive scaling,
    no absolute cap).

    norms: the raw global norms, one per step (a sequence; leave it unchanged).
    Returns a float64 numpy array of the same length.
    """
    ### BEGIN SOLUTION
    out, buffer = [], []
    mean = var = None
    for g in norms:
        g = float(g)
        if mean is None:
            buffer.append(g)
            if len(buffer) >= warmup_steps:
                mean = sum(buffer) / len(buffer)
                var = sum((x - mean) ** 2 for x in buffer) / len(buffer)
            out.append(g)
            continue
        std = var ** 0.5
        z = (g - mean) / (std + 1e-6)
        if z > z_thresh:
            g = mean + z_thresh ** 2 * std / z
        out.append(g)
        mean = alpha * mean + (1 - alpha) * g
        var = alpha * var + (1 - alpha) * (g - mean) ** 2
    return np.array(out, dtype=np.float64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_zclip_clipped_norms", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, call

# warm-up of 4: mu = 1.0, population variance 0.005 (sigma 0.0707); step 4 is a spike of 3.0
norms = [0.9, 1.1, 1.0, 1.0, 3.0, 1.0]
got = call(zclip_clipped_norms, norms, 0.9, 2.5, 4, name="zclip_clipped_norms(norms, 0.9, 2.5, 4)")
if not isinstance(got, np.ndarray) or got.shape != (6,):
    raise AssertionError(f"`zclip_clipped_norms` should return an array of 6 norms, got {got!r}")
assert_close(got[:4], norms[:4], name="the warm-up steps (they pass unclipped)",
             hint="The first `warmup_steps` norms pass as they are.")
mu, sigma = 1.0, math.sqrt(0.005)
z = (3.0 - mu) / (sigma + 1e-6)
spike = mu + 2.5 ** 2 * sigma / z
hints = [(mu, "You clipped to mu: adaptive scaling clips to mu + z_thresh**2 * sigma / z."),
         (1.0 + 2.5 ** 2 * math.sqrt(0.02 / 3) / ((3.0 - 1.0) / (math.sqrt(0.02 / 3) + 1e-6)),
          "That uses the sample variance (n - 1); ZClip's warm-up variance divides by n."),
         (3.0, "The spike passed unclipped: is the warm-up one step too long?")]
hint = next((why for wrong, why in hints if math.isclose(got[4], wrong, rel_tol=1e-6)), "")
assert_close(got[4], spike, name="the norm let through at the spike (step 4)", hint=hint)
new_mu = 0.9 * mu + 0.1 * spike
assert_close(got[5], 1.0, name="step 5 (1.0 is no outlier after the spike)",
             hint="Update the EMAs with the clipped norm, not the raw spike: with the raw 3.0 "
                  "in them the statistics would still be inflated.")
assert_close(call(zclip_clipped_norms, [2.0, 50.0], name="zclip_clipped_norms([2.0, 50.0])"),
             [2.0, 50.0], name="zclip_clipped_norms([2.0, 50.0]) (shorter than the default warm-up)")
print("zclip_clipped_norms: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_zclip_clipped_norms_hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_zclip_clipped_norms_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ZClip on the norms of a real run — the unclipped run of section 4, seed 0, whose batches
# carry outliers at five steps — and on an inf and a NaN norm:

# %%
runs = spike_runs.load_recorded()
raw = runs[("none", 0)]["norm"].astype(np.float64)
let_through = zclip_clipped_norms(raw)
clipped = np.flatnonzero(let_through < raw * (1 - 1e-9))
spike_at = spike_runs.meta(runs[("none", 0)])["spike_steps"]
print(f"ZClip clips {len(clipped)} of {len(raw)} steps of the unclipped run; the injected "
      f"spikes are at {spike_at}")
print("clipped steps:", clipped.tolist())
print("at the spikes: raw", np.round(raw[spike_at], 2).tolist(), "-> let through",
      np.round(let_through[spike_at], 3).tolist())
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.semilogy(raw, lw=0.8, label="raw norm")
ax.semilogy(let_through, lw=0.8, label="ZClip lets through")
ax.axvline(25, color="grey", ls=":", lw=0.8, label="end of warm-up")
ax.set(xlabel="step", ylabel="global L2 norm", title="ZClip on the norms of the unclipped run (seed 0)")
ax.legend(fontsize=8)
plt.show()
quiet = [1.0, 1.1, 0.9, 1.0, 1.05]
print("an inf norm after warm-up is clipped to mu:", zclip_clipped_norms(quiet + [math.inf, 1.0], warmup_steps=5)[5:])
print("a NaN norm passes (NaN > z_thresh is False) and poisons mu and sigma, so nothing is "
      "clipped after it:", zclip_clipped_norms(quiet + [math.nan, 100.0], warmup_steps=5)[5:])

# %% [markdown]
# Note what the two edge cases mean in training. An infinite norm is "clipped" to $\mu$, but
# the code multiplies the gradients by $\mu / (\infty + 10^{-6}) = 0$, and an infinite
# entry times 0 is NaN: ZClip does not make an overflowed gradient safe. A NaN norm slips
# through (`NaN > z_thresh` is false) and turns $\mu$ and $\sigma$ into NaN for good, after
# which no step is ever clipped again. Like AutoClip, ZClip needs a finite-norm check in
# front of it (as PyTorch's `error_if_nonfinite=True`, or a skipped step as in lesson 6's
# `GradScaler`).

# %% [markdown]
# ## 3. AGC: unit-wise, relative to the weights
#
# Brock, De, Smith & Simonyan (2021), *High-Performance Large-Scale Image Recognition
# Without Normalization* ([arXiv:2102.06171](https://arxiv.org/abs/2102.06171)), clip each
# **unit** $i$ of each layer (a row of a linear layer's weight: everything that feeds one
# output) by the ratio of its gradient norm to its weight norm:
#
# $$g_i \leftarrow \lambda\,\frac{\max(\|w_i\|, \epsilon)}{\|g_i\|}\,g_i
# \quad\text{if}\quad \frac{\|g_i\|}{\max(\|w_i\|, \epsilon)} > \lambda,$$
#
# with $\lambda$ = `clipping` = 0.01 and $\epsilon$ = `eps` = 1e-3 by default. Every unit's
# gradient is then at most $\lambda$ times its weights' norm, so one plain-SGD step of
# learning rate lr changes a unit by at most lr $\cdot\,\lambda$ of its size.
#
# Two codes, read side by side:
#
# * the authors', **google-deepmind/deepmind-research, `nfnets/optim.py`** (`unitwise_norm`,
#   `SGD_AGC.update_param`): JAX/Haiku lays a linear weight out as (in, out) and a
#   convolution as (H, W, in, out), so the unit norm is taken over every axis **but the
#   last**; scalars and vectors are one unit (after `jnp.squeeze`, so a weight with a
#   dimension of size 1 counts as a vector there); it clips where `grad_norm > max_norm`;
# * **huggingface/pytorch-image-models, `timm/utils/agc.py`** (`unitwise_norm`,
#   `adaptive_clip_grad`): PyTorch lays weights out as (out, in, ...), so the norm is over
#   every axis **but the first**; a tensor with at most one dimension is one unit; it keeps
#   a gradient only where `grad_norm < max_norm`.
#
# Write `agc_` for PyTorch's layout, as timm does. Details that the tests check:
#
# * **eps** matters for zero-initialised parameters (a common init for the last layer of a
#   residual branch, or for biases): with $\|w_i\| = 0$ the threshold would be 0 and the
#   gradient would be clipped to zero, so the parameter could never move; with
#   $\max(\|w_i\|, \epsilon)$ it moves by small steps;
# * a bias, a gain (or any tensor of at most one dimension) is **one** unit, not one unit per
#   entry;
# * in place: change each `p.grad` itself (`p.grad.mul_(...)` or `p.grad.copy_(...)`), skip
#   `p.grad is None`, and do not touch the weights; `parameters` may be a generator;
# * a unit whose gradient norm is NaN: NFNets leaves it as it is (`NaN > max_norm` is false);
#   timm clips it, which makes the whole unit NaN. Either is accepted.

# %% nbgrader={"grade": false, "grade_id": "agc_", "locked": false, "schema_version": 3, "solution": true, "task": false}
def agc_(parameters, clipping=0.01, eps=1e-3):
    """Adaptive gradient clipping, unit-wise, in place on each p.grad (None skipped).

    Units: a weight's slices along its first axis; a tensor with at most one dimension is
    one unit. Returns None.
    """
    ### BEGIN SOLUTION
    for p in parameters:
        if p.grad is None:
            continue
        w, g = p.detach().double(), p.grad.detach().double()
        dims = tuple(range(1, g.ndim)) if g.ndim > 1 else tuple(range(g.ndim))
        w_norm = w.pow(2).sum(dim=dims, keepdim=True).sqrt() if dims else w.abs()
        g_norm = g.pow(2).sum(dim=dims, keepdim=True).sqrt() if dims else g.abs()
        max_norm = clipping * w_norm.clamp(min=eps)
        scale = torch.where(g_norm > max_norm, max_norm / g_norm.clamp(min=1e-12),
                            torch.ones_like(g_norm))
        with torch.no_grad():
            p.grad.copy_((g * scale).to(p.grad.dtype))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_agc_", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, call

# A 2x2 weight: row 0 has ||w|| = 5, ||g|| = 1 (ratio 0.2 > 0.1: clipped to 0.5); row 1 has
# ||w|| = 10, ||g|| = 0.5 (ratio 0.05: kept). A bias with ||w|| = 5, ||g|| = 5 is one unit.
W = torch.nn.Parameter(torch.tensor([[3.0, 4.0], [6.0, 8.0]]))
W.grad = torch.tensor([[0.6, 0.8], [0.3, 0.4]])
b = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
b.grad = torch.tensor([3.0, 4.0])
frozen = torch.nn.Parameter(torch.ones(3))      # no gradient: skipped
grads_before = (W.grad, b.grad)
got = call(agc_, (p for p in [W, frozen, b]), 0.1, name="agc_(a generator of [W, frozen, b], 0.1)",
           hint="Skip parameters whose .grad is None.")
if W.grad is not grads_before[0] or b.grad is not grads_before[1]:
    raise AssertionError("`agc_` assigned new tensors to p.grad: clip them in place.")
if got is not None:
    raise AssertionError("`agc_` works in place and returns None.")
if torch.allclose(W.grad, torch.tensor([[0.6, 0.8], [0.3, 0.4]]) * 1.5 / math.sqrt(1.25), atol=1e-6):
    raise AssertionError("W's gradient was clipped as one whole tensor; AGC clips each row (unit) by "
                         "its own ratio.")
if torch.allclose(W.grad, torch.tensor([[0.6, 0.8], [0.3, 0.4]])):
    raise AssertionError("W's gradient came back unchanged, but row 0 has ||g|| / ||w|| = 0.2 > 0.1. "
                         "If you reduced over the first axis (the output-unit axis of JAX's (in, out) "
                         "layout), you measured input columns: on PyTorch's (out, in) layout reduce "
                         "over every axis but the first.")
assert_close(W.grad, torch.tensor([[0.3, 0.4], [0.3, 0.4]]), name="W.grad after agc_",
             hint="Row 0 (ratio 0.2) is clipped to norm 0.1 * 5; row 1 (ratio 0.05) is kept. "
                  "Units are the slices along the first axis (PyTorch's (out, in) layout).")
assert_close(b.grad, torch.tensor([0.3, 0.4]), name="b.grad after agc_",
             hint="A bias is one unit: ||g|| / ||w|| = 1 > 0.1, so it is scaled to norm 0.1 * 5.")
assert_close(W.detach(), torch.tensor([[3.0, 4.0], [6.0, 8.0]]), name="W after agc_ (weights untouched)")
# zero-initialised weight: the threshold is clipping * eps, not 0
Z = torch.nn.Parameter(torch.zeros(2, 3))
Z.grad = torch.ones(2, 3)
call(agc_, [Z], 0.01, 1e-3, name="agc_([zero-initialised Z], 0.01, 1e-3)")
assert_close(Z.grad.norm(dim=1), torch.full((2,), 1e-5), name="each row norm of Z.grad after agc_",
             hint="Use max(||w_i||, eps): a zero weight's rows are clipped to 0.01 * 1e-3, not to 0.")
print("agc_: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_agc__hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_agc__hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# What AGC does to a TinyMLP's gradient on the outlier batch of lesson 2: how many units of
# each tensor it clips, and the global norm before and after. The layout matters: on
# PyTorch's (out, in) weights, the JAX axis (reduce over the first axis) measures *input*
# columns instead of output units.

# %%
mlp = models.TinyMLP(d_in=8, d_hidden=32, d_out=1, depth=2, seed=0)
x_out, y_out = models.outlier_regression_batch(seed=0)
g_out = models.loss_gradients(mlp, torch.nn.functional.mse_loss, x_out, y_out)
models.set_gradients(mlp, g_out)
before = [p.grad.clone() for p in mlp.parameters()]
agc_(mlp.parameters())
print(f"{'tensor':<18} {'shape':>9} {'units':>6} {'clipped':>8}")
for name, p, g0 in zip(models.parameter_names(mlp), mlp.parameters(), before):
    units = p.shape[0] if p.ndim > 1 else 1
    changed = (g0 != p.grad).reshape(units, -1).any(dim=1).sum().item()
    print(f"{name:<18} {str(tuple(p.shape)):>9} {units:>6} {changed:>8}")
norm_before = math.sqrt(sum(float(g.double().pow(2).sum()) for g in before))
norm_after = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in mlp.parameters()))
print(f"global norm {norm_before:.3f} -> {norm_after:.4f} after AGC (clipping 0.01)")

# %% [markdown]
# ## 4. The experiment: five ways to clip a run with spikes
#
# The model is lesson 2's `TinyMLP` (8 inputs, two tanh hidden layers of 64, one output),
# trained with Adam (lr 3e-3, batch 32) for 300 steps on a smooth teacher
# $y = \sin(2\,x\cdot w)$. At steps 60, 110, 160, 210 and 260 four of the 32 examples are
# outliers: inputs 30 times larger, targets $-10y - 50$. Each of five seeds (model init,
# teacher and data) is trained five ways:
#
# | method | what clips | setting |
# |---|---|---|
# | `none` | nothing | |
# | `global` | `clip_grad_norm_` at a fixed threshold | `max_norm = 1.0` (HF Trainer's default) |
# | `autoclip` | the global clip at AutoClip's threshold | `p = 10` (the paper's choice) |
# | `zclip` | the global clip at ZClip's threshold | the defaults above |
# | `agc` | AGC, unit-wise | `clipping = 0.01`, `eps = 1e-3` (NFNets' defaults) |
#
# The runs were recorded with the course's reference implementations by
# `scripts/record_beyond_global_norm.py` (about 30 s on one core) into
# `course/data/beyond_global_norm/`; the training loop is `course/spike_runs.py`. Below, the
# first steps of seed 0 are re-run live with **your** three functions and compared with the
# recording.

# %%
rules = {"autoclip_threshold": autoclip_threshold, "zclip_clipped_norms": zclip_clipped_norms,
         "agc_": agc_}
threads = torch.get_num_threads()
torch.set_num_threads(1)  # the recording used one thread: same arithmetic, same numbers
LIVE = 70  # past the first spike (step 60)
for method in spike_runs.METHODS:
    live = spike_runs.run(method, 0, rules=rules, steps=LIVE)
    rec = runs[(method, 0)]
    gap = np.max(np.abs(live["eval_loss"] - rec["eval_loss"][:LIVE]) / np.abs(rec["eval_loss"][:LIVE]))
    same_clips = np.array_equal(live["clipped"], rec["clipped"][:LIVE])
    print(f"{method:>8}: first {LIVE} steps re-run with your functions; largest relative gap in "
          f"held-out loss {gap:.1e}; same steps clipped: {same_clips}")
torch.set_num_threads(threads)

# %%
SEEDS = sorted({seed for _, seed in runs})
rows = spike_runs.summary(runs)
colors = dict(zip(spike_runs.METHODS, ["k", "tab:blue", "tab:orange", "tab:green", "tab:red"]))
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for method in spike_runs.METHODS:
    t = runs[(method, 0)]
    axes[0].semilogy(t["norm"], lw=0.7, color=colors[method], label=method)
    axes[1].semilogy(t["norm_after"], lw=0.7, color=colors[method], label=method)
    eval_mean = np.mean([runs[(method, s)]["eval_loss"] for s in SEEDS], axis=0)
    axes[2].semilogy(eval_mean, lw=0.9, color=colors[method], label=method)
for ax in axes:
    for s in spike_at:
        ax.axvline(s, color="grey", lw=0.5, ls=":")
axes[0].set(title="gradient norm before clipping (seed 0)", xlabel="step")
axes[1].set(title="after clipping (seed 0)", xlabel="step")
axes[2].set(title=f"held-out loss, mean of {len(SEEDS)} seeds", xlabel="step")
axes[2].legend(fontsize=8)
plt.tight_layout()
plt.show()

print(f"{'method':>8} | {'steps clipped (of 300), per seed':<34} | {'spikes clipped':>14} | "
      f"{'final held-out loss, per seed':<44}")
for method in spike_runs.METHODS:
    mine = [r for r in rows if r["method"] == method]
    counts = " ".join(f"{r['clipped_steps']:>5d}" for r in mine)
    losses = " ".join(f"{r['final_eval_loss']:.4f}" for r in mine)
    at_spikes = sum(r["clipped_at_spikes"] for r in mine)
    print(f"{method:>8} | {counts:<34} | {at_spikes:>7d} of {len(spike_at) * len(mine):<3d} | {losses}")
lifts = np.array([runs[("none", s)]["norm"][k] / np.median(runs[("none", s)]["norm"]) for s in SEEDS for k in spike_at])
print(f"without clipping, a spike step's norm is {lifts.min():.0f}x to {lifts.max():.0f}x the run's median norm")

# %% [markdown]
# What Adam's second moment $v$ saw. `v_sum` is the sum of $v$ over every parameter;
# the table gives, per method, its jump at a spike step (v after the spike step over v
# just before it; median over the five spikes and the seeds) and how high it still was 20
# steps after the last spike.

# %%
fig, ax = plt.subplots(figsize=(9, 3.2))
for method in spike_runs.METHODS:
    ax.semilogy(runs[(method, 0)]["v_sum"], lw=0.8, color=colors[method], label=method)
for s in spike_at:
    ax.axvline(s, color="grey", lw=0.5, ls=":")
ax.set(xlabel="step", ylabel="sum of Adam's v", title="Adam's second moment (seed 0)")
ax.legend(fontsize=8)
plt.show()
lift = {m: float(np.median([runs[(m, s)]["v_sum"][k] / runs[(m, s)]["v_sum"][k - 1]
                            for s in SEEDS for k in spike_at])) for m in spike_runs.METHODS}
after = {m: float(np.median([r["v_after_last_spike"] for r in rows if r["method"] == m]))
         for m in spike_runs.METHODS}
final = {m: np.array([r["final_eval_loss"] for r in rows if r["method"] == m]) for m in spike_runs.METHODS}
for m in spike_runs.METHODS:
    print(f"{m:>8}: v jumps x{lift[m]:.3f} at a spike (median); 20 steps after the last spike "
          f"x{after[m]:.3f} of its value before it")
clipped_methods = [m for m in spike_runs.METHODS if m != "none"]
worse = sum(all(final["none"][i] > final[m][i] for m in clipped_methods) for i in range(len(SEEDS)))
spread = max(np.max(np.abs(final[a] - final[b]) / final[b]) for a in clipped_methods for b in clipped_methods)
print(f"no clipping ends with the worst held-out loss of all five in {worse} of {len(SEEDS)} seeds")
print(f"between the four clipping methods, final held-out losses differ by at most "
      f"{100 * spread:.0f}% (relative) in any seed")
best = [min(clipped_methods, key=lambda m: final[m][i]) for i in range(len(SEEDS))]
print("the best clipping method per seed:", best)

# %% [markdown]
# **What the runs show, and what they do not.** Read the numbers the cells printed:
#
# * every outlier batch lifts the norm by a factor of tens; without clipping that reaches
#   Adam's $v$ at once (its sum jumps by tens of percent at each spike) and the unclipped
#   run ends with the worst held-out loss of the five (the cell counts in how many seeds);
# * all four methods catch all the injected spikes, and all four keep $v$ nearly flat
#   through them (a jump of a few percent at most): at this scale, **any** clip removes
#   most of what the spike would do to Adam;
# * how often they clip is where they differ most, by design: ZClip clips only the outliers
#   (a few percent of steps), the fixed clip at 1.0 catches the spikes plus ordinary steps
#   whose norm happens to exceed 1.0, early ones and later noise (a threshold that means
#   something only relative to this model's norms), AutoClip at `p = 10` clips most steps (it rescales nearly every
#   gradient to the running 10th percentile), and AGC at 0.01 touches some unit at every step;
# * the final losses of the four clipping methods are close, and which one is best changes
#   from seed to seed: **this experiment does not rank them**. The differences the papers
#   report (ZClip on billion-parameter LLM pre-training, AGC on batch-normalisation-free
#   ResNets at large batch, AutoClip on audio source separation) need their scale; a
#   300-step MLP cannot show them, and this lesson does not claim them.

# %% [markdown]
# ## 5. Non-Euclidean clipping: dual norms
#
# Pethick, Xie, Erdogan, Antonakopoulos, Silveti-Falls & Cevher (2025), *Generalized
# Gradient Norm Clipping & Non-Euclidean $(L_0, L_1)$-Smoothness*
# ([arXiv:2506.01913](https://arxiv.org/abs/2506.01913)), code **LIONS-EPFL/ClippedScion,
# `clippedscion.py`**. Scion-type methods pick, for each layer $l$, a norm $\|\cdot\|_{(l)}$
# and step against the **linear minimisation oracle** of its ball — in the code's sign
# convention $\mathrm{lmo}(g) = \arg\max_{\|d\| \le 1} \langle d, g\rangle$, the unit
# direction of steepest ascent in that norm, which the update subtracts — scaled by a
# radius. How *big* a gradient is, in that geometry, is measured by the **dual norm**
# $\|g\|_* = \max_{\|d\|\le 1}\langle d, g\rangle = \langle \mathrm{lmo}(g), g\rangle$:
#
# | the layer's norm (the ball the step lives in) | its LMO (up to sign) | the dual norm of $g$ |
# |---|---|---|
# | Euclidean / Frobenius | $g / \|g\|_F$ | Frobenius, $\|g\|_F$ |
# | spectral (largest singular value) | $U V^\top$ from $g = U \Sigma V^\top$ | nuclear, $\sum_i \sigma_i$ |
# | max-norm $\ell_\infty$ ("sign") | $\mathrm{sign}(g)$ | $\ell_1$, $\sum |g_{ij}|$ |
#
# In `clippedscion.py` these are the `Spectral` and `Sign` norm classes (the Euclidean one
# is the special case the paper starts from), and the clip reads
# `self.dual_norm += (lmo_g * g).sum()` — exactly $\langle \mathrm{lmo}(g), g\rangle$ summed
# over layers. Write `dual_norm(g, kind)` at radius 1 and without ClippedScion's layer
# scalings (its `scale` radii and the `(d_out/d_in)**0.5` and `1/d_in` factors). For
# `"spectral"`, use an exact SVD (`torch.linalg.svdvals`) and reshape a tensor of more
# than two dimensions (a convolution) to `(shape[0], -1)`. Return a Python float.
#
# ClippedScion itself computes the spectral LMO with five Newton–Schulz iterations in
# bfloat16 (`zeropower_via_newtonschulz5`, from modded-nanogpt), which maps every singular
# value into roughly 0.5–1.5 (its docstring says so) rather than exactly to 1: its dual norm is an approximation of the
# nuclear norm. The exact SVD is the quantity the approximation aims at.

# %% nbgrader={"grade": false, "grade_id": "dual_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dual_norm(g, kind):
    """The dual norm of the gradient tensor `g` for the layer norm `kind`, as a float:
    "euclidean" -> Frobenius, "spectral" -> nuclear (exact SVD), "sign" -> l1."""
    ### BEGIN SOLUTION
    x = g.detach().double()
    if kind == "euclidean":
        return float(torch.linalg.vector_norm(x))
    if kind == "sign":
        return float(x.abs().sum())
    if kind == "spectral":
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1) if x.ndim > 2 else x.reshape(1, -1)
        return float(torch.linalg.svdvals(x).sum())
    raise ValueError(f"`kind` must be 'euclidean', 'spectral' or 'sign', got {kind!r}")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dual_norm", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, assert_type, call

# diag(3, 4): Frobenius 5, nuclear 7 (spectral norm 4), l1 7; [[1, -2], [3, -4]]: l1 10, max 4
D = torch.diag(torch.tensor([3.0, 4.0]))
for kind, want, mistakes in [
        ("euclidean", 5.0, {25.0: "25 is the squared Frobenius norm: take the square root."}),
        ("spectral", 7.0, {4.0: "4 is the spectral norm (largest singular value); its dual is "
                                "the nuclear norm, the sum of the singular values.",
                           5.0: "5 is the Frobenius norm; the spectral kind's dual is the nuclear norm."}),
        ("sign", 7.0, {4.0: "4 is the largest entry (l-infinity); the dual of the max-norm is l1.",
                       1.75: "1.75 is the mean absolute value; l1 sums them."})]:
    name = f"dual_norm(diag(3, 4), {kind!r})"
    got = call(dual_norm, D, kind, name=name)
    assert_type(got, float, name=name + " (return a Python float)")
    hint = next((why for wrong, why in mistakes.items() if math.isclose(got, wrong, rel_tol=1e-6)), "")
    assert_close(got, want, name=name, hint=hint)
assert_close(call(dual_norm, torch.tensor([[1.0, -2.0], [3.0, -4.0]]), "sign", name="dual_norm([[1, -2], [3, -4]], 'sign')"),
             10.0, name="dual_norm([[1, -2], [3, -4]], 'sign')", hint="l1: the sum of absolute values.")
conv = torch.zeros(2, 1, 2, 2)
conv[0, 0, 0, 0], conv[1, 0, 1, 1] = 3.0, 4.0
assert_close(call(dual_norm, conv, "spectral", name="dual_norm(conv (2, 1, 2, 2), 'spectral')"), 7.0,
             name="dual_norm(conv (2, 1, 2, 2), 'spectral')", hint="Reshape to (shape[0], -1) first.")
print("dual_norm: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_dual_norm_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_dual_norm_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ### The clipped step
#
# The seed's README for the repository says that `UnconstrainedClippedScion` is the paper's
# Algorithm 3 and that in practice the method controls
# $\min\{\rho, \sum_{l=1}^D \langle d^k_l, v^k_l\rangle\}$, with `rho` the clipping
# threshold. In `UnconstrainedClippedScion.step` (with `momentum = 1`, i.e. no averaging,
# and `scale = 1`) that reads: for every layer, $d_l = \mathrm{lmo}(g_l)$; the sum of dual
# norms $S = \sum_l \langle d_l, g_l\rangle = \sum_l \|g_l\|_{*(l)}$ (all-reduced over
# processes); then $\eta = \min(1, S / \rho)$ and every layer moves by
# $-\text{lr}\cdot\eta\cdot d_l$.
#
# Check it on **one layer with the Euclidean norm**: $d = g / \|g\|$, $S = \|g\|$, and the
# step is $\text{lr}\min(1, \|g\|/\rho)\, g / \|g\| = \frac{\text{lr}}{\rho}\, g
# \min(\rho / \|g\|, 1)$ — plain SGD with learning rate $\text{lr}/\rho$ on the gradient
# clipped by its global norm at `max_norm = rho`, lesson 2's clip. The cell checks that
# with lesson 2's clip rebuilt from `torch.nn.utils.clip_grad_norm_`, and then shows where
# the generalized method departs from it: with several layers, $S$ is a **sum** of per-layer
# norms (not the root of a sum of squares) and each layer's direction is normalised on its
# own; with the spectral or sign norm the direction is not the gradient's at all.

# %%
def lmo(g, kind):
    """The unit direction in the ball of `kind` that has the largest inner product with g."""
    if kind == "euclidean":
        n = g.norm()
        return g / n if n > 0 else torch.zeros_like(g)
    if kind == "sign":
        return torch.sign(g)
    u, _, vh = torch.linalg.svd(g.reshape(g.shape[0], -1), full_matrices=False)
    return (u @ vh).reshape(g.shape)

def generalized_clip_step(grads, kinds, lr, rho):
    """The update UnconstrainedClippedScion subtracts (momentum 1, scale 1)."""
    total = sum(dual_norm(g, k) for g, k in zip(grads, kinds))
    eta = min(1.0, total / rho)
    return [lr * eta * lmo(g, k) for g, k in zip(grads, kinds)], total, eta

def sgd_step_after_global_clip(grads, lr, max_norm):
    """Lesson 2's clip (torch's clip_grad_norm_), then a plain SGD step of size lr."""
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [lr * p.grad for p in params]

gen = torch.Generator().manual_seed(7)
layer = torch.randn(16, 8, generator=gen)
lr, rho = 0.05, 2.0
for scale in (0.1, 3.0):                       # below and above the threshold
    g = layer * scale
    step, total, eta = generalized_clip_step([g], ["euclidean"], lr, rho)
    ref_step = sgd_step_after_global_clip([g], lr / rho, rho)
    gap = float((step[0] - ref_step[0]).abs().max() / ref_step[0].abs().max())
    print(f"one Euclidean layer, ||g|| = {total:.3f}, rho = {rho}: eta = {eta:.4f}; relative gap "
          f"to SGD(lr/rho) after clip_grad_norm_(max_norm=rho): {gap:.1e}")

two = [layer * 3.0, torch.randn(4, 16, generator=gen) * 0.5]
step, total, eta = generalized_clip_step(two, ["euclidean", "euclidean"], lr, rho)
ref_step = sgd_step_after_global_clip(two, lr / rho, rho)
cos = float(sum((a * b).sum() for a, b in zip(step, ref_step)) /
            math.sqrt(sum(float((a ** 2).sum()) for a in step) * sum(float((b ** 2).sum()) for b in ref_step)))
print(f"two Euclidean layers: S = {total:.3f} = the sum of the layer norms "
      f"{[round(float(g.norm()), 3) for g in two]}, not the global norm {math.sqrt(sum(float(g.norm()) ** 2 for g in two)):.3f}; "
      f"cosine between the two steps {cos:.4f}")
for kind in ("spectral", "sign"):
    (d,), total, eta = generalized_clip_step([layer * 3.0], [kind], lr, rho)
    c = float((d * layer).sum() / (d.norm() * layer.norm()))
    print(f"one layer, {kind}: dual norm {total:.2f} (Frobenius {float((layer * 3.0).norm()):.2f}); the step's "
          f"cosine with the gradient is {c:.3f}")

# %% [markdown]
# ## 6. The global norm across shards
#
# With data parallelism every process holds the whole gradient (after the all-reduce) and a
# local `clip_grad_norm_` is right. With **sharded** training — FSDP, ZeRO, tensor
# parallelism — each process holds only a piece of each gradient, and
# `torch.nn.utils.clip_grad_norm_` on plain local tensors computes the norm of the local
# piece only: each rank then clips its shard by its own norm. Every shard ends at most
# `max_norm`, so the whole gradient can end at up to $\sqrt{N}\cdot$`max_norm` on $N$
# ranks, and its direction changes (each shard got its own factor, as per-tensor clipping
# did in lesson 2). Nothing warns you.
#
# The global norm needs one collective: each rank computes the **sum of squares** of its
# shard, an `all_reduce` with `ReduceOp.SUM` adds them over the group, and every rank takes
# the square root of the same total. ZClip's `_compute_grad_norm` does exactly this for
# FSDP models (bluorion-com/ZClip, `zclip/zclip.py`), ClippedScion all-reduces its sum of
# dual norms the same way, and PyTorch does it inside `clip_grad_norm_` when the gradients
# are DTensors (below).
#
# Write `sharded_clip_grad_norm_(local_grads, max_norm, group=None)`:
#
# * `local_grads` is this rank's list of gradient tensors — possibly **empty** (a rank that
#   holds no part of any gradient still has to join the all-reduce, or the others wait
#   forever);
# * all-reduce (SUM) the local sum of squares over `group` (`None` means every rank);
#   reduce a tensor, e.g. a float64 0-dim tensor;
# * scale each local tensor **in place** by the course's rule (`max_norm / norm` when
#   `norm > max_norm`) or PyTorch's (`min(max_norm / (norm + 1e-6), 1)`);
# * return the global pre-clip norm as a 0-dim tensor, the same on every rank.
#
# The tests run your function in real processes: `course.distributed.run_sharded` forks one
# process per rank from this kernel (so your function reaches them as it is), joins them in
# a gloo process group on a free port of 127.0.0.1, and gives each its shard. A rank that
# waits for a collective another rank never joins is stopped after the time limit and
# reported — no test hangs.

# %% nbgrader={"grade": false, "grade_id": "sharded_clip_grad_norm_", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
    """Clip a gradient sharded over the ranks of `group` by its global L2 norm, in place.

    local_grads: this rank's gradient tensors (a list, possibly empty).
    Returns the global norm before clipping as a 0-dim tensor, the same on every rank.
    """
    ### BEGIN SOLUTION
    sq = torch.zeros((), dtype=torch.float64)
    for g in local_grads:
        sq += g.detach().double().pow(2).sum()
    dist.all_reduce(sq, op=dist.ReduceOp.SUM, group=group)
    total = sq.sqrt()
    if total.item() > max_norm:
        scale = max_norm / total.item()
        with torch.no_grad():
            for g in local_grads:
                g.mul_(scale)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sharded_clip_grad_norm_", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close

# The 3-4-12 gradient of lesson 2 (global norm 13) over three ranks, rank 1 holding nothing.
shards = [[torch.tensor([3.0, 4.0])], [], [torch.tensor([[12.0]])]]
try:
    obs = distributed.run_sharded(sharded_clip_grad_norm_, shards, 6.5, timeout=30)
except distributed.DistributedRunError as exc:
    raise AssertionError(f"sharded_clip_grad_norm_ on 3 ranks: {exc}") from None
for rank, raised in enumerate(obs["raised"]):
    if raised:
        raise AssertionError(f"rank {rank} raised {raised}. Rank 1 has no gradients: its sum of "
                             "squares is 0, and it must still join the all_reduce (a rank that "
                             "skips it leaves the others without a partner).")
for rank, norm in enumerate(obs["norms"]):
    if not isinstance(norm, torch.Tensor) or norm.dim() != 0:
        raise AssertionError(f"rank {rank} returned {norm!r}: return the global norm as a 0-dim tensor")
    known = {5.0: "5 is rank 0's own norm: all-reduce the sums of squares first.",
             12.0: "12 is rank 2's own norm: all-reduce the sums of squares first.",
             0.0: "0 is rank 1's own norm: all-reduce the sums of squares first.",
             17.0: "17 = 5 + 12 adds the norms; add the squares, then take one root.",
             169.0: "169 is the squared norm: take the square root.",
             13.0 / math.sqrt(3): "13 / sqrt(3): ReduceOp.AVG averages; use ReduceOp.SUM."}
    hint = next((why for wrong, why in known.items() if math.isclose(float(norm), wrong, rel_tol=1e-5)), "")
    assert_close(norm, 13.0, name=f"the norm rank {rank} returned", hint=hint)
assert_close(obs["shards"][0][0], torch.tensor([1.5, 2.0]), name="rank 0's gradient after the clip",
             hint="Scale every shard by max_norm / global norm = 0.5, in place.")
assert_close(obs["shards"][2][0], torch.tensor([[6.0]]), name="rank 2's gradient after the clip",
             hint="Scale every shard by max_norm / global norm = 0.5, in place (12 -> 6, not to 6.5).")
print("sharded_clip_grad_norm_: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_sharded_clip_grad_norm__hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_sharded_clip_grad_norm__hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ### The plain clip, per process, gets it wrong by up to $\sqrt{N}$
#
# The same gradient — the TinyMLP's gradient on the outlier batch, flattened and cut into
# $N$ equal contiguous pieces as FSDP shards it — clipped on $N = 2, 3, 4$ ranks by your
# function and by a plain `torch.nn.utils.clip_grad_norm_` on each rank's local piece.
# After the clip the pieces are put back together and the norm of the whole is measured.

# %%
def plain_clip(local_grads, max_norm, group=None):
    """What a sharded rank gets from PyTorch's clip on plain local tensors."""
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in local_grads]
    for p, g in zip(params, local_grads):
        p.grad = g                                  # the same tensor: clipped in place
    return torch.nn.utils.clip_grad_norm_(params, max_norm)

whole = torch.cat([g.reshape(-1) for g in g_out])
MAX_NORM = 0.5
print(f"the whole gradient: norm {float(whole.norm()):.3f}, clipped at max_norm = {MAX_NORM}")
print(f"{'ranks':>5} | {'yours: norm of the whole after':>31} | {'plain per-rank: norm after':>27} | "
      f"{'sqrt(N) * max_norm':>18} | {'cos(plain, global clip)':>23}")
for n in (2, 3, 4):
    shards = distributed.split_flat(g_out, n)
    ours = distributed.run_sharded(sharded_clip_grad_norm_, shards, MAX_NORM, timeout=60)
    plain = distributed.run_sharded(plain_clip, shards, MAX_NORM, timeout=60)
    ours_whole = torch.cat([s[0] for s in ours["shards"]])
    plain_whole = torch.cat([s[0] for s in plain["shards"]])
    cos = float(torch.nn.functional.cosine_similarity(ours_whole, plain_whole, dim=0))
    print(f"{n:>5} | {float(ours_whole.norm()):>31.4f} | {float(plain_whole.norm()):>27.4f} | "
          f"{math.sqrt(n) * MAX_NORM:>18.4f} | {cos:>23.4f}")
    print(f"{'':>5}   norms returned per rank: yours {[round(float(v), 4) for v in ours['norms']]}, "
          f"plain {[round(float(v), 4) for v in plain['norms']]}")

# %% [markdown]
# And what a hang looks like. Here rank 1 skips the collective but stays alive (in a real
# job it would go on to its next step), so rank 0 waits in `all_reduce` for a partner that
# never comes. The launcher stops both at its time limit and says so:

# %%
import time

def skips_when_empty(local_grads, max_norm, group=None):
    if not local_grads:
        time.sleep(60)                  # "nothing to add" -- but rank 0 is waiting for us
        return torch.zeros(())
    return sharded_clip_grad_norm_(local_grads, max_norm, group)

start = time.monotonic()
try:
    distributed.run_sharded(skips_when_empty, [[torch.ones(3)], []], 1.0, timeout=3)
except distributed.DistributedRunError as exc:
    print(f"after {time.monotonic() - start:.1f} s: {exc}")

# %% [markdown]
# The plain clip lands between `max_norm` and $\sqrt{N}\cdot$`max_norm`: it reaches the
# upper end when every shard is above the threshold (each is clipped to exactly `max_norm`),
# and each rank also *logs* a different, local "gradient norm". Your function returns the
# global norm on every rank and leaves the whole at `max_norm`.
#
# ### PyTorch's own distributed answer: FSDP2 and DTensor
#
# PyTorch's answer is to make the gradients know they are sharded. Under FSDP2
# (`torch.distributed.fsdp.fully_shard`) parameters and gradients are `DTensor`s
# (`torch.distributed.tensor`), and `torch.nn.utils.clip_grad_norm_` — through
# `get_total_norm` — computes each DTensor's norm as a partial result that is reduced over
# the mesh, so the plain call returns the global norm on every rank. (FSDP1's wrapper
# instead has its own `FullyShardedDataParallel.clip_grad_norm_` method, which is why the
# curriculum says a plain call on FSDP1 sees only local shards.) Does the pinned torch run
# FSDP2 on CPU with gloo? The cell runs it on 2 processes, with the same TinyMLP and
# outlier batch, and compares with one process:

# %%
recipe = ("course.models.TinyMLP", (), {"d_in": 8, "d_hidden": 32, "d_out": 1, "depth": 2, "seed": 0})
single = models.TinyMLP(d_in=8, d_hidden=32, d_out=1, depth=2, seed=0)
torch.nn.functional.mse_loss(single(x_out), y_out).backward()
single_norm = float(torch.nn.utils.clip_grad_norm_(single.parameters(), MAX_NORM))
try:
    fsdp = distributed.run_fsdp2_clip(recipe, x_out, y_out, MAX_NORM, world_size=2, timeout=90)
    for r in fsdp:
        gap = max(float((a - p.grad).abs().max()) for a, p in zip(r["clipped_full"], single.parameters()))
        print(f"FSDP2 rank {r['rank']}: gradients are DTensors: {r['dtensor_grads']}; "
              f"torch's clip_grad_norm_ returned {r['torch_norm']:.5f} (one process: {single_norm:.5f}); "
              f"the rank's local shard alone has norm {r['local_norm']:.5f}; "
              f"largest gap of the clipped gradients to one process {gap:.1e}")
except distributed.DistributedRunError as exc:
    print("FSDP2 does not run on this torch on CPU:", exc)

# %% [markdown]
# ## 7. In your own words: which method, when
#
# From **this lesson's** experiment and demos (quote at least two numbers the cells
# printed): when would you reach for a fixed global clip, AutoClip, ZClip, AGC, a
# non-Euclidean (generalized) clip, and a sharded norm — and what does each cost (extra
# state, extra hyperparameters, extra computation or communication, failure modes)? Say
# where the experiment could not tell the methods apart.

# %% [markdown] nbgrader={"grade": true, "grade_id": "which_method", "locked": false, "points": 4, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** In the runs all four methods caught all 25 injected spikes and kept
# Adam's $v$ nearly flat through them (its sum rose by about 2% or less at a spike with any
# clip, against about 70% without one), and no clipping ended with the worst held-out loss
# in every seed — so *some* clip is worth having, and at this scale the choice among them
# did not matter: the best method changed from seed to seed and the final losses of the
# four were within about half of each other. They differ in cost and in how often they intervene. A **fixed global
# clip** is one hyperparameter and one reduction, but its threshold means something only
# relative to the model's norms (1.0 clipped ordinary steps as well as spikes here); it is the
# default when the norm scale is known and stable. **AutoClip** needs no scale (a
# percentile of the history) but keeps every past norm and, at `p = 10`, rescales most steps
# (it clipped most of the 300 steps here): it is a permanent adaptive step-size cap, and one
# NaN norm makes its threshold NaN forever. **ZClip** keeps two numbers, clips only outliers
# (a few percent of steps here) and adapts to a drifting norm, which suits long LLM
# pre-training; it needs a warm-up, three hyperparameters, and a finite-norm guard (an inf
# norm zeroes the step into NaN, a NaN norm disables it for good). **AGC** clips per unit
# relative to the weights — useful without normalisation layers and at large batch (NFNets)
# — costs a norm per unit and per weight at every step, touched some unit at every step
# here, and needs `eps` for zero-initialised parameters. **Generalized clipping** belongs
# with a non-Euclidean optimizer (Scion/Muon-style spectral or sign steps), where the step
# size should be set by the dual norm of that geometry; it costs an SVD or Newton–Schulz per
# layer. Finally, whenever the gradient is **sharded** (FSDP, ZeRO, tensor parallel), the
# norm must be all-reduced as a sum of squares — one extra collective — or the clip is
# silently per-shard, off by up to $\sqrt{N}$; FSDP2's DTensor gradients make torch's own
# `clip_grad_norm_` do this.
#
# **Rubric** (4 points)
# * 1 point: uses the lesson's experiment honestly — quotes at least two printed numbers
#   (steps clipped, v jump, final losses) and says the methods could not be ranked at this
#   scale (or equivalent), while clipping vs no clipping did differ.
# * 1 point: AutoClip vs ZClip: percentile of the history (clips most steps at p = 10,
#   NaN-poisoned history) vs z-score on EMAs (clips only outliers; warm-up; NaN/inf
#   weakness), with a sensible "when".
# * 1 point: AGC (unit-wise, relative to weights, eps for zero-init, cost per unit) and
#   generalized clipping (dual norm matched to a non-Euclidean optimizer's geometry) placed
#   correctly.
# * 1 point: the sharded case: the norm must be all-reduced (sum of squares) or the clip is
#   per shard, up to sqrt(N) too large; names a cost (one collective) or PyTorch's DTensor /
#   FSDP2 answer.
# No credit for restating definitions without a "when" or a cost.

# %% [markdown]
# ## Summary
#
# * **AutoClip** (pseeth/autoclip `autoclip.py`): append the current norm, clip at
#   `np.percentile(history, p)`; the first step is never clipped; the later
#   `QuantileClip` package leaves the current norm out (threshold `inf` on step one).
# * **ZClip** (bluorion-com/ZClip `zclip/zclip.py`): warm-up mean and population variance,
#   then z-scores against EMAs updated with the *clipped* norm; spikes go to
#   $\mu + z_{thresh}^2\sigma/z$.
# * **AGC** (deepmind-research `nfnets/optim.py`; timm `timm/utils/agc.py`): per output
#   unit, relative to $\max(\|w_i\|, \epsilon)$; the unit axis depends on the layout.
# * **Generalized clipping** (LIONS-EPFL/ClippedScion `clippedscion.py`): measure the
#   gradient with the dual norm of the layer's geometry (Frobenius, nuclear, l1) and scale the
#   LMO step by $\min(1, \sum_l \|g_l\|_* / \rho)$; one Euclidean layer is lesson 2's clip.
# * **Sharded**: all-reduce the sums of squares; a per-process `clip_grad_norm_` on plain
#   local tensors is off by up to $\sqrt{N}$; FSDP2's DTensor gradients make torch's own call
#   right.
# * None of these needs to beat the others on a small model to be worth knowing: on this
#   lesson's runs they did not, and any clip removed what the spikes did to Adam's `v`.
#
# **References**
# * P. Seetharaman, G. Wichern, B. Pardo, J. Le Roux. *AutoClip: Adaptive Gradient Clipping
#   for Source Separation Networks.* IEEE MLSP 2020. [arXiv:2007.14469](https://arxiv.org/abs/2007.14469).
#   Code: github.com/pseeth/autoclip, `autoclip.py`, `autoclip/torch/quantile.py`.
# * A. Kumar, L. Owen, N. Roy Chowdhury, F. Güra. *ZClip: Adaptive Spike Mitigation for LLM
#   Pre-Training.* 2025.
#   [arXiv:2504.02507](https://arxiv.org/abs/2504.02507). Code: github.com/bluorion-com/ZClip, `zclip/zclip.py`.
# * A. Brock, S. De, S. L. Smith, K. Simonyan. *High-Performance Large-Scale Image Recognition
#   Without Normalization.* ICML 2021. [arXiv:2102.06171](https://arxiv.org/abs/2102.06171).
#   Code: github.com/google-deepmind/deepmind-research, `nfnets/optim.py`;
#   github.com/huggingface/pytorch-image-models, `timm/utils/agc.py`.
# * T. Pethick, W. Xie, M. Erdogan, K. Antonakopoulos, T. Silveti-Falls, V. Cevher.
#   *Generalized Gradient Norm Clipping & Non-Euclidean $(L_0,L_1)$-Smoothness.* 2025.
#   [arXiv:2506.01913](https://arxiv.org/abs/2506.01913). Code: github.com/LIONS-EPFL/ClippedScion, `clippedscion.py`.
# * PyTorch: `torch/nn/utils/clip_grad.py` (`clip_grad_norm_`, `get_total_norm`),
#   `torch.distributed.fsdp.fully_shard`, `torch.distributed.tensor` (DTensor), in the
#   installed torch.
#
# Next lesson: a real training run on a bandit-mixed stream, with and without the guards.

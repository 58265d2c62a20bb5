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
# # 04 · Adam after a spike
#
# Lesson 03 ended on a claim: under Adam, the danger of a gradient spike is not the step
# it causes but what it leaves behind in the optimizer's state. This lesson traces that
# state step by step. You will
#
# 1. write Adam's two moment recursions and follow the first moment after one gradient of
#    50 in a stream of 0.5s (the lesson material's question);
# 2. compute how long each moment stays contaminated: about 44 steps for $m$, thousands
#    for $v$ (the lesson material's "50+ steps" is right for one and wrong for the other);
# 3. write Adam's bias-corrected step, check it against `torch.optim.Adam`, and see the
#    steps shrink while $v$ is inflated;
# 4. clip before the moments and watch the contamination disappear.
#
# **Adam** (Kingma & Ba, 2015, Algorithm 1) keeps, for every parameter, running averages
# of the gradient $g_t$ and of its square:
#
# $$ m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t, \qquad
#    v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2, $$
#
# corrects their start-up bias (both start at 0),
# $\hat m_t = m_t/(1-\beta_1^t)$ and $\hat v_t = v_t/(1-\beta_2^t)$, and moves the parameter
# by $-\,\text{lr}\cdot\hat m_t/(\sqrt{\hat v_t}+\epsilon)$. The defaults, in the paper and in
# `torch.optim.Adam`, are $\beta_1 = 0.9$, $\beta_2 = 0.999$, $\epsilon = 10^{-8}$. AdamW
# (Loshchilov & Hutter, 2019) only changes how weight decay is applied: its $m$ and $v$
# are the same.
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

from course import adam, widgets
from course.testing import assert_close, assert_scalar, assert_type


# %% [markdown]
# ## 1. The two moments
#
# ### Exercise: `adam_moments`
#
# Write `adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0)`. Starting from
# $m_0$ and $v_0$, feed the gradients in order and return `(m, v)`: two float64 NumPy
# arrays of length $T$ holding $m_1,\dots,m_T$ and $v_1,\dots,v_T$, **without** bias
# correction. `grads` may be a list, a tuple or an array; leave it unchanged.

# %% nbgrader={"grade": false, "grade_id": "adam_moments", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    """Adam's raw moments m_t, v_t for t = 1..T, as float64 arrays."""
    ### BEGIN SOLUTION
    g = np.asarray(grads, dtype=np.float64).reshape(-1)
    m = np.empty(g.size)
    v = np.empty(g.size)
    m_t, v_t = float(m0), float(v0)
    for t, g_t in enumerate(g):
        m_t = beta1 * m_t + (1 - beta1) * g_t
        v_t = beta2 * v_t + (1 - beta2) * g_t**2
        m[t], v[t] = m_t, v_t
    return m, v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adam_moments", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
result = adam_moments([2.0, -4.0], beta1=0.75, beta2=0.875)
assert isinstance(result, tuple) and len(result) == 2, (
    "`adam_moments` should return a tuple (m, v) of two arrays")
m, v = result
assert_type(m, np.ndarray, name="m returned by adam_moments")
assert_type(v, np.ndarray, name="v returned by adam_moments")
assert m.dtype == np.float64 and v.dtype == np.float64, (
    f"m and v should be float64 arrays, got {m.dtype} and {v.dtype}")
# by hand: m1 = 0.25*2 = 0.5,   m2 = 0.75*0.5 + 0.25*(-4) = -0.625
#          v1 = 0.125*4 = 0.5,  v2 = 0.875*0.5 + 0.125*16 = 2.4375
if np.allclose(m, [1.5, -2.625]):
    raise AssertionError("m is [1.5, -2.625]: (1 - beta1) and beta1 are swapped. The new "
                         "gradient gets weight (1 - beta1); the old m keeps beta1.")
if np.allclose(m, [1.0, 4.75]):
    raise AssertionError("m is [1.0, 4.75]: m averages the gradients themselves; only v "
                         "averages their squares.")
assert_close(m, [0.5, -0.625], name="m for grads [2, -4], beta1 0.75")
if np.allclose(v, [0.25, -0.28125]):
    raise AssertionError("v is [0.25, -0.28125]: v averages the squared gradients, g**2, not g.")
if np.allclose(v, [3.5, 14.4375]):
    raise AssertionError("v is [3.5, 14.4375]: (1 - beta2) and beta2 are swapped. The new "
                         "squared gradient gets weight (1 - beta2); the old v keeps beta2.")
assert_close(v, [0.5, 2.4375], name="v for grads [2, -4], beta2 0.875")
m, v = adam_moments([1.0], beta1=0.5, beta2=0.5, m0=3.0, v0=5.0)
assert_close(m, [2.0], name="m for grads [1], m0 3, beta1 0.5",
             hint="Start the recursion from m0 (and v from v0).")
assert_close(v, [3.0], name="v for grads [1], v0 5, beta2 0.5",
             hint="Start the recursion from v0.")
m, v = adam_moments([])
assert m.shape == (0,) and v.shape == (0,), "an empty gradient list gives two empty arrays"
print("adam_moments: right on the visible cases.")

# %% nbgrader={"grade": true, "grade_id": "test_adam_moments_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_adam_moments_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One spike, ten steps
#
# The lesson material asks: late in a run, typical gradients have norm about 0.5, so
# $m$ has settled at 0.5. One batch produces a gradient of **50.0**; the next ten are
# back to **0.5**. With $\beta_1 = 0.9$, what is $m$ on the spike step and on each of the
# ten steps after it?
#
# ### Exercise: `m_trace_after_spike`
#
# Assign `m_trace_after_spike`: a list of 11 floats, $m$ at the spike step followed by
# $m$ at the ten steps after it. Your `adam_moments` (with `m0`) is one way to compute it.

# %% nbgrader={"grade": false, "grade_id": "m_trace_after_spike", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
m_trace_after_spike = adam_moments([50.0] + [0.5] * 10, beta1=0.9, m0=0.5)[0].tolist()
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_m_trace_after_spike", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
assert "m_trace_after_spike" in globals(), (
    "`m_trace_after_spike` is not defined: assign it in the cell above and run that cell.")
trace = m_trace_after_spike
assert_type(trace, list, name="m_trace_after_spike")
assert len(trace) == 11, (f"`m_trace_after_spike` has {len(trace)} values; it needs 11: the "
                          "spike step, then the ten steps after it.")
values = [assert_scalar(x, name=f"m_trace_after_spike[{i}]") for i, x in enumerate(trace)]
assert values[0] > 0.5, ("the first value is m on the spike step, which must jump above the "
                         f"steady 0.5; got {values[0]:.6g}")
assert all(a > b > 0.5 for a, b in zip(values, values[1:])), (
    "after the spike, m should fall back towards 0.5 without reaching it")
for k in range(1, 11):  # each step after the spike: m = beta1 * m_before + (1 - beta1) * g, g = 0.5
    assert_close(values[k], 0.9 * values[k - 1] + 0.1 * 0.5, name=f"m_trace_after_spike[{k}]",
                 hint=f"After the spike the gradient is 0.5 again, so m_trace_after_spike[{k}] "
                      f"should be 0.9 * m_trace_after_spike[{k - 1}] + 0.1 * 0.5.")
print("`m_trace_after_spike` follows m's recursion after the spike; the hidden test checks the spike step.")

# %% nbgrader={"grade": true, "grade_id": "test_m_trace_after_spike_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A hidden test checks the values of your answer.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_m_trace_after_spike_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# The excess over 0.5 shrinks by a factor $\beta_1$ each step: the spike enters with
# weight $1-\beta_1$, so the excess is $(1-\beta_1)(50-0.5)\,\beta_1^k$ after $k$ more
# steps. The cell computes both ways, with plain arithmetic:

# %%
m, trace = 0.5, []
for g in [50.0] + [0.5] * 10:
    m = 0.9 * m + 0.1 * g
    trace.append(m)
for k, value in enumerate(trace):
    print(f"k = {k:2d}   m = {value:8.5f}   0.5 + 0.1*49.5*0.9**k = {0.5 + 0.1 * 49.5 * 0.9**k:8.5f}")
print(f"ten steps after the spike, m is {trace[-1] / 0.5:.2f} times its steady value")


# %% [markdown]
# Ten steps after the spike, $m$ is still about 4.45 times its steady value: the spike is
# far from forgotten.
#
# ### A norm of 50, moments per coordinate: when is the scalar trace exact?
#
# The lesson material's 50 and 0.5 are **global norms**, over every parameter; Adam keeps
# $m$ and $v$ **per coordinate**. The recursion is linear, so the scalar trace tells the
# truth about the vector in two cases, and only there:
#
# * **$\sum_i v_i$, always.** Summed over coordinates, $g_i^2$ adds up to $\|g\|^2$, so
#   $\sum_i v_i$ follows the scalar $v$ recursion fed with squared norms exactly, whatever
#   direction the spike points in (lesson 08 plots this sum).
# * **$\|m\|$, when the gradients are parallel.** If every gradient is a positive multiple
#   of one direction, $m$ is the scalar trace times that direction. When the spike points
#   elsewhere, the triangle inequality makes the scalar trace an upper bound on $\|m\|$.
#
# Per coordinate, neither says what one coordinate sees: a coordinate the spike hits hard
# has its $v_i$ multiplied by far more than the average, another by almost nothing. The
# cell below replays the seed's stream on 1,000 coordinates, from the settled state, with
# the spike along the typical direction and along another one.

# %%
rng = np.random.default_rng(0)
d = 1000
typical_dir = rng.standard_normal(d)
typical_dir /= np.linalg.norm(typical_dir)


def vector_moments(spike_dir, beta1=0.9, beta2=0.999):
    """m, v per coordinate from the settled state (gradient 0.5 * typical_dir): one
    gradient of norm 50 along `spike_dir`, then ten of norm 0.5 along typical_dir."""
    m, v = 0.5 * typical_dir, (0.5 * typical_dir) ** 2
    ms, vs = [], []
    for g in [50.0 * spike_dir] + [0.5 * typical_dir] * 10:
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        ms.append(m)
        vs.append(v)
    return np.array(ms), np.array(vs), (0.5 * typical_dir) ** 2


other_dir = rng.standard_normal(d)
other_dir /= np.linalg.norm(other_dir)
v_scalar, v_trace = 0.25, []
for g in [50.0] + [0.5] * 10:
    v_scalar = 0.999 * v_scalar + 0.001 * g**2
    v_trace.append(v_scalar)
for label, direction in (("spike along the typical direction", typical_dir),
                         ("spike along another direction", other_dir)):
    ms, vs, v_settled = vector_moments(direction)
    m_gap = np.max(np.abs(np.linalg.norm(ms, axis=1) - trace) / trace)
    v_gap = np.max(np.abs(vs.sum(axis=1) - v_trace) / v_trace)
    jump = vs[0] / v_settled                      # each coordinate's v, spike step / settled
    print(f"{label}:\n  ||m|| at the spike step {np.linalg.norm(ms[0]):.3f} (scalar trace "
          f"{trace[0]:.3f}), largest relative gap over the 11 steps {m_gap:.1e}\n"
          f"  sum(v) vs the scalar v trace: largest relative gap {v_gap:.1e}\n"
          f"  one coordinate's v jumps by a factor from {jump.min():.3g} to {jump.max():.3g} "
          f"(median {np.median(jump):.3g}; the scalar trace says {v_trace[0] / 0.25:.3g})")


# %% [markdown]
# So read this lesson's numbers for $m$ as the story of the spike's *direction* when the
# spike is aligned with the gradients around it, and as an upper bound on $\|m\|$ when it is
# not; read the numbers for $v$ as exact for $\sum_i v_i$, and as an average over very
# different coordinates. The single-parameter functions you write below are exact for a
# model with one parameter, and for each coordinate given that coordinate's own gradients.
#
# ## 3. How long is the state contaminated?
#
# Call the moment *recovered* once its excess over the typical value has fallen to a
# fraction `tol` of that typical value. For a moment with decay $\beta$ that sees one value
# `spike` in a stream of `typical`, the excess $k$ steps after the spike step is
# $(1-\beta)(\text{spike}-\text{typical})\,\beta^k$. For $v$, both values are squares:
# spike $50^2 = 2500$, typical $0.5^2 = 0.25$.
#
# ### Exercise: `steps_to_recover`
#
# Write `steps_to_recover(spike, typical, beta, tol=0.1)`: the smallest integer
# $k \ge 0$ with $(1-\beta)(\text{spike}-\text{typical})\,\beta^k \le \text{tol}\cdot
# \text{typical}$. $k = 0$ is the spike step itself, so a spike too small to matter gives 0.
# Return a Python `int`.

# %% nbgrader={"grade": false, "grade_id": "steps_to_recover", "locked": false, "schema_version": 3, "solution": true, "task": false}
def steps_to_recover(spike, typical, beta, tol=0.1):
    """Smallest k >= 0 with (1 - beta) * (spike - typical) * beta**k <= tol * typical."""
    ### BEGIN SOLUTION
    k = 0
    while (1 - beta) * (spike - typical) * beta**k > tol * typical:
        k += 1
    return k
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_steps_to_recover", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
def check(args, expected, why=""):
    call = f"steps_to_recover{args}"
    got = steps_to_recover(*args)
    assert isinstance(got, (int, np.integer)), f"`{call}` should return an int, got {type(got).__name__}"
    if got == expected + 1:
        raise AssertionError(f"`{call}` is {got}, one too many: k = 0 is the spike step itself, "
                             f"and the answer is the first k where the condition holds. {why}")
    if got == expected - 1:
        raise AssertionError(f"`{call}` is {got}, one too few: at k = {got} the excess is "
                             f"still above tol * typical. {why}")
    assert got == expected, f"`{call}` is {got}, expected {expected}. {why}"

check((50.0, 0.5, 0.9), 44)
check((3.0, 1.0, 0.5, 0.125), 3, "Here the excess at k = 3 equals tol * typical exactly, and "
      "equal counts as recovered (<=).")
check((0.5, 0.5, 0.9), 0, "No spike at all: recovered at once.")
check((0.6, 0.5, 0.9), 0, "A spike whose excess is already within tol: recovered at once.")
print("steps_to_recover: right on the visible cases.")

# %% nbgrader={"grade": true, "grade_id": "test_steps_to_recover_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_steps_to_recover_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# Now the numbers for the stream above (typical 0.5, spike 50, `tol = 0.1`), for $m$ with
# $\beta_1 = 0.9$, for $v$ with $\beta_2 = 0.999$, and for $v$ with $\beta_2 = 0.95$, the
# value Kronos' predictor fine-tuning uses (`finetune/config.py`, line 66, in
# `shiyu-coder/Kronos` at `67b630e`). The cell uses a closed form of the same condition,
# $k = \lceil \log(\text{tol}\cdot\text{typical}/((1-\beta)(\text{spike}-\text{typical}))) /
# \log\beta \rceil$, so it runs before you have solved the exercise:

# %%
def recover_closed_form(spike, typical, beta, tol=0.1):
    excess0 = (1 - beta) * (spike - typical)
    if excess0 <= tol * typical:
        return 0
    return math.ceil(math.log(tol * typical / excess0) / math.log(beta))

for label, args in [("m, beta1 = 0.9   ", (50.0, 0.5, 0.9)),
                    ("v, beta2 = 0.999 ", (50.0**2, 0.5**2, 0.999)),
                    ("v, beta2 = 0.95  ", (50.0**2, 0.5**2, 0.95))]:
    print(f"{label}: recovered after {recover_closed_form(*args):5d} steps")
print(f"v right after the spike: {(0.999 * 0.25 + 0.001 * 2500) / 0.25:.2f} times its "
      "typical value 0.25")


# %% [markdown]
# So the lesson material's "one bad batch corrupts optimizer state for 50+ steps" is about
# right for $m$ (44 steps) and off by two orders of magnitude for $v$: with the default
# $\beta_2 = 0.999$, $v$ jumps to 11 times its typical value and needs about 4,600 steps
# to come back within 10%. A smaller $\beta_2$ forgets faster: 167 steps at 0.95.
#
# ## 4. What an inflated $v$ does to the step
#
# ### Exercise: `adam_step_sizes`
#
# Write `adam_step_sizes(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8)`: the **absolute**
# update $|\text{lr}\cdot\hat m_t/(\sqrt{\hat v_t}+\epsilon)|$ of one scalar parameter at each
# step $t = 1,\dots,T$ of Adam started from $m_0 = v_0 = 0$, as a float64 array. Bias
# correction uses $t$ counting from 1, and $\epsilon$ is added **after** the square root of
# the bias-corrected $\hat v_t$, as in Algorithm 1 of the paper and in `torch.optim.Adam`.
# You may call your `adam_moments`.

# %% nbgrader={"grade": false, "grade_id": "adam_step_sizes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step_sizes(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """|update| of one scalar parameter at each step of bias-corrected Adam."""
    ### BEGIN SOLUTION
    m, v = adam_moments(grads, beta1, beta2)
    t = np.arange(1, len(m) + 1)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return np.abs(lr * m_hat / (np.sqrt(v_hat) + eps))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adam_step_sizes", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
def torch_steps(grads, lr, betas=(0.9, 0.999), eps=1e-8):
    p = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps)
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        before = float(p.detach())
        opt.step()
        out.append(abs(float(p.detach()) - before))
    return np.array(out)

grads = [0.5, -0.5, -50.0, 0.5, -0.5, 0.5]
got = adam_step_sizes(grads, 1e-3)
assert_type(got, np.ndarray, name="adam_step_sizes(...)")
first = float(np.asarray(got).reshape(-1)[0])
if math.isclose(first, 1e-3 * 0.1 / math.sqrt(0.001), rel_tol=1e-4):
    raise AssertionError("the first step is 3.16 * lr: without bias correction. Divide m by "
                         "(1 - beta1**t) and v by (1 - beta2**t), with t counting from 1.")
if np.any(np.asarray(got) < 0):
    raise AssertionError("`adam_step_sizes` returned negative values: return the absolute update")
assert_close(got, torch_steps(grads, 1e-3), name="adam_step_sizes(grads, 1e-3)", rtol=1e-6,
             hint="(compared with torch.optim.Adam on a float64 scalar)")
tiny = [1e-9, 2e-9, 1e-9]
got = adam_step_sizes(tiny, 1.0)
assert_close(got, torch_steps(tiny, 1.0), name="adam_step_sizes(tiny gradients, 1.0)", rtol=1e-6,
             hint="With tiny gradients eps matters: add it after the square root, "
                  "sqrt(v_hat) + eps, not inside it.")
print("adam_step_sizes: matches torch.optim.Adam on the visible cases.")

# %% nbgrader={"grade": true, "grade_id": "test_adam_step_sizes_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_adam_step_sizes_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ### Your update equals PyTorch's
#
# The cell below runs `torch.optim.Adam` on a scalar parameter (float32 as in most training,
# then float64) over the spike stream and compares its parameter changes with your
# `adam_step_sizes`. In float32 they agree to a few times $10^{-7}$ (float32 keeps about
# 7 significant digits, and $m$ and $v$ carry their rounding from step to step, so the
# gap grows to about $10^{-6}$ late in the stream); in float64 to about $10^{-14}$.

# %%
stream = [0.5] * 20 + [50.0] + [0.5] * 40
mine = adam_step_sizes(stream, 1e-3)
for dtype in (torch.float32, torch.float64):
    theirs = adam.torch_adam_trace(stream, lr=1e-3, dtype=dtype).step
    gap = np.abs(theirs - mine) / mine
    print(f"torch.optim.Adam in {str(dtype):13s}: relative difference median "
          f"{np.median(gap):.1e}, largest {gap.max():.1e}")

# %% [markdown]
# ### The step sizes after the spike
#
# Your function starts from zero state. To look at a run that has settled, the cells below
# use `course.adam.adam_trace` (the same recursions in float64, with a start state:
# `steady_state(0.5)` sets $m = 0.5$, $v = 0.25$ and a step count large enough that the bias
# corrections are 1). Steps are reported in units of lr; the steady step is 1 lr.

# %%
stream = adam.spike_stream(50.0, 0.5, after=6000)
raw = adam.adam_trace(stream, lr=1.0, **adam.steady_state(0.5))
after = raw.step[1:]
print(f"spike step: {raw.step[0]:.2f} lr; the next three: {np.round(after[:3], 2).tolist()}")
print(f"first step below 1 lr: {np.argmax(after < 1.0) + 1} steps after the spike")
print(f"smallest step: {after.min():.2f} lr, {after.argmin() + 1} steps after the spike")
print(f"last step below 0.5 lr: {np.flatnonzero(after < 0.5).max() + 1} steps after; "
      f"below 0.9 lr: {np.flatnonzero(after < 0.9).max() + 1} steps after")
fig = adam.plot_trace({"spike of 50, no clipping": raw}, typical=0.5,
                      title="Adam after one spike (steady state 0.5)")
for ax in fig.axes:
    ax.set_xscale("log")


# %% [markdown]
# Read the three panels together. While $m$ still carries the spike, the steps are *larger*
# than normal (3.3 lr on the spike, then falling) and all in the spike's direction. From
# the 14th step after the spike, $m$'s excess no longer outweighs $v$'s and the steps drop
# below normal, to a minimum of 0.31 lr 73 steps after the spike. They stay below half of normal for
# about 1,200 steps and below 90% for about 3,750. If the spike's direction was wrong, the
# model first takes tens of steps the wrong way, then learns at a fraction of its rate for
# thousands of steps.
#
# ## 5. Clipping before the moments
#
# Clipping happens before the optimizer: the moments only ever see the clipped gradient.
# For one scalar parameter the gradient's norm is its absolute value, so clipping to
# `max_norm` replaces $g$ by $\text{sign}(g)\cdot\text{max\_norm}$ when $|g| > \text{max\_norm}$.
#
# ### Exercise: `moments_with_clipping`
#
# Write `moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999)`: as
# `adam_moments` (from $m_0 = v_0 = 0$), with each gradient clipped to `max_norm` **before**
# it enters $m$ and $v$. Keep each gradient's sign.

# %% nbgrader={"grade": false, "grade_id": "moments_with_clipping", "locked": false, "schema_version": 3, "solution": true, "task": false}
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    """adam_moments of the gradients, each clipped to norm max_norm first."""
    ### BEGIN SOLUTION
    g = np.asarray(grads, dtype=np.float64).reshape(-1)
    clipped = np.where(np.abs(g) > max_norm, np.sign(g) * max_norm, g)
    return adam_moments(clipped, beta1, beta2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_moments_with_clipping", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
grads = [0.5, 50.0, -80.0, 0.5]
result = moments_with_clipping(grads, 1.0, beta1=0.5, beta2=0.5)
assert isinstance(result, tuple) and len(result) == 2, "return a tuple (m, v) of two arrays"
m, v = result
# the clipped stream is [0.5, 1.0, -1.0, 0.5]
want_m = [0.25, 0.625, -0.1875, 0.15625]
want_v = [0.125, 0.5625, 0.78125, 0.515625]
if np.allclose(m, [0.25, 1.0, -1.0, -0.25]) or np.abs(np.asarray(v)).max() > 10:
    raise AssertionError("the spike reached m or v: clip each gradient before it enters "
                         "the moments (clipping m afterwards leaves the spike in v).")
if np.allclose(m, [0.25, 0.625, 0.8125, 0.65625]):
    raise AssertionError("the -80 was clipped to +1.0: keep the gradient's sign "
                         "(clip its absolute value).")
assert_close(m, want_m, name="m for grads [0.5, 50, -80, 0.5], max_norm 1.0, beta1 0.5",
             hint="Clip each gradient to [-max_norm, max_norm] (keeping its sign), then average.")
assert_close(v, want_v, name="v for grads [0.5, 50, -80, 0.5], max_norm 1.0, beta2 0.5",
             hint="v averages the squares of the clipped gradients.")
print("moments_with_clipping: right on the visible cases.")

# %% nbgrader={"grade": true, "grade_id": "test_moments_with_clipping_hidden", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_moments_with_clipping_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# With `max_norm = 1.0` the spike of 50 enters the moments as 1.0. Its excess is then
# already within 10% of typical for both moments, by the same `recover_closed_form`:

# %%
print("m recovers after", recover_closed_form(1.0, 0.5, 0.9), "steps;",
      "v recovers after", recover_closed_form(1.0**2, 0.5**2, 0.999), "steps")
clipped = adam.adam_trace(stream, lr=1.0, max_norm=1.0, **adam.steady_state(0.5))
print(f"clipped: spike step {clipped.step[0]:.2f} lr; largest step after it "
      f"{clipped.step[1:].max():.2f} lr; smallest {clipped.step[1:].min():.3f} lr")
fig = adam.plot_trace({"no clipping": raw, "clipped at 1.0": clipped}, typical=0.5,
                      title="The same spike, clipped before the moments")
for ax in fig.axes:
    ax.set_xscale("log")


# %% [markdown]
# Clipping does not make the spike step disappear (it is 1.1 lr instead of 3.3 lr), but
# it keeps the spike out of the state: no stretch of oversized steps, and no thousands of
# steps at a fraction of the learning rate. Clipping $m$ instead of $g$ would not help
# with the second problem: the spike's square would still be in $v$.
#
# ## 6. Explore
#
# Change the spike, the betas, the threshold, and switch clipping on and off; the three
# panels show $m$, $v$ and the step size (in units of lr) against the steps after the
# spike, on a log axis. Executed headless (for example by the autograder) this cell draws
# the default settings once.

# %%
def draw_spike(spike=50.0, beta1=0.9, beta2=0.999, max_norm=1.0, clip=True, steps=6000):
    grads = adam.spike_stream(spike, 0.5, after=int(steps))
    start = adam.steady_state(0.5)
    traces = {"no clipping": adam.adam_trace(grads, lr=1.0, beta1=beta1, beta2=beta2, **start)}
    if clip:
        traces[f"clipped at {max_norm:.3g}"] = adam.adam_trace(
            grads, lr=1.0, beta1=beta1, beta2=beta2, max_norm=max_norm, **start)
    fig = adam.plot_trace(traces, typical=0.5, title=(
        f"spike {spike:.3g} in a stream of 0.5s, beta1 {beta1:.3g}, beta2 {beta2:.4g}"))
    for ax in fig.axes:
        ax.set_xscale("log")
    return fig

spike_ui = widgets.show_figure(draw_spike, {
    "spike": widgets.slider(50.0, 1.0, 1000.0, log=True, description="spike"),
    "beta1": widgets.slider(0.9, 0.5, 0.99, step=0.01, description="beta1"),
    "beta2": widgets.slider(0.999, 0.9, 0.9999, step=0.0001, description="beta2",
                            readout_format=".4f"),
    "max_norm": widgets.slider(1.0, 0.1, 10.0, log=True, description="max_norm"),
    "clip": widgets.toggle(True, "clip before the moments"),
    "steps": widgets.slider(6000, 100, 20000, step=100, integer=True, description="steps after"),
})

# %% [markdown]
# ## Summary
#
# * $m$ and $v$ are exponential averages: a spike's share decays as $\beta^k$. With
#   $\beta_1 = 0.9$, $m$ recovers in about 44 steps; with $\beta_2 = 0.999$, $v$ takes
#   about 4,600 (167 with $\beta_2 = 0.95$).
# * While $m$ is inflated, Adam takes larger steps in the spike's direction; while $v$ is
#   inflated, it takes smaller steps in every direction, for thousands of steps.
# * Clipping before the optimizer keeps the spike out of both moments. That, not a bound on
#   the step, is what clipping buys under Adam.
#
# ## Sources
#
# * D. P. Kingma and J. Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015,
#   arXiv:1412.6980 (Algorithm 1, §2.1).
# * I. Loshchilov and F. Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019,
#   arXiv:1711.05101.
# * PyTorch, `torch.optim.Adam`:
#   <https://docs.pytorch.org/docs/stable/generated/torch.optim.Adam.html>
#   (source `torch/optim/adam.py`).
# * Kronos, <https://github.com/shiyu-coder/Kronos> at `67b630e`, `finetune/config.py`
#   (`adam_beta2 = 0.95`, used by `finetune/train_predictor.py`).

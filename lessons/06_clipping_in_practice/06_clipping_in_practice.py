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
# # Lesson 6 — Clipping in practice
#
# Lessons 2–5 clipped one gradient. In a real training loop the clip sits among other
# machinery: several micro-batches accumulated into one step, a loss scaler for mixed
# precision, separate thresholds for separate parts of a model, and a framework that does
# all of it for you from one option. Each of these can quietly change *what number* gets
# clipped, and so what the threshold means.
#
# Most practitioners meet clipping through their framework, so this lesson does not describe
# the frameworks from memory: it **runs** them. A tiny randomly initialised GPT-2 (built from
# a config, nothing downloaded) is trained for a step or two on CPU by the real Hugging Face
# `Trainer` and the real Lightning `Trainer`, and we read what the optimizer received and
# what the framework logged. Your own functions must then agree with them.
#
# **What you will do**
#
# 1. See where the Hugging Face Trainer clips and what it logs.
# 2. `accumulate_and_clip_` — accumulate micro-batches and clip once; check it against both
#    trainers; measure what the two classic mistakes do to the threshold.
# 3. `kronos_rows_per_step` — what Kronos' sliced accumulation really feeds one step.
# 4. `amp_clip_step` — the clip inside a mixed-precision step with a `GradScaler`.
# 5. `per_component_clip_` — one threshold per part of the model, and what that does to the
#    update's direction.
# 6. `framework_clip_kwargs` — the options that make four frameworks clip, graded by
#    training with them.
# 7. `why_clip_after_accumulation` — explain it in your own words.
#
# Primary sources are the installed packages' own code at the versions pinned in
# `pyproject.toml` (printed below); each fact cites its file.
#
# **Working in the released notebook.** Cells after an exercise that use your answer raise
# `NotImplementedError` until you have solved that exercise: solve in order and re-run.

# %% nbgrader={"grade": false, "grade_id": "setup_imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import dataclasses
import inspect
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as F

from course import frameworks as fw
from course import models
from course.amp import amp_scenario, scenario_batch

LESSON_START = time.perf_counter()
torch.set_num_threads(1)  # models this small only lose time to threads contending for cores
torch.set_printoptions(precision=4, sci_mode=False)
VERSIONS = fw.versions()
print(VERSIONS)

import accelerate  # noqa: E402
import lightning  # noqa: E402
import transformers  # noqa: E402

SITE = {name: Path(module.__file__).parent for name, module in
        [("transformers", transformers), ("accelerate", accelerate), ("lightning", lightning),
         ("torch", torch)]}


def source_lines(package, relative, *needles):
    """Print the lines of an installed package's file that contain each needle (with their
    line numbers): the citations of this lesson, read from the code that actually runs."""
    lines = (SITE[package] / relative).read_text(encoding="utf-8").splitlines()
    for needle in needles:
        hits = [(i + 1, line.strip()) for i, line in enumerate(lines) if needle in line]
        for number, text in hits[:3]:
            print(f"{package} {VERSIONS.get(package, '')} {relative}:{number}: {text}")
        if not hits:
            print(f"{package} {relative}: no line contains {needle!r}")


# %% [markdown]
# ## 1. Where the Hugging Face Trainer clips, and what it logs
#
# The training loop of `transformers.Trainer` (`trainer.py`, in `_inner_training_loop`)
# runs, once per optimizer step after the last micro-batch (`do_sync_step`):
# `grad_norm = self._clip_grad_norm(model)` if `max_grad_norm > 0`, then the callbacks'
# `on_pre_optimizer_step`, then `optimizer.step()`. `_clip_grad_norm` calls Accelerate's
# `Accelerator.clip_grad_norm_`, which first unscales mixed-precision gradients
# (`self.unscale_gradients()`) and then calls PyTorch's `clip_grad_norm_`. What it returns —
# the **pre-clip** total norm — is what the Trainer logs as `grad_norm`. The lines, read from
# the installed code:

# %%
source_lines("transformers", "trainer.py", "if self.args.max_grad_norm > 0", "grad_norm = self._clip_grad_norm(model)",
             "self.optimizer.step()", 'logs["grad_norm"] =')
source_lines("accelerate", "accelerator.py", "self.unscale_gradients()")
hf_default = next(f.default for f in dataclasses.fields(transformers.TrainingArguments) if f.name == "max_grad_norm")
print("TrainingArguments.max_grad_norm default:", hf_default)

# %% [markdown]
# Now measure it. `fw.hf_train` trains our tiny GPT-2 one step through the real `Trainer`
# (CPU, a temporary folder, no logging integrations) with plain SGD that records the gradient
# it received. We set `max_grad_norm` to 0.37 and compare three numbers: the norm we compute
# ourselves from the same model and batch, what the Trainer logged, and the norm of what the
# optimizer actually received.

# %%
ROWS = fw.token_rows(16, seed=1)
MAX_NORM = 0.37

def own_gradient(seed, rows):
    """Our own forward + backward of the same model on the same rows, no framework."""
    model = fw.tiny_lm(seed)
    x, y = fw.stack_rows(rows)
    fw.lm_loss(model(x), y).backward()
    return fw.grads_of(model)

own = own_gradient(0, ROWS[:8])
run = fw.hf_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=8, max_grad_norm=MAX_NORM)
own_norm = fw.global_norm(own)
print(f"our pre-clip norm         {own_norm:.6f}")
print(f"HF logged grad_norm       {run.logged_grad_norm[0]:.6f}")
print(f"optimizer received, norm  {run.received_norms[0]:.6f}   (max_grad_norm = {MAX_NORM})")
expected = [g * (MAX_NORM / (own_norm + 1e-6)) for g in own]
print(f"largest difference from our own clip of the same gradient: "
      f"{fw.max_abs_difference(expected, run.received[0]):.2e}")

# %% [markdown]
# The Trainer logged the norm *before* clipping, and the optimizer got the clipped gradient —
# the same, to float32 rounding, as clipping our own gradient with PyTorch's rule. So a
# `grad_norm` curve that sits far above `max_grad_norm` is not a bug: it is telling you how
# much every step is being clipped.
#
# **A correction to seed 003.** The glossary entry says operators "may see 'Gradient norm
# clipped' warnings". The Trainer prints no such thing: it logs the number and moves on. The
# cell below searches the installed Trainer and Accelerate sources for any such message.

# %%
def count_phrase(package, pattern, phrase):
    files = list(SITE[package].glob(pattern))
    return sum(p.read_text(encoding="utf-8", errors="ignore").lower().count(phrase) for p in files), len(files)

for package, pattern in [("transformers", "trainer*.py"), ("accelerate", "*.py")]:
    hits, n = count_phrase(package, pattern, "norm clipped")
    print(f"'norm clipped' in {n} {package} files ({pattern}): {hits} occurrences")
run_off = fw.hf_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=8, max_grad_norm=0.0)
print(f"with max_grad_norm=0 (clipping off) the Trainer still logs grad_norm = {run_off.logged_grad_norm[0]:.6f}")

# %% [markdown]
# (With `max_grad_norm = 0` this version computes the norm anyway, by "clipping" at
# infinity — `_get_grad_norm` in `trainer.py` — so the curve is there even when clipping is off.)
#
# ## 2. Gradient accumulation: clip once, after the last micro-batch
#
# With accumulation, one optimizer step sees $k$ micro-batches. Each backward *adds* into
# `p.grad`, so to get the gradient of the mean loss over all $k \cdot b$ rows each micro-batch's
# mean loss is divided by $k$:
#
# $$\nabla \frac{1}{k}\sum_{j=1}^{k} L_j = \sum_{j=1}^{k} \nabla \frac{L_j}{k}.$$
#
# Only after the last micro-batch does `p.grad` hold the step's gradient, so that is the only
# moment its norm means anything: clip there, once. x-transformers' `train_enwik8.py` does
# exactly this (four micro-batches, `(loss / GRADIENT_ACCUMULATE_EVERY).backward()`, then
# `clip_grad_norm_(model.parameters(), 0.5)`); its `train_copy.py` does not clip at all.
#
# **Exercise.** Write `accumulate_and_clip_(model, loss_fn, micro_batches, max_norm)`:
# clear every `p.grad` first (gradients left from an earlier step must not count), backward
# `loss_fn(model(x), y) / k` for each of the `k` micro-batches, then clip the global L2 norm
# of the summed gradients **once**, in place, and return the pre-clip total norm as a 0-dim
# tensor. No optimizer step. You may use `torch.nn.utils.clip_grad_norm_` (lesson 2 had you
# write it), or the course's rule (scale only when the norm exceeds `max_norm`).

# %% nbgrader={"grade": false, "grade_id": "accumulate_and_clip_", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
    """Accumulate the gradient of the mean loss over `micro_batches`, then clip it once.

    model: an nn.Module; loss_fn(model(x), y) -> scalar tensor (a mean over its rows);
    micro_batches: a sequence of (x, y) pairs, k of them; max_norm: a positive float.
    Clears every p.grad first; leaves the clipped gradients in p.grad (no optimizer step).
    Returns the total gradient norm before clipping, as a 0-dim tensor.
    """
    ### BEGIN SOLUTION
    params = list(model.parameters())
    for p in params:
        p.grad = None
    micro_batches = list(micro_batches)
    k = len(micro_batches)
    for x, y in micro_batches:
        (loss_fn(model(x), y) / k).backward()
    return torch.nn.utils.clip_grad_norm_(params, max_norm)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_accumulate_and_clip_", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, call

def check_accumulation(k, max_norm, stale):
    model = models.TinyMLP(d_in=4, d_hidden=8, d_out=1, depth=2, seed=3)
    x, y = models.outlier_regression_batch(batch=4 * k, d_in=4, seed=5)
    # the full batch at once: the gradient that accumulation must reproduce
    reference = models.TinyMLP(d_in=4, d_hidden=8, d_out=1, depth=2, seed=3)
    F.mse_loss(reference(x), y).backward()
    full = [p.grad.clone() for p in reference.parameters()]
    full_norm = fw.global_norm(full)
    if stale:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
    batches = [(x[i * 4:(i + 1) * 4], y[i * 4:(i + 1) * 4]) for i in range(k)]
    name = f"accumulate_and_clip_(model, mse_loss, {k} micro-batches of 4 rows, {max_norm})"
    got = call(accumulate_and_clip_, model, F.mse_loss, batches, max_norm, name=name)
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        raise AssertionError(f"`{name}` should return a 0-dim tensor, got {got!r}")
    g = float(got)
    hint = ""
    if math.isclose(g, k * full_norm, rel_tol=1e-3):
        hint = f"That is {k} times the norm: divide each micro-batch's loss by k = {k}."
    elif math.isclose(g, min(max_norm, full_norm), rel_tol=1e-3) and full_norm > max_norm:
        hint = "That is the norm after clipping: return the norm measured before it."
    elif stale:
        hint = "Stale gradients were in p.grad when it was called: clear them first."
    assert_close(g, full_norm, name=f"the norm returned by {name}", rtol=1e-4, hint=hint)
    scale = min(1.0, max_norm / full_norm)
    for i, (p, want) in enumerate(zip(model.parameters(), full)):
        assert_close(p.grad, want * scale, name=f"p.grad of parameter {i} after {name}", rtol=1e-3, atol=1e-6,
                     hint="Clip once, after the last micro-batch, at the global norm of the sum.")

check_accumulation(4, 0.5, stale=False)
check_accumulation(3, 0.2, stale=True)
check_accumulation(2, 1e6, stale=False)   # nothing to clip: the plain accumulated gradient
print("accumulate_and_clip_: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_accumulate_and_clip__hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_accumulate_and_clip__hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ### Your function against the real trainers
#
# Same model, same 8 rows, `max_norm = 0.37`, four micro-batches of two rows: your function,
# the Hugging Face Trainer with `gradient_accumulation_steps=4`, and Lightning with
# `accumulate_grad_batches=4`. Every run starts from the same initial weights (`tiny_lm(0)`);
# the two trainers record what the optimizer received.

# %%
model = fw.tiny_lm(0)
micro = [fw.stack_rows(ROWS[i:i + 2]) for i in range(0, 8, 2)]
yours_norm = accumulate_and_clip_(model, fw.lm_loss, micro, MAX_NORM)
yours = fw.grads_of(model)
hf_acc = fw.hf_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=2, max_grad_norm=MAX_NORM,
                     gradient_accumulation_steps=4)
pl_acc = fw.lightning_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=2, gradient_clip_val=MAX_NORM,
                            gradient_clip_algorithm="norm", accumulate_grad_batches=4)
print(f"pre-clip norm: yours {float(yours_norm):.6f} | HF logged {hf_acc.logged_grad_norm[0]:.6f} "
      f"| full batch, no accumulation {own_norm:.6f}")
print(f"yours vs HF Trainer:        largest difference {fw.max_abs_difference(yours, hf_acc.received[0]):.2e}")
print(f"yours vs Lightning Trainer: largest difference {fw.max_abs_difference(yours, pl_acc.received[0]):.2e}")
print(f"received norms: HF {hf_acc.received_norms[0]:.6f}, Lightning {pl_acc.received_norms[0]:.6f}")
source_lines("lightning", "pytorch/loops/optimization/automatic.py", "accumulate_grad_batches")
source_lines("transformers", "trainer.py", "loss = loss / self.current_gradient_accumulation_steps")

# %% [markdown]
# All three agree: both frameworks divide each micro-batch's loss so that the sum is the mean
# over the step, clip once after the last micro-batch, and log (HF) the norm of the *whole*
# step's gradient — here equal to the full-batch norm, not to any micro-batch's. (Lightning
# divides by `accumulate_grad_batches` in `loops/optimization/automatic.py`; the Trainer of
# this transformers version instead lets the model normalise by the number of label tokens
# in the whole step, `num_items_in_batch`.)
#
# **Measured, not assumed.** That token count is taken over the labels you give it. In
# `trainer.py` the count skips position 0 only when the model's `loss_type` maps to the
# causal-LM loss; our GPT-2 built from a config reports `loss_type = None`, so position 0
# is counted although no loss ever predicts it. `fw.token_rows` sets it to -100 (the ignore
# index) so the counts agree; the cell below shows what happens otherwise: the Trainer's loss,
# gradient and logged `grad_norm` all shrink by `(context - 1) / context`.

# %%
unmasked = [{"input_ids": r["input_ids"], "labels": r["input_ids"].clone()} for r in ROWS[:8]]
hf_unmasked = fw.hf_train(fw.tiny_lm(0), unmasked, steps=1, batch_size=2, max_grad_norm=0.0,
                          gradient_accumulation_steps=4)
print(f"loss_type of the model: {fw.tiny_lm(0).loss_type!r}")
print(f"logged grad_norm, label 0 masked {hf_acc.logged_grad_norm[0]:.6f}, unmasked "
      f"{hf_unmasked.logged_grad_norm[0]:.6f}: ratio {hf_unmasked.logged_grad_norm[0] / hf_acc.logged_grad_norm[0]:.6f}"
      f" (context {fw.CONTEXT}: {(fw.CONTEXT - 1) / fw.CONTEXT:.6f})")

# %% [markdown]
# ### The two classic mistakes, as thresholds
#
# * **Forgetting `/ k`**: `p.grad` ends up $k$ times the step's gradient, so its norm is $k$
#   times too big, and the clip fires when the *true* norm exceeds `max_norm / k`: the
#   effective threshold shrinks with $k$ (and the step is $k$ times too long when it does not
#   fire).
# * **Clipping every micro-batch**: each micro-batch's gradient $g_j/k$ is clipped at
#   `max_norm`, so the sum can reach $k\cdot$`max_norm` — and micro-batch gradients are noisier
#   (larger) than their mean, so it clips the wrong things.
#
# The cell trains nothing: it takes the GPT-2 and 8 rows as $k = 4$ micro-batches of 2, and
# for a range of thresholds measures the norm of the gradient each variant hands the
# optimizer. A progress bar shows the sweep.

# %%
import copy

from tqdm.auto import tqdm

def forgot_k(model, loss_fn, batches, max_norm):
    for p in model.parameters():
        p.grad = None
    for x, y in batches:
        loss_fn(model(x), y).backward()                   # no / k
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)

def clip_each(model, loss_fn, batches, max_norm):
    total = None
    for x, y in batches:
        for p in model.parameters():
            p.grad = None
        (loss_fn(model(x), y) / len(batches)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)   # clipped per micro-batch
        g = fw.grads_of(model)
        total = g if total is None else [a + b for a, b in zip(total, g)]
    for p, g in zip(model.parameters(), total):
        p.grad = g

K = 4
base = fw.tiny_lm(2)
SWEEP_ROWS = fw.token_rows(2 * K, seed=7)
SWEEP = [fw.stack_rows(SWEEP_ROWS[2 * i:2 * i + 2]) for i in range(K)]
true_norm_k = float(accumulate_and_clip_(copy.deepcopy(base), fw.lm_loss, SWEEP, math.inf))
micro_norms = []
for xb, yb in SWEEP:
    m = copy.deepcopy(base)
    (fw.lm_loss(m(xb), yb) / K).backward()
    micro_norms.append(fw.global_norm(fw.grads_of(m)))
thresholds = true_norm_k * np.geomspace(0.05, 10, 13)
variants = {"right (yours)": accumulate_and_clip_, "forgot / k": forgot_k, "clip each micro-batch": clip_each}
handed = {label: [] for label in variants}
for max_norm in tqdm(thresholds, desc="threshold sweep", mininterval=0.5):
    for label, fn in variants.items():
        m = copy.deepcopy(base)
        fn(m, fw.lm_loss, SWEEP, float(max_norm))
        handed[label].append(fw.global_norm(fw.grads_of(m)))

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for label, values in handed.items():
    ax.plot(thresholds, values, marker="o", label=label)
ax.plot(thresholds, thresholds, color="gray", lw=0.8, ls=":", label="norm = max_norm")
ax.axhline(true_norm_k, color="gray", lw=0.8, ls="--", label="true step norm")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("max_norm")
ax.set_ylabel("norm of the gradient the optimizer gets")
ax.set_title(f"k = {K} micro-batches of 2 rows, tiny GPT-2")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"true step norm {true_norm_k:.4f}; micro-batch contributions (each loss / k): "
      + ", ".join(f"{n:.4f}" for n in micro_norms))
lo, hi = thresholds[0], thresholds[-1]
for label, values in handed.items():
    print(f"{label:22s} at max_norm {lo:.4f}: {values[0]:.4f}   at max_norm {hi:.3f}: {values[-1]:.4f}")

# %% [markdown]
# Read it off the plot. The right procedure follows the dotted line `norm = max_norm` until
# `max_norm` passes the true step norm, then hands over the true gradient. **Forgetting
# `/ k`** hands over `max_norm` for every threshold below $k$ times the true norm — it starts
# clipping at `max_norm` = $k\,\|g\|$, i.e. the real threshold is `max_norm / k` — and above
# that it hands over a gradient $k$ times too long. **Clipping each micro-batch** lies above
# the dotted line for small thresholds: each of the $k$ parts was held to `max_norm`, so their
# sum can reach $k\cdot$`max_norm` (printed: at the smallest threshold it handed over more
# than `max_norm`); it also starts clipping only once a micro-batch's own contribution
# exceeds the threshold, whatever the sum.
#
# ## 3. Kronos' sliced accumulation
#
# Kronos (shiyu-coder/Kronos) fine-tunes two models in two scripts. `finetune/train_predictor.py`
# clips at 3.0 with no accumulation; `finetune/train_tokenizer.py` clips at 2.0 and supports
# accumulation (`accumulation_steps = 1` by default in `finetune/config.py`) — seed 000 is right
# that only the tokenizer accumulates. But look at *how* it accumulates: it does **not** load
# `accumulation_steps` batches. It takes one loader batch and slices it:
#
# ```python
# for j in range(config['accumulation_steps']):
#     start_idx = j * (ori_batch_x.shape[0] // config['accumulation_steps'])
#     end_idx = (j + 1) * (ori_batch_x.shape[0] // config['accumulation_steps'])
#     batch_x = ori_batch_x[start_idx:end_idx]
#     ...
#     loss_scaled = loss / config['accumulation_steps']
#     loss_scaled.backward()
# torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
# ```
#
# while it prints `effective_bs = config['batch_size'] * world_size * config['accumulation_steps']`
# as the "Effective total batch size" (its loader uses `drop_last=True` and a
# `DistributedSampler`, so every rank gets full batches). The division by `accumulation_steps`
# and the single clip after the loop are right; the logged batch size is not what a step sees.
#
# The seed's reasons for the two thresholds (the tokenizer's quantisation loss spikes; the
# predictor's cross-entropy "gradients are bounded by log(vocab_size)") are the authors'
# heuristic, not a measurement — and the bound is wrong: $\log V$ is the *loss* of a uniform
# prediction; the gradient of cross-entropy with respect to the logits is $p - y$, whose L2
# norm is at most $\sqrt{2}$, and the gradients of the parameters behind the logits have no
# such bound. (Measured in the cell after the exercise.)
#
# **Exercise.** Write `kronos_rows_per_step(batch_size, world_size, accumulation_steps)`: the
# number of rows one optimizer step of Kronos' tokenizer loop really sees, across all ranks,
# for `1 <= accumulation_steps <= batch_size`.

# %% nbgrader={"grade": false, "grade_id": "kronos_rows_per_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
    """Rows of data one optimizer step of Kronos' tokenizer loop sees, over all ranks.

    Each rank slices its loader batch of `batch_size` rows into `accumulation_steps` slices
    of `batch_size // accumulation_steps` rows. Returns an int.
    """
    ### BEGIN SOLUTION
    return (batch_size // accumulation_steps) * accumulation_steps * world_size
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_kronos_rows_per_step", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import call

for (b, w, a), want, why in [
        ((50, 1, 1), 50, "no accumulation, one rank: one batch"),
        ((50, 8, 1), 400, "eight ranks of 50 rows"),
        ((48, 2, 4), 96, "48 rows sliced into 4 slices of 12, on 2 ranks: still 96 rows, not 48 * 2 * 4 = 384"),
        ((50, 1, 3), 48, "50 // 3 = 16 rows a slice, 3 slices: 2 rows of every batch are never used")]:
    got = call(kronos_rows_per_step, b, w, a, name=f"kronos_rows_per_step({b}, {w}, {a})")
    if got != want:
        raise AssertionError(f"`kronos_rows_per_step({b}, {w}, {a})` returned {got!r}, expected {want}: {why}.")
    if not isinstance(got, int):
        raise AssertionError(f"`kronos_rows_per_step` should return an int, got {type(got).__name__}")
print("kronos_rows_per_step: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_kronos_rows_per_step_hidden", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_kronos_rows_per_step_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# Check it by running Kronos' own slicing on numbered rows (one rank; a step's rows over all
# ranks are `world_size` times these), and measure the $\sqrt 2$ bound on logit gradients.

# %%
def kronos_rows_seen(batch_size, accumulation_steps):
    """Kronos' tokenizer loop, reduced to its indexing: the row ids one step touches."""
    ori_batch_x = torch.arange(batch_size)
    seen = []
    for j in range(accumulation_steps):
        start_idx = j * (ori_batch_x.shape[0] // accumulation_steps)
        end_idx = (j + 1) * (ori_batch_x.shape[0] // accumulation_steps)
        seen += ori_batch_x[start_idx:end_idx].tolist()
    return seen

world = 8
print("batch  accum  logged 'effective'  rows really seen (8 ranks)  yours")
for b, a in [(50, 1), (50, 2), (50, 3), (50, 4), (64, 5)]:
    seen = len(kronos_rows_seen(b, a)) * world
    print(f"{b:5d}  {a:5d}  {b * world * a:18d}  {seen:26d}  {kronos_rows_per_step(b, world, a):5d}")

logits = torch.randn(20000, 1000) * 30                   # very confident, often wrong predictions
targets = torch.randint(0, 1000, (20000,))
grad_logits = torch.softmax(logits, dim=1) - F.one_hot(targets, 1000)
print(f"largest ||p - y|| over 20000 rows: {grad_logits.norm(dim=1).max():.4f} (sqrt 2 = {math.sqrt(2):.4f}); "
      f"log(1000) = {math.log(1000):.4f} is the loss of a uniform prediction")

# %% [markdown]
# ## 4. Mixed precision: the clip belongs after `unscale_`
#
# In float16 small gradients underflow to zero, so `torch.amp.GradScaler` multiplies the
# loss by a large scale $S$ before backward; every gradient is then $S$ times too big until
# `scaler.unscale_(optimizer)` divides it back. The order of a step is
#
# **scale → backward → unscale_ → clip → step → update**
#
# * `scaler.scale(loss).backward()`: gradients are $S\cdot g$.
# * `scaler.unscale_(optimizer)`: gradients are $g$ again, and the scaler notes whether any is
#   inf/NaN.
# * clip: now `max_norm` means what it says. Clip *before* unscaling and the clip measures
#   $S\,\|g\|$ and compares *that* with `max_norm`: the number it clips is $S$ times the true
#   norm, so to mean `max_norm` you would have to pass `max_norm * S`. Passed as it is,
#   `max_norm` acts on the true gradient as `max_norm / S` — it clips almost every step, to a
#   step $S$ times too short.
# * `scaler.step(optimizer)`: skips the update if the gradients were not finite.
# * `scaler.update()`: halves $S$ after a skipped step, grows it after `growth_interval`
#   good ones, and resets the per-step state (without it the next `unscale_` raises).
#
# This torch (printed above) supports `GradScaler("cpu")` and float16 autocast on CPU, so we
# can watch it here. Both frameworks respect this order: Lightning's `MixedPrecision` plugin
# unscales right after the closure, before `on_before_optimizer_step` and the clip; Accelerate's
# `clip_grad_norm_` calls `unscale_gradients()` first.

# %%
source_lines("lightning", "pytorch/plugins/precision/amp.py", "Unscaling needs to be performed here",
             "self.scaler.unscale_(optimizer)")
source_lines("lightning", "pytorch/plugins/precision/precision.py", '"on_before_optimizer_step"',
             "self._clip_gradients(")

S = 2.0 ** 12
model = models.TinyMLP(d_in=6, d_hidden=16, d_out=1, depth=2, seed=0)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
scaler = torch.amp.GradScaler("cpu", init_scale=S)
x, y = scenario_batch(0, seed=0)
scaler.scale(F.mse_loss(model(x), y)).backward()
scaled_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf))
scaler.unscale_(opt)
true_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf))
print(f"scale S = {S:g}: norm before unscale_ {scaled_norm:.2f}, after {true_norm:.4f}, ratio {scaled_norm / true_norm:g}")

# the mistake, run: clip the scaled gradients at 0.5, then let the scaler unscale them
wrong = models.TinyMLP(d_in=6, d_hidden=16, d_out=1, depth=2, seed=0)
wrong_opt = torch.optim.SGD(wrong.parameters(), lr=0.05)
wrong_scaler = torch.amp.GradScaler("cpu", init_scale=S)
wrong_scaler.scale(F.mse_loss(wrong(x), y)).backward()
seen = float(torch.nn.utils.clip_grad_norm_(wrong.parameters(), 0.5))   # before unscale_
wrong_scaler.unscale_(wrong_opt)
applied = float(torch.nn.utils.clip_grad_norm_(wrong.parameters(), math.inf))
print(f"clip before unscale_ at max_norm 0.5: it measured {seen:.2f} (S times the true {true_norm:.4f}), "
      f"and the optimizer got norm {applied:.3g} = 0.5 / S = {0.5 / S:.3g}; "
      f"to mean 0.5 it would have needed max_norm = 0.5 * S = {0.5 * S:g}")

# %% [markdown]
# **Exercise.** Write `amp_clip_step(model, optimizer, scaler, loss, max_norm)`: one
# mixed-precision step in the right order, clipping the global L2 norm of the **unscaled**
# gradients at `max_norm`; return that pre-clip norm as a float (inf or NaN on a step the
# scaler skips). The caller zeroes the gradients before the forward pass.

# %% nbgrader={"grade": false, "grade_id": "amp_clip_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def amp_clip_step(model, optimizer, scaler, loss, max_norm):
    """One optimizer step with loss scaling and global-norm clipping.

    scaler: a torch.amp.GradScaler; loss: the (unscaled) loss tensor of this step.
    Returns the global L2 norm of the unscaled gradients before clipping, as a float.
    """
    ### BEGIN SOLUTION
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return float(norm)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_amp_clip_step", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, call

S = 2.0 ** 10
trace = call(lambda: amp_scenario(amp_clip_step, seed=1, max_norm=0.3, init_scale=S, steps=4, overflow_at=2,
                                  growth_interval=100), name="amp_scenario(amp_clip_step, ...)",
             hint="The scenario calls amp_clip_step(model, optimizer, scaler, loss, max_norm) once a step.")
# step 0 by hand, without any scaler: the norm amp_clip_step must report
check = models.TinyMLP(d_in=6, d_hidden=16, d_out=1, depth=2, seed=1)
x, y = scenario_batch(0, seed=1)
F.mse_loss(check(x), y).backward()
unscaled = fw.global_norm(fw.grads_of(check))
got = trace["returned"][0]
hint = ""
if isinstance(got, float) and math.isclose(got, unscaled * S, rel_tol=1e-3):
    hint = f"That is {S:g} (the scale) times the norm: unscale_ before measuring and clipping."
elif isinstance(got, float) and math.isclose(got, unscaled / S, rel_tol=1e-3):
    hint = "That is the norm divided by the scale once more: unscale_ already divides; do not divide again."
if not isinstance(got, float):
    raise AssertionError(f"`amp_clip_step` should return a float, got {got!r}")
assert_close(got, unscaled, name="the norm amp_clip_step returned at step 0", rtol=1e-4, hint=hint)
# step 0 was clipped: the parameters moved by lr * (clipped gradient)
with torch.no_grad():
    expected = [p - 0.05 * p.grad * min(1.0, 0.3 / unscaled) for p in check.parameters()]
for i, (p, e) in enumerate(zip(trace["params"][0], expected)):
    assert_close(p, e, name=f"parameter {i} after step 0", rtol=1e-4, atol=1e-6,
                 hint="The update must use the unscaled gradient clipped at max_norm: unscale_, clip, then step.")
if math.isfinite(trace["returned"][2]):
    raise AssertionError("step 2 overflowed, but amp_clip_step returned a finite norm: return the norm the clip computed")
for i, (a, b) in enumerate(zip(trace["params"][2], trace["params"][1])):
    if not torch.equal(a, b):
        raise AssertionError(f"parameter {i} changed on the overflowing step 2: use scaler.step(optimizer), which skips it")
if trace["scale"][2] != trace["scale"][1] / 2:
    raise AssertionError(f"after the overflow the scale should halve ({trace['scale'][1]:g} -> {trace['scale'][1] / 2:g}), "
                         f"got {trace['scale'][2]:g}: call scaler.update() at the end of every step")
print("amp_clip_step: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_amp_clip_step_hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_amp_clip_step_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# With your `amp_clip_step`, a skipped step: the scenario helper (`course.amp.amp_scenario`)
# trains five SGD steps, the forward under float16 autocast, with one overflowing loss at
# step 2 (times inf, as an fp16 overflow would make it), and `growth_interval = 2`.

# %%
trace = amp_scenario(amp_clip_step, seed=0, max_norm=0.5, init_scale=2.0 ** 12, steps=5, overflow_at=2,
                     growth_interval=2, autocast=True)
for step in range(5):
    moved = "moved" if step == 0 or any(not torch.equal(a, b) for a, b in
                                        zip(trace["params"][step], trace["params"][step - 1])) else "unchanged (skipped)"
    print(f"step {step}: pre-clip norm {trace['returned'][step]:>9.4f}   scale after {trace['scale'][step]:>6g}   parameters {moved}")

# %% [markdown]
# The overflowing step returned a non-finite norm, left the parameters alone, and halved the
# scale; two good steps in a row doubled it again. A step that skips is not a crash: with
# loss scaling, a few skipped steps early in training are how the scaler finds its level.
#
# ## 5. Per-component thresholds
#
# Kronos clips its tokenizer at 2.0 and its predictor at 3.0 — two models, two scripts, two
# global norms. Inside *one* model you can do the same: name groups of parameters (an
# embedding, a head, the blocks) and clip each group by its own global norm at its own
# threshold. Lesson 2 measured the extreme case, one group per tensor, and found that it
# turns the update: only the clipped tensors shrink. Grouping sits between global clipping
# (one group: the direction is kept) and per-tensor clipping.
#
# **Exercise.** Write `per_component_clip_(groups, max_norms)`: `groups` maps a name to an
# iterable of parameters (possibly a generator: iterate it once), `max_norms` maps the same
# names to thresholds (pair them **by name**, not by position). Clip each group in place by
# its own global norm at its own threshold and return `{name: pre-clip norm}` (0-dim
# tensors); a group with no gradients has norm 0.

# %% nbgrader={"grade": false, "grade_id": "per_component_clip_", "locked": false, "schema_version": 3, "solution": true, "task": false}
def per_component_clip_(groups, max_norms):
    """Clip each named group of parameters by its own global L2 norm, in place.

    groups: {name: iterable of nn.Parameter}; max_norms: {name: float}.
    Returns {name: the group's total gradient norm before clipping, a 0-dim tensor}.
    """
    ### BEGIN SOLUTION
    norms = {}
    for name, params in groups.items():
        params = [p for p in params if p.grad is not None]
        if not params:
            norms[name] = torch.tensor(0.0)
            continue
        norms[name] = torch.nn.utils.clip_grad_norm_(params, max_norms[name])
    return norms
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_per_component_clip_", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import assert_close, call

def param(values):
    p = torch.nn.Parameter(torch.zeros(len(values)))
    p.grad = torch.tensor(values)
    return p

a, b, c = param([3.0, 4.0]), param([0.0, 12.0]), param([0.6, 0.8])     # norms 5, 12, 1
frozen = torch.nn.Parameter(torch.zeros(2))                             # no gradient
groups = {"tokenizer": (p for p in [a, b]), "predictor": [c, frozen], "frozen": [frozen]}
max_norms = {"predictor": 3.0, "frozen": 1.0, "tokenizer": 6.5}          # a different order
got = call(per_component_clip_, groups, max_norms, name="per_component_clip_(groups, max_norms)",
           hint="A group may be a generator; a group may have no gradients.")
if not isinstance(got, dict) or set(got) != {"tokenizer", "predictor", "frozen"}:
    raise AssertionError(f"`per_component_clip_` should return a dict with one norm per group, got {got!r}")
assert_close(got["tokenizer"], 13.0, name="the tokenizer group's norm",
             hint="One global norm per group: sqrt(5**2 + 12**2) = 13 (not per tensor, not over all groups).")
assert_close(got["predictor"], 1.0, name="the predictor group's norm")
assert_close(got["frozen"], 0.0, name="the norm of a group without gradients")
if torch.allclose(a.grad, torch.tensor([3.0, 4.0])) and torch.allclose(b.grad, torch.tensor([0.0, 6.5])):
    hint = ("Tensor 0 has norm 5 < 6.5, but its group's norm is 13: the whole group shrinks by one factor "
            "(you clipped per tensor).")
elif torch.allclose(a.grad, torch.tensor([3.0, 4.0])):
    hint = ("The tokenizer group was not clipped. It is a generator: iterate it once (e.g. `list(params)`) "
            "before measuring and scaling.")
elif torch.allclose(a.grad, torch.tensor([3.0, 4.0]) * 3.0 / 13.0):
    hint = ("It was clipped at 3.0, the predictor's threshold: pair thresholds with groups by name, "
            "max_norms[name], not by position.")
else:
    hint = "The tokenizer's threshold is 6.5, so its norm 13 -> 6.5 halves every tensor of the group."
assert_close(a.grad, torch.tensor([1.5, 2.0]), name="tokenizer p.grad 0 after clipping at 6.5", hint=hint)
assert_close(b.grad, torch.tensor([0.0, 6.0]), name="tokenizer p.grad 1 after clipping at 6.5")
assert_close(c.grad, torch.tensor([0.6, 0.8]), name="predictor p.grad (norm 1 < 3: unchanged)")
print("per_component_clip_: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_per_component_clip__hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_per_component_clip__hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# What grouping does to the direction, on the GPT-2's real gradient: the cosine between the
# clipped and the raw gradient (flat vectors), for one global group, three named components
# (embeddings, the transformer block, the final layer norm), and one group per tensor, as the
# threshold falls.

# %%
def cosine(a, b):
    u = torch.cat([t.reshape(-1).double() for t in a])
    v = torch.cat([t.reshape(-1).double() for t in b])
    return float(u @ v / (u.norm() * v.norm()))

gpt = fw.tiny_lm(0)
x, y = fw.stack_rows(ROWS[:8])
fw.lm_loss(gpt(x), y).backward()
raw = fw.grads_of(gpt)
names = [n for n, _ in gpt.named_parameters()]

def component(name):
    return "embeddings" if ".wte" in name or ".wpe" in name else "final norm" if ".ln_f" in name else "block"

raw_norm = fw.global_norm(raw)
fractions = np.geomspace(1.0, 0.02, 12)
curves = {"global (1 group)": [], "3 components": [], "per tensor": []}
m = fw.tiny_lm(0)
named = list(m.named_parameters())
for frac in fractions:
    for label in curves:
        for p, g in zip(m.parameters(), raw):
            p.grad = g.clone()
        if label == "global (1 group)":
            groups = {"all": [p for _, p in named]}
        elif label == "3 components":
            groups = {c: [p for n, p in named if component(n) == c] for c in ("embeddings", "block", "final norm")}
        else:
            groups = {n: [p] for n, p in named}
        # every group gets the same fraction of the *whole* gradient's norm as its threshold
        per_component_clip_(groups, {k: frac * raw_norm for k in groups})
        curves[label].append(cosine(fw.grads_of(m), raw))

fig, ax = plt.subplots(figsize=(6.5, 3.4))
for label, values in curves.items():
    ax.plot(fractions, values, marker="o", label=label)
ax.set_xscale("log")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xticks([1.0, 0.3, 0.1, 0.03], labels=["1", "0.3", "0.1", "0.03"])
ax.invert_xaxis()
ax.set_xlabel(f"max_norm of every group / norm of the whole gradient ({raw_norm:.3f})")
ax.set_ylabel("cosine(clipped, raw)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
for label, values in curves.items():
    print(f"{label:18s} cosine at the smallest threshold: {values[-1]:.4f}")

# %% [markdown]
# One group keeps the direction (cosine 1) at every threshold; three named groups turn it
# less than one group per tensor does, because fewer, larger groups keep more of the relative
# sizes. If you set separate thresholds, you are choosing separate learning-rate caps for the
# parts of the model — deliberate for Kronos' two separately trained models, a side effect
# inside one.
#
# ## 6. The frameworks' own options
#
# Each framework turns "clip by the global L2 norm at `max_norm`" into its own option. Read
# from the installed code (transformers, Lightning) and from the configuration schemas
# (DeepSpeed, Axolotl, not installed):
#
# | framework | option | default | source |
# |---|---|---|---|
# | Hugging Face `TrainingArguments` | `max_grad_norm` | 1.0 (clips) | `transformers/training_args.py` (printed in section 1) |
# | Lightning `Trainer` | `gradient_clip_val`, `gradient_clip_algorithm` | `None` (off), `"norm"` | `lightning/pytorch/trainer/trainer.py` (printed below) |
# | DeepSpeed JSON config | `"gradient_clipping"` | **0.0 (off) up to 0.19.2, 1.0 from 0.19.3** | `deepspeed/runtime/constants.py`, `GRADIENT_CLIPPING_DEFAULT`, in the 0.19.2 and 0.19.3 releases (deepspeedai/DeepSpeed PR #8068, "Default gradient_clipping to 1.0") |
# | Axolotl YAML | `max_grad_norm` | unset, so Hugging Face's 1.0 applies | axolotl-ai-cloud/axolotl `src/axolotl/utils/schemas/training.py` (`max_grad_norm: float | None`, "Gradient clipping max norm"), passed on to `TrainingArguments` |
#
# When Hugging Face drives DeepSpeed, its own DeepSpeed configs say `"gradient_clipping": "auto"`,
# which the integration fills from `max_grad_norm`; a config that omits the key takes
# DeepSpeed's default, which is exactly the number that changed between releases. (QLoRA's
# own script, artidoro/qlora `qlora.py`, sets `max_grad_norm` to 0.3 as a `TrainingArguments`
# field.)
#
# **Seed 003, corrected.** It says Axolotl configs use `gradient_clipping: 1.0` — that is
# DeepSpeed's JSON key; Axolotl's is `max_grad_norm`. It has a QLoRA script take
# `--gradient_clip_val 1.0` — that is Lightning's `Trainer` argument; a Hugging Face QLoRA
# script takes `--max_grad_norm`. And it promises "Gradient norm clipped" warnings — section 1
# showed the Trainer logs the pre-clip `grad_norm` and warns about nothing.
#
# Lightning offers a second algorithm, `"value"`: `clip_grad_value_`, each element clamped to
# `[-v, v]`. That is not norm clipping: measure both on the same step.

# %%
sig = inspect.signature(lightning.Trainer.__init__).parameters
print("Lightning Trainer defaults:", {k: sig[k].default for k in ("gradient_clip_val", "gradient_clip_algorithm")})
source_lines("lightning", "pytorch/plugins/precision/precision.py", "torch.nn.utils.clip_grad_value_(",
             "torch.nn.utils.clip_grad_norm_(")
raw_step = own_gradient(0, ROWS[:8])
by_norm = fw.lightning_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=8, gradient_clip_val=0.05,
                             gradient_clip_algorithm="norm")
by_value = fw.lightning_train(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=8, gradient_clip_val=0.05,
                              gradient_clip_algorithm="value")
for label, r in [("norm", by_norm), ("value", by_value)]:
    g = r.received[0]
    print(f'"{label}" at 0.05: received norm {r.received_norms[0]:.4f}, largest element '
          f'{max(float(t.abs().max()) for t in g):.4f}, cosine with the raw gradient {cosine(g, raw_step):.4f}')

# %% [markdown]
# `"norm"` hands over norm 0.05 in the raw gradient's direction (cosine 1); `"value"` leaves a
# norm many times larger (printed), and no longer exactly along the gradient (cosine below 1):
# its threshold bounds each element, not the step.
#
# **Exercise.** Write `framework_clip_kwargs(framework, max_norm)`: the keyword arguments (or
# config keys) that make `"hf"` (`TrainingArguments`), `"lightning"` (`Trainer`),
# `"deepspeed"` (its JSON config) and `"axolotl"` (its YAML config) clip by the global L2 norm
# at `max_norm`. Return only the clipping options. It is graded by **training**: your
# Hugging Face and Lightning kwargs go into the real trainers, and the gradients the optimizer
# received are checked (DeepSpeed's and Axolotl's against their schemas).

# %% nbgrader={"grade": false, "grade_id": "framework_clip_kwargs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def framework_clip_kwargs(framework, max_norm):
    """The options that make `framework` clip by the global L2 norm at `max_norm`.

    framework: "hf", "lightning", "deepspeed" or "axolotl". Returns a dict.
    """
    ### BEGIN SOLUTION
    options = {
        "hf": {"max_grad_norm": max_norm},
        "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "norm"},
        "deepspeed": {"gradient_clipping": max_norm},
        "axolotl": {"max_grad_norm": max_norm},
    }
    if framework not in options:
        raise ValueError(f"`framework` must be one of {sorted(options)}, got {framework!r}")
    return options[framework]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_framework_clip_kwargs", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
from course.testing import call

m = 0.29
for framework, trainer in [("hf", fw.hf_train), ("lightning", fw.lightning_train)]:
    kwargs = call(framework_clip_kwargs, framework, m, name=f"framework_clip_kwargs({framework!r}, {m})")
    if not isinstance(kwargs, dict):
        raise AssertionError(f"`framework_clip_kwargs({framework!r}, {m})` should return a dict, got {kwargs!r}")
    try:
        r = trainer(fw.tiny_lm(0), ROWS[:8], steps=1, batch_size=8, **kwargs)
    except Exception as exc:
        raise AssertionError(f"the {framework} Trainer rejected {kwargs}: {type(exc).__name__}: {exc}") from None
    if not math.isclose(r.received_norms[0], m, rel_tol=1e-4):
        raise AssertionError(f"trained with {kwargs}, the {framework} optimizer received a gradient of norm "
                             f"{r.received_norms[0]:.4f}: it was not clipped at {m} by the global norm "
                             f"(which would give norm {m})")
    if not math.isclose(cosine(r.received[0], raw_step), 1.0, rel_tol=1e-5):
        raise AssertionError(f"trained with {kwargs}, the {framework} optimizer received a gradient that points "
                             "elsewhere than the raw one: that is not clipping by the norm")
for framework, key in [("deepspeed", "gradient_clipping"), ("axolotl", "max_grad_norm")]:
    kwargs = call(framework_clip_kwargs, framework, m, name=f"framework_clip_kwargs({framework!r}, {m})")
    if not isinstance(kwargs, dict) or kwargs.get(key) != m:
        raise AssertionError(f"`framework_clip_kwargs({framework!r}, {m})` returned {kwargs!r}; read the table "
                             "above for that framework's key")
print("framework_clip_kwargs: visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_framework_clip_kwargs_hidden", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Hidden tests check your function on fresh random inputs.
### BEGIN HIDDEN TESTS
# Run by the grader outside your notebook; here, on the instructor's solution.
from autograder.verdict import run_hidden_test
run_hidden_test('test_framework_clip_kwargs_hidden', globals())
### END HIDDEN TESTS

# %% [markdown]
# ## 7. In your own words
#
# Explain why the clip belongs after the last micro-batch and after `unscale_`, and what each
# mistake (clipping every micro-batch, forgetting `/ k`, clipping before `unscale_`) does to the
# threshold. Use at least one number measured in this lesson.

# %% [markdown] nbgrader={"grade": true, "grade_id": "why_clip_after_accumulation", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# **Model answer.** `max_norm` is a bound on the gradient the optimizer applies, so it must be
# measured on that gradient: the sum of all micro-batches' contributions (each loss divided by
# k), in true units. Before the last micro-batch `p.grad` holds only part of the step, and
# before `unscale_` it is S times too large. Clipping each micro-batch bounds the parts, not
# the sum: the step's norm can reach k·max_norm (in the sweep, "clip each" handed the optimizer
# a norm above max_norm for k > 1), and it clips the noisier micro-batch gradients instead of
# their mean. Forgetting / k makes the accumulated gradient k times too large, so the clip fires
# whenever the true norm exceeds max_norm / k — the effective threshold shrinks with k — and
# without a clip the step is k times too long. Clipping before `unscale_` measures S·‖g‖ and
# compares it with max_norm: the clipped number is S times the true norm, so max_norm would
# have to be max_norm·S to mean what it says (2048 for 0.5 at S = 4096); as passed it acts as
# max_norm / S on the true gradient — in the lesson's run the optimizer got 0.5 / 4096 ≈ 1.2e-4
# instead of 0.5. Both frameworks follow the right order: the Trainer and Lightning clip
# once after accumulation, after unscaling, and HF logs the pre-clip norm of the whole step.
#
# **Rubric** (3 points)
# * 1 point: the clip must see the step's full, unscaled gradient (after the last micro-batch,
#   after `unscale_`), because that is what the optimizer applies and what max_norm bounds.
# * 1 point: states the effect of each mistake on the threshold: per-micro-batch clipping lets
#   the sum reach up to k·max_norm; forgetting / k makes the effective threshold max_norm / k
#   (and steps k times too long unclipped); clipping before unscale_ compares S·‖g‖ with
#   max_norm (it would need max_norm·S; as given it acts as max_norm / S).
# * 1 point: cites a number measured in the lesson (the scaled/unscaled ratio, a norm from the
#   accumulation sweep, or the frameworks' agreement with `accumulate_and_clip_`).
# No point for listing the order of calls without saying why it matters for the threshold.

# %%
print(f"the whole lesson ran in {time.perf_counter() - LESSON_START:.1f} s")

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
# # Instructor: replaying the spike cascade
#
# For class, not for grading. The widget replays the recorded runs of lesson 08 step by
# step: press **play** or drag **step**; pick runs side by side in **runs** (ctrl/cmd-click
# for several); the four panels show the training loss, the pre-clip global gradient norm
# (clipped steps marked `x`, the `max_norm` dashed), `||m||` and `sum(v)` of Adam's moments.
# Phases are shaded in the colour of their dominant source (blue repo-docs, orange prose,
# green qa) for the first selected run. Below the plot: the text each run sampled most
# recently, greedy and at temperature 1.
#
# **Live**: choose `max_norm` (or untick *clip*) and press **run live** to train a small
# model on the same stream for a few seconds on this CPU; the new run is added and
# selected. Without a browser (nbconvert, CI) the widget draws one static figure instead.
#
# Run names read `<size>-<recipe>-<mixer>-s<seed>`: `plain` = Adam, no warmup, no clip (the
# story's v1); `guarded` = AdamW + warmup + clip 1.0 (v2); `clip` / `warmup` = one guard;
# `static` = the 1/3-mixture control.

# %%
import numpy as np
import torch

from course.cascade import analysis
from course.cascade.trace import load_recorded
from course.cascade.widget import CascadeReplay

torch.set_num_threads(1)   # the live mode shares this machine's cores
runs = load_recorded()
replay = CascadeReplay(runs, selection=["large-plain-bandit-s0", "large-guarded-bandit-s0"])
replay.show();

# %% [markdown]
# ## Where to scrub to
#
# The steps worth stopping at in each plain-Adam run: its largest gradient jump (over the
# median of the 20 steps before) and the first switches of source.

# %%
for size in ("small", "large"):
    for t in analysis.select_runs(runs, size=size, recipe="plain"):
        step, ratio = analysis.largest_jump(t.grad_norm)
        print(f"{t.name:24} largest jump {ratio:5.1f}x at step {step:3d}; "
              f"first switches at {t.boundaries[:4]}")

# %% [markdown]
# ## Talking points
#
# 1. Scrub through a few switches of a plain run: the norm rises for a step or two at a
#    switch, by less than twice its recent level in the median (lesson 08 measures it), not
#    by orders of magnitude.
# 2. Stop at the largest jump: `||m||` jumps with it and falls back within tens of steps;
#    `sum(v)` jumps and stays up (it decays by 0.999 a step). Select the guarded twin: the
#    same step is clipped, so neither moment sees the spike.
# 3. Read the samples at temperature 1 late in a plain run: poor, but not locked in. Greedy
#    samples repeat in most runs, guarded ones too (lesson 08 scores them).
# 4. Compare sizes: the large plain run ends worse than its guarded twin in every seed; the
#    small model is not helped by the guards (lesson 08 counts the seeds where its guarded
#    run ended worse). Ask the class why warmup might matter more than clipping here.
#
# ## Live mode from code
#
# The same as the **run live** button, for a script or a projector without widgets:

# %%
from course.cascade.plot import static_figure
from course.cascade.replay import run_view
from course.cascade.widget import live_trace
import matplotlib.pyplot as plt

live = [live_trace(max_norm, steps=40, progress=False) for max_norm in (None, 0.5)]
fig = static_figure([run_view(t, t.steps - 1) for t in live], total=40)
fig.suptitle("live: small model, plain Adam, no clip vs clip at 0.5 (40 steps)")
plt.show()

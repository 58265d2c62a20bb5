"""Hidden tests of lesson 01 (where spikes come from), run outside the learner's kernel.

`per_example_grad_norms` gets real models: `course.models` classes built with
`course.wire.build` (rebuilt in the learner's kernel from their recipe, parameters,
frozen flags and grads) and a loss function of `torch.nn.functional`, passed by reference.
What the call leaves in every `p.grad` comes back and is checked here.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import checks
from ..reference import spike_sources as ref
from ..verdict import hidden_test


def _state(model):
    named = dict(model.named_parameters())
    return ({n: None if p.grad is None else p.grad.clone() for n, p in named.items()},
            {n: p.detach().clone() for n, p in named.items()})


@hidden_test("test_per_example_grad_norms_hidden")
def per_example_grad_norms(learner, rng):
    f = learner.function("per_example_grad_norms")
    cases = [ref.random_model_case(rng) for _ in range(6)]
    cases += [ref.random_model_case(rng, batch=1), ref.random_model_case(rng, unused=True)]
    for model, loss_fn, xs, ys, desc in cases:
        grads_before, params_before = _state(model)
        inputs_before = checks.snapshot([xs, ys])
        expected = ref.per_example_grad_norms(model, loss_fn, xs, ys)
        try:
            got = f(model, loss_fn, xs, ys)
        except NotImplementedError:
            raise AssertionError("`per_example_grad_norms` is not implemented yet") from None
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's exception, with the input
            hint = (" A parameter the loss does not reach gets no gradient (None): count it "
                    "as 0." if "never reaches" in desc else "")
            raise AssertionError(f"`per_example_grad_norms` on {desc} raised "
                                 f"{type(exc).__name__}: {exc}.{hint}") from None
        # the model and the batch as they are after the call (reflected from the learner's side)
        for n, p in model.named_parameters():
            if grads_before[n] is None:
                if p.grad is not None:
                    raise AssertionError(
                        f"on {desc}: `{n}.grad` was None before the call and now holds a "
                        "gradient; leave every p.grad as you found it.")
            elif p.grad is None or not torch.equal(p.grad, grads_before[n]):
                raise AssertionError(
                    f"on {desc}: `{n}.grad` held an earlier gradient and it changed; leave "
                    "every p.grad as you found it.")
            if not torch.equal(p.detach(), params_before[n]):
                raise AssertionError(f"on {desc}: parameter `{n}` changed")
        checks.assert_unchanged(inputs_before, [xs, ys], name="`xs` and `ys`")
        if not isinstance(got, torch.Tensor):
            raise AssertionError("`per_example_grad_norms` should return a torch.Tensor, got "
                                 f"{type(got).__name__}")
        why = ref.diagnose_per_example_grad_norms(model, loss_fn, xs, ys, got)
        checks.assert_close(got, expected, name=f"per_example_grad_norms on {desc}",
                            rtol=1e-5, atol=1e-6, hint=why and f"Likely cause: {why}.")


@hidden_test("test_smallest_overflowing_logit_hidden")
def smallest_overflowing_logit(learner, rng):
    value = learner.value("smallest_overflowing_logit")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        checks.assert_type(value, int, name="smallest_overflowing_logit")
    answer = int(value)
    if answer != ref.smallest_overflowing_logit:
        with np.errstate(over="ignore"):
            overflowed = np.exp(np.float16(answer))
        why = {ref.smallest_overflowing_logit - 1:
                   " That is the largest logit whose exp still fits; the question asks for the "
                   "first one that overflows.",
               89: " That is where float32's exp overflows; the question is about float16."}
        raise AssertionError(
            f"`smallest_overflowing_logit` is {answer}, but np.exp(np.float16({answer})) = "
            f"{overflowed}." + why.get(answer, " Step x up from 0 until np.exp(np.float16(x)) "
                                               "is inf."))


@hidden_test("test_stable_softmax_fp16_hidden")
def stable_softmax_fp16(learner, rng):
    f = learner.function("stable_softmax_fp16")
    cases = [ref.random_logits(rng) for _ in range(40)]
    cases += [np.array([[60000, -60000], [-60000, 60000]], dtype=np.float16),
              np.array([-60000, -59968, 60000, 59968], dtype=np.float16),
              np.array([[-np.inf, 3.0, 11.0, 12.0, -np.inf]], dtype=np.float16),
              np.full((3, 1, 7), 60000, dtype=np.float16),
              # rows far apart: only a per-row maximum keeps every row finite
              np.array([[12.0, 11.0, 10.0], [-30000.0, -30001.0, -30004.0]], dtype=np.float16),
              # a non-square 2-D array: normalising over axis 0 cannot pass by accident
              np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 1.0, 0.5], [0.0, 0.0, 9.0, 1.0]],
                       dtype=np.float16)]
    for x in cases:
        before = x.copy()
        expected = ref.softmax_float64(x)
        where = f"an array of shape {x.shape}"
        try:
            got = f(x)
        except NotImplementedError:
            raise AssertionError("`stable_softmax_fp16` is not implemented yet") from None
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"`stable_softmax_fp16` on {where} raised "
                                 f"{type(exc).__name__}: {exc}") from None
        if not np.array_equal(x, before, equal_nan=True):
            raise AssertionError("`stable_softmax_fp16` modified its input")
        if not (isinstance(got, np.ndarray) and got.dtype == np.float16):
            raise AssertionError(
                f"`stable_softmax_fp16` should return a float16 numpy array, got "
                f"{type(got).__name__} {getattr(got, 'dtype', '')}")
        if got.shape != x.shape:
            raise AssertionError(f"`stable_softmax_fp16` on {where} returned shape {got.shape}")
        if not np.isfinite(got).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
            raise AssertionError(
                f"`stable_softmax_fp16` on {where} gives {got[bad]} at index {bad}, where the "
                f"row's logits reach {float(np.max(x[bad[:-1]])):g}: subtract each row's own "
                "maximum (max over the last axis, keepdims=True) before exp.")
        checks.assert_close(got, expected, name=f"stable_softmax_fp16 on {where}", rtol=0,
                            atol=1e-3, hint="Normalise over the last axis, so that each row sums "
                                            "to 1.")


@hidden_test("test_spike_steps_hidden")
def spike_steps(learner, rng):
    f = learner.function("spike_steps")
    cases = [ref.random_norm_trace(rng) for _ in range(150)]
    cases += [([], 20, 5.0), ([4.0], 20, 5.0), ([1.0, 6.0], 1, 5.0),
              ([2.0, 2.0, 10.0, 10.5], 2, 5.0), ([0.0, 0.0, 1.0, 0.0], 3, 5.0),
              (list(rng.lognormal(size=40)), 1000, 3.0),
              (np.array([1.0, 2.0, 3.0, 4.0, 40.0]), 4, 5.0)]
    for norms, window, factor in cases:
        before = checks.snapshot(norms)
        expected = ref.spike_steps(norms, window, factor)
        call = f"spike_steps(<{len(norms)} norms>, window={window}, factor={factor})"
        try:
            got = f(norms, window, factor)
        except NotImplementedError:
            raise AssertionError("`spike_steps` is not implemented yet") from None
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"`{call}` raised {type(exc).__name__}: {exc}") from None
        checks.assert_unchanged(before, norms, name="`grad_norms`")
        if not isinstance(got, list):
            raise AssertionError(f"`{call}` should return a list, got {type(got).__name__}")
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in got):
            raise AssertionError(f"`{call}` should return ints")
        if [int(i) for i in got] != expected:
            raise AssertionError(f"`{call}` returned {got[:12]}, expected {expected[:12]}. "
                                 + ref.diagnose_spike_steps(norms, window, factor, got))
    trace = list(rng.lognormal(size=60) * 0.5)
    trace[int(rng.integers(25, 60))] *= 40
    got = checks.call(f, trace, name="spike_steps(grad_norms)")
    if not isinstance(got, list) or [int(i) for i in got] != ref.spike_steps(trace):
        raise AssertionError(
            "`spike_steps(grad_norms)` with the default arguments should use window=20, "
            "factor=5.0")

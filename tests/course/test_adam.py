"""`course.adam`: the NumPy tracer matches `torch.optim.Adam`, and the traces mean what
lesson 04 says they mean."""

import math

import numpy as np
import pytest
import torch

from course import adam


def test_spike_stream_layout():
    g = adam.spike_stream(50.0, 0.5, before=3, after=4)
    assert g.tolist() == [0.5, 0.5, 0.5, 50.0, 0.5, 0.5, 0.5, 0.5]
    with pytest.raises(ValueError):
        adam.spike_stream(before=-1)


def test_first_step_is_lr_whatever_the_gradient():
    # Kingma & Ba: with bias correction the first update is lr * g / (|g| + eps).
    for g in (1e-3, 0.5, 50.0, -7.0):
        tr = adam.adam_trace([g], lr=1e-3)
        assert tr.step[0] == pytest.approx(1e-3 * abs(g) / (abs(g) + 1e-8), rel=1e-12)


def test_recursions_by_hand():
    tr = adam.adam_trace([1.0, 2.0], beta1=0.5, beta2=0.75, lr=1.0, eps=0.0)
    assert tr.m.tolist() == [0.5, 1.25]
    assert tr.v.tolist() == [0.25, 0.25 * 0.75 + 0.25 * 4]
    assert tr.m_hat[1] == pytest.approx(1.25 / (1 - 0.25))
    assert tr.v_hat[1] == pytest.approx(tr.v[1] / (1 - 0.75**2))


@pytest.mark.parametrize("max_norm", [None, 1.0])
@pytest.mark.parametrize("start", [{}, adam.steady_state(0.5)])
def test_numpy_trace_matches_torch_adam(max_norm, start):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal(60) * 0.5
    grads[20] = 50.0
    ours = adam.adam_trace(grads, lr=3e-4, max_norm=max_norm, **start)
    theirs = adam.torch_adam_trace(grads, lr=3e-4, max_norm=max_norm, **start)
    # torch clips by max_norm / (|g| + 1e-6): relative 1e-6 / |g| away from the exact rule
    rtol, atol = (1e-5, 1e-7) if max_norm else (1e-9, 1e-15)
    for field in ("grads", "m", "v", "m_hat", "v_hat", "step"):
        np.testing.assert_allclose(getattr(ours, field), getattr(theirs, field), rtol=rtol,
                                   atol=atol, err_msg=field)
    assert ours.clipped.tolist() == theirs.clipped.tolist()


def test_float32_torch_is_close_to_float64():
    grads = adam.spike_stream(50.0, 0.5, before=5, after=20)
    f64 = adam.torch_adam_trace(grads)
    f32 = adam.torch_adam_trace(grads, dtype=torch.float32)
    np.testing.assert_allclose(f32.step, f64.step, rtol=1e-3)


def test_clipping_keeps_the_spike_out_of_v():
    grads = adam.spike_stream(50.0, 0.5, after=50)
    start = adam.steady_state(0.5)
    raw = adam.adam_trace(grads, **start)
    clipped = adam.adam_trace(grads, max_norm=1.0, **start)
    assert raw.v[0] == pytest.approx(0.999 * 0.25 + 0.001 * 2500)
    assert clipped.v[0] == pytest.approx(0.999 * 0.25 + 0.001 * 1.0)
    assert clipped.grads[0] == 1.0 and clipped.clipped[0] and not clipped.clipped[1:].any()
    # after the spike, the unclipped steps are suppressed; the clipped ones barely move
    assert raw.step[-1] < 0.7 * raw.lr
    assert clipped.step[-1] == pytest.approx(clipped.lr, rel=0.02)


def test_clip_scalar_keeps_sign_and_ties():
    assert adam.clip_scalar(-5.0, 2.0) == -2.0
    assert adam.clip_scalar(2.0, 2.0) == 2.0
    assert adam.clip_scalar(0.0, 2.0) == 0.0
    assert adam.clip_scalar(3.0, None) == 3.0


@pytest.mark.parametrize("kwargs", [{"beta1": 1.0}, {"beta2": -0.1}, {"max_norm": 0.0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        adam.adam_trace([1.0], **kwargs)


def test_empty_stream():
    tr = adam.adam_trace([])
    assert len(tr) == 0 and tr.m.shape == (0,)


def test_plot_trace_draws_three_panels():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grads = adam.spike_stream(after=30)
    fig = adam.plot_trace({"raw": adam.adam_trace(grads), "clipped": adam.adam_trace(
        grads, max_norm=1.0)}, typical=0.5, title="t")
    assert len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 3  # two traces and the steady-state line
    plt.close(fig)
    assert math.isclose(adam.steady_state(0.5)["v0"], 0.25)

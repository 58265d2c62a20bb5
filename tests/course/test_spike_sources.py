"""The lesson-01 demo helpers in `course.spike_sources`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course import spike_sources as ss  # noqa: E402


def test_tiny_mlp_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = ss.tiny_mlp(seed=0), ss.tiny_mlp(seed=0), ss.tiny_mlp(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert a(torch.randn(3, 8)).shape == (3, 1)


def test_regression_batch_outlier_row():
    clean, ys = ss.regression_batch(6, 4, seed=2)
    bad, ys2 = ss.regression_batch(6, 4, seed=2, outlier=3, scale=20.0)
    assert torch.equal(ys, ys2) and ys.shape == (6, 1)
    assert torch.allclose(bad[3], clean[3] * 20.0)
    assert np.array_equal(np.delete(bad.numpy(), 3, 0), np.delete(clean.numpy(), 3, 0))


def test_text_windows_and_odd_sequences():
    w = ss.text_windows(5, seed=0)
    assert w.shape == (5, 65) and w.dtype == torch.int64
    assert torch.equal(w, ss.text_windows(5, seed=0))
    assert w.min() >= 0 and w.max() < 256
    odd = ss.odd_sequences()
    assert len(odd) == 3 and all(s.shape == (65,) and s.dtype == torch.int64 for s in odd.values())
    assert all(0 <= int(s.min()) and int(s.max()) < 256 for s in odd.values())


def test_next_byte_loss_matches_model_loss():
    from course.cascade.model import SIZES, TinyGPT

    torch.manual_seed(0)
    model = TinyGPT(SIZES["small"])
    w = ss.text_windows(2, seed=3)
    got = ss.next_byte_loss(model(w[:, :-1]), w[:, 1:])
    assert torch.allclose(got, model.loss(w[:, :-1], w[:, 1:]))


def test_one_thread_restores():
    before = torch.get_num_threads()
    with ss.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), ss.one_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_train_tiny_gpt_short():
    model, norms = ss.train_tiny_gpt(steps=3, seed=0)
    assert len(norms) == 3 and all(np.isfinite(norms)) and all(n > 0 for n in norms)
    _, again = ss.train_tiny_gpt(steps=3, seed=0)
    np.testing.assert_allclose(norms, again, rtol=1e-6)


def test_switch_run_short_and_validates():
    run = ss.switch_run("prose", "qa", steps_before=2, steps_after=2)
    assert run["switch"] == 2 and len(run["grad_norm"]) == 4 and len(run["loss"]) == 4
    with pytest.raises(ValueError, match="source must be one of"):
        ss.switch_run("nope", "qa", steps_before=1, steps_after=1)


def test_naive_softmax_overflows_in_float16_only():
    x = np.array([[1.0, 2.0, 12.0]])
    assert np.isnan(ss.naive_softmax(x.astype(np.float16))).any()
    e = np.exp(x - x.max())
    np.testing.assert_allclose(ss.naive_softmax(x), e / e.sum(), rtol=1e-12)
    t = ss.naive_softmax(torch.tensor(x, dtype=torch.float16))
    assert torch.isnan(t).any()


def test_boundary_ratios():
    g = np.ones(100)
    g[50:52] = 3.0
    r = ss.boundary_ratios(g, [10, 50, 98], offsets=range(-1, 3), baseline=5, skip=30)
    assert r.shape == (1, 4)                      # 10 is before `skip`; 98 runs off the end
    np.testing.assert_allclose(r[0], [1.0, 3.0, 3.0, 1.0])
    assert ss.boundary_ratios(g, [], skip=0).shape == (0, 10)


def test_tail_summary_and_log_hist():
    v = np.array([1.0, 1.0, 1.0, 1.0, 10.0])
    s = ss.tail_summary(v)
    assert s["median"] == 1.0 and s["max / median"] == 10.0
    assert s["share > 5x median"] == pytest.approx(0.2) and s["n"] == 5
    fig, ax = plt.subplots()
    ss.log_hist(ax, [0.1, 1.0, 10.0, np.nan, 0.0], bins=5)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    edges = ss.log_edges([0.1, 1.0], [10.0, -1.0], bins=2)
    np.testing.assert_allclose(edges, [0.1, 1.0, 10.0], rtol=1e-3)
    ss.log_hist(ax, [0.5, 2.0], bins=edges, log_count=True)
    assert ax.get_yscale() == "log"
    plt.close(fig)

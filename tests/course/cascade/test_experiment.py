import numpy as np
import pytest
import torch

from course.cascade.experiment import RunConfig, lr_at, run


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_config_rules_name_the_argument():
    for kwargs, word in [(dict(size="huge"), "size"), (dict(recipe="sgd"), "recipe"),
                         (dict(mixer="x"), "mixer"), (dict(max_norm=0.0), "max_norm")]:
        with pytest.raises(ValueError, match=word):
            RunConfig(**kwargs)


def test_recipes_and_warmup():
    g = RunConfig(recipe="guarded", lr=1e-3)
    assert (g.optimizer, g.warmup, g.clip) == ("adamw", 50, 1.0)
    assert lr_at(g, 0) == pytest.approx(1e-3 / 50) and lr_at(g, 49) == lr_at(g, 400) == 1e-3
    assert RunConfig(recipe="plain", max_norm=0.5).clip == 0.5
    assert RunConfig(recipe="plain").clip is None


def test_short_run_logs_every_step_and_moments_follow_adam():
    cfg = RunConfig(size="small", recipe="clip", steps=6, max_norm=0.3, sample_every=3,
                    eval_every=3)
    t = run(cfg, progress=False)
    assert t.steps == 6 and t.clipped.all() and (t.grad_norm > 0.3).all()
    # after step 0: m = (1 - beta1) * g and sum(v) = (1 - beta2) * ||g||^2 of the clipped g
    assert t.m_norm[0] == pytest.approx(0.1 * 0.3, rel=1e-5)
    assert t.v_sum[0] == pytest.approx(0.001 * 0.3 ** 2, rel=1e-5)
    assert list(t.sample_steps) == [2, 5] and len(t.samples["greedy"]) == 2
    assert t.eval_loss.shape == (2, 3) and list(t.eval_steps) == [2, 5]


def test_unclipped_moments_see_the_raw_gradient():
    t = run(RunConfig(size="small", recipe="plain", steps=2, sample_every=10, eval_every=10),
            progress=False)
    assert not t.clipped.any()
    assert t.m_norm[0] == pytest.approx(0.1 * t.grad_norm[0], rel=1e-5)


def test_runs_are_deterministic_and_paired_across_recipes():
    cfg = RunConfig(size="small", recipe="plain", steps=5, sample_every=10, eval_every=10)
    a, b = run(cfg, progress=False), run(cfg, progress=False)
    np.testing.assert_array_equal(a.loss, b.loss)
    c = run(RunConfig(size="small", recipe="guarded", steps=5, sample_every=10, eval_every=10),
            progress=False)
    assert a.loss[0] == c.loss[0]  # same initial weights and first batch
    assert a.loss[1] != c.loss[1]


def test_stop_after_trains_a_prefix_of_the_same_run():
    cfg = RunConfig(size="small", recipe="plain", steps=60, sample_every=100, eval_every=100)
    prefix, longer = run(cfg, progress=False, stop_after=3), run(cfg, progress=False, stop_after=5)
    assert prefix.steps == 3 and len(prefix.weights) == 3
    np.testing.assert_array_equal(prefix.loss, longer.loss[:3])
    assert prefix.meta["phase_lengths"] == longer.meta["phase_lengths"]
    with pytest.raises(ValueError, match="stop_after"):
        run(cfg, progress=False, stop_after=61)

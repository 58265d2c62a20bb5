import numpy as np
import pytest

from course.cascade.analysis import (final_eval_loss, largest_jump, moment_response, norm_jumps,
                                     switch_free_steps,
                                     switch_lift, switch_loss_jump)


def test_norm_jumps_uses_a_trailing_median_that_excludes_the_step():
    norms = [1.0] * 10 + [3.5] + [1.0] * 5 + [2.9]
    assert norm_jumps(norms, window=5, factor=3.0) == [10]
    assert norm_jumps([1.0, 10.0, 10.0], window=1, factor=3.0) == [1]
    with pytest.raises(ValueError, match="window"):
        norm_jumps(norms, window=0)


def test_switch_lift_and_loss_jump():
    v = np.ones(30)
    v[10:12] = [2.0, 4.0]
    np.testing.assert_allclose(switch_lift(v, [10, 20, 28]), [4.0, 1.0])  # 28: too close to end
    loss = np.full(30, 2.0)
    loss[10] = 2.5
    np.testing.assert_allclose(switch_loss_jump(loss, [1, 10]), [0.5])


def test_largest_jump_and_final_eval():
    assert largest_jump([1, 1, 1, 8, 1]) == (3, 8.0)
    assert final_eval_loss(np.array([[5, 5, 5], [1, 2, 3]])) == 2.0


def test_moment_response_on_exact_adam_moments():
    g = np.full(300, 0.5)
    g[100] = 50.0
    m = np.zeros(300)
    v = np.zeros(300)
    mm = vv = 0.0
    for i, x in enumerate(g):
        mm, vv = 0.9 * mm + 0.1 * x, 0.999 * vv + 0.001 * x * x
        m[i], v[i] = abs(mm), vv
    r = moment_response(m, v, 100, horizon=150)
    assert r["m_ratio"] == pytest.approx(m[100] / np.median(m[95:100]), rel=1e-9)
    assert m[100] == pytest.approx(0.9 * m[99] + 0.1 * 50.0)
    assert r["m_recovery"] == int(np.nonzero(m[100:] <= 1.5 * np.median(m[95:100]))[0][0])
    assert 20 < r["m_recovery"] < 60  # about 40 steps for a 100x spike at beta1 = 0.9
    assert r["v_ratio_end"] > 0.8 * r["v_ratio"]  # v barely decays in 150 steps


def test_switch_free_steps_keep_windows_clear_of_boundaries():
    free = switch_free_steps([60, 80], 100, start=50, before=5, after=3)
    assert 57 in free and 58 not in free and 65 not in free and 66 in free
    assert free[0] == 50 and free[-1] == 97
    assert all(not (p - 5 <= b < p + 3) for p in free for b in (60, 80))

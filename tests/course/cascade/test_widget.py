import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course.cascade import plot, replay, widget  # noqa: E402

from .conftest import make_trace  # noqa: E402


def test_no_frontend_outside_a_jupyter_session(monkeypatch):
    monkeypatch.delenv("GRADCLIP_WIDGETS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert widget.frontend_attached() is False
    monkeypatch.setenv("GRADCLIP_WIDGETS", "1")
    assert widget.frontend_attached() is True


def test_headless_show_draws_a_static_figure_at_the_last_step(toy_traces, monkeypatch):
    monkeypatch.setenv("GRADCLIP_WIDGETS", "0")
    fig = widget.CascadeReplay(toy_traces, ["a"]).show()
    axes = fig.axes
    assert len(axes) == 4
    loss_lines = axes[0].get_lines()
    assert len(loss_lines) == 2                     # the run and the step cursor
    assert len(loss_lines[0].get_xdata()) == 30     # at its end: nothing faint ahead


def test_draw_marks_clipped_steps_and_shades_phases():
    trace = make_trace(steps=30, clipped_at=(3, 4, 12))
    fig, axes = plot.new_figure()
    plot.draw(axes, [replay.run_view(trace, 10)], total=30, step=10)
    markers = [ln for ln in axes["grad_norm"].get_lines() if ln.get_marker() == "x"]
    assert len(markers) == 1
    np.testing.assert_array_equal(markers[0].get_xdata(), [3, 4])
    alphas = [p.get_alpha() for p in axes["loss"].patches]
    # phases begun by step 10, [0, 7) and [7, 11); lighter, the rest: [11, 21) and [21, 30)
    assert alphas == [plot.PHASE_ALPHA] * 2 + [plot.PHASE_AHEAD_ALPHA] * 2


def test_an_early_step_draws_the_whole_run_faintly():
    """At step 0 the played part is one point; the rest of the run is drawn faintly under
    it, so no panel is blank, and the legend names only the run."""
    trace = make_trace(steps=30)
    fig, axes = plot.new_figure()
    plot.draw(axes, [replay.run_view(trace, 0)], total=30, step=0)
    for name in plot.PANELS:
        faint = [ln for ln in axes[name].get_lines() if ln.get_alpha() == plot.AHEAD_ALPHA]
        assert len(faint) == 1, name
        np.testing.assert_array_equal(faint[0].get_xdata(), np.arange(30))
        np.testing.assert_allclose(faint[0].get_ydata(), getattr(trace, name))
    labels = [t.get_text() for t in axes["loss"].get_legend().get_texts()]
    assert labels == ["toy"]


def test_widget_builds_and_follows_the_slider(toy_traces, monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("GRADCLIP_WIDGETS", "1")
    rep = widget.CascadeReplay(toy_traces, ["a"])
    rep.show()
    opening = replay.opening_step(toy_traces, ["a"])
    assert rep.state.step == opening > 0       # opens past step 0, controls agree
    assert rep._ui["slider"].value == rep._ui["play"].value == opening
    assert "g19" in rep._ui["text"].value     # the latest sample is on screen at once
    rep._ui["slider"].value = 12
    assert rep.state.step == 12 and "g9" in rep._ui["text"].value
    rep._ui["slider"].value = 25
    rep._ui["runs"].value = ("b",)   # 20 steps: the player clamps to its last step
    assert rep.state.selection == ("b",) and rep.state.step == 19
    assert rep._ui["slider"].max == 19 and rep._ui["slider"].value == 19
    assert "g19" in rep._ui["text"].value


def test_samples_html_escapes_text():
    trace = make_trace(sample_steps=(0,))
    trace.samples["temp1"] = ["<script>"]
    html = widget.samples_html([replay.run_view(trace, 5)])
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_empty_traces_are_rejected():
    with pytest.raises(ValueError, match="traces"):
        widget.CascadeReplay({})


def test_live_trace_runs_a_short_clipped_experiment():
    trace = widget.live_trace(0.05, steps=4, progress=False)
    assert trace.name.startswith("live-") and trace.steps == 4
    assert trace.clipped.all() and trace.meta["max_norm"] == 0.05

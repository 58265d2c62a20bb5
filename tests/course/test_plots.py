"""course.plots: each helper draws what it is given on an Axes and returns it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_cosine_vs_threshold_draws_one_line_per_method():
    ax = plots.cosine_vs_threshold([10, 1, 0.1], {"global": [1, 1, 1], "per-tensor": [1, 0.9, 0.5]},
                                   title="t")
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()
             if not line.get_label().startswith("_")}
    assert lines == {"global": [1, 1, 1], "per-tensor": [1, 0.9, 0.5]}
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    left, right = ax.get_xlim()
    assert left > right  # tighter clipping to the right
    assert ax.get_lines()[0].get_color() != ax.get_lines()[1].get_color()


def test_cosine_vs_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        plots.cosine_vs_threshold([1, 0], {"global": [1, 1]})
    with pytest.raises(ValueError, match="values"):
        plots.cosine_vs_threshold([1, 0.1], {"global": [1]})


def test_tensor_norms_draws_a_bar_per_tensor_and_series():
    fig, ax = plt.subplots()
    out = plots.tensor_norms(["w", "b"], {"raw": [3.0, 0.1], "global": [1.0, 0.03]},
                             max_norm=1.0, ax=ax)
    assert out is ax
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [0.03, 0.1, 1.0, 3.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w", "b"]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="values for 2 names"):
        plots.tensor_norms(["w", "b"], {"raw": [1.0]})
    with pytest.raises(ValueError, match="empty"):
        plots.tensor_norms(["w"], {})


def test_clip_arrows_2d_draws_arrows_and_the_two_regions():
    ax = plots.clip_arrows_2d([4.0, 0.5], {"global": [0.99, 0.12], "per-tensor": [1.0, 0.5]}, 1.0)
    assert len(ax.texts) == 3  # raw + two clipped arrows
    kinds = sorted(type(p).__name__ for p in ax.patches)
    assert kinds == ["Circle", "Rectangle"]
    assert ax.get_xlim()[1] > 4.0 and ax.get_ylim()[1] >= 1.0
    with pytest.raises(ValueError, match="two-component"):
        plots.clip_arrows_2d([1.0, 2.0, 3.0], {}, 1.0)


def test_clip_arrows_2d_zoom_frames_the_circle_and_labels_the_turn():
    """Lesson 02's key figure: the turn is visible, the legend covers no arrow."""
    ax = plots.clip_arrows_2d([4.0, 0.5], {"global": [0.9923, 0.124], "per-tensor": [1.0, 0.5]},
                              1.0, zoom=True)
    assert ax.get_xlim() == ax.get_ylim() and ax.get_xlim()[1] < 2.0  # square, round the circle
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    assert any("per-tensor: 26.6\u00b0" in t for t in labels), labels
    assert any(t.startswith("raw: 7.1\u00b0, norm 4.03") for t in labels), labels
    ax.figure.canvas.draw()
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= frame.x1  # beside the axes, not over the arrows
    for annotation in ax.texts:  # every arrow tip inside the frame
        x, y = annotation.xy
        assert ax.get_xlim()[0] <= x <= ax.get_xlim()[1] and ax.get_ylim()[0] <= y <= ax.get_ylim()[1]


def test_direction_deg():
    assert plots.direction_deg([1.0, 1.0]) == pytest.approx(45.0)
    assert plots.direction_deg([-1.0, 0.0]) == pytest.approx(180.0)


def test_colours_are_consistent_per_method():
    ax1 = plots.cosine_vs_threshold([1, 0.1], {"per-tensor": [1, 0.5]})
    ax2 = plots.cosine_vs_threshold([1, 0.1], {"global": [1, 1], "per-tensor": [1, 0.5]})
    assert ax1.get_lines()[0].get_color() == ax2.get_lines()[1].get_color() == \
        plots.COLORS["per-tensor"]

"""Plot helpers lessons share: each draws on an `Axes` (a new figure when none is given)
and returns it, so a lesson can lay panels out as it likes and tests can read what was
drawn. Nothing here calls `plt.show()`: notebooks display figures at the end of a cell,
and headless runs (nbgrader, CI) need no display.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Circle, Rectangle

#: One colour per clipping method, the same in every lesson's plots.
COLORS = {
    "raw": "#7f7f7f",
    "unclipped": "#7f7f7f",
    "global": "#1f77b4",
    "per-tensor": "#d62728",
    "value": "#ff7f0e",
}


def _color(label: str, index: int) -> str:
    for key, color in COLORS.items():
        if label.lower().startswith(key):
            return color
    return f"C{index % 10}"


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def direction_deg(v: Sequence[float]) -> float:
    """The angle of a two-component vector from the first axis, in degrees."""
    return math.degrees(math.atan2(v[1], v[0]))


def clip_arrows_2d(g: Sequence[float], clipped: Mapping[str, Sequence[float]], max_norm: float,
                   *, ax: Axes | None = None, title: str = "", zoom: bool = False) -> Axes:
    """A two-component gradient `g` and its clipped versions as arrows from the origin.

    The circle of radius `max_norm` is where norm clipping lands a long gradient; the
    square of half-side `max_norm` is where clipping each component on its own lands it.
    `zoom=True` frames the circle, where the clipped arrows end, on equal axes: an arrow
    longer than the frame is cut at its edge (its label gives its full length), and every
    arrow is labelled with its angle, so a turn of a few degrees shows. The legend sits
    beside the axes, clear of the arrows.
    """
    ax = _axes(ax, (6.0, 4.5))
    if len(g) != 2 or any(len(v) != 2 for v in clipped.values()):
        raise ValueError("`clip_arrows_2d` draws two-component vectors only")
    ax.add_patch(Circle((0, 0), max_norm, fill=False, ls="--", color="0.5",
                        label=f"norm = {max_norm:g}"))
    ax.add_patch(Rectangle((-max_norm, -max_norm), 2 * max_norm, 2 * max_norm, fill=False,
                           ls=":", color="0.6", label=f"|component| = {max_norm:g}"))
    vectors = {"raw": list(g), **{k: list(v) for k, v in clipped.items()}}
    framed = [[0.0, 0.0], *vectors.values()] if not zoom else [[0.0, 0.0], *clipped.values()]
    limits = []
    for axis in (0, 1):
        reach = 1.3 * max(max_norm, *(abs(v[axis]) for v in framed))
        negative = min(v[axis] for v in vectors.values()) < 0
        limits.append((-reach if negative else -0.15 * reach, reach))
    if zoom:  # one scale for both axes: the frame is as tall as it is wide
        low = min(limits[0][0], limits[1][0])
        high = max(limits[0][1], limits[1][1])
        limits = [(low, high), (low, high)]
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    for i, (label, v) in enumerate(vectors.items()):
        color = _color(label, i)
        length = math.hypot(*v)
        # the largest fraction of the arrow that stays inside the frame
        fit = min([1.0] + [0.97 * bound / c for c, (lo, hi) in zip(v, limits)
                           for bound in (lo, hi) if c and 0 < bound / c < 1.0])
        tip = (v[0] * fit, v[1] * fit)
        ax.annotate("", xy=tip, xytext=(0, 0),
                    arrowprops=dict(arrowstyle="->", lw=2, color=color))
        ax.plot([tip[0]], [tip[1]], "o" if fit == 1.0 else ">", ms=4, color=color, label=label)
        if zoom:
            text = f"{label}: {direction_deg(v):.1f}\u00b0"
            if fit < 1.0:
                text += f", norm {length:.2f} (cut at the frame)"
            below = label.startswith("global")
            ax.annotate(text, xy=tip, xytext=(-4, -12 if below else 6),
                        textcoords="offset points", ha="right", color=color, fontsize=8)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("component 1 (tensor A)")
    ax.set_ylabel("component 2 (tensor B)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax


def tensor_norms(names: Sequence[str], series: Mapping[str, Sequence[float]], *,
                 max_norm: float | None = None, ax: Axes | None = None, title: str = "",
                 log: bool = True) -> Axes:
    """The L2 norm of each parameter's gradient, one horizontal bar group per tensor and
    one bar per series (e.g. raw, global-clipped, per-tensor-clipped)."""
    ax = _axes(ax, (6.5, 0.35 * len(names) * max(1, len(series)) + 1.2))
    if not series:
        raise ValueError("`series` is empty: nothing to draw")
    for label, values in series.items():
        if len(values) != len(names):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(names)} names")
    height = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        positions = [k + (i - (len(series) - 1) / 2) * height for k in range(len(names))]
        ax.barh(positions, list(values), height=height, label=label, color=_color(label, i))
    ax.set_yticks(range(len(names)), list(names), fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    if max_norm is not None:
        ax.axvline(max_norm, color="k", ls="--", lw=1, label=f"max_norm = {max_norm:g}")
    ax.set_xlabel("L2 norm of the tensor's gradient")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return ax


def cosine_vs_threshold(thresholds: Sequence[float], curves: Mapping[str, Sequence[float]], *,
                        ax: Axes | None = None, title: str = "",
                        xlabel: str = "threshold (max_norm)") -> Axes:
    """Cosine similarity between clipped and unclipped gradients as the threshold shrinks
    (log x axis, largest threshold on the left), one line per clipping method."""
    ax = _axes(ax, (5.5, 3.8))
    if any(t <= 0 for t in thresholds):
        raise ValueError("thresholds must be positive (the x axis is logarithmic)")
    for i, (label, values) in enumerate(curves.items()):
        if len(values) != len(thresholds):
            raise ValueError(f"curve {label!r} has {len(values)} values for "
                             f"{len(thresholds)} thresholds")
        ax.plot(list(thresholds), list(values), "o-", ms=3, label=label, color=_color(label, i))
    ax.set_xscale("log")
    if thresholds:
        ax.set_xlim(max(thresholds) * 1.3, min(thresholds) / 1.3)  # tighter clipping to the right
    lowest = min((v for vs in curves.values() for v in vs if not math.isnan(v)), default=0.0)
    ax.set_ylim(min(0.0, lowest - 0.05), 1.05)
    ax.axhline(1.0, color="0.7", lw=0.8, zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cosine(clipped, unclipped)")
    ax.legend(fontsize=8, loc="lower left")
    if title:
        ax.set_title(title)
    return ax

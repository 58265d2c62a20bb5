"""Draw `RunView`s with matplotlib: loss, gradient norm, Adam's moments, phases shaded."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .replay import SERIES, RunView
from .sources import SOURCE_NAMES

SOURCE_COLORS = ("#4C72B0", "#DD8452", "#55A868")   # repo-docs, prose, qa
PANELS = SERIES
#: Shading of phases that have begun, and of those still ahead of the player.
PHASE_ALPHA, PHASE_AHEAD_ALPHA = 0.12, 0.05
#: The rest of a run, ahead of the player: faint, under the part played so far.
AHEAD_ALPHA, AHEAD_LW = 0.25, 0.7
TITLES = {"loss": "training loss (nats/byte)", "grad_norm": "pre-clip global grad norm",
          "m_norm": "||m|| (Adam first moment)", "v_sum": "sum of v (Adam second moment)"}


def new_figure() -> tuple[plt.Figure, dict[str, plt.Axes]]:
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    return fig, dict(zip(PANELS, axes.ravel()))


def draw(axes: dict[str, plt.Axes], views: Sequence[RunView], *, total: int,
         step: int | None = None) -> None:
    """Draw `views` on `axes` (cleared first). Phases of the first view are shaded in the
    colour of their dominant source; clipped steps are marked on the norm panel. The rest
    of each run (`RunView.ahead`) is drawn faintly, with its phases shaded lighter, so a
    view at an early step still shows the whole run, and the y-axes do not rescale as the
    player advances."""
    for name, ax in axes.items():
        ax.clear()
        ax.set_title(TITLES[name], fontsize=9)
        ax.set_xlim(0, max(total - 1, 1))
        if name in ("grad_norm", "v_sum"):
            ax.set_yscale("log")
    if views:
        for spans, alpha in ((views[0].phases, PHASE_ALPHA),
                             (views[0].phases_ahead, PHASE_AHEAD_ALPHA)):
            for start, stop, dom in spans:
                if dom >= 0:
                    for ax in axes.values():
                        ax.axvspan(start, stop, color=SOURCE_COLORS[dom], alpha=alpha, lw=0)
    for k, view in enumerate(views):
        color = f"C{k}"
        for name in PANELS:
            if len(view.ahead_x):
                axes[name].plot(view.ahead_x, view.ahead[name], color=color, lw=AHEAD_LW,
                                alpha=AHEAD_ALPHA)
            axes[name].plot(view.x, getattr(view, name), color=color, lw=0.9, label=view.name)
        if len(view.clipped_steps):
            axes["grad_norm"].plot(view.clipped_steps, view.grad_norm[view.clipped_steps], "x",
                                   color=color, ms=3, label=f"clipped ({len(view.clipped_steps)})")
        if view.max_norm is not None:
            axes["grad_norm"].axhline(view.max_norm, color=color, ls="--", lw=0.7)
    if step is not None:
        for ax in axes.values():
            ax.axvline(step, color="k", lw=0.6, alpha=0.5)
    if views:
        axes["loss"].legend(fontsize=7, loc="upper right")
        axes["grad_norm"].legend(fontsize=7, loc="upper right")
    for ax in (axes["m_norm"], axes["v_sum"]):
        ax.set_xlabel("step")


def source_legend(ax: plt.Axes) -> None:
    """A legend entry per source colour."""
    for name, color in zip(SOURCE_NAMES, SOURCE_COLORS):
        ax.axvspan(np.nan, np.nan, color=color, alpha=0.3, label=f"phase: {name}")


def static_figure(views: Sequence[RunView], *, total: int, step: int | None = None) -> plt.Figure:
    """A finished figure of `views` (what headless execution shows)."""
    fig, axes = new_figure()
    draw(axes, views, total=total, step=step)
    source_legend(axes["m_norm"])
    axes["m_norm"].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig

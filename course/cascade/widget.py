"""The instructor's replay widget: play/pause, a step slider, runs side by side, a live run.

`CascadeReplay(traces).show()` displays the interactive widget in JupyterLab; without a
frontend (nbconvert, nbgrader, a plain script) it draws one static figure instead. The
state machine and what is drawn live in `course.cascade.replay` and `course.cascade.plot`.
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import matplotlib.pyplot as plt

from course.widgets import frontend_attached  # the course-wide rule (GRADCLIP_WIDGETS, cellId)

from . import replay
from .plot import draw, new_figure, source_legend, static_figure
from .trace import Trace


def live_trace(max_norm: float | None, *, steps: int = 120, size: str = "small",
               seed: int = 0, progress: bool = True) -> Trace:
    """Re-run a short CPU experiment: plain Adam, no warmup, clipped at `max_norm` (None: off)."""
    import torch

    from .experiment import RunConfig, run

    if steps < 1:
        raise ValueError(f"`steps` must be >= 1, got {steps}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = RunConfig(size=size, recipe="plain", seed=seed, steps=steps, max_norm=max_norm,
                        sample_every=max(steps // 4, 1), eval_every=steps)
        trace = run(cfg, progress=progress)
    finally:
        torch.set_num_threads(threads)
    trace.meta["name"] = f"live-{cfg.name}"
    return trace


def samples_html(views: Sequence[replay.RunView]) -> str:
    """The sampled text of each run at the current step, as an HTML table."""
    rows = []
    for view in views:
        if view.sample_step is None:
            rows.append(f"<tr><td>{html.escape(view.name)}</td><td colspan=2>"
                        "(no sample yet)</td></tr>")
            continue
        cells = "".join(f"<td><pre style='white-space:pre-wrap;margin:0'>"
                        f"{html.escape(text)}</pre></td>" for text in view.samples.values())
        rows.append(f"<tr><td>{html.escape(view.name)}<br>step {view.sample_step}</td>{cells}</tr>")
    temps = next((list(v.samples) for v in views if v.samples), ["greedy", "temp1"])
    head = "".join(f"<th>{html.escape(t)}</th>" for t in temps)
    return f"<table><tr><th>run</th>{head}</tr>{''.join(rows)}</table>"


class CascadeReplay:
    """Replays recorded traces; `show()` displays it (or a static figure when headless).

    The player opens paused at `step`, by default `replay.opening_step` (the first sample,
    past two source switches); each panel shows the whole run faintly and the part up to
    the current step solid. Pass `step=0` to open at the start."""

    def __init__(self, traces: Mapping[str, Trace], selection: Sequence[str] | None = None,
                 step: int | None = None):
        if not traces:
            raise ValueError("`traces` is empty: load recorded runs with "
                             "`course.cascade.trace.load_recorded()`")
        self.traces: dict[str, Trace] = dict(traces)
        self.state = replay.initial_state(self.traces, selection, step)
        self._ui = None

    # -- logic shared by both modes ----------------------------------------------------
    @property
    def total(self) -> int:
        return replay.n_steps(self.traces, self.state.selection)

    def views(self) -> list[replay.RunView]:
        return replay.views(self.traces, self.state)

    def goto(self, step: int) -> None:
        self.state = replay.set_step(self.state, step, self.total)
        self._refresh()

    def choose(self, selection: Sequence[str]) -> None:
        self.state = replay.select(self.state, selection, self.traces)
        self._refresh()

    def add_live_run(self, max_norm: float | None, **kwargs) -> str:
        """Run a short live experiment, add it to the runs and select it; return its name."""
        trace = live_trace(max_norm, **kwargs)
        self.traces[trace.name] = trace
        if self._ui is not None:
            self._ui["runs"].options = sorted(self.traces)
        self.choose(tuple(self.state.selection) + (trace.name,))
        return trace.name

    def figure(self, step: int | None = None) -> plt.Figure:
        """A static figure at `step` (default: the current step)."""
        s = self.state.step if step is None else step
        views = replay.views(self.traces, replay.set_step(self.state, s, self.total))
        return static_figure(views, total=self.total, step=s)

    # -- interactive mode -----------------------------------------------------------------
    def show(self):
        """Display the widget, or a static figure at the last step when headless."""
        from IPython.display import display

        if not frontend_attached():
            self.state = replay.set_step(self.state, self.total - 1, self.total)
            fig = self.figure()
            display(fig)
            plt.close(fig)
            return fig
        box = self._build()
        display(box)
        self._refresh()
        return box

    def _build(self):
        import ipywidgets as w

        last = max(self.total - 1, 0)
        play = w.Play(value=self.state.step, min=0, max=last, step=self.state.speed,
                      interval=250, description="play")
        slider = w.IntSlider(value=self.state.step, min=0, max=last, description="step",
                             continuous_update=False, layout=w.Layout(width="60%"))
        w.jslink((play, "value"), (slider, "value"))
        runs = w.SelectMultiple(options=sorted(self.traces), value=self.state.selection,
                                rows=8, description="runs", layout=w.Layout(width="45%"))
        max_norm = w.FloatLogSlider(value=self.state.max_norm, base=10, min=-2, max=2,
                                    description="max_norm")
        clip_on = w.Checkbox(value=True, description="clip (live)")
        live_steps = w.BoundedIntText(value=120, min=10, max=600, description="live steps")
        go = w.Button(description="run live", icon="play")
        plot_out, log_out = w.Output(), w.Output()
        text = w.HTML()
        self._ui = dict(play=play, slider=slider, runs=runs, plot=plot_out, text=text)

        slider.observe(lambda ch: self.goto(ch["new"]), names="value")
        runs.observe(lambda ch: self.choose(ch["new"]) if ch["new"] else None, names="value")
        max_norm.observe(lambda ch: setattr(self, "state", replay.set_max_norm(self.state, ch["new"])),
                         names="value")

        def on_live(_):
            with log_out:
                self.add_live_run(self.state.max_norm if clip_on.value else None,
                                  steps=live_steps.value)

        go.on_click(on_live)
        controls = w.HBox([play, slider])
        live = w.HBox([max_norm, clip_on, live_steps, go])
        return w.VBox([controls, runs, plot_out, text, live, log_out])

    def _refresh(self) -> None:
        if self._ui is None:
            return
        from IPython.display import display

        last = max(self.total - 1, 0)
        for key in ("play", "slider"):
            self._ui[key].max = last
            if self._ui[key].value != self.state.step:   # a clamp by `choose`
                self._ui[key].value = self.state.step
        views = self.views()
        with self._ui["plot"]:
            self._ui["plot"].clear_output(wait=True)
            fig, axes = new_figure()
            draw(axes, views, total=self.total, step=self.state.step)
            source_legend(axes["m_norm"])
            axes["m_norm"].legend(fontsize=7, loc="upper right")
            fig.tight_layout()
            display(fig)
            plt.close(fig)
        self._ui["text"].value = samples_html(views)

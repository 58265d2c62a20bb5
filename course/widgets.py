"""Interactive figures: ipywidgets controls whose output is a matplotlib figure.

A lesson writes a plotting function that takes the controls' values as keyword arguments
and returns a `matplotlib.figure.Figure`, then shows it with controls:

    def draw(spike=50.0, clip=True):
        fig, ax = plt.subplots()
        ...
        return fig

    FigureControls(draw, {"spike": slider(50.0, 1.0, 200.0),
                          "clip": toggle(True, "clip")}).show()

With a live frontend (JupyterLab, Notebook 7) `show()` displays the controls above the
figure and redraws the figure whenever a control changes. Executed headless (nbclient,
nbconvert, nbgrader's autograder, a plain script, the test harness) there is nobody to
move a slider and no widget manager to render one, so `show()` draws the figure once at
the controls' initial values as an ordinary image output, plus a one-line note.

`frontend_attached()` makes that call. Set `GRADCLIP_WIDGETS=1` (or `0`) to force it.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, Mapping

ENV_VAR = "GRADCLIP_WIDGETS"
STATIC_NOTE = ("(static figure at the default settings: no live notebook frontend is "
               "attached; open the notebook in JupyterLab to use the controls)")


def _kernel_shell() -> Any | None:
    """The IPython shell when this code runs inside a Jupyter kernel, else None."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def frontend_attached() -> bool:
    """Whether a frontend that renders widgets is attached to this kernel (a best guess).

    In order:
    1. `GRADCLIP_WIDGETS=1` or `0` in the environment decides.
    2. Outside a Jupyter kernel (a plain script, pytest, the lesson test harness): False.
    3. The request that runs the current cell carries a `cellId` in its metadata: JupyterLab
       and Notebook 7 send one with every execution; nbclient (and so nbconvert and
       nbgrader) sends none. True if present.
    4. `JPY_SESSION_NAME` is in the environment: a Jupyter server started this kernel for
       an open notebook (nbclient starts kernels without a server). True if present.
    Otherwise False: a frontend we cannot recognise gets the static figure, which shows
    everywhere.
    """
    forced = os.environ.get(ENV_VAR)
    if forced is not None and forced.strip() in {"0", "1"}:
        return forced.strip() == "1"
    shell = _kernel_shell()
    if shell is None:
        return False
    try:
        parent = shell.kernel.get_parent()
    except Exception:  # noqa: BLE001 - an old or unusual kernel: fall through to the env
        parent = None
    metadata = (parent or {}).get("metadata") or {}
    if "cellId" in metadata:
        return True
    return "JPY_SESSION_NAME" in os.environ


def _display(obj: Any) -> None:
    """`IPython.display.display` inside IPython; nothing elsewhere (no one to show it to)."""
    if "IPython" in sys.modules:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(obj)


def slider(value: float, min: float, max: float, step: float | None = None, *,  # noqa: A002
           description: str = "", log: bool = False, integer: bool = False,
           readout_format: str | None = None):
    """A slider that updates on release (redrawing while dragging would stutter).

    `log=True` gives a `FloatLogSlider` between `min` and `max` (both > 0); `integer=True`
    an `IntSlider`; otherwise a `FloatSlider` with `step` (default: 1/100 of the range).
    """
    import ipywidgets as w

    style = {"description_width": "initial"}
    if log:
        import math

        if not (min > 0 and max > min):
            raise ValueError(f"a log slider needs 0 < min < max, got min={min}, max={max}")
        return w.FloatLogSlider(value=value, base=10, min=math.log10(min), max=math.log10(max),
                                step=step or 0.01, description=description,
                                continuous_update=False, style=style,
                                readout_format=readout_format or ".3g")
    if integer:
        return w.IntSlider(value=int(value), min=int(min), max=int(max), step=int(step or 1),
                           description=description, continuous_update=False, style=style)
    return w.FloatSlider(value=value, min=min, max=max, step=step or (max - min) / 100,
                         description=description, continuous_update=False, style=style,
                         readout_format=readout_format or ".3g")


def toggle(value: bool, description: str = ""):
    """A checkbox."""
    import ipywidgets as w

    return w.Checkbox(value=bool(value), description=description, indent=False)


class FigureControls:
    """Controls (`name -> ipywidget`) and a function `plot(**values) -> Figure`.

    `interactive=None` asks `frontend_attached()`; pass True or False to decide yourself
    (tests do). `draw()` makes the figure for the current values and returns it without
    displaying it; `show()` displays the controls and the figure (live) or the figure
    alone (static).
    """

    def __init__(self, plot: Callable[..., Any], controls: Mapping[str, Any], *,
                 interactive: bool | None = None, note: str | None = STATIC_NOTE):
        if not controls:
            raise ValueError("`controls` is empty: a figure without controls needs no widget")
        for name, control in controls.items():
            if not hasattr(control, "value") or not hasattr(control, "observe"):
                raise TypeError(f"control `{name}` should be an ipywidgets value widget, "
                                f"got {type(control).__name__}")
        self.plot = plot
        self.controls = dict(controls)
        self.interactive = frontend_attached() if interactive is None else bool(interactive)
        self.note = note
        self.figure = None
        self.draws = 0
        self._output = None
        self._widget = None

    @property
    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def draw(self):
        """Call the plot function with the current values; return its figure."""
        import matplotlib.pyplot as plt

        if self.figure is not None:
            plt.close(self.figure)
        self.figure = self.plot(**self.values)
        self.draws += 1
        return self.figure

    @property
    def widget(self):
        """The controls above an `Output` that holds the figure (built on first use)."""
        if self._widget is None:
            import ipywidgets as w

            self._output = w.Output()
            box = w.HBox(list(self.controls.values()),
                         layout=w.Layout(flex_flow="row wrap"))
            self._widget = w.VBox([box, self._output])
            for control in self.controls.values():
                control.observe(self._on_change, names="value")
        return self._widget

    def _on_change(self, _change=None) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Redraw into the widget's output (live mode)."""
        import matplotlib.pyplot as plt

        _ = self.widget
        with self._output:
            self._output.clear_output(wait=True)
            try:
                fig = self.draw()
            except Exception:  # noqa: BLE001 - shown to the learner, not lost in a log
                traceback.print_exc(file=sys.stdout)
                return
            _display(fig)
            plt.close(fig)

    def show(self) -> None:
        """Display the live controls and figure, or (headless) the static figure once."""
        import matplotlib.pyplot as plt

        if self.interactive:
            _display(self.widget)
            self.redraw()
            return
        fig = self.draw()
        _display(fig)
        plt.close(fig)
        if self.note:
            print(self.note)


def show_figure(plot: Callable[..., Any], controls: Mapping[str, Any], *,
                interactive: bool | None = None) -> FigureControls:
    """`FigureControls(plot, controls).show()`; returns the object (assign it, or the
    notebook prints its repr)."""
    ui = FigureControls(plot, controls, interactive=interactive)
    ui.show()
    return ui

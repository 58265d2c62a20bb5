"""`course.widgets`: headless detection, static fallback, live redraws."""

import sys
import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course import widgets  # noqa: E402


def _plot(a=1.0, flag=True):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, a if flag else -a])
    ax.set_title(f"a={a} flag={flag}")
    return fig


def _controls():
    return {"a": widgets.slider(1.0, 0.0, 5.0, description="a"),
            "flag": widgets.toggle(True, "flag")}


def test_no_kernel_means_no_frontend(monkeypatch):
    monkeypatch.delenv(widgets.ENV_VAR, raising=False)
    assert widgets.frontend_attached() is False


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False)])
def test_environment_override(monkeypatch, value, expected):
    monkeypatch.setenv(widgets.ENV_VAR, value)
    assert widgets.frontend_attached() is expected


class _FakeKernel:
    def __init__(self, metadata):
        self._parent = {"header": {}, "metadata": metadata}

    def get_parent(self, channel=None):
        return self._parent


def _fake_shell(monkeypatch, metadata):
    import IPython

    shell = types.SimpleNamespace(kernel=_FakeKernel(metadata))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", IPython)


def test_jupyterlab_request_has_a_cell_id(monkeypatch):
    monkeypatch.delenv(widgets.ENV_VAR, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    _fake_shell(monkeypatch, {"cellId": "abc", "deletedCells": [], "recordTiming": False})
    assert widgets.frontend_attached() is True


def test_nbclient_request_has_none(monkeypatch):
    monkeypatch.delenv(widgets.ENV_VAR, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    _fake_shell(monkeypatch, {})
    assert widgets.frontend_attached() is False
    monkeypatch.setenv("JPY_SESSION_NAME", "lessons/x.ipynb")
    assert widgets.frontend_attached() is True


def test_static_mode_draws_once_and_prints_a_note(capsys):
    ui = widgets.FigureControls(_plot, _controls(), interactive=False)
    ui.show()
    assert ui.draws == 1 and ui._widget is None
    assert ui.figure.axes[0].get_title() == "a=1.0 flag=True"
    assert not plt.get_fignums(), "the static figure must be closed after display"
    assert "static figure" in capsys.readouterr().out


def test_live_mode_redraws_on_change():
    controls = _controls()
    ui = widgets.FigureControls(_plot, controls, interactive=True)
    ui.show()
    assert ui.draws == 1
    controls["a"].value = 2.5
    assert ui.draws == 2 and ui.figure.axes[0].get_title() == "a=2.5 flag=True"
    controls["flag"].value = False
    assert ui.draws == 3 and ui.figure.axes[0].get_title() == "a=2.5 flag=False"
    assert ui.values == {"a": 2.5, "flag": False}
    assert not plt.get_fignums()


def test_live_mode_survives_a_failing_plot(capsys):
    def broken(a=1.0):
        raise ZeroDivisionError("boom")

    ui = widgets.FigureControls(broken, {"a": widgets.slider(1.0, 0.0, 2.0)}, interactive=True)
    ui.show()  # prints the traceback into the output instead of raising from a callback
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_show_figure_returns_the_controls():
    ui = widgets.show_figure(_plot, _controls(), interactive=False)
    assert isinstance(ui, widgets.FigureControls)


def test_slider_kinds():
    import ipywidgets as w

    assert isinstance(widgets.slider(0.9, 0.5, 0.99), w.FloatSlider)
    log = widgets.slider(50.0, 1.0, 1000.0, log=True)
    assert isinstance(log, w.FloatLogSlider) and log.value == pytest.approx(50.0)
    assert isinstance(widgets.slider(3, 1, 9, integer=True), w.IntSlider)
    assert widgets.slider(0.9, 0.5, 0.99).continuous_update is False
    with pytest.raises(ValueError):
        widgets.slider(1.0, 0.0, 10.0, log=True)


def test_bad_controls_are_refused():
    with pytest.raises(ValueError):
        widgets.FigureControls(_plot, {})
    with pytest.raises(TypeError):
        widgets.FigureControls(_plot, {"a": 1.0})

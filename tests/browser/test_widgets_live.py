"""Widgets work live in JupyterLab 4: run a notebook, drag a slider, the figure redraws.

Source notebooks (solutions in, as an instructor opens them) are copied into the folder
the test server serves: lesson 04's interactive figure (`course.widgets`) and the
instructor's spike-cascade replay (`course.cascade.widget`). Each runs without an error;
its widget renders as a live ipywidget (not the static fallback); dragging a slider changes
the slider's readout and, through the kernel, the matplotlib image below it. The replay
opens past step 0 (`course.cascade.replay.opening_step`), so its first figure shows data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from .lab import REPO, errors_in, keep

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@dataclass(frozen=True)
class Case:
    notebook: Path          # the source notebook, in the repository
    slider: str             # the description of the slider to drag
    to: float               # where to drop it, as a fraction of the track's width
    opens_past_start: bool = False  # the slider's first value is above its minimum

    @property
    def id(self) -> str:
        return self.notebook.stem


CASES = [
    Case(REPO / "lessons" / "04_adam_after_a_spike" / "04_adam_after_a_spike.ipynb",
         slider="spike", to=0.85),
    Case(REPO / "lessons" / "instructor" / "spike_cascade_replay.ipynb",
         slider="step", to=0.6, opens_past_start=True),
]

# The image inside the widget's Output area of the cell holding `slider`.
FIGURE_SRC = """(slider) => {
  const cell = slider.closest('.jp-Cell');
  const img = cell && cell.querySelector('.widget-output img, .jupyter-widgets-output-area img');
  return img ? img.src : null;
}"""


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_slider_redraws_figure(case, lab, served_copy, screenshot_dir):
    if not case.notebook.is_file():
        pytest.skip(f"{case.notebook.relative_to(REPO)} is not there (yet)")
    path = served_copy(case.notebook)
    lab.open(path, workspace=f"widgets-{case.id}")
    page = lab.page

    lab.run_all(timeout=240)
    cells = lab.cells()
    assert not errors_in(cells), f"errors after Run All: {errors_in(cells)}"
    live = [c["index"] for c in cells
            if any(WIDGET_MIME in o.get("data", {}) for o in c["outputs"])]
    assert live, ("no cell displayed a live widget: the static fallback was drawn "
                  "(course.widgets.frontend_attached() said no frontend?)")

    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(case.slider)}\s*$"))
    slider = page.locator(".widget-slider", has=label)
    assert slider.count() == 1, f"{slider.count()} sliders named `{case.slider}`"
    handle = slider.locator(".noUi-handle")
    track = slider.locator(".noUi-target")
    readout = slider.locator(".widget-readout")
    # the figure was drawn by the kernel into the widget's Output
    page.wait_for_function(f"(s) => ({FIGURE_SRC})(s) !== null", arg=slider.element_handle(),
                           timeout=60_000)
    before_src = slider.evaluate(FIGURE_SRC)
    before_value = readout.inner_text().strip()
    if case.opens_past_start:
        assert float(before_value) > 0, (f"`{case.slider}` opens at {before_value}: at the "
                                         "start every curve is a single point")
    show = "el => el.scrollIntoView({block: 'start'})"
    slider.evaluate(show)
    lab.screenshot("1-before-drag")

    # drag the handle along the track and let go (the sliders update on release)
    box, grip = track.bounding_box(), handle.bounding_box()
    assert box and grip, "the slider is not laid out"
    y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * case.to, y, steps=12)
    page.mouse.up()

    page.wait_for_function("([r, v]) => r.innerText.trim() !== v",
                           arg=[readout.element_handle(), before_value], timeout=10_000)
    after_value = readout.inner_text().strip()
    # the kernel redraws: a new image replaces the old one
    page.wait_for_function(f"([s, old]) => {{ const src = ({FIGURE_SRC})(s); "
                           "return src !== null && src !== old; }",
                           arg=[slider.element_handle(), before_src], timeout=90_000)
    lab.wait_idle()
    cells = lab.cells()
    assert not errors_in(cells), f"errors after the drag: {errors_in(cells)}"
    # no traceback printed into the widget's Output (course.widgets prints redraw errors)
    cell = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell ')][1]")
    assert "Traceback" not in cell.locator(".widget-output").first.inner_text()
    slider.evaluate(show)
    shot = lab.screenshot("2-after-drag")
    keep(shot, screenshot_dir, f"widgets_{case.id}_after_drag")
    print(f"{case.id}: `{case.slider}` {before_value} -> {after_value}, figure redrawn")

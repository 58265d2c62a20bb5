"""Replay logic, free of widgets: the player's state and what is drawn at a step.

The widget (`course.cascade.widget`) only translates events into these functions and draws
the `RunView`s they return, so everything here is testable without a browser.

A view is never blank: besides the run up to the current step it carries the rest of the
run (`RunView.ahead`, `RunView.phases_ahead`), which the plot draws faintly, and the player
opens at `opening_step` (the first sample, past two source switches) rather than at step 0,
where every curve would be a single point.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from .trace import Trace


@dataclass(frozen=True)
class ReplayState:
    """Where the player is: current `step`, whether it is `playing`, the runs shown,
    how many steps one tick advances (`speed`) and the live mode's `max_norm`."""

    step: int = 0
    playing: bool = False
    selection: tuple[str, ...] = ()
    speed: int = 5
    max_norm: float = 1.0


def n_steps(traces: Mapping[str, Trace], selection: Sequence[str]) -> int:
    """Length of the longest selected run (0 if none is selected)."""
    return max((traces[name].steps for name in selection), default=0)


def opening_step(traces: Mapping[str, Trace], selection: Sequence[str]) -> int:
    """Where the player opens: for the first selected run, the later of its first sample
    and its second source switch, so the first switches with their gradient-norm lift, the
    early spikes and a sampled text are all on screen; a tenth of the run if it has neither
    (0 if nothing is selected)."""
    if not selection:
        return 0
    trace = traces[selection[0]]
    marks = [int(s) for s in trace.sample_steps[:1]] + trace.boundaries[1:2]
    step = max(marks) if marks else trace.steps // 10
    return int(min(step, n_steps(traces, selection) - 1))


def initial_state(traces: Mapping[str, Trace], selection: Sequence[str] | None = None,
                  step: int | None = None) -> ReplayState:
    """Paused at `step` (default: `opening_step`) with `selection` (default: the first two
    runs by name)."""
    chosen = tuple(sorted(traces)[:2]) if selection is None else tuple(selection)
    state = select(ReplayState(), chosen, traces)
    start = opening_step(traces, state.selection) if step is None else step
    return set_step(state, start, n_steps(traces, state.selection))


def select(state: ReplayState, selection: Sequence[str], traces: Mapping[str, Trace]) -> ReplayState:
    """Show `selection` (names of `traces`); the step is clamped to the new runs' length."""
    unknown = [name for name in selection if name not in traces]
    if unknown:
        raise KeyError(f"`selection` names runs that are not loaded: {unknown}; "
                       f"available: {sorted(traces)}")
    chosen = tuple(dict.fromkeys(selection))  # drop duplicates, keep order
    last = max(n_steps(traces, chosen) - 1, 0)
    return replace(state, selection=chosen, step=min(state.step, last))


def set_step(state: ReplayState, step: int, total: int) -> ReplayState:
    """Jump to `step`, clamped to `[0, total - 1]`."""
    return replace(state, step=int(min(max(step, 0), max(total - 1, 0))))


def toggle_play(state: ReplayState, total: int) -> ReplayState:
    """Play or pause; pressing play at the last step starts again from step 0."""
    if state.playing:
        return replace(state, playing=False)
    start = 0 if state.step >= total - 1 else state.step
    return replace(state, playing=total > 1, step=start)


def tick(state: ReplayState, total: int) -> ReplayState:
    """One timer tick: advance `speed` steps while playing; stop at the last step."""
    if not state.playing:
        return state
    nxt = state.step + state.speed
    if nxt >= total - 1:
        return replace(state, step=max(total - 1, 0), playing=False)
    return replace(state, step=nxt)


def set_speed(state: ReplayState, speed: int) -> ReplayState:
    if speed < 1:
        raise ValueError(f"`speed` must be >= 1 step per tick, got {speed}")
    return replace(state, speed=int(speed))


def set_max_norm(state: ReplayState, max_norm: float) -> ReplayState:
    if not max_norm > 0:
        raise ValueError(f"`max_norm` must be > 0, got {max_norm}")
    return replace(state, max_norm=float(max_norm))


#: The per-step series a `RunView` carries, one plot panel each.
SERIES = ("loss", "grad_norm", "m_norm", "v_sum")


@dataclass(frozen=True)
class RunView:
    """What is drawn for one run at the current step: arrays cover steps `0..step`; `ahead`
    holds each series of `SERIES` over `step..end` (x: `ahead_x`), the rest of the run that
    is drawn faintly for context (empty at the run's last step)."""

    name: str
    step: int                      # the last step drawn (run shorter than the player: its end)
    x: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    m_norm: np.ndarray
    v_sum: np.ndarray
    clipped_steps: np.ndarray      # steps <= step where the gradient was clipped
    phases: tuple[tuple[int, int, int], ...]   # (start, stop, dominant source), started <= step
    sample_step: int | None        # latest sample taken at or before step
    samples: dict[str, str]        # temperature name -> text of that sample
    max_norm: float | None
    ahead_x: np.ndarray            # steps step..end of the run (empty at its last step)
    ahead: dict[str, np.ndarray]   # series name -> its values over ahead_x
    phases_ahead: tuple[tuple[int, int, int], ...]  # the spans after step: the current
                                                    # phase's rest, then the phases to come


def phase_spans(trace: Trace, upto: int) -> tuple[tuple[int, int, int], ...]:
    """`(start, stop, dominant)` of each phase that has begun by step `upto`, with `stop`
    cut at `upto + 1` (exclusive)."""
    spans, start = [], 0
    for length, dom in zip(trace.phase_lengths, trace.meta["dominant"]):
        if start > upto or start >= trace.steps:
            break
        spans.append((start, min(start + length, upto + 1, trace.steps), int(dom)))
        start += length
    return tuple(spans)


def phases_after(trace: Trace, upto: int) -> tuple[tuple[int, int, int], ...]:
    """`(start, stop, dominant)` of what remains of the phases after step `upto`: the rest
    of the current phase (from `upto + 1`), then every later phase; `()` at the end."""
    every = phase_spans(trace, trace.steps - 1)
    return tuple((max(start, upto + 1), stop, dom) for start, stop, dom in every
                 if stop > upto + 1)


def latest_sample(trace: Trace, step: int) -> tuple[int | None, dict[str, str]]:
    """The most recent sampled text at or before `step` (None, {} if none yet)."""
    taken = np.nonzero(trace.sample_steps <= step)[0]
    if not len(taken):
        return None, {}
    k = int(taken[-1])
    return int(trace.sample_steps[k]), {temp: texts[k] for temp, texts in trace.samples.items()}


def run_view(trace: Trace, step: int) -> RunView:
    """The view of `trace` at player step `step`."""
    if step < 0:
        raise ValueError(f"`step` must be >= 0, got {step}")
    last = min(step, trace.steps - 1)
    sl = slice(0, last + 1)
    # the rest of the run starts at `last` itself, so its faint line joins the solid one
    rest = slice(last, trace.steps) if last < trace.steps - 1 else slice(0, 0)
    sample_step, samples = latest_sample(trace, last)
    return RunView(name=trace.name, step=last, x=np.arange(last + 1), loss=trace.loss[sl],
                   grad_norm=trace.grad_norm[sl], m_norm=trace.m_norm[sl], v_sum=trace.v_sum[sl],
                   clipped_steps=np.nonzero(trace.clipped[sl])[0], phases=phase_spans(trace, last),
                   sample_step=sample_step, samples=samples, max_norm=trace.meta.get("max_norm"),
                   ahead_x=np.arange(trace.steps)[rest],
                   ahead={name: getattr(trace, name)[rest] for name in SERIES},
                   phases_ahead=phases_after(trace, last))


def views(traces: Mapping[str, Trace], state: ReplayState) -> list[RunView]:
    """One `RunView` per selected run, in selection order."""
    return [run_view(traces[name], state.step) for name in state.selection]

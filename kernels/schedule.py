"""Thread schedules: the order a block's threads run in between barriers.

`forward` (thread 0 first), `reverse`, or `random[:seed]` (a fresh permutation after every
barrier).  A correct kernel gives the same result under all of them; one that reads
shared memory another thread has not finished writing does not.  Set one with
`KERNELS_SCHEDULE=...` or `with kernels.schedule("reverse"): ...`.  Schedules only exist
on the CPU backend; on a GPU the hardware decides.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import random
import sys
from dataclasses import dataclass

MODES = {"forward": 0, "reverse": 1, "random": 2}
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("kernels_schedule", default=None)


@dataclass(frozen=True)
class Schedule:
    mode: int
    seed: int
    spec: str   # canonical text, with the seed: "random:1234"


def parse(spec: str) -> Schedule:
    """`"random"` picks a seed and records it in `spec`, so a failure can be replayed."""
    if not isinstance(spec, str):
        raise TypeError(f"a schedule is a string like 'forward', 'reverse' or 'random:1', got {spec!r}")
    name, _, seed_text = spec.strip().partition(":")
    if name not in MODES:
        raise ValueError(f"unknown schedule {spec!r}: use 'forward', 'reverse', 'random' or 'random:SEED'")
    if seed_text and name != "random":
        raise ValueError(f"schedule {spec!r}: only 'random' takes a seed")
    if name == "random":
        try:
            seed = int(seed_text) if seed_text else random.randrange(2**31)
        except ValueError:
            raise ValueError(f"schedule {spec!r}: the seed must be an integer") from None
        return Schedule(MODES[name], seed & 0xFFFFFFFF, f"random:{seed}")
    return Schedule(MODES[name], 0, name)


_from_env: dict[str, Schedule] = {}


def _announce(sched: Schedule, given: str) -> None:
    if given.strip() == "random":  # a seed we picked: say it, so a failure can be replayed
        print(f"kernels: thread schedule {sched.spec}", file=sys.stderr)


def current() -> Schedule:
    """The schedule in force: the innermost `schedule()` block, else $KERNELS_SCHEDULE
    (a bare `random` there picks one seed per process)."""
    inner = _current.get()
    if inner:
        return parse(inner)
    env = os.environ.get("KERNELS_SCHEDULE") or "forward"
    if env not in _from_env:
        _from_env[env] = parse(env)
        _announce(_from_env[env], env)
    return _from_env[env]


@contextlib.contextmanager
def schedule(spec: str):
    """Run the launches inside the block under schedule `spec`."""
    sched = parse(spec)
    _announce(sched, spec)
    token = _current.set(sched.spec)
    try:
        yield sched
    finally:
        _current.reset(token)

"""The launcher `clip_grad_norm_kernels`: its cases, and the analysis of what it did.

The launcher is learner Python, so it runs in the learner's kernel: the hidden test sends
the cases built here to the course scenario `course.launch_log.observe_launcher`, which
runs the launcher with the reference kernels in place of the learner's (by name, so a bug
in a kernel costs points once, in that kernel's own test) and sends back what it observed.
`case_problem` judges one observation:

1. the returned pre-clip norm (relative 1e-4) and every gradient scaled in place
   (relative 1e-4) or left bit-for-bit alone, against float64 NumPy computed here;
2. the launch log (`order_problem`): partials, then exactly one single-block
   `k_grad_norm_final` after all of them, then the scales, with `threads` threads a block.
   The log is observed in the learner's process (see `course.launch_log`): a deliberate
   forger could fake it, not the numbers;
3. no host sync: in the poison cases (`POISONS`) the norm buffers hold a poison until the
   scale kernel runs; a launcher that reads the norm in between goes wrong there.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from .inputs import BLOCK_SIZES, FINAL, PARTIAL, RTOL_FLOAT32_SUM, SCALE, real_values

#: The poisons a deferred norm buffer holds until the device work runs (see
#: `course.launch_log.launch_recorder`): each steers a host-side branch a different way.
POISONS = (float("nan"), 0.0, 3.0e38)


@dataclasses.dataclass(frozen=True)
class LauncherCase:
    shapes: tuple[tuple[int, ...], ...]
    factor: float        # max_norm = factor * norm: below 1 clips, above 1 does not
    threads: int
    poison: float | None = None

    def __str__(self) -> str:
        inner = ", ".join(str(s) for s in self.shapes)
        return f"shapes [{inner}], threads={self.threads}"


def launcher_cases(rng: np.random.Generator) -> list[LauncherCase]:
    """Lists of gradient shapes: mixed ranks, a 0-d array, empty tensors, odd sizes; clip
    and no-clip; several block sizes; two lists drawn fresh."""
    cases = [
        LauncherCase(((300, 257), (7,), (), (0,), (5, 7, 9)), 0.3, 256),
        LauncherCase(((1,),), 0.5, 32),
        LauncherCase(((1025,), (64, 3)), 0.7, 1024),
        LauncherCase(((33, 17), (2, 0), (4097,)), 1.6, 128),
        LauncherCase((), 0.5, 256),
    ]
    for _ in range(2):
        count = int(rng.integers(1, 7))
        shapes = tuple(tuple(int(d) for d in rng.integers(1, 60, size=int(rng.integers(0, 4))))
                       for _ in range(count))
        cases.append(LauncherCase(shapes, float(rng.choice([0.2, 0.8, 1.3])),
                                  int(rng.choice(BLOCK_SIZES))))
    return cases


def poison_cases(rng: np.random.Generator) -> list[LauncherCase]:
    """For each poison, a clipping and a non-clipping case over three tensors."""
    return [LauncherCase(((int(rng.integers(200, 2000)),), (17, 33), (3, 4, 5)), factor,
                         int(rng.choice(BLOCK_SIZES)), poison)
            for poison in POISONS for factor in (0.4, 2.0)]


def grads_for(rng: np.random.Generator, case: LauncherCase) -> list[np.ndarray]:
    """float32 gradients of the case's shapes, with norms on both sides of 1."""
    grads = []
    for shape in case.shapes:
        size = int(np.prod(shape, dtype=np.int64))
        values = real_values(rng, size) * np.float32(10.0 ** rng.uniform(-1, 1))
        grads.append(values.astype(np.float32).reshape(shape))
    return grads


def expected(grads: Sequence[np.ndarray], factor: float) -> tuple[float, float, list[float]]:
    """(max_norm, norm, accepted scales) in float64 for one case: the scale with PyTorch's
    ``+1e-6`` guard and without it (they differ noticeably only for norms near 1e-6)."""
    norm = math.sqrt(sum(float(np.sum(np.square(g.astype(np.float64)))) for g in grads))
    max_norm = float(np.float32(norm * factor)) if norm > 0 else 0.5
    if norm > max_norm:
        return max_norm, norm, [max_norm / (norm + 1e-6), max_norm / norm]
    return max_norm, norm, [1.0]


def result_problem(seen: dict, host: Sequence[np.ndarray], case: LauncherCase, *,
                   name: str) -> str:
    """"" or what is wrong with the launcher's results in observation `seen`."""
    max_norm, norm, scales = expected(host, case.factor)
    call = f"`{name}`({case}, max_norm={max_norm:.6g})"
    raised = seen.get("raised")
    if raised:
        if raised["type"] == "NotImplementedError":
            return f"`{name}` is not implemented yet"
        return f"{call} raised {raised['type']}: {raised['message']}"
    if not seen["same_list"]:
        return f"{call} changed the list it was given: scale the arrays in place."
    returned = seen["returned"]
    if not returned["real"]:
        return (f"{call} returned {returned['type']}, expected a Python float, the norm "
                "before clipping (`return float(out[0])`, after the last launch).")
    got_norm = float(returned["value"])
    if not math.isclose(got_norm, norm, rel_tol=RTOL_FLOAT32_SUM, abs_tol=1e-7):
        return (f"{call} returned {got_norm:.8g}, expected the norm before clipping, "
                f"{norm:.8g}.")
    clip = norm > max_norm
    after = [np.asarray(g, dtype=np.float64) for g in seen["grads"]]
    if len(after) != len(host):
        return f"{call}: {len(after)} arrays came back for {len(host)} given."
    for i, (got, h) in enumerate(zip(after, host)):
        if got.shape != h.shape:
            return f"{call}: grads[{i}] changed shape from {h.shape} to {got.shape}."
    problems = []
    for scale in scales:  # the first accepted rule that fits every tensor passes
        problem = ""
        for i, (got, h) in enumerate(zip(after, host)):
            want = h.astype(np.float64) * scale
            ok = (np.isclose(got, want, rtol=RTOL_FLOAT32_SUM, atol=1e-12) if clip
                  else got == want)
            if not ok.all():
                j = tuple(int(k) for k in np.argwhere(~ok)[0])
                state = (f"the norm {norm:.6g} exceeds max_norm, so every value is scaled by "
                         f"{scale:.6g}" if clip else
                         f"the norm {norm:.6g} is below max_norm, so nothing may change")
                problem = (f"{call}: grads[{i}]{list(j)} is {got[j]:.8g}, expected "
                           f"{want[j]:.8g}: {state}.")
                break
        if not problem:
            return ""
        problems.append(problem)
    return problems[0]


def order_problem(launches: Sequence[dict], case: LauncherCase, *, name: str) -> str:
    """The launches' order: partials, then exactly one one-block final, then the scales."""
    if not any(int(np.prod(s, dtype=np.int64)) for s in case.shapes):
        return ""
    names = [launch["name"] for launch in launches]
    where = f"`{name}`({case})"
    if PARTIAL not in names:
        return f"{where} never launched `{PARTIAL}`: the norm must be computed by the kernels."
    if FINAL not in names:
        return (f"{where} never launched `{FINAL}`: the partials must be reduced on the device, "
                "by one launch of it (summing them on the host reads them back between "
                "kernels).")
    if names.count(FINAL) != 1:
        return (f"{where} launched `{FINAL}` {names.count(FINAL)} times: launch it once, after "
                "every tensor's partials are in the buffer, so it reduces all of them.")
    final_at = names.index(FINAL)
    if PARTIAL in names[final_at:]:
        return (f"{where} launched `{PARTIAL}` after `{FINAL}`: the final reduction must come "
                "after all partials are written.")
    grid = tuple(launches[final_at]["grid"])
    if int(np.prod(grid)) != 1:
        return (f"{where} launched `{FINAL}` with grid {grid}: it must run as a single "
                "block (blocks cannot share their sums within a launch).")
    if SCALE not in names:
        return (f"{where} never launched `{SCALE}`: it decided on the host that no clip was "
                "needed, so it reads the norm back to the host between kernels. Launch "
                f"`{SCALE}` every time: it returns at once, on the device, when out[1] >= 1.")
    if SCALE in names[:final_at]:
        return f"{where} launched `{SCALE}` before `{FINAL}`: the scale is not known yet."
    for launch in launches:
        block = tuple(launch["block"])
        if launch["name"] in (PARTIAL, SCALE) and int(np.prod(block)) != case.threads:
            return (f"{where} launched `{launch['name']}` with block {block}: use "
                    f"`threads` ({case.threads}) threads a block, as the caller asked.")
    return ""


def host_sync_message(problem: str, *, name: str) -> str:
    return (f"`{name}` reads the norm back to the host between kernels: run as a GPU runs "
            f"it, with the host not waiting for the device, it went wrong — {problem} Keep "
            "the norm on the device: no `float()`, `.item()`, `.get()`, `print`, `if` or "
            f"array operation on `partial`/`out` before the last `{SCALE}` launch; `{SCALE}` "
            "reads the scale from `out` itself.")


def judge(cases: Sequence[LauncherCase], hosts: Sequence[Sequence[np.ndarray]],
          observations: Sequence[dict], *, name: str, seed: Any = "?") -> None:
    """Raise an AssertionError for the first case whose observation is wrong."""
    if len(observations) != len(cases):
        raise AssertionError(f"`{name}`: {len(observations)} results came back for "
                             f"{len(cases)} cases")
    for case, host, seen in zip(cases, hosts, observations):
        problem = result_problem(seen, host, case, name=name)
        if case.poison is None:
            problem = problem or order_problem(seen["launches"], case, name=name)
        elif problem and not seen.get("raised"):
            problem = host_sync_message(problem, name=name)
        if problem:
            raise AssertionError(f"{problem} (seed {seed})")

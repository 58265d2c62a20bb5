"""Hidden-test checks for lesson `05_three_kernels`: a learner's CUDA kernels and launcher.

A hidden test cell reads

    from autograder import kernel_checks
    kernel_checks.check_partial_kernel(K_GRAD_NORM_PARTIAL)

and each check raises an `AssertionError` addressed to the learner on the first problem.

What is checked, and why this way
---------------------------------
* **Against float64 NumPy specs, never against a reference kernel**: `course.kernel_lab`'s
  `partials_spec` / `final_spec` / `scale_spec` state what each kernel must compute.
* **Exact data to catch dropped elements**: most cases use small non-zero integers
  (±1, ±2, ±3), whose squares sum exactly in float32 (every sum here stays below 2**24),
  so one missing element changes the answer by at least 1 and is caught however long the
  array; the rest use real-valued data at varied scales, compared with relative 1e-4
  (float32 sums of up to 10**5 terms).
* **Launch shapes**: every block size the contract allows (32 … 1024), lengths 0, 1,
  block−1, block+1 and odd large ones, grids of one block, a few blocks, and more blocks
  than the data needs; a fixed core of shapes plus a few drawn fresh each run.
* **Thread order**: every launch goes through `kernels.check`, which replays it under
  several thread schedules (`SCHEDULES`: forward, reverse, random) and raises `RaceError`
  when the result depends on the order — how a missing `__syncthreads()` is caught on the
  CPU — or `UninitializedSharedError` when it depends on what `__shared__` memory held
  before the launch (a slot read that no thread wrote: a tree starting at a fixed index).
  Each gets its own message and hint (`RACE_HINT`, `UNINITIALIZED_HINT`). (On a GPU
  `kernels.check` launches once: the hardware picks the order.)
* **Inputs stay inputs**: on the CPU backend the arrays a kernel declares `const` (and a
  gradient when ``out[1] >= 1``) are passed read-only, so a write is a `KernelError`.
* **The launcher** (`check_launcher`) runs with the reference kernels swapped in by name,
  so a bug in a learner's kernels costs points once, in that kernel's own test; see
  `launch_recorder` for how a host read of the norm between kernels is detected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from autograder.checks import assert_builtins_intact, fresh_rng
from course import kernel_lab

BLOCK_SIZES = (32, 64, 128, 256, 512, 1024)
PARTIAL, FINAL, SCALE = "k_grad_norm_partial", "k_grad_norm_final", "k_grad_scale"

#: Thread orders each launch is replayed under (CPU backend): fixed ones, so a failure can be
#: replayed, plus a fresh random order each run ("random" picks a seed; the message quotes it).
SCHEDULES = ("forward", "reverse", "random:1", "random")

#: Relative tolerance for real-valued data: float32 sums of up to 10**5 squares.
RTOL_FLOAT32_SUM = 1e-4


# -- inputs ------------------------------------------------------------------------------


def exact_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """float32 values from {±1, ±2, ±3}: every sum of their squares is exact in float32."""
    return (rng.integers(1, 4, size=n) * rng.choice([-1, 1], size=n)).astype(np.float32)


def real_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal float32 values at a scale between 1e-2 and 1e2."""
    return (rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Shape:
    """One launch: `n` values (or partials), `blocks` blocks of `threads` threads."""

    n: int
    blocks: int
    threads: int
    exact: bool = True

    def __str__(self) -> str:
        return f"n={self.n}, grid=({self.blocks},), block=({self.threads},)"


def partial_shapes(rng: np.random.Generator) -> list[Shape]:
    """Launch shapes for `k_grad_norm_partial` and `k_grad_scale`: a fixed core that covers
    every block size and the edge lengths, plus four shapes drawn fresh."""
    core = [
        Shape(0, 2, 32),                        # nothing to sum: every block writes 0
        Shape(1, 3, 64),                        # one value, two idle blocks
        Shape(127, 1, 128),                     # block - 1
        Shape(257, 1, 256),                     # block + 1 in one block: the loop wraps
        Shape(513, 2, 512),                     # block + 1 over two blocks
        Shape(1024 * 3 * 2 + 77, 3, 1024),      # odd, several passes of the whole grid
        Shape(40_003, 7, 32, exact=False),      # odd, real values, many passes
        Shape(100, 16, 64),                     # more blocks than the data needs
    ]
    drawn = []
    for _ in range(4):
        threads = int(rng.choice(BLOCK_SIZES))
        blocks = int(rng.integers(1, 10))
        n = int(rng.choice([threads - 1, threads + 1, threads * blocks + 1,
                            int(rng.integers(1, 20_000)) | 1]))
        drawn.append(Shape(n, blocks, threads, exact=bool(rng.random() < 0.7)))
    return core + drawn


def final_shapes(rng: np.random.Generator) -> list[Shape]:
    """`k_grad_norm_final` is one block; `n` is the number of partials."""
    core = [
        Shape(1, 1, 32),
        Shape(2, 1, 1024),                      # most threads have nothing to add
        Shape(63, 1, 64),                       # block - 1
        Shape(128, 1, 128),                     # exactly one per thread
        Shape(257, 1, 256),                     # block + 1: the last one must be read
        Shape(3 * 512 + 5, 1, 512),             # several partials per thread
        Shape(3 * 32 + 7, 1, 32, exact=False),
    ]
    drawn = []
    for _ in range(3):
        threads = int(rng.choice(BLOCK_SIZES))
        n = int(rng.choice([threads + 1, 2 * threads - 1, int(rng.integers(1, 3000))]))
        drawn.append(Shape(n, 1, threads, exact=bool(rng.random() < 0.5)))
    return core + drawn


# -- compiling and running a learner's kernel --------------------------------------------


def _errors():
    import kernels

    names = ("CompileError", "KernelError", "RaceError", "UninitializedSharedError")
    return {n: getattr(kernels, n) for n in names if isinstance(getattr(kernels, n, None), type)}


def _kernel(source: Any, name: str, exercise: str):
    if source is None or source is NotImplemented:
        raise AssertionError(f"`{exercise}` is not written yet")
    try:
        return kernel_lab.compile_kernel(source, name)
    except AssertionError as exc:
        raise AssertionError(f"`{exercise}`: {exc}") from None


def _read_only(array):
    """`array`, read-only where the backend can enforce it (NumPy on the CPU backend)."""
    if isinstance(array, np.ndarray):
        array.flags.writeable = False
    return array


#: The learner's next step for each cause `kernels.check` tells apart.
RACE_HINT = (
    "A shared-memory reduction needs a `__syncthreads()` between every thread storing its "
    "own sum and the tree's first round, and one at the end of every round, before the next "
    "round reads what this one wrote.")
UNINITIALIZED_HINT = (
    "On a GPU that slot holds whatever an earlier kernel left there, so the result is "
    "garbage that changes from run to run. Every thread writes its own slot first (0 when "
    "it has no element), and the tree starts at blockDim.x / 2, not at a fixed number, so it "
    "reads only slots the block's own threads wrote, whatever the block size.")


def _uninitialized_message(exc, where: str) -> str:
    """An `UninitializedSharedError` in the learner's words: which slot, where, and why
    it matters. The traced run names the `__shared__` slot and its line; without it the
    runtime's own message says which output changed."""
    if getattr(exc, "line", None) is not None and getattr(exc, "argument", None):
        read = (f"line {exc.line} of your kernel reads `{exc.argument}[{exc.index}]`, a "
                "`__shared__` slot no thread of the block wrote in this launch.")
    else:
        read = f"{exc}"
    return (f"{where}: your kernel reads shared memory that was never written — {read} "
            f"{UNINITIALIZED_HINT}")


def _launch(kernel, shape: Shape, args: tuple, *, what: str, schedules: bool = True) -> None:
    """Run one launch (through `kernels.check` when `schedules`), turning the runtime's
    errors into learner-facing messages that name the launch."""
    import kernels

    errors = _errors()
    try:
        if schedules:
            kernels.check(kernel, (shape.blocks,), (shape.threads,), args, schedules=SCHEDULES)
        else:
            kernel((shape.blocks,), (shape.threads,), args)
    except tuple(errors.values()) as exc:
        where = f"{what} with {shape}"
        if isinstance(exc, errors.get("UninitializedSharedError", ())):
            raise AssertionError(_uninitialized_message(exc, where)) from None
        if isinstance(exc, errors.get("RaceError", ())):
            raise AssertionError(
                f"{where}: your reduction depends on thread order — run under different "
                f"thread schedules it gave different results ({exc}). {RACE_HINT}") from None
        raise AssertionError(f"{where}: {type(exc).__name__}: {exc}") from None


# -- kernel 1 ----------------------------------------------------------------------------


def _partial_diagnosis(got: np.ndarray, g: np.ndarray, shape: Shape) -> str:
    """Why `got` may differ from the spec: the likely mistake, in words."""
    blocks, threads = shape.blocks, shape.threads
    if np.isnan(got).any():
        b = int(np.flatnonzero(np.isnan(got))[0])
        return (f"partial[{b}] still holds the NaN the test put there: block {b} never wrote "
                "its slot, or added to it (`+=`) instead of writing it (`=`). Every block must "
                "write `partial[blockIdx.x] = ...`, even a block that got no elements (its sum "
                "is 0).")
    covered = min(g.size, blocks * threads)
    if covered != g.size and np.allclose(
            got, kernel_lab.partials_spec(g[:covered], blocks, threads), rtol=1e-5, atol=0.5):
        return ("only the first gridDim.x * blockDim.x values were summed: each thread must "
                "keep going in steps of blockDim.x * gridDim.x (a grid-stride loop) while "
                "i < n.")
    for unit in (threads, threads * blocks):
        whole = (g.size // unit) * unit
        if whole != g.size and np.allclose(
                got, kernel_lab.partials_spec(g[:whole], blocks, threads), rtol=1e-5, atol=0.5):
            return (f"the last {g.size - whole} value(s) are missing: your kernel assumes n is a "
                    "multiple of the block size (or of the grid). Loop `for (long long i = ...; "
                    "i < n; i += blockDim.x * gridDim.x)` so any n is covered.")
    if np.allclose(got, float(np.sum(np.square(g.astype(np.float64)))), rtol=1e-5, atol=0.5):
        return "every block summed the whole array: block b sums only its grid-stride share."
    return ("block b must write the sum of squares of g[i] for i = b*blockDim.x + t + "
            "k*blockDim.x*gridDim.x (t < blockDim.x, k = 0, 1, ...).")


def check_partial_kernel(source: str, *, rng: np.random.Generator | None = None,
                         exercise: str = "K_GRAD_NORM_PARTIAL") -> None:
    """`k_grad_norm_partial` over `partial_shapes`, under several thread schedules."""
    assert_builtins_intact()
    rng = rng or fresh_rng()
    kernel = _kernel(source, PARTIAL, exercise)
    for shape in partial_shapes(rng):
        g = (exact_values if shape.exact else real_values)(rng, shape.n)
        g_dev = _read_only(kernel_lab.to_device(g if g.size else np.zeros(1, np.float32)))
        partial = kernel_lab.to_device(np.full(shape.blocks, np.nan, np.float32))
        what = f"`{PARTIAL}` (seed {getattr(rng, 'seed', '?')})"
        _launch(kernel, shape, (g_dev, np.int64(shape.n), partial), what=what)
        got = kernel_lab.to_host(partial).astype(np.float64)
        want = kernel_lab.partials_spec(g, shape.blocks, shape.threads)
        rtol, atol = (0.0, 0.5) if shape.exact else (RTOL_FLOAT32_SUM, 1e-6)
        bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise AssertionError(
                f"{what} with {shape}: partial[{b}] is {got[b]:.8g}, expected {want[b]:.8g} "
                f"({int(bad.sum())} of {shape.blocks} partials differ). "
                f"{_partial_diagnosis(got, g, shape)}")


# -- kernel 2 ----------------------------------------------------------------------------


def _final_inputs(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    if shape.exact:  # integers: their sum (< 2**24) is exact whatever the order
        return rng.integers(1, 101, size=shape.n).astype(np.float32)
    return (rng.uniform(0.0, 4.0, size=shape.n) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32)


def _final_diagnosis(out0: float, partial: np.ndarray, threads: int) -> str:
    p = partial.astype(np.float64)
    guesses = [
        (math.sqrt(p[:threads].sum()), "only partial[threadIdx.x] was read: with more "
         "partials than threads, loop `for (int i = threadIdx.x; i < num_partials; "
         "i += blockDim.x)`."),
        (math.sqrt(p[:-1].sum()), "the last partial was dropped: "
         "sum all `num_partials` of them (check `<` against `<=` and the loop's start)."),
        (float(p.sum()), "out[0] is the sum of squares: take its square root (sqrtf)."),
        (math.sqrt(p[0]), "out[0] holds partial[0] alone: reduce every partial, then write."),
    ]
    for value, why in guesses:
        if math.isfinite(value) and math.isclose(out0, value, rel_tol=2e-6, abs_tol=1e-12):
            return why
    return ""


def check_final_kernel(source: str, *, rng: np.random.Generator | None = None,
                       exercise: str = "K_GRAD_NORM_FINAL") -> None:
    """`k_grad_norm_final` as one block over `final_shapes`, with `max_norm` above and below
    the norm (never 1.0); either scale rule (with or without the `+1e-6`) is accepted."""
    assert_builtins_intact()
    rng = rng or fresh_rng()
    kernel = _kernel(source, FINAL, exercise)
    what = f"`{FINAL}` (seed {getattr(rng, 'seed', '?')})"
    shapes = final_shapes(rng)
    factors = [0.3, 1.7, 0.9, 2.5, 0.05]  # max_norm / norm: clip, no clip, ...
    cases = [(s, factors[i % len(factors)]) for i, s in enumerate(shapes)]
    cases.append((Shape(0, 1, 256), 0.5))  # no partials at all (an empty gradient list)
    for shape, factor in cases:
        partial = _final_inputs(rng, shape)
        norm64 = math.sqrt(float(partial.astype(np.float64).sum()))
        max_norm = float(np.float32(norm64 * factor if norm64 else 0.5))
        p_dev = _read_only(kernel_lab.to_device(partial if partial.size
                                                else np.full(1, np.nan, np.float32)))
        out = kernel_lab.to_device(np.full(2, np.nan, np.float32))
        args = (p_dev, np.int32(shape.n), np.float32(max_norm), out)
        label = f"{what} with num_partials={shape.n}, block=({shape.threads},), " \
                f"max_norm={max_norm:.6g}"
        _launch(kernel, shape, args, what=what)
        out0, out1 = (float(v) for v in kernel_lab.to_host(out))
        # out[0]: exact data are compared through out[0]**2 against the exact integer sum.
        if shape.exact:
            ok0 = math.isfinite(out0) and abs(out0 * out0 - norm64 * norm64) < 0.5
        else:
            ok0 = math.isclose(out0, norm64, rel_tol=1e-5, abs_tol=1e-12)
        if not ok0:
            raise AssertionError(f"{label}: out[0] is {out0:.8g}, expected the norm "
                                 f"{norm64:.8g}. {_final_diagnosis(out0, partial, shape.threads)}")
        # out[1]: the scale, computed from the kernel's own out[0]; both rules accepted.
        clip = norm64 > max_norm
        rules = ([max_norm / (out0 + 1e-6), max_norm / out0] if clip else [1.0])
        if not any(math.isclose(out1, r, rel_tol=1e-5) for r in rules):
            if clip and math.isclose(out1, 1.0, rel_tol=1e-6):
                why = "the norm exceeds max_norm, so the gradients must shrink."
            elif not clip and out1 > 1.0:
                why = ("the norm is below max_norm: out[1] must be 1.0 (clipping never "
                       "scales small gradients up).")
            elif clip and math.isclose(out1, out0 / max_norm, rel_tol=1e-4):
                why = "the ratio is inverted: the scale is max_norm / norm."
            else:
                why = ("out[1] = max_norm / (out[0] + 1e-6) when out[0] > max_norm, "
                       "else 1.0.")
            raise AssertionError(f"{label}: out[1] is {out1:.8g}, expected {rules[0]:.8g} "
                                 f"(norm {out0:.8g}). {why}")


# -- kernel 3 ----------------------------------------------------------------------------


def check_scale_kernel(source: str, *, rng: np.random.Generator | None = None,
                       exercise: str = "K_GRAD_SCALE") -> None:
    """`k_grad_scale` over `partial_shapes` with scales below 1 (compared with float32
    ``g * out[1]``), then with ``out[1]`` of 1.0 and 1.5, where `g` must stay untouched:
    read-only on the CPU backend, and on a GPU a kernel that always writes multiplies by
    1.5 and is seen."""
    assert_builtins_intact()
    rng = rng or fresh_rng()
    kernel = _kernel(source, SCALE, exercise)
    what = f"`{SCALE}` (seed {getattr(rng, 'seed', '?')})"
    shapes = partial_shapes(rng)
    for shape in shapes:
        g = real_values(rng, shape.n)
        scale = float(np.float32(rng.uniform(0.05, 0.95)))
        out = np.array([1.0 / scale, scale], dtype=np.float32)
        g_dev = kernel_lab.to_device(g if g.size else np.zeros(1, np.float32))
        out_dev = _read_only(kernel_lab.to_device(out))
        _launch(kernel, shape, (g_dev, np.int64(shape.n), out_dev),
                what=f"{what} with out[1]={scale:.6g}")
        got = kernel_lab.to_host(g_dev)[: shape.n]
        want = kernel_lab.scale_spec(g, out)
        bad = ~np.isclose(got, want, rtol=1e-6, atol=0.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            if np.array_equal(got[i:], g[i:]) and i > 0:
                why = (f"values from index {i} on were not scaled: use a grid-stride loop "
                       "(`i += blockDim.x * gridDim.x`) with the bound `i < n`, so any n "
                       "and any grid size are covered.")
            elif np.array_equal(got, g):
                why = "nothing was scaled although out[1] < 1."
            else:
                why = "every g[i] must become g[i] * out[1]."
            raise AssertionError(f"{what} with {shape}, out[1]={scale:.6g}: g[{i}] is "
                                 f"{got[i]:.8g}, expected {want[i]:.8g} "
                                 f"({int(bad.sum())} of {shape.n} differ). {why}")
    for scale in (1.0, 1.5):
        shape = Shape(int(rng.integers(300, 3000)) | 1, 3, int(rng.choice(BLOCK_SIZES)))
        g = real_values(rng, shape.n)
        g_dev = _read_only(kernel_lab.to_device(g))
        out_dev = _read_only(kernel_lab.to_device(np.array([0.5, scale], np.float32)))
        label = f"{what} with {shape}, out[1]={scale:g}"
        try:
            _launch(kernel, shape, (g_dev, np.int64(shape.n), out_dev),
                    what=f"{what} with out[1]={scale:g}", schedules=False)
        except AssertionError as exc:
            raise AssertionError(f"{exc} — when out[1] >= 1 no clip is needed and "
                                 "`k_grad_scale` must not touch g at all: return before the "
                                 "loop (`if (out[1] >= 1.0f) return;`).") from None
        if not np.array_equal(kernel_lab.to_host(g_dev), g):
            raise AssertionError(f"{label}: g changed. When out[1] >= 1 no clip is needed and "
                                 "`k_grad_scale` must leave g untouched (and not write it).")


# -- the launcher ------------------------------------------------------------------------

#: For each contract kernel: its parameters as (name, kind), kind "array" or a NumPy dtype.
SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {
    PARTIAL: (("const float* g", "array"), ("long long n", np.int64),
              ("float* partial", "array")),
    FINAL: (("const float* partial", "array"), ("int num_partials", np.int32),
            ("float max_norm", np.float32), ("float* out", "array")),
    SCALE: (("float* g", "array"), ("long long n", np.int64), ("const float* out", "array")),
}
#: The argument each norm kernel writes, which stays on the device until the scale kernel.
DEVICE_RESULTS = {PARTIAL: 2, FINAL: 3}


def _scalar_dtype(value: Any):
    """The C type CuPy would pass for a scalar: Python int -> int64, float -> float64."""
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, int):
        return np.dtype(np.int64)
    if isinstance(value, float):
        return np.dtype(np.float64)
    if isinstance(value, np.generic):
        return value.dtype
    return None


def check_arguments(name: str, args: Sequence[Any]) -> None:
    """The arguments of a launch of a contract kernel match its C signature.

    CuPy does not check them: a Python `int` is passed as an 8-byte `long long` and a
    Python `float` as an 8-byte `double` whatever the kernel declares, and the kernel reads
    the first 4 bytes — garbage for a `float`. This check applies CuPy's conversion rules
    and fails on any mismatch, on every backend.
    """
    params = SIGNATURES[name]
    if len(args) != len(params):
        raise AssertionError(f"`{name}` takes {len(params)} arguments "
                             f"({', '.join(p for p, _ in params)}), the launch passed "
                             f"{len(args)}")
    for position, ((param, kind), value) in enumerate(zip(params, args)):
        if kind == "array":
            dtype = getattr(value, "dtype", None)
            if dtype is None or not hasattr(value, "shape"):
                raise AssertionError(f"`{name}` argument {position} (`{param}`) should be a "
                                     f"float32 array of `kernels.xp`, got "
                                     f"{type(value).__name__}")
            if dtype != np.float32:
                raise AssertionError(f"`{name}` argument {position} (`{param}`) should be a "
                                     f"float32 array, got {dtype}")
            continue
        got = _scalar_dtype(value)
        want = np.dtype(kind)
        if got != want:
            c_type = param.rsplit(" ", 1)[0]
            was = (f"a Python {type(value).__name__} (CuPy passes it as "
                   f"{'a double' if isinstance(value, float) else 'a long long'})"
                   if isinstance(value, (int, float)) else f"{type(value).__name__}")
            raise AssertionError(
                f"`{name}` argument {position} (`{param}`) got {was}: CuPy does not "
                f"type-check kernel arguments, so pass exactly the declared `{c_type}`: "
                f"`numpy.{want.name}(...)`.")


@dataclasses.dataclass
class Launch:
    name: str
    grid: tuple
    block: tuple


class LaunchRecorder:
    """What `launch_recorder` saw: every launch in order, plus the deferred ones."""

    def __init__(self) -> None:
        self.launches: list[Launch] = []
        self.pending: list[Callable[[], None]] = []

    def flush(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def names(self) -> list[str]:
        return [launch.name for launch in self.launches]


def _bits(values: Any) -> Any:
    """float32 values (array or scalar) as their uint32 bit patterns: NaN == NaN here."""
    return values.view(np.uint32)


def _kernel_classes() -> list[type]:
    import kernels

    classes = []
    for attr in ("RawKernel", "Function", "RawFunction"):
        cls = getattr(kernels, attr, None)
        if isinstance(cls, type) and "__call__" in vars(cls) and cls not in classes:
            classes.append(cls)
    return classes


def _kernel_name(kernel: Any) -> str:
    return str(getattr(kernel, "name", getattr(kernel, "__name__", "")))


@contextlib.contextmanager
def launch_recorder(*, substitute: dict[str, Any] | None = None, defer_with: float | None = None,
                    check_args: bool = True) -> Iterator[LaunchRecorder]:
    """Record every kernel launch; optionally run the reference kernels instead of the
    learner's (`substitute`, by kernel name) and model an asynchronous device (`defer_with`).

    The asynchronous model is how a host read of the norm between kernels is detected. On a
    GPU a launch returns at once and the host runs ahead; reading ``partial`` or ``out`` on
    the host (``float(out[0])``, ``.item()``, ``.get()``, ``print``, ``if out[1] < 1:``, a
    NumPy/CuPy operation on them) forces a wait — the sync the contract forbids. CuPy hides
    that wait and NumPy has nothing to wait for, so this model makes it visible: the launches
    of `k_grad_norm_partial` and `k_grad_norm_final` are *deferred*, and the buffers they
    write hold `defer_with` (NaN, 0, 3e38: a poison) until the next launch of any other
    kernel (`k_grad_scale`), which first runs every deferred launch in order, with each
    buffer restored to what it held at its launch, so the device computes exactly what it
    would have (only elements still holding the poison are restored, so views that overlap,
    such as ``partial[offset:]``, come out right). A launcher that keeps the norm on the
    device gives identical results; one that reads it in between reads the poison, and with
    three different poisons a branch on what it read goes the wrong way at least once.
    Reads after the first `k_grad_scale` launch (returning ``float(out[0])``) are allowed.

    Patches the `__call__` of the `kernels` package's kernel classes for the duration.
    """
    recorder = LaunchRecorder()
    classes = _kernel_classes()
    if not classes:
        raise RuntimeError("kernels exposes no patchable kernel class (RawKernel.__call__)")
    saved = {cls: vars(cls)["__call__"] for cls in classes}

    def hooked(original):
        def call(self, grid, block, args, *rest, **kwargs):
            name = _kernel_name(self)
            args = tuple(args)
            if check_args and name in SIGNATURES:
                check_arguments(name, args)
            grid_t = tuple(grid) if isinstance(grid, (tuple, list)) else (grid,)
            block_t = tuple(block) if isinstance(block, (tuple, list)) else (block,)
            recorder.launches.append(Launch(name, grid_t, block_t))
            target = (substitute or {}).get(name, self)
            target_call = saved.get(type(target), original)

            def run():
                return target_call(target, grid, block, args, *rest, **kwargs)

            if defer_with is not None and name in DEVICE_RESULTS:
                buffer = args[DEVICE_RESULTS[name]]
                before = buffer.copy()
                buffer[...] = defer_with

                def later(buffer=buffer, before=before):
                    # Put back what the device held, but only where this launch's poison is
                    # still in place: a launch that ran earlier in the flush may already
                    # have written its results into an overlapping view (`partial[off:]`).
                    still = _bits(buffer) == _bits(np.float32(defer_with))
                    buffer[still] = before[still]
                    run()

                recorder.pending.append(later)
                return None
            recorder.flush()
            return run()
        return call

    for cls, original in saved.items():
        setattr(cls, "__call__", hooked(original))
    try:
        yield recorder
    finally:
        for cls, original in saved.items():
            setattr(cls, "__call__", original)


def _reference_kernels() -> dict[str, Any]:
    from autograder.reference import three_kernels as ref

    partial_k, final_k, scale_k = ref._compiled()
    return {PARTIAL: partial_k, FINAL: final_k, SCALE: scale_k}


@contextlib.contextmanager
def _reference_sources_in(func: Callable) -> Iterator[None]:
    """While the launcher is graded, any `K_...` source its notebook lacks (an unanswered
    kernel exercise) is the reference's, so `kernels.RawKernel(K_GRAD_SCALE, ...)` in the
    launcher still works; the learner's own strings are left alone and restored after."""
    from autograder.reference import three_kernels as ref

    glob = getattr(func, "__globals__", None)
    missing = object()
    saved: dict[str, Any] = {}
    if isinstance(glob, dict):
        for var in ref.KERNEL_NAMES:
            if not isinstance(glob.get(var), str):
                saved[var] = glob.get(var, missing)
                glob[var] = getattr(ref, var)
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is missing:
                glob.pop(var, None)
            else:
                glob[var] = value


@dataclasses.dataclass(frozen=True)
class LauncherCase:
    shapes: tuple[tuple[int, ...], ...]
    factor: float        # max_norm = factor * norm: below 1 clips, above 1 does not
    threads: int

    def __str__(self) -> str:
        inner = ", ".join(str(s) for s in self.shapes)
        return f"shapes [{inner}], threads={self.threads}"


def launcher_cases(rng: np.random.Generator) -> list[LauncherCase]:
    """Lists of gradient shapes: mixed ranks, a 0-d array, empty tensors, odd sizes; clip
    and no-clip; several block sizes; plus two lists drawn fresh."""
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


def _grads_for(rng: np.random.Generator, case: LauncherCase) -> list[np.ndarray]:
    grads = []
    for shape in case.shapes:
        size = int(np.prod(shape, dtype=np.int64))
        values = real_values(rng, size) * np.float32(10.0 ** rng.uniform(-1, 1))
        grads.append(values.astype(np.float32).reshape(shape))
    return grads


def _expected(grads: Sequence[np.ndarray], factor: float) -> tuple[float, float, list[float]]:
    """(max_norm, norm, accepted scales) in float64 for one case: the scale with PyTorch's
    ``+1e-6`` guard and without it (they differ noticeably only for norms near 1e-6)."""
    norm = math.sqrt(sum(float(np.sum(np.square(g.astype(np.float64)))) for g in grads))
    max_norm = float(np.float32(norm * factor)) if norm > 0 else 0.5
    if norm > max_norm:
        return max_norm, norm, [max_norm / (norm + 1e-6), max_norm / norm]
    return max_norm, norm, [1.0]


def _call(func: Callable, args: tuple, *, name: str) -> Any:
    try:
        return func(*args)
    except NotImplementedError:
        raise AssertionError(f"`{name}` is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the learner
        raise AssertionError(f"`{name}` raised {type(exc).__name__}: {exc}") from None


def _run_case(func: Callable, case: LauncherCase, rng: np.random.Generator, *, name: str,
              defer_with: float | None = None) -> tuple[str, LaunchRecorder]:
    """Run the learner's launcher on one case; return "" or what went wrong, and the log."""
    host = _grads_for(rng, case)
    max_norm, norm, scales = _expected(host, case.factor)
    device = [kernel_lab.to_device(g) for g in host]
    given = list(device)
    call = f"`{name}`({case}, max_norm={max_norm:.6g})"
    with _reference_sources_in(func), \
            launch_recorder(substitute=_reference_kernels(), defer_with=defer_with) as rec:
        try:
            result = _call(func, (given, max_norm, case.threads), name=name)
        finally:
            rec.flush()
    if len(given) != len(device) or any(a is not b for a, b in zip(given, device)):
        return f"{call} changed the list it was given: scale the arrays in place.", rec
    if not isinstance(result, numbers.Real) or isinstance(result, bool):
        return (f"{call} returned {type(result).__name__}, expected a Python float, the norm "
                "before clipping (`return float(out[0])`, after the last launch)."), rec
    if not math.isclose(float(result), norm, rel_tol=RTOL_FLOAT32_SUM, abs_tol=1e-7):
        return (f"{call} returned {float(result):.8g}, expected the norm before clipping, "
                f"{norm:.8g}."), rec
    clip = norm > max_norm
    after = [kernel_lab.to_host(g).astype(np.float64) for g in device]
    for i, (got, h) in enumerate(zip(after, host)):
        if got.shape != h.shape:
            return f"{call}: grads[{i}] changed shape from {h.shape} to {got.shape}.", rec
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
            return "", rec
        problems.append(problem)
    return problems[0], rec


def _order_problem(rec: LaunchRecorder, case: LauncherCase, *, name: str) -> str:
    """The launches' order: partials, then exactly one one-block final, then the scales."""
    if not any(int(np.prod(s, dtype=np.int64)) for s in case.shapes):
        return ""
    names = rec.names()
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
    launch = rec.launches[final_at]
    if int(np.prod(launch.grid)) != 1:
        return (f"{where} launched `{FINAL}` with grid {launch.grid}: it must run as a single "
                "block (blocks cannot share their sums within a launch).")
    if SCALE not in names:
        return (f"{where} never launched `{SCALE}`: it decided on the host that no clip was "
                "needed, so it reads the norm back to the host between kernels. Launch "
                f"`{SCALE}` every time: it returns at once, on the device, when out[1] >= 1.")
    if SCALE in names[:final_at]:
        return f"{where} launched `{SCALE}` before `{FINAL}`: the scale is not known yet."
    for launch in rec.launches:
        if launch.name in (PARTIAL, SCALE) and int(np.prod(launch.block)) != case.threads:
            return (f"{where} launched `{launch.name}` with block {launch.block}: use "
                    f"`threads` ({case.threads}) threads a block, as the caller asked.")
    return ""


#: The poisons a deferred norm buffer holds until the device work runs (see
#: `launch_recorder`): each steers a host-side branch a different way.
POISONS = (float("nan"), 0.0, 3.0e38)


def check_launcher(func: Callable, *, rng: np.random.Generator | None = None,
                   name: str = "clip_grad_norm_kernels") -> None:
    """The learner's `clip_grad_norm_kernels`, with the reference kernels swapped in.

    1. Correctness over `launcher_cases`: the returned pre-clip norm (relative 1e-4), every
       gradient scaled in place (relative 1e-4) or left bit-for-bit alone, the launch
       order, one single-block `k_grad_norm_final`, argument types (`check_arguments`).
    2. No host sync: every poison of `POISONS`, on a clipping and a non-clipping case, run
       under `launch_recorder`'s asynchronous model must give the same, right results.
    """
    assert_builtins_intact()
    rng = rng or fresh_rng()
    seed = getattr(rng, "seed", "?")
    for case in launcher_cases(rng):
        problem, rec = _run_case(func, case, rng, name=name)
        problem = problem or _order_problem(rec, case, name=name)
        if problem:
            raise AssertionError(f"{problem} (seed {seed})")
    for poison in POISONS:
        for factor in (0.4, 2.0):
            threads = int(rng.choice(BLOCK_SIZES))
            case = LauncherCase(((int(rng.integers(200, 2000)),), (17, 33), (3, 4, 5)),
                                factor, threads)
            problem, _ = _run_case(func, case, rng, name=name, defer_with=poison)
            if problem:
                raise AssertionError(
                    f"`{name}` reads the norm back to the host between kernels: run as a GPU "
                    "runs it, with the host not waiting for the device, it went wrong — "
                    f"{problem} Keep the norm on the device: no `float()`, `.item()`, "
                    "`.get()`, `print`, `if` or array operation on `partial`/`out` before the "
                    f"last `{SCALE}` launch; `{SCALE}` reads the scale from `out` itself. "
                    f"(seed {seed})")

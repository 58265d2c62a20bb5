"""Demo helpers for lesson 01 (where gradient spikes come from). No exercise solutions here.

* outliers: a tiny MLP and a regression batch with one extreme input; byte windows from the
  cascade's text sources with one odd sequence, and a TinyGPT briefly trained on them;
* numerics: the naive softmax the lesson warns about;
* distribution shift: a short live run whose data switch source once;
* heavy tails: log-binned histograms and tail summaries of gradient-norm samples.

The byte-level model, the sources and the bandit mixer come from `course.cascade`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course.cascade.mixer import sample_batch
from course.cascade.model import SIZES, VOCAB, TinyGPT
from course.cascade.sources import SOURCE_NAMES, build_sources

@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside the block (tiny models are faster that way, and the
    other core stays free), then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------
# Source 1: outlier examples
# --------------------------------------------------------------------------------------


def tiny_mlp(d_in: int = 8, hidden: int = 32, d_out: int = 1, *, seed: int = 0) -> nn.Sequential:
    """`Linear(d_in, hidden) -> ReLU -> Linear(hidden, d_out)`, seeded.

    ReLU rather than tanh: a tanh layer saturates on a huge input and hides the outlier's
    gradient, which is a lesson of its own.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def regression_batch(n: int = 16, d_in: int = 8, *, outlier: int | None = None,
                     scale: float = 50.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` inputs ~ N(0, 1) with targets `sin(x . w)`; row `outlier` (if any) times `scale`.

    The outlier keeps its ordinary target: it is an input far outside what the model sees,
    like a corrupted feature or a unit mix-up in a data pipeline.
    """
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, d_in, generator=gen)
    w = torch.randn(d_in, generator=gen) / d_in ** 0.5
    ys = torch.sin(xs @ w).unsqueeze(1)
    if outlier is not None:
        xs[outlier] *= scale
    return xs, ys


def cascade_sources() -> list[bytes]:
    """The three text sources of `course.cascade`, in `SOURCE_NAMES` order."""
    built = build_sources()
    return [built[name] for name in SOURCE_NAMES]


def text_windows(n: int, *, context: int = 64, weights=None, seed: int = 0) -> torch.Tensor:
    """`n` byte windows of `context + 1` bytes (inputs plus next-byte targets), int64."""
    sources = cascade_sources()
    w = np.full(len(sources), 1 / len(sources)) if weights is None else np.asarray(weights)
    rows, _ = sample_batch(sources, w, n, context + 1, np.random.default_rng([seed, 7]))
    return torch.from_numpy(rows.astype(np.int64))


def odd_sequences(length: int = 65, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Byte sequences unlike the text sources: candidates for the outlier in a batch."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "NUL bytes (b'\\x00' * 65)": torch.zeros(length, dtype=torch.int64),
        "random bytes 128-255": torch.randint(128, 256, (length,), generator=gen),
        "spaces (b' ' * 65)": torch.full((length,), 32, dtype=torch.int64),
    }


def next_byte_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-byte cross-entropy: `logits [B, T, 256]`, `targets [B, T]`."""
    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))


def train_tiny_gpt(steps: int = 80, *, size: str = "small", lr: float = 3e-3, batch: int = 16,
                   weights=None, seed: int = 0) -> tuple[TinyGPT, list[float]]:
    """A `course.cascade` TinyGPT trained `steps` Adam steps on a fixed source mixture.

    Returns the model and its per-step global gradient norms. A few seconds on one core.
    """
    cfg = SIZES[size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyGPT(cfg)
    sources = cascade_sources()
    w = np.full(len(sources), 1 / len(sources)) if weights is None else np.asarray(weights)
    rng = np.random.default_rng([seed, 11])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    norms = []
    with one_thread():
        for _ in range(steps):
            _adam_step(model, opt, sources, w, batch, cfg.context, rng, norms, [])
    return model, norms


def _adam_step(model, opt, sources, weights, batch, context, rng, norms, losses) -> None:
    rows, _ = sample_batch(sources, weights, batch, context + 1, rng)
    x = torch.from_numpy(rows.astype(np.int64))
    loss = model.loss(x[:, :-1], x[:, 1:])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norms.append(float(torch.sqrt(sum(p.grad.double().pow(2).sum()
                                      for p in model.parameters()))))
    losses.append(loss.item())
    opt.step()


# --------------------------------------------------------------------------------------
# Source 2: numerical edge cases
# --------------------------------------------------------------------------------------


def naive_softmax(logits):
    """`exp(x) / sum(exp(x))` over the last axis, in the input's own dtype (numpy or torch).

    This is the version that breaks: in float16, `exp` of anything from 12 up is inf.
    """
    if isinstance(logits, torch.Tensor):
        e = torch.exp(logits)
        return e / e.sum(dim=-1, keepdim=True)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------
# Source 3: distribution shift
# --------------------------------------------------------------------------------------


def switch_run(before: str = "prose", after: str = "qa", *, steps_before: int = 60,
               steps_after: int = 20, size: str = "small", lr: float = 3e-3, batch: int = 16,
               seed: int = 0) -> dict:
    """Train a TinyGPT on source `before` only, then switch every batch to `after`.

    One source switch under control, without the bandit's other moves. Returns per-step
    `grad_norm` and `loss` lists and the `switch` step (the first batch from `after`).
    """
    names = list(SOURCE_NAMES)
    for name in (before, after):
        if name not in names:
            raise ValueError(f"source must be one of {names}, got {name!r}")
    cfg = SIZES[size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyGPT(cfg)
    sources = cascade_sources()
    rng = np.random.default_rng([seed, 13])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    norms, losses = [], []
    with one_thread():
        for t in range(steps_before + steps_after):
            w = np.eye(len(names))[names.index(before if t < steps_before else after)]
            _adam_step(model, opt, sources, w, batch, cfg.context, rng, norms, losses)
    return {"grad_norm": norms, "loss": losses, "switch": steps_before,
            "before": before, "after": after}


def boundary_ratios(grad_norms, boundaries, *, offsets=range(-3, 7), baseline: int = 5,
                    skip: int = 30) -> np.ndarray:
    """`grad_norms[b + k] / median(grad_norms[b - baseline:b])` for each boundary `b`.

    One row per boundary at or after step `skip` (the first steps of a run fall fast for
    reasons of their own) whose offsets all lie inside the run; one column per offset `k`.
    """
    g = np.asarray(grad_norms, dtype=np.float64)
    offsets = list(offsets)
    rows = []
    for b in boundaries:
        if b < max(skip, baseline) or b + max(offsets) >= len(g) or b + min(offsets) < 0:
            continue
        base = np.median(g[b - baseline:b])
        rows.append([g[b + k] / base for k in offsets])
    return np.asarray(rows).reshape(-1, len(offsets))


# --------------------------------------------------------------------------------------
# Heavy tails
# --------------------------------------------------------------------------------------


def log_edges(*samples, bins: int = 40) -> np.ndarray:
    """`bins + 1` log-spaced edges covering the positive finite values of every sample."""
    v = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in samples])
    v = v[np.isfinite(v) & (v > 0)]
    return np.geomspace(v.min(), v.max() * 1.0001, bins + 1)


def log_hist(ax, values, *, bins=40, label: str | None = None, log_count: bool = False,
             **kwargs) -> None:
    """Histogram of positive `values` on a log x axis.

    `bins` is a number of log-spaced bins or an array of edges (`log_edges`, to share bins
    between histograms); `log_count=True` puts the counts on a log axis too, so that a
    single step far out in the tail stays visible.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    edges = log_edges(v, bins=bins) if np.ndim(bins) == 0 else np.asarray(bins)
    ax.hist(v, bins=edges, label=label, **kwargs)
    ax.set_xscale("log")
    if log_count:
        ax.set_yscale("log")


def tail_summary(values) -> dict[str, float]:
    """Median, tail ratios and the share of values above 3x and 5x the median."""
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    return {
        "n": int(v.size),
        "median": med,
        "p99 / median": float(np.percentile(v, 99) / med),
        "max / median": float(v.max() / med),
        "share > 3x median": float(np.mean(v > 3 * med)),
        "share > 5x median": float(np.mean(v > 5 * med)),
    }

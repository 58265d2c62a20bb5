"""Train the tiny GPT on a mixed byte stream and log what the cascade story is about.

One `RunConfig` fixes everything (model size, optimizer recipe, schedule, seed); the same
seed gives the same initial weights, schedule and batches for every recipe, so runs that
differ only in their recipe are paired. CPU, single thread, deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .mixer import Schedule, bandit_schedule, sample_batch, static_schedule
from .model import SIZES, TinyGPT, generate
from .sources import SOURCE_NAMES, build_sources, source_hashes
from .textstats import repeated_ngram_fraction
from .trace import Trace

# name -> (optimizer, warmup steps, max_norm or None)
RECIPES = {
    "plain": ("adam", 0, None),          # the story's v1: Adam, no warmup, no clipping
    "clip": ("adam", 0, 1.0),
    "warmup": ("adam", 50, None),
    "guarded": ("adamw", 50, 1.0),       # the story's v2: AdamW + warmup + clip 1.0
}
SAMPLE_TEMPERATURES = {"greedy": 0.0, "temp1": 1.0}
SAMPLE_PROMPT = b"\n\n"


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run."""

    size: str = "small"
    recipe: str = "plain"
    mixer: str = "bandit"        # "bandit" or "static"
    seed: int = 0
    steps: int = 500
    lr: float = 3e-3
    batch: int = 16
    weight_decay: float = 0.1    # AdamW only
    betas: tuple[float, float] = (0.9, 0.999)
    max_norm: float | None = None   # overrides the recipe's when given
    sample_every: int = 50
    sample_bytes: int = 128
    eval_every: int = 100
    eval_windows: int = 32

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"`size` must be one of {sorted(SIZES)}, got {self.size!r}")
        if self.recipe not in RECIPES:
            raise ValueError(f"`recipe` must be one of {sorted(RECIPES)}, got {self.recipe!r}")
        if self.mixer not in ("bandit", "static"):
            raise ValueError(f"`mixer` must be 'bandit' or 'static', got {self.mixer!r}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ValueError(f"`max_norm` must be > 0 or None, got {self.max_norm}")

    @property
    def optimizer(self) -> str:
        return RECIPES[self.recipe][0]

    @property
    def warmup(self) -> int:
        return RECIPES[self.recipe][1]

    @property
    def clip(self) -> float | None:
        return self.max_norm if self.max_norm is not None else RECIPES[self.recipe][2]

    @property
    def name(self) -> str:
        clip = "" if self.max_norm is None else f"-clip{self.max_norm:g}"
        return f"{self.size}-{self.recipe}{clip}-{self.mixer}-s{self.seed}"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


def schedule_for(cfg: RunConfig) -> Schedule:
    make = bandit_schedule if cfg.mixer == "bandit" else static_schedule
    return make(cfg.steps, len(SOURCE_NAMES), seed=cfg.seed)


def lr_at(cfg: RunConfig, step: int) -> float:
    """Linear warmup over `cfg.warmup` steps, then constant."""
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else cfg.lr


def _optimizer(cfg: RunConfig, model: TinyGPT) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas,
                                 weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)


def _global_norm(tensors) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in tensors))


def _moment_stats(opt: torch.optim.Optimizer) -> tuple[float, float]:
    states = [s for s in opt.state.values() if "exp_avg" in s]
    m = _global_norm(s["exp_avg"] for s in states)
    v = sum(float(s["exp_avg_sq"].double().sum()) for s in states)
    return m, v


def _eval_set(sources: list[bytes], cfg: RunConfig, context: int) -> list[torch.Tensor]:
    rng = np.random.default_rng([12345, 3])
    out = []
    for s in range(len(sources)):
        w = np.eye(len(sources))[s]
        rows, _ = sample_batch(sources, w, cfg.eval_windows, context + 1, rng)
        out.append(torch.from_numpy(rows.astype(np.int64)))
    return out


@torch.no_grad()
def _evaluate(model: TinyGPT, eval_set: list[torch.Tensor]) -> list[float]:
    model.eval()
    losses = [float(model.loss(x[:, :-1], x[:, 1:])) for x in eval_set]
    model.train()
    return losses


def run(cfg: RunConfig, *, progress: bool = True, stop_after: int | None = None,
        on_step: Callable[[int, dict], None] | None = None) -> Trace:
    """Train one run and return its `Trace`. `on_step(t, row)` sees each step's log row.

    `stop_after=k` trains only the first `k` steps of the run `cfg` describes (same schedule
    and batches), e.g. to check a recorded trace's prefix; samples and evaluations due in
    those steps are taken as in the full run.
    """
    if stop_after is not None and not 1 <= stop_after <= cfg.steps:
        raise ValueError(f"`stop_after` must lie in [1, cfg.steps={cfg.steps}], got {stop_after}")
    from tqdm.auto import tqdm

    sources = [build_sources()[n] for n in SOURCE_NAMES]
    schedule = schedule_for(cfg)
    mcfg = SIZES[cfg.size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = TinyGPT(mcfg)
    opt = _optimizer(cfg, model)
    data_rng = np.random.default_rng([cfg.seed, 2])
    sample_gen = torch.Generator().manual_seed(cfg.seed + 1000)
    eval_set = _eval_set(sources, cfg, mcfg.context)

    cols = {k: [] for k in ("loss", "grad_norm", "clipped", "lr", "m_norm", "v_sum")}
    sample_steps, samples = [], {k: [] for k in SAMPLE_TEMPERATURES}
    sample_rep = {k: [] for k in SAMPLE_TEMPERATURES}
    eval_steps, eval_loss = [], []
    n_run = cfg.steps if stop_after is None else stop_after
    bar = tqdm(range(n_run), desc=cfg.name, disable=not progress, mininterval=2.0)
    for t in bar:
        rows, _ = sample_batch(sources, schedule.weights[t], cfg.batch, mcfg.context + 1, data_rng)
        x = torch.from_numpy(rows.astype(np.int64))
        lr = lr_at(cfg, t)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = model.loss(x[:, :-1], x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norm = _global_norm(grads)
        clipped = cfg.clip is not None and norm > cfg.clip
        if clipped:
            scale = cfg.clip / norm       # the course's rule: scale only when norm > max_norm
            for g in grads:
                g.mul_(scale)
        opt.step()
        m, v = _moment_stats(opt)
        row = dict(loss=float(loss.detach()), grad_norm=norm, clipped=clipped, lr=lr, m_norm=m, v_sum=v)
        for k, val in row.items():
            cols[k].append(val)
        if (t + 1) % cfg.sample_every == 0 or t + 1 == cfg.steps:
            sample_steps.append(t)
            for k, temp in SAMPLE_TEMPERATURES.items():
                text = generate(model, SAMPLE_PROMPT, cfg.sample_bytes, temperature=temp,
                                generator=sample_gen).decode("utf-8", "replace")
                samples[k].append(text)
                sample_rep[k].append(repeated_ngram_fraction(text))
        if (t + 1) % cfg.eval_every == 0 or t + 1 == cfg.steps:
            eval_steps.append(t)
            eval_loss.append(_evaluate(model, eval_set))
        if on_step is not None:
            on_step(t, row)
        if progress and t % 10 == 0:
            bar.set_postfix(loss=f"{row['loss']:.3f}", norm=f"{norm:.2f}", refresh=False)
    meta = dict(name=cfg.name, config=cfg.to_dict(), model=mcfg.to_dict(),
                n_params=model.n_params(), sources=list(SOURCE_NAMES),
                source_hashes=source_hashes(), torch_version=torch.__version__,
                phase_lengths=list(schedule.phase_lengths), dominant=list(schedule.dominant),
                boundaries=schedule.boundaries, optimizer=cfg.optimizer, warmup=cfg.warmup,
                max_norm=cfg.clip, prompt=SAMPLE_PROMPT.decode())
    return Trace(meta=meta, weights=schedule.weights[:n_run],
                 sample_steps=np.asarray(sample_steps, dtype=np.int64), samples=samples,
                 sample_rep={k: np.asarray(v) for k, v in sample_rep.items()},
                 eval_steps=np.asarray(eval_steps, dtype=np.int64),
                 eval_loss=np.asarray(eval_loss).reshape(-1, len(SOURCE_NAMES)),
                 **{k: np.asarray(v) for k, v in cols.items()})

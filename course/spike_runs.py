"""Lesson 07's experiment: one small model, injected outlier batches, five ways to clip.

A TinyMLP (`course.models`) learns a smooth teacher ``y = sin(2 x . w)`` with Adam. At a few
steps the batch carries outliers (inputs 30x larger, targets far off and of the wrong sign, as in
`course.models.outlier_regression_batch` but larger), which makes the gradient norm spike. The same
run is trained with

    "none"      no clipping
    "global"    a fixed global L2 clip (`torch.nn.utils.clip_grad_norm_`)
    "autoclip"  the global clip at a percentile of the norm history (AutoClip)
    "zclip"     the global clip at ZClip's z-score threshold
    "agc"       unit-wise adaptive gradient clipping (NFNets)

The clipping rules themselves are *passed in* (`rules`: the lesson passes your own
functions; the recording script the course's reference ones), so this module holds no
answers. Each run records, per step: the training and held-out loss, the global gradient
norm before and after clipping, whether the step was clipped, and Adam's second moment
``v`` (its sum over all parameters, and its largest entry).

    trace = run("zclip", seed=0, rules={"zclip_clipped_norms": zclip_clipped_norms})

Runs are deterministic for a given torch version (one thread).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from . import models

METHODS = ("none", "global", "autoclip", "zclip", "agc")
DATA_DIR = Path(__file__).resolve().parent / "data" / "beyond_global_norm"


@dataclass(frozen=True)
class RunConfig:
    method: str
    seed: int = 0
    steps: int = 300
    lr: float = 3e-3
    batch: int = 32
    d_in: int = 8
    d_hidden: int = 64
    depth: int = 2
    spike_steps: tuple[int, ...] = (60, 110, 160, 210, 260)
    outliers_per_spike: int = 4
    outlier_scale: float = 30.0
    outlier_target: float = 50.0
    max_norm: float = 1.0            # "global"
    percentile: float = 10.0         # "autoclip" (the AutoClip paper's choice)
    zclip: dict = field(default_factory=lambda: {"alpha": 0.97, "z_thresh": 2.5,
                                                 "warmup_steps": 25})
    agc: dict = field(default_factory=lambda: {"clipping": 0.01, "eps": 1e-3})

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {self.method!r}")

    @property
    def name(self) -> str:
        return f"{self.method}-s{self.seed}"


class Stream:
    """The batches of one seed: a fixed teacher, fresh inputs each step, outliers at
    `spike_steps`, and a fixed held-out batch."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        gen = torch.Generator().manual_seed(10_000 + cfg.seed)
        self.w = torch.randn(cfg.d_in, 1, generator=gen) / cfg.d_in ** 0.5
        self.gen = gen
        self.x_eval = torch.randn(256, cfg.d_in, generator=gen)
        self.y_eval = self.teacher(self.x_eval)

    def teacher(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(2.0 * x @ self.w)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        x = torch.randn(cfg.batch, cfg.d_in, generator=self.gen)
        y = self.teacher(x)
        if step in cfg.spike_steps:
            for i in range(cfg.outliers_per_spike):
                x[i] *= cfg.outlier_scale
                y[i] = -10.0 * y[i] - cfg.outlier_target
        return x, y


def _global_norm(params) -> float:
    return float(torch.sqrt(sum((p.grad.detach().double() ** 2).sum()
                                for p in params if p.grad is not None)))


def run(method: str, seed: int = 0, *, rules: dict[str, Callable] | None = None,
        steps: int | None = None, **overrides) -> dict[str, np.ndarray]:
    """Train one run; a dict of per-step arrays (and `meta`, the config as JSON text).

    `rules` holds the clipping functions the method needs: "autoclip_threshold",
    "zclip_clipped_norms" or "agc_" (the lesson's exercises, same signatures)."""
    kwargs = dict(overrides)
    if steps is not None:
        kwargs["steps"] = steps
    cfg = RunConfig(method=method, seed=seed, **kwargs)
    rules = dict(rules or {})
    needed = {"autoclip": "autoclip_threshold", "zclip": "zclip_clipped_norms",
              "agc": "agc_"}.get(method)
    if needed and needed not in rules:
        raise ValueError(f"method {method!r} needs rules[{needed!r}]")
    model = models.TinyMLP(d_in=cfg.d_in, d_hidden=cfg.d_hidden, d_out=1, depth=cfg.depth,
                           seed=seed)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    stream = Stream(cfg)
    rec = {k: np.zeros(cfg.steps) for k in ("loss", "eval_loss", "norm", "norm_after",
                                            "threshold", "v_sum", "v_max", "agc_units")}
    rec["clipped"] = np.zeros(cfg.steps, dtype=bool)
    history: list[float] = []
    units_total = sum(p.shape[0] if p.ndim > 1 else 1 for p in params)
    for step in range(cfg.steps):
        x, y = stream.batch(step)
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        norm = _global_norm(params)
        threshold = np.inf
        before = [p.grad.detach().clone() for p in params]
        if method == "global":
            threshold = cfg.max_norm
            torch.nn.utils.clip_grad_norm_(params, threshold)
        elif method == "autoclip":
            threshold = float(rules["autoclip_threshold"](list(history), norm, cfg.percentile))
            torch.nn.utils.clip_grad_norm_(params, threshold)
        elif method == "zclip":
            let_through = np.asarray(rules["zclip_clipped_norms"](history + [norm], **cfg.zclip))
            threshold = float(let_through[-1])
            if threshold < norm:
                torch.nn.utils.clip_grad_norm_(params, threshold)
        elif method == "agc":
            rules["agc_"](iter(params), **cfg.agc)
        history.append(norm)
        after = _global_norm(params)
        changed = [not torch.equal(b, p.grad) for b, p in zip(before, params)]
        if method == "agc":
            rec["agc_units"][step] = sum(
                int((b != p.grad).reshape(b.shape[0], -1).any(dim=1).sum()) if b.ndim > 1
                else int(not torch.equal(b, p.grad)) for b, p in zip(before, params)
            ) / units_total
        opt.step()
        state = [opt.state[p]["exp_avg_sq"] for p in params]
        rec["loss"][step] = float(loss.detach())
        with torch.no_grad():
            rec["eval_loss"][step] = float(F.mse_loss(model(stream.x_eval), stream.y_eval))
        rec["norm"][step] = norm
        rec["norm_after"][step] = after
        rec["threshold"][step] = threshold
        rec["clipped"][step] = any(changed) and after < norm * (1 - 1e-5)
        rec["v_sum"][step] = float(sum(v.double().sum() for v in state))
        rec["v_max"][step] = float(max(v.max() for v in state))
    meta = asdict(cfg)
    meta["torch"] = torch.__version__
    rec["meta"] = np.array(json.dumps(meta))
    return rec


def save(trace: dict[str, np.ndarray], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: (v.astype(np.float32) if v.dtype == np.float64 else v)
                                 for k, v in trace.items()})
    return path


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def meta(trace: dict[str, np.ndarray]) -> dict:
    return json.loads(str(trace["meta"]))


def load_recorded(data_dir: Path = DATA_DIR) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Every recorded run, keyed by (method, seed)."""
    runs = {}
    for path in sorted(Path(data_dir).glob("*.npz")):
        trace = load(path)
        m = meta(trace)
        runs[(m["method"], int(m["seed"]))] = trace
    if not runs:
        raise FileNotFoundError(f"no recorded runs in {data_dir}: run "
                                "scripts/record_beyond_global_norm.py")
    return runs


def summary(runs: dict[tuple[str, int], dict[str, np.ndarray]], window: int = 20) -> list[dict]:
    """Per method and seed: steps clipped, final held-out loss (mean of the last
    `window` steps), the largest norm let through, and Adam's v after the spikes
    (v_sum at the step after each spike over v_sum just before it, median over spikes)."""
    rows = []
    for (method, seed), t in sorted(runs.items(), key=lambda kv: (METHODS.index(kv[0][0]),
                                                                  kv[0][1])):
        spikes = meta(t)["spike_steps"]
        lifts = [float(t["v_sum"][s] / t["v_sum"][s - 1]) for s in spikes if s >= 1]
        rows.append({"method": method, "seed": seed,
                     "clipped_steps": int(t["clipped"].sum()),
                     "clipped_at_spikes": int(sum(bool(t["clipped"][s]) for s in spikes)),
                     "final_eval_loss": float(np.mean(t["eval_loss"][-window:])),
                     "max_norm_after": float(np.max(t["norm_after"])),
                     "v_lift": float(np.median(lifts)),
                     "v_after_last_spike": float(t["v_sum"][spikes[-1] + 20]
                                                 / t["v_sum"][spikes[-1] - 1])
                     if spikes[-1] + 20 < len(t["v_sum"]) else float("nan")})
    return rows

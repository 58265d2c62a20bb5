"""A recorded run: per-step arrays plus metadata, saved as one compressed ``.npz`` file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "cascade"

# Per-step arrays every trace has (length = steps).
STEP_FIELDS = ("loss", "grad_norm", "clipped", "lr", "m_norm", "v_sum")


@dataclass
class Trace:
    """What one training run logged.

    * `loss[t]`, `grad_norm[t]` (pre-clip global L2), `clipped[t]`, `lr[t]`;
    * `m_norm[t]`: global L2 norm of Adam's first moment after step t; `v_sum[t]`: the sum of
      its second moment over all parameters, which equals an EMA of the squared global
      gradient norm (so `sqrt(v_sum)` is on the scale of `grad_norm`);
    * `weights[t]`: source weights; `boundaries`: steps where a phase begins;
    * `sample_steps[k]` with `samples[temperature][k]` (text) and `sample_rep[temperature][k]`
      (fraction of repeated 4-grams);
    * `eval_steps[k]` with `eval_loss[k, source]` on fixed held-out windows.
    """

    meta: dict
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    lr: np.ndarray
    m_norm: np.ndarray
    v_sum: np.ndarray
    weights: np.ndarray
    sample_steps: np.ndarray
    samples: dict[str, list[str]]
    sample_rep: dict[str, np.ndarray]
    eval_steps: np.ndarray
    eval_loss: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def boundaries(self) -> list[int]:
        return list(self.meta["boundaries"])

    @property
    def phase_lengths(self) -> list[int]:
        return list(self.meta["phase_lengths"])

    def save(self, path: str | Path) -> Path:
        """Write the trace to `path` (``.npz``, compressed)."""
        path = Path(path)
        meta = dict(self.meta, samples=self.samples)
        arrays = {f: getattr(self, f) for f in STEP_FIELDS}
        arrays.update(weights=self.weights.astype(np.float32), sample_steps=self.sample_steps,
                      eval_steps=self.eval_steps, eval_loss=self.eval_loss.astype(np.float32))
        for temp, rep in self.sample_rep.items():
            arrays[f"sample_rep_{temp}"] = np.asarray(rep, dtype=np.float32)
        arrays["clipped"] = arrays["clipped"].astype(bool)
        for f in ("loss", "grad_norm", "lr", "m_norm", "v_sum"):
            arrays[f] = np.asarray(arrays[f], dtype=np.float32)
        np.savez_compressed(path, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return path


def load_trace(path: str | Path) -> Trace:
    """Read a trace written by `Trace.save`."""
    with np.load(Path(path), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        samples = meta.pop("samples")
        rep = {k[len("sample_rep_"):]: z[k] for k in z.files if k.startswith("sample_rep_")}
        return Trace(meta=meta, samples=samples, sample_rep=rep,
                     weights=z["weights"], sample_steps=z["sample_steps"],
                     eval_steps=z["eval_steps"], eval_loss=z["eval_loss"],
                     **{f: z[f] for f in STEP_FIELDS})


def recorded_paths(data_dir: str | Path = DATA_DIR) -> list[Path]:
    """The recorded trace files, sorted by name."""
    return sorted(Path(data_dir).glob("*.npz"))


def load_recorded(data_dir: str | Path = DATA_DIR) -> dict[str, Trace]:
    """Every recorded trace, keyed by run name."""
    traces = [load_trace(p) for p in recorded_paths(data_dir)]
    if not traces:
        raise FileNotFoundError(f"no recorded traces (*.npz) in {data_dir}; "
                                "run `python scripts/record_cascade.py`")
    return {t.name: t for t in traces}

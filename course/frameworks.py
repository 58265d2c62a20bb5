"""The real Hugging Face and Lightning trainers on a tiny model, offline, on CPU.

Lesson 06 trains a randomly initialised GPT-2 (built from a `GPT2Config`: nothing is
downloaded) for a step or two through `transformers.Trainer` and `lightning.Trainer`, and
looks at what each framework did to the gradient:

- `tiny_lm(seed)`, `token_rows(n, seed)`: the model and a data set of token rows;
- `lm_loss(output, y)`: the model's own next-token loss, as a `loss_fn(model(x), y)`;
- `RecordingSGD`: plain SGD that records the gradients it received at each `step()`, after
  whatever the framework did to them (accumulation, unscaling, clipping);
- `hf_train(...)`, `lightning_train(...)`: one short run each, in a throwaway folder, with
  logging, checkpoints and progress bars off; they return a `Run` (what the optimizer
  received, and for Hugging Face what it logged).

Every run is deterministic given its seeds. Nothing here holds an exercise's answer.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

# Offline, quiet, and no cache in the home folder: set before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HOME", os.path.join(tempfile.gettempdir(), "gradclip-hf-home"))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from . import wire  # noqa: E402

VOCAB, CONTEXT = 48, 12
IGNORE = -100  # the label that no loss counts (PyTorch's and Hugging Face's ignore index)

#: The keyword arguments the helpers set themselves (a run's own folder, logging, seeds):
#: a caller's `**kwargs` may not override them.
HF_FIXED = ("output_dir", "per_device_train_batch_size", "max_steps", "learning_rate",
            "logging_steps", "report_to", "use_cpu", "save_strategy", "disable_tqdm", "seed",
            "data_seed", "dataloader_num_workers", "lr_scheduler_type", "warmup_steps",
            "logging_strategy", "eval_strategy", "weight_decay")
LIGHTNING_FIXED = ("accelerator", "devices", "max_steps", "logger", "enable_checkpointing",
                   "enable_progress_bar", "enable_model_summary", "default_root_dir",
                   "num_sanity_val_steps", "max_epochs", "callbacks", "limit_val_batches")


def versions() -> dict[str, str]:
    """The versions of the frameworks this lesson ran."""
    import accelerate
    import lightning
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "accelerate": accelerate.__version__, "lightning": lightning.__version__}


_NOISY = ("transformers", "accelerate", "lightning", "pytorch_lightning", "lightning_fabric",
          "torch")


def _hush_loggers() -> None:
    """The frameworks' own loggers at ERROR (they stay there: this module is their only
    user in the lesson)."""
    names = {n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in _NOISY}
    for name in names | set(_NOISY):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the frameworks' info logs, prints and warnings (a notebook cell stays clean:
    output on stderr would even cost a graded cell its points)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        _hush_loggers()
        try:
            yield
        finally:
            _hush_loggers()  # loggers the frameworks created while importing


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run with one intra-op thread: on a model this small, more threads only contend
    (measured on 2 shared cores: ~15x slower with 2 threads than with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@wire.buildable
def tiny_lm(seed: int = 0, *, vocab: int = VOCAB, context: int = CONTEXT, d_model: int = 16,
            layers: int = 1, heads: int = 2) -> nn.Module:
    """A randomly initialised GPT-2 (`GPT2LMHeadModel` from a `GPT2Config`), dropout off,
    ~10k parameters: a real Hugging Face model, built locally, never downloaded."""
    with quiet():
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(vocab_size=vocab, n_positions=context, n_embd=d_model,
                            n_layer=layers, n_head=heads, resid_pdrop=0.0, embd_pdrop=0.0,
                            attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(config)
    return model


def token_rows(n: int, seed: int = 0, *, vocab: int = VOCAB, context: int = CONTEXT
               ) -> list[dict[str, torch.Tensor]]:
    """`n` rows `{"input_ids", "labels"}` of random tokens (labels = inputs: the model
    shifts them itself), with a repeating pattern so the loss has something to learn."""
    g = torch.Generator().manual_seed(int(seed))
    start = torch.randint(0, vocab, (n, 1), generator=g)
    step = torch.randint(1, 4, (n, 1), generator=g)
    ids = (start + step * torch.arange(context)) % vocab
    noise = torch.rand(n, context, generator=g) < 0.2
    ids = torch.where(noise, torch.randint(0, vocab, (n, context), generator=g), ids)
    labels = ids.clone()
    labels[:, 0] = IGNORE  # a causal LM never predicts the first token: say so in the labels
    return [{"input_ids": row, "labels": lab} for row, lab in zip(ids, labels)]


def stack_rows(rows: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A list of rows as one `(x, y)` batch (token ids, labels)."""
    return (torch.stack([r["input_ids"] for r in rows]), torch.stack([r["labels"] for r in rows]))


def lm_loss(output: Any, y: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy of a causal LM's output against labels `y`: what
    `GPT2LMHeadModel` computes when given `labels`, as a `loss_fn(model(x), y)`."""
    logits = output.logits if hasattr(output, "logits") else output
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                           y[:, 1:].reshape(-1), ignore_index=IGNORE)


def grads_of(model: nn.Module) -> list[torch.Tensor | None]:
    """Clones of every parameter's gradient, in `model.parameters()` order."""
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def global_norm(grads: list[torch.Tensor | None]) -> float:
    """The global L2 norm of a list of gradients (float64 inside)."""
    return float(sum(float(g.double().pow(2).sum()) for g in grads if g is not None) ** 0.5)


class RecordingSGD(torch.optim.SGD):
    """Plain SGD that records, at every `step()`, the gradients it is about to apply.

    Frameworks that pass a closure (Lightning) run forward, backward and their clipping
    inside it; the recording is taken after the closure, so it is what the update used.
    """

    def __init__(self, params, lr: float = 0.1):
        super().__init__(params, lr=lr)
        self.received: list[list[torch.Tensor | None]] = []

    def step(self, closure=None):  # noqa: D102 - see the class
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.received.append([None if p.grad is None else p.grad.detach().clone()
                              for group in self.param_groups for p in group["params"]])
        super().step()
        return loss


@dataclass
class Run:
    """What one framework run did: per optimizer step, the gradients the optimizer received
    and (Hugging Face) the `grad_norm` it logged."""

    framework: str
    received: list[list[torch.Tensor | None]]
    logged_grad_norm: list[float] = field(default_factory=list)
    logged_loss: list[float] = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    @property
    def received_norms(self) -> list[float]:
        return [global_norm(g) for g in self.received]

    @property
    def steps(self) -> int:
        return len(self.received)


def _check_free(kwargs: dict, fixed: tuple[str, ...], where: str) -> None:
    clash = sorted(set(kwargs) & set(fixed))
    if clash:
        raise ValueError(f"`{clash[0]}` is set by the lesson's {where} helper itself; "
                         f"pass only the options under study (it fixes {', '.join(fixed)})")


def hf_train(model: nn.Module, rows: list[dict], *, steps: int = 1, batch_size: int = 4,
             lr: float = 0.1, seed: int = 0, **training_args: Any) -> Run:
    """Train `model` for `steps` optimizer steps with the real `transformers.Trainer` on
    CPU, in a temporary folder, logging every step; `training_args` go to
    `TrainingArguments` (e.g. `max_grad_norm=0.5`, `gradient_accumulation_steps=4`).
    The model is trained in place."""
    _check_free(training_args, HF_FIXED, "hf_train")
    with quiet(), one_thread(), tempfile.TemporaryDirectory(prefix="gradclip-hf-") as out:
        from transformers import PrinterCallback, Trainer, TrainingArguments

        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch_size, max_steps=steps,
            learning_rate=lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
            logging_strategy="steps", logging_steps=1, report_to=[], use_cpu=True,
            save_strategy="no", eval_strategy="no", disable_tqdm=True, seed=seed,
            data_seed=seed, dataloader_num_workers=0, **training_args)
        optimizer = RecordingSGD(model.parameters(), lr=lr)
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          optimizers=(optimizer, None))
        trainer.remove_callback(PrinterCallback)  # it prints every log line
        trainer.train()
        history = trainer.state.log_history
    return Run("hf", optimizer.received,
               [float(h["grad_norm"]) for h in history if "grad_norm" in h],
               [float(h["loss"]) for h in history if "loss" in h and "grad_norm" in h],
               dict(training_args))


def lightning_train(model: nn.Module, rows: list[dict], *, steps: int = 1,
                    batch_size: int = 4, lr: float = 0.1, seed: int = 0,
                    **trainer_kwargs: Any) -> Run:
    """Train `model` for `steps` optimizer steps with the real `lightning.Trainer` on CPU
    (rows in order, no shuffling), logging and checkpoints off, in a temporary folder;
    `trainer_kwargs` go to `Trainer` (e.g. `gradient_clip_val=0.5`,
    `gradient_clip_algorithm="norm"`, `accumulate_grad_batches=4`)."""
    _check_free(trainer_kwargs, LIGHTNING_FIXED, "lightning_train")
    with quiet(), one_thread(), tempfile.TemporaryDirectory(prefix="gradclip-lightning-") as out:
        import lightning as L

        class LitLM(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.model = model
                self.optimizer: RecordingSGD | None = None

            def training_step(self, batch, batch_idx):
                return self.model(input_ids=batch["input_ids"], labels=batch["labels"]).loss

            def configure_optimizers(self):
                self.optimizer = RecordingSGD(self.model.parameters(), lr=lr)
                return self.optimizer

        module = LitLM()
        loader = torch.utils.data.DataLoader(rows, batch_size=batch_size, shuffle=False)
        L.seed_everything(seed, verbose=False)
        trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, default_root_dir=out,
                            num_sanity_val_steps=0, **trainer_kwargs)
        trainer.fit(module, train_dataloaders=loader)
    return Run("lightning", module.optimizer.received, kwargs=dict(trainer_kwargs))


def max_abs_difference(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> float:
    """The largest element-wise difference between two gradient lists (inf if their
    structure differs)."""
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return float("inf")
        if x is not None:
            if x.shape != y.shape:
                return float("inf")
            worst = max(worst, float((x.double() - y.double()).abs().max()) if x.numel() else 0.0)
    return worst

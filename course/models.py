"""Tiny real models, and the batches and gradients lessons study on them.

Lessons look at real gradients, not made-up lists of tensors: a small MLP (a handful of
tensors, one batch with an outlier example) and a one-block transformer (embeddings,
attention, layer norms: tensors whose gradients differ in size by orders of magnitude).
Everything is seeded and runs in milliseconds on a CPU.

    model = TinyMLP(seed=0)
    x, y = outlier_regression_batch(seed=0)
    grads = loss_gradients(model, torch.nn.functional.mse_loss, x, y)

Building a model or a batch never touches torch's global random state.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


class TinyMLP(nn.Module):
    """``d_in -> d_hidden (tanh) -> ... -> d_out``: ``depth`` hidden layers, biases on."""

    def __init__(self, d_in: int = 8, d_hidden: int = 32, d_out: int = 1, depth: int = 2, *,
                 seed: int = 0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"`depth` must be at least 1, got {depth}")
        sizes = [d_in] + [d_hidden] * depth + [d_out]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


class TransformerBlock(nn.Module):
    """A pre-norm decoder block: causal multi-head self-attention, then a GELU MLP."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"`d_model` ({d_model}) must be divisible by `n_heads` ({n_heads})")
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.fc_out = nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        heads = [z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v)]
        attn = F.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, d))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


class TinyTransformer(nn.Module):
    """A byte-free toy language model: token + position embeddings, `n_layers` blocks,
    a final layer norm and an untied output head. Input ``[B, T]`` token ids, output
    ``[B, T, vocab]`` logits."""

    def __init__(self, vocab: int = 32, d_model: int = 32, n_heads: int = 4, context: int = 16,
                 n_layers: int = 1, *, seed: int = 0):
        super().__init__()
        self.context = context
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(context, d_model)
            self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads)
                                        for _ in range(n_layers))
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[-1]
        if t > self.context:
            raise ValueError(f"sequence of {t} tokens is longer than the context ({self.context})")
        x = self.tok(tokens) + self.pos(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _freeze(module: nn.Module, frozen) -> None:
    """Mark the named parameters of `module` frozen (``requires_grad=False``)."""
    params = dict(module.named_parameters())
    for name in frozen:
        if name not in params:
            raise ValueError(f"`frozen` names `{name}`, which is not a parameter of the model "
                             f"(it has {sorted(params)})")
        params[name].requires_grad_(False)


class SmallMLP(nn.Module):
    """``d_in -> d_hidden (tanh or relu) -> d_out``, one hidden layer.

    `spare > 0` adds a head ``d_out -> spare`` that `forward` never uses (like an unused
    pooler: its parameters get no gradient); `frozen` names parameters to freeze
    (``requires_grad=False``). Everything is in the constructor's arguments, so a model
    built with `course.wire.build` can be sent to another process and rebuilt there.
    """

    def __init__(self, d_in: int = 4, d_hidden: int = 8, d_out: int = 1,
                 activation: str = "tanh", *, spare: int = 0, frozen=(), seed: int = 0):
        super().__init__()
        acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
        if activation not in acts:
            raise ValueError(f"`activation` must be one of {sorted(acts)}, got {activation!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(nn.Linear(d_in, d_hidden), acts[activation](),
                                     nn.Linear(d_hidden, d_out))
            if spare:
                self.spare = nn.Linear(d_out, spare)
        _freeze(self, frozen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TokenClassifier(nn.Module):
    """Embedding -> LayerNorm -> mean over positions -> Linear: a tiny sequence classifier
    (input ``[B, T]`` token ids, output ``[B, classes]`` logits). `spare` and `frozen` as
    in `SmallMLP`."""

    def __init__(self, vocab: int = 11, d: int = 4, classes: int = 3, *, spare: int = 0,
                 frozen=(), seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.emb = nn.Embedding(vocab, d)
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, classes)
            if spare:
                self.spare = nn.Linear(classes, spare)
        _freeze(self, frozen)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.emb(idx)).mean(dim=1))


# -- batches ----------------------------------------------------------------------------

def outlier_regression_batch(batch: int = 32, d_in: int = 8, *, outlier_scale: float = 30.0,
                             outlier_index: int = 0, seed: int = 0
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """A regression batch ``(x [batch, d_in], y [batch, 1])`` from a smooth teacher,
    ``y = sin(x @ w)``, in which example `outlier_index` is an outlier: its input is
    `outlier_scale` times larger and its target is ``-10 * y - 5`` (wrong sign, far off).
    `clean_regression_batch` with the same arguments is the batch without the outlier."""
    x, y = clean_regression_batch(batch, d_in, seed=seed)
    if not 0 <= outlier_index < batch:
        raise ValueError(f"`outlier_index` must be in [0, {batch}), got {outlier_index}")
    x[outlier_index] *= outlier_scale
    y[outlier_index] = -10.0 * y[outlier_index] - 5.0
    return x, y


def clean_regression_batch(batch: int = 32, d_in: int = 8, *, seed: int = 0
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same teacher as `outlier_regression_batch`, every example ordinary."""
    gen = _seeded(seed)
    w = torch.randn(d_in, 1, generator=gen) / d_in ** 0.5
    x = torch.randn(batch, d_in, generator=gen)
    return x, torch.sin(2.0 * x @ w)


def token_batch(batch: int = 8, context: int = 16, vocab: int = 32, *, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` of shape ``[batch, context]``: random token sequences and the
    same sequences shifted by one (next-token prediction)."""
    tokens = torch.randint(0, vocab, (batch, context + 1), generator=_seeded(seed))
    return tokens[:, :-1], tokens[:, 1:]


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``[B, T, V]`` logits against ``[B, T]`` targets."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# -- gradients --------------------------------------------------------------------------

def loss_gradients(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor | None]:
    """Gradients of ``loss_fn(model(x), y)`` for every parameter, in ``model.parameters()``
    order (`None` for a parameter the loss does not reach). Copies: the model's own
    ``p.grad`` are left as they were found."""
    params = list(model.parameters())
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    try:
        loss_fn(model(x), y).backward()
        return [None if p.grad is None else p.grad.detach().clone() for p in params]
    finally:
        for p, g in zip(params, saved):
            p.grad = g


def parameter_names(model: nn.Module) -> list[str]:
    """Names in ``model.parameters()`` order, e.g. ``layers.0.weight``."""
    return [name for name, _ in model.named_parameters()]


def set_gradients(model: nn.Module, grads: list[torch.Tensor | None]) -> None:
    """Put copies of `grads` into the model's ``p.grad`` (in ``parameters()`` order)."""
    params = list(model.parameters())
    if len(params) != len(grads):
        raise ValueError(f"the model has {len(params)} parameters but {len(grads)} gradients "
                         "were given")
    for p, g in zip(params, grads):
        if g is not None and g.shape != p.shape:
            raise ValueError(f"gradient of shape {tuple(g.shape)} for a parameter of shape "
                             f"{tuple(p.shape)}")
        p.grad = None if g is None else g.detach().clone().to(p.dtype)

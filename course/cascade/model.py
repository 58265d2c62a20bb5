"""A small GPT-style byte-level language model (pre-norm transformer, learned positions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 256  # bytes


@dataclass(frozen=True)
class GPTConfig:
    """Model shape: `d_model` must be divisible by `n_heads`."""

    n_layers: int
    d_model: int
    n_heads: int
    context: int = 64

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"`d_model` ({self.d_model}) must be divisible by "
                             f"`n_heads` ({self.n_heads})")

    def to_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "small": GPTConfig(n_layers=4, d_model=64, n_heads=4),    # ~0.23M parameters
    "large": GPTConfig(n_layers=6, d_model=192, n_heads=6),   # ~2.8M parameters
}


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.n_heads = cfg.n_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        shape = (b, t, self.n_heads, d // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Byte-level GPT: `forward(idx)` gives logits of shape `[B, T, 256]`."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(VOCAB, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, VOCAB, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.cfg.context:
            raise ValueError(f"`idx` has {t} positions; the model's context is {self.cfg.context}")
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-byte cross-entropy in nats."""
        logits = self(idx)
        return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def generate(model: TinyGPT, prompt: bytes, n_new: int, *, temperature: float,
             generator: torch.Generator) -> bytes:
    """`n_new` bytes after `prompt`; `temperature == 0` means greedy."""
    if temperature < 0:
        raise ValueError(f"`temperature` must be >= 0, got {temperature}")
    was_training = model.training
    model.eval()
    idx = torch.tensor([list(prompt)], dtype=torch.long)
    for _ in range(n_new):
        logits = model(idx[:, -model.cfg.context:])[0, -1]
        if temperature == 0:
            nxt = int(torch.argmax(logits))
        else:
            probs = torch.softmax(logits.double() / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=generator))
        idx = torch.cat([idx, torch.tensor([[nxt]])], dim=1)
    model.train(was_training)
    return bytes(idx[0, len(prompt):].tolist())

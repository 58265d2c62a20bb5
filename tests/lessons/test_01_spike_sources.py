"""Variants for lesson 01_spike_sources: correct solutions pass, plausible mistakes fail
with a message that tells the learner what went wrong."""

from __future__ import annotations

from tests.lessons.harness import make_variant_tests

# --------------------------------------------------------------------------------------
# per_example_grad_norms
# --------------------------------------------------------------------------------------

PEG_BACKWARD_RESTORE = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = list(model.parameters())
    saved = [p.grad for p in params]
    out = []
    try:
        for i in range(xs.shape[0]):
            for p in params:
                p.grad = None
            loss_fn(model(xs[i:i + 1]), ys[i:i + 1]).backward()
            total = 0.0
            for p in params:
                if p.requires_grad and p.grad is not None:
                    total += float((p.grad.double() ** 2).sum())
            out.append(total ** 0.5)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    return torch.tensor(out)
'''

PEG_TORCH_FUNC = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    from torch.func import functional_call, grad, vmap
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def one_loss(params, x, y):
        out = functional_call(model, (params, frozen, buffers), (x.unsqueeze(0),))
        return loss_fn(out, y.unsqueeze(0))

    grads = vmap(grad(one_loss), in_dims=(None, 0, 0))(trainable, xs, ys)
    squares = sum(g.reshape(len(xs), -1).pow(2).sum(dim=1) for g in grads.values())
    return squares.sqrt()
'''

PEG_VECTOR_NORM = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for x, y in zip(xs.split(1), ys.split(1)):
        grads = torch.autograd.grad(loss_fn(model(x), y), params, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten()
                          for p, g in zip(params, grads)])
        rows.append(torch.linalg.vector_norm(flat))
    return torch.stack(rows)
'''

PEG_BATCH = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(model(xs), ys), params, allow_unused=True)
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None))
    return norm.detach().repeat(len(xs))
'''

PEG_ACCUMULATE = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None
    out = []
    for i in range(len(xs)):
        loss_fn(model(xs[i:i + 1]), ys[i:i + 1]).backward()   # never zeroed in between
        out.append(torch.sqrt(sum(p.grad.pow(2).sum() for p in params if p.grad is not None)))
    for p, g in zip(params, saved):
        p.grad = g
    return torch.stack(out)
'''

PEG_PER_TENSOR_MAX = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    for i in range(len(xs)):
        grads = torch.autograd.grad(loss_fn(model(xs[i:i + 1]), ys[i:i + 1]), params,
                                    allow_unused=True)
        out.append(max(g.norm() for g in grads if g is not None))
    return torch.stack(out)
'''

PEG_ZERO_GRAD_AFTER = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    out = []
    for i in range(len(xs)):
        model.zero_grad()
        loss_fn(model(xs[i:i + 1]), ys[i:i + 1]).backward()
        out.append(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()
                                  if p.grad is not None)))
    model.zero_grad()
    return torch.stack(out)
'''

PEG_INCLUDES_FROZEN = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    from torch.func import functional_call, grad, vmap
    params = {n: p.detach() for n, p in model.named_parameters()}   # frozen ones too

    def one_loss(params, x, y):
        return loss_fn(functional_call(model, params, (x.unsqueeze(0),)), y.unsqueeze(0))

    grads = vmap(grad(one_loss), in_dims=(None, 0, 0))(params, xs, ys)
    return sum(g.reshape(len(xs), -1).pow(2).sum(dim=1) for g in grads.values()).sqrt()
'''

PEG_SUM_OF_NORMS = '''
def per_example_grad_norms(model, loss_fn, xs, ys):
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    for i in range(len(xs)):
        grads = torch.autograd.grad(loss_fn(model(xs[i:i + 1]), ys[i:i + 1]), params,
                                    allow_unused=True)
        out.append(sum(g.norm() for g in grads if g is not None))
    return torch.stack(out)
'''

# --------------------------------------------------------------------------------------
# smallest_overflowing_logit
# --------------------------------------------------------------------------------------

SOL_NEXT = '''
with np.errstate(over="ignore"):
    smallest_overflowing_logit = next(x for x in range(1000)
                                      if np.isinf(np.exp(np.float16(x))))
'''

SOL_LOG = '''
smallest_overflowing_logit = int(math.floor(math.log(float(np.finfo(np.float16).max)))) + 1
'''

# --------------------------------------------------------------------------------------
# stable_softmax_fp16
# --------------------------------------------------------------------------------------

SSM_FLOAT16_ONLY = '''
def stable_softmax_fp16(logits):
    m = logits.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        e = np.exp(logits - m)
    return e / e.sum(axis=-1, keepdims=True)
'''

SSM_LOGSUMEXP = '''
def stable_softmax_fp16(logits):
    x = logits.astype(np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
    return np.exp(x - lse).astype(np.float16)
'''

SSM_TORCH = '''
def stable_softmax_fp16(logits):
    return torch.softmax(torch.from_numpy(logits).float(), dim=-1).numpy().astype(np.float16)
'''

SSM_NAIVE = '''
def stable_softmax_fp16(logits):
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)
'''

SSM_GLOBAL_MAX = '''
def stable_softmax_fp16(logits):
    x = logits.astype(np.float32)
    e = np.exp(x - x.max())
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float16)
'''

SSM_WRONG_AXIS = '''
def stable_softmax_fp16(logits):
    x = logits.astype(np.float32)
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return (e / e.sum(axis=0, keepdims=True)).astype(np.float16)
'''

SSM_FLOAT32_OUT = '''
def stable_softmax_fp16(logits):
    x = logits.astype(np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
'''

SSM_NO_KEEPDIMS = '''
def stable_softmax_fp16(logits):
    x = logits.astype(np.float32)
    e = np.exp(x - x.max(axis=-1))
    return (e / e.sum(axis=-1)).astype(np.float16)
'''

# --------------------------------------------------------------------------------------
# spike_steps
# --------------------------------------------------------------------------------------

SPK_STATISTICS = '''
import statistics

def spike_steps(grad_norms, window=20, factor=5.0):
    norms = [float(v) for v in grad_norms]
    found = []
    for i in range(1, len(norms)):
        history = norms[max(0, i - window):i]
        if norms[i] > factor * statistics.median(history):
            found.append(i)
    return found
'''

SPK_RATIO = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.array(grad_norms, dtype=np.float64)
    out = []
    for i in range(1, g.size):
        trailing = np.sort(g[max(0, i - window):i])
        k = trailing.size
        median = trailing[k // 2] if k % 2 else (trailing[k // 2 - 1] + trailing[k // 2]) / 2
        if g[i] > factor * median:
            out.append(int(i))
    return out
'''

SPK_INCLUDES_I = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(g)) if g[i] > factor * np.median(g[max(0, i - window + 1):i + 1])]
'''

SPK_MEAN = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(g)) if g[i] > factor * np.mean(g[max(0, i - window):i])]
'''

SPK_WINDOW_PLUS_ONE = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(g)) if g[i] > factor * np.median(g[max(0, i - window - 1):i])]
'''

SPK_GREATER_EQUAL = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.asarray(grad_norms, dtype=np.float64)
    return [i for i in range(1, len(g)) if g[i] >= factor * np.median(g[max(0, i - window):i])]
'''

SPK_TORCH_MEDIAN = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = torch.as_tensor(np.asarray(grad_norms, dtype=np.float64))
    return [i for i in range(1, len(g)) if g[i] > factor * torch.median(g[max(0, i - window):i])]
'''

SPK_RETURNS_ARRAY = '''
def spike_steps(grad_norms, window=20, factor=5.0):
    g = np.asarray(grad_norms, dtype=np.float64)
    return np.array([i for i in range(1, len(g))
                     if g[i] > factor * np.median(g[max(0, i - window):i])], dtype=int)
'''

CORRECT = {
    "per_example_grad_norms": [PEG_BACKWARD_RESTORE, PEG_TORCH_FUNC, PEG_VECTOR_NORM],
    "smallest_overflowing_logit": [SOL_NEXT, SOL_LOG],
    "stable_softmax_fp16": [SSM_FLOAT16_ONLY, SSM_LOGSUMEXP, SSM_TORCH],
    "spike_steps": [SPK_STATISTICS, SPK_RATIO],
}

MISTAKES = {
    "per_example_grad_norms": [
        (PEG_BATCH, "whole batch"),
        (PEG_ACCUMULATE, "accumulate"),
        (PEG_PER_TENSOR_MAX, "largest per-tensor norm"),
        (PEG_ZERO_GRAD_AFTER, "as you found it"),
        (PEG_INCLUDES_FROZEN, "frozen"),
        (PEG_SUM_OF_NORMS, "2 |r_i| sqrt(||x_i||^2 + 1)"),
    ],
    "smallest_overflowing_logit": [
        ("smallest_overflowing_logit = 11", "largest logit whose exp still fits"),
        ("smallest_overflowing_logit = 89", "float32"),
        ("smallest_overflowing_logit = math.log(65504)", "should be a int"),
        ("smallest_overflowing_logit = 65504", "np.exp(np.float16(65504)) = inf"),
    ],
    "stable_softmax_fp16": [
        (SSM_NAIVE, "exp overflowed"),
        (SSM_GLOBAL_MAX, "each row's"),
        (SSM_WRONG_AXIS, "last axis"),
        (SSM_FLOAT32_OUT, "should return float16"),
        (SSM_NO_KEEPDIMS, "broadcast"),
    ],
    "spike_steps": [
        (SPK_INCLUDES_I, "excludes step 1 itself"),
        (SPK_MEAN, "not the mean"),
        (SPK_WINDOW_PLUS_ONE, "off by one"),
        (SPK_GREATER_EQUAL, "use >"),
        (SPK_TORCH_MEDIAN, "mean of the two middle"),
        (SPK_RETURNS_ARRAY, "should be a list"),
    ],
}

TestVariants = make_variant_tests("01_spike_sources", CORRECT, MISTAKES)

"""Hidden tests of lesson 07 (beyond the global norm), run outside the learner's kernel.

Each test compares the learner's function with the reference on fresh random inputs and
the edge cases the lesson shows; when an answer is wrong it is also compared with the
plausible mistakes below (computed here, grader-side) so the message can name the one
that matches.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import checks
from ..reference import beyond_global_norm as ref
from ..verdict import LearnerError, hidden_test


def _matches(got, want, rtol=1e-5, atol=1e-8) -> bool:
    try:
        a = checks.as_float64(got, name="value")
        b = checks.as_float64(want, name="value")
    except AssertionError:
        return False
    return a.shape == b.shape and bool(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True).all())


def _diagnose(got, mistakes) -> str:
    """The explanation of the first mistake model whose output equals `got`, or ''."""
    for model, why in mistakes:
        try:
            if _matches(got, model()):
                return why
        except Exception:  # noqa: BLE001 - a mistake model that does not apply here
            continue
    return ""


# -- AutoClip ---------------------------------------------------------------------------------

def _autoclip_mistakes(history, current, p):
    data = sorted(list(history) + [current])
    return [
        (lambda: np.percentile(list(history), p) if history else math.nan,
         "The current norm is left out: AutoClip appends it to the history *first*, then "
         "takes the percentile (on the first step the history is empty)."),
        (lambda: np.percentile(list(history) + [current], p / 100.0),
         "`percentile` is in 0-100 (np.percentile's convention), not a fraction."),
        (lambda: np.percentile(list(history) + [current], p * 100.0) if p <= 1 else math.nan,
         "`percentile` is in 0-100: pass it to np.percentile as it is."),
        (lambda: data[max(0, math.ceil(p / 100.0 * len(data)) - 1)],
         "That is a nearest-rank percentile; AutoClip uses np.percentile's default linear "
         "interpolation between neighbouring values."),
        (lambda: np.percentile(list(history) + [current], p, method="nearest"),
         "That is a nearest-value percentile; use np.percentile's default (linear) method."),
    ]


@hidden_test("test_autoclip_threshold_hidden")
def autoclip_threshold(learner, rng):
    f = learner.function("autoclip_threshold")

    def check(history, current, p, label=""):
        want = ref.autoclip_threshold(history, current, p)
        before = list(history)
        name = f"autoclip_threshold({checks.describe(history)}, {current!r}, {p!r}){label}"
        got = checks.call(f, history, current, p, name=name)
        if list(history) != before and not (len(history) == len(before) and all(
                (a == b) or (a != a and b != b) for a, b in zip(history, before))):
            raise AssertionError(f"`{name}` changed the caller's `history` (it now has "
                                 f"{len(history)} entries): append to a copy, not to the list "
                                 "you were given.")
        value = checks.assert_scalar(got, name=name)
        if not _matches(value, want):
            why = _diagnose(value, _autoclip_mistakes(history, current, p))
            checks.assert_close(value, want, name=name, hint=why)

    check([], 3.5, 10.0, " (the first step)")
    check([], 0.25, 90.0, " (the first step)")
    for _ in range(30):
        n = int(rng.integers(1, 60))
        history = list(np.exp(rng.normal(0, 0.5, n)) * 10 ** rng.uniform(-2, 2))
        current = float(history[-1] * np.exp(rng.normal(0, 1.5))) if history else 1.0
        p = float(rng.choice([5.0, 10.0, 25.0, 50.0, 90.0, float(rng.uniform(1, 99))]))
        check(history, current, p)
    check((1.0, 2.0, 3.0), 10.0, 50.0, " (a tuple)")
    check([1.0, 2.0, 3.0, 4.0], 100.0, 10.0)
    # a spike as the current norm: it joins the history but barely moves a low percentile
    hist = [1.0 + 0.01 * i for i in range(20)]
    check(hist, math.inf, 50.0, " (an inf norm)")
    check(hist, 1e6, 10.0, " (a spike)")
    # a NaN norm in the history: np.percentile (and so AutoClip) returns NaN from then on
    check([1.0, float("nan"), 2.0], 1.5, 10.0, " (a NaN in the history: np.percentile gives NaN)")
    check([1.0, 2.0], float("nan"), 50.0, " (a NaN norm: np.percentile gives NaN)")


# -- ZClip ------------------------------------------------------------------------------------

def _zclip_variant(norms, alpha, z_thresh, warmup_steps, *, raw_ema=False, old_mean=False,
                   warmup_shift=0, to_mean=False, ddof=0, no_warmup=False, z_sq=True):
    out, buffer = [], []
    mean = var = 0.0
    init = False
    warm = max(1, warmup_steps + warmup_shift)
    for g in map(float, norms):
        if not init and not no_warmup:
            buffer.append(g)
            if len(buffer) >= warm:
                mean = sum(buffer) / len(buffer)
                d = len(buffer) - ddof
                var = sum((x - mean) ** 2 for x in buffer) / d if d > 0 else 0.0
                init = True
            out.append(g)
            continue
        if no_warmup and not init:
            mean, var, init = g, 0.0, True
            out.append(g)
            continue
        std = var ** 0.5
        z = (g - mean) / (std + 1e-6)
        eff = g
        if z > z_thresh:
            eff = mean if to_mean else (mean + z_thresh ** 2 * std / z if z_sq
                                        else mean + z_thresh * std)
        out.append(eff)
        upd = g if raw_ema else eff
        new_mean = alpha * mean + (1 - alpha) * upd
        var = alpha * var + (1 - alpha) * (upd - (mean if old_mean else new_mean)) ** 2
        mean = new_mean
    return np.asarray(out)


ZCLIP_MISTAKES = [
    (dict(raw_ema=True), "The EMAs were updated with the raw spike: on a clipped step ZClip "
                         "updates its mean and variance with the *clipped* norm (its threshold)."),
    (dict(old_mean=True), "The variance EMA used the old mean: ZClip updates the mean first and "
                          "measures the deviation from the *new* mean."),
    (dict(warmup_shift=1), "Warm-up off by one: the first `warmup_steps` norms (not one more) "
                           "pass unclipped and initialise the statistics."),
    (dict(warmup_shift=-1), "Warm-up off by one: the first `warmup_steps` norms (not one fewer) "
                            "pass unclipped and initialise the statistics."),
    (dict(to_mean=True), "A spike was clipped to the mean: with adaptive scaling the threshold is "
                         "mu + z_thresh**2 * sigma / z."),
    (dict(ddof=1), "The warm-up variance is ZClip's *population* variance (divide by n, not n-1)."),
    (dict(z_sq=False), "A spike was clipped to mu + z_thresh * sigma: adaptive scaling divides "
                       "that excess by z / z_thresh, giving mu + z_thresh**2 * sigma / z."),
]


def _norm_sequence(rng, n):
    base = float(10 ** rng.uniform(-2, 1))
    trend = np.linspace(1.0, float(rng.uniform(0.3, 1.5)), n)
    norms = base * trend * np.exp(rng.normal(0, float(rng.uniform(0.05, 0.4)), n))
    for i in rng.choice(n, size=max(1, n // 15), replace=False):
        norms[i] *= float(rng.uniform(3, 200))
    if rng.random() < 0.5 and n > 10:  # a run of spikes
        i = int(rng.integers(0, n - 3))
        norms[i:i + 3] *= float(rng.uniform(5, 50))
    return [float(x) for x in norms]


@hidden_test("test_zclip_clipped_norms_hidden")
def zclip_clipped_norms(learner, rng):
    f = learner.function("zclip_clipped_norms")

    def check(norms, label="", **kw):
        want = ref.zclip_clipped_norms(norms, **kw)
        args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        name = f"zclip_clipped_norms({len(norms)} norms{', ' + args if args else ''}){label}"
        before = checks.snapshot(norms)
        got = checks.call(lambda: f(norms, **kw), name=name)
        checks.assert_unchanged(before, norms, name=f"the norms given to {name}")
        if not isinstance(got, np.ndarray):
            raise AssertionError(f"`{name}` should return a numpy array, got "
                                 f"{type(got).__name__}")
        if got.shape != want.shape:
            raise AssertionError(f"`{name}` returned shape {got.shape}: one norm per step, "
                                 f"{want.shape[0]} in all.")
        if not _matches(got, want):
            full = dict(alpha=0.97, z_thresh=2.5, warmup_steps=25)
            full.update(kw)
            why = _diagnose(got, [(lambda v=v: _zclip_variant(norms, **full, **v), why)
                                  for v, why in ZCLIP_MISTAKES])
            bad = int(np.argmax(~np.isclose(got, want, rtol=1e-5, atol=1e-8, equal_nan=True)))
            checks.assert_close(got, want, name=name,
                                hint=(why or f"(first difference at step {bad}; the raw norm "
                                      f"there was {norms[bad]:.6g})"))

    for _ in range(12):
        n = int(rng.integers(40, 160))
        kw = {}
        if rng.random() < 0.6:
            kw = dict(alpha=float(rng.uniform(0.8, 0.99)), z_thresh=float(rng.uniform(1.5, 3.5)),
                      warmup_steps=int(rng.integers(1, 30)))
        check(_norm_sequence(rng, n), **kw)
    check(_norm_sequence(rng, 100))                                   # the defaults
    check(tuple(_norm_sequence(rng, 50)), " (a tuple)", warmup_steps=10)
    check(np.asarray(_norm_sequence(rng, 50)), " (an array)", warmup_steps=5)
    check([1.0, 2.0, 3.0], " (shorter than the warm-up)")
    check([], " (no steps)")
    check([1.0, 1.0, 1.0, 5.0, 1.0], " (sigma = 0 after warm-up)", warmup_steps=3)
    spiky = [1.0, 1.2, 0.9, 1.1, 1.0, 30.0, 25.0, 1.0, 1.1, 0.95]
    check(spiky, " (warmup_steps=1)", warmup_steps=1)
    check(spiky, " (two spikes)", warmup_steps=5, alpha=0.9)
    check(spiky[:5] + [math.inf] + spiky[6:], " (an inf norm after warm-up: clipped to mu)",
          warmup_steps=5)
    check(spiky[:5] + [math.nan] + spiky[6:], " (a NaN norm after warm-up poisons the EMAs)",
          warmup_steps=5)


# -- AGC --------------------------------------------------------------------------------------

def _agc_params(rng, *, zero_weight=False):
    """Parameters of mixed shapes whose units sit on both sides of the clipping ratio."""
    shapes = [(int(rng.integers(2, 7)), int(rng.integers(2, 9))),   # Linear weight (out, in)
              (int(rng.integers(2, 7)),),                             # bias
              (int(rng.integers(2, 5)), int(rng.integers(1, 4)), 3, 3),  # conv weight
              (),                                                      # a scalar gain
              (int(rng.integers(2, 6)), 1)]                            # Linear(1 -> n)
    rng.shuffle(shapes)
    specs = []
    for shape in shapes[: int(rng.integers(3, 6))]:
        w = rng.standard_normal(shape) * float(10 ** rng.uniform(-1, 1))
        if zero_weight or rng.random() < 0.15:
            w = np.zeros(shape)
        units = shape[0] if len(shape) > 1 else 1
        # per-unit gradient scale: ratios from 0.1x to 10x the clipping ratio
        scale = np.exp(rng.uniform(np.log(0.1), np.log(10), units)).reshape(
            (units,) + (1,) * (len(shape) - 1)) if len(shape) > 1 else float(
            np.exp(rng.uniform(np.log(0.1), np.log(10))))
        g = rng.standard_normal(shape)
        g = g / max(np.sqrt((g ** 2).sum()), 1e-12) * scale * max(
            float(np.sqrt((w ** 2).sum())), 1e-3) * 0.01 * (3 if len(shape) > 1 else 1)
        specs.append((w, None if rng.random() < 0.1 else g))
    return specs


def _agc_setup(specs, clipping, eps, container, dtype):
    def setup():
        params = []
        for w, g in specs:
            p = torch.nn.Parameter(torch.as_tensor(w, dtype=dtype).clone())
            p.grad = None if g is None else torch.as_tensor(g, dtype=dtype).clone()
            params.append(p)
        grads = [p.grad for p in params]
        weights = [p.detach().clone() for p in params]

        def observe(returned):
            for i, (p, before, w0) in enumerate(zip(params, grads, weights)):
                if before is not None and p.grad is not None and p.grad is not before:
                    raise AssertionError(f"`agc_` replaced `p.grad` of parameter {i} by a new "
                                         "tensor: clip it in place (`p.grad.mul_(...)` or "
                                         "`p.grad.copy_(...)`).")
                if not torch.equal(p.detach(), w0):
                    raise AssertionError(f"`agc_` changed the weights of parameter {i}: it "
                                         "clips gradients only.")
            if returned is not None:
                raise AssertionError(f"`agc_` should return None (it works in place), got "
                                     f"{checks.describe(returned)}")
            return {f"p.grad of parameter {i} (shape {tuple(p.shape)})": p.grad
                    for i, p in enumerate(params)}

        kwargs_args = (container(params), clipping, eps)
        return kwargs_args, observe
    return setup


def _agc_mistake(specs, clipping, eps, kind, dtype):
    out = []
    for w, g in specs:
        if g is None:
            out.append(None)
            continue
        wt, gt = torch.as_tensor(w, dtype=torch.float64), torch.as_tensor(g, dtype=torch.float64)
        if kind == "whole" or wt.ndim <= 1:
            dims = None
        elif kind == "jax":
            dims = tuple(range(0, wt.ndim - 1))
        else:
            dims = tuple(range(1, wt.ndim))
        if kind == "per_entry" and wt.ndim <= 1:
            wn, gn = wt.abs(), gt.abs()
        elif dims is None:
            wn, gn = wt.norm(), gt.norm()
        else:
            wn = torch.linalg.vector_norm(wt, dim=dims, keepdim=True)
            gn = torch.linalg.vector_norm(gt, dim=dims, keepdim=True)
        mx = (wn if kind == "no_eps" else wn.clamp(min=eps)) * clipping
        new = torch.where(gn > mx, gt * (mx / gn.clamp(min=1e-6)), gt)
        out.append(new.to(dtype))
    return out


AGC_MISTAKES = [
    ("whole", "A weight's units are its slices along the first axis (one per output unit on "
              "PyTorch's (out, in, ...) layout): the whole-tensor norm clips every unit alike."),
    ("jax", "The norm was taken over the first axis: that is the output-unit axis of JAX's "
            "(in, out) layout. On PyTorch's (out, in, ...) layout reduce over every axis but "
            "the first."),
    ("no_eps", "Without `eps` a zero-initialised parameter has max_norm 0, so its gradient is "
               "clipped to zero and it never moves: use max(||w_i||, eps)."),
    ("per_entry", "A bias (a tensor with at most one dimension) is one unit: use its whole "
                  "norm, not each entry on its own."),
]


@hidden_test("test_agc__hidden")
def agc_(learner, rng):
    f = learner.function("agc_")
    rules = [ref.agc_, ref.agc_timm_rule_]
    containers = {"a list": list, "a generator": lambda ps: (p for p in ps)}

    def check(specs, clipping, eps, kind, dtype, label=""):
        name = (f"agc_({kind} of {len(specs)} parameters, clipping={clipping:.3g}, "
                f"eps={eps:.3g}){label}")
        try:
            checks.same_in_place(f, rules, _agc_setup(specs, clipping, eps, containers[kind],
                                                      dtype), name=name)
        except AssertionError as exc:
            args, observe = _agc_setup(specs, clipping, eps, list, dtype)()
            try:
                f(*args)
                got = [p.grad for p in args[0]]
            except Exception:  # noqa: BLE001 - the first failure is what we report
                raise exc from None
            whys = [why for mistake, why in AGC_MISTAKES
                    if all((a is None) == (b is None) and (a is None or _matches(a, b))
                           for a, b in zip(got, _agc_mistake(specs, clipping, eps, mistake,
                                                             dtype)))]
            if whys:
                raise AssertionError(f"{exc} " + " Or: ".join(whys)) from None
            raise

    for _ in range(15):
        dtype = torch.float32 if rng.random() < 0.7 else torch.float64
        clipping = float(rng.choice([0.01, 0.02, 0.05, float(10 ** rng.uniform(-2.5, -1))]))
        check(_agc_params(rng), clipping, 1e-3, str(rng.choice(list(containers))), dtype)
    check(_agc_params(rng, zero_weight=True), 0.01, 1e-3, "a list", torch.float32,
          " (zero-initialised weights)")
    check(_agc_params(rng), 0.04, 0.5, "a list", torch.float64, " (a large eps)")
    check([], 0.01, 1e-3, "a list", torch.float32)
    # a unit with a NaN gradient: NFNets keeps the unit (NaN stays NaN), timm makes it all NaN
    w = np.ones((2, 3))
    g = np.array([[np.nan, 1.0, 1.0], [0.001, 0.002, 0.0]])
    check([(w, g)], 0.01, 1e-3, "a list", torch.float32, " (a NaN gradient)")
    g = np.array([[np.inf, 1.0, 1.0], [0.001, 0.002, 0.0]])
    check([(w, g)], 0.01, 1e-3, "a list", torch.float32, " (an inf gradient)")


# -- dual norms -------------------------------------------------------------------------------

def _dual_mistakes(g, kind):
    x = g.detach().double()
    m = x.reshape(x.shape[0], -1) if x.ndim > 2 else x
    return [
        (lambda: float(torch.linalg.matrix_norm(m, ord=2)),
         "That is the spectral norm (the largest singular value); the dual of the spectral "
         "norm is the nuclear norm, the *sum* of the singular values."),
        (lambda: float(x.abs().max()),
         "That is the l-infinity norm (the largest entry); the dual of the max-norm is the "
         "l1 norm, the sum of the absolute values."),
        (lambda: float(x.pow(2).sum()), "That is the squared Frobenius norm: take its square root."),
        (lambda: float(x.abs().mean()), "That is a mean; the l1 norm sums the absolute values."),
        (lambda: float(x.pow(2).mean().sqrt()),
         "That is the root-mean-square; the Frobenius norm sums the squares (no division)."),
        (lambda: float(torch.linalg.svdvals(m).mean()),
         "That is the mean singular value; the nuclear norm is their sum."),
        (lambda: float(x.pow(2).sum().sqrt()) if kind != "euclidean" else math.nan,
         "That is the Frobenius norm: each kind has its own dual norm."),
    ]


@hidden_test("test_dual_norm_hidden")
def dual_norm(learner, rng):
    f = learner.function("dual_norm")

    def check(g, kind, label=""):
        want = ref.dual_norm(g, kind)
        name = f"dual_norm(tensor{tuple(g.shape)}, {kind!r}){label}"
        before = g.clone()
        got = checks.call(f, g, kind, name=name)
        if not torch.equal(before, g) and not torch.isnan(g).any():
            raise AssertionError(f"`{name}` changed its input tensor: leave it as it was.")
        value = checks.assert_scalar(got, name=name)
        if not isinstance(got, float):
            raise AssertionError(f"`{name}` should return a Python float (use float(...)), got "
                                 f"{type(got).__name__}")
        if not _matches(value, want):
            checks.assert_close(value, want, name=name, hint=_diagnose(value, _dual_mistakes(g, kind)))

    for kind in ref.DUAL_NORM_KINDS:
        for _ in range(8):
            shape = (int(rng.integers(2, 9)), int(rng.integers(2, 9)))
            dtype = torch.float32 if rng.random() < 0.6 else torch.float64
            scale = float(10 ** rng.uniform(-2, 2))
            check(torch.as_tensor(rng.standard_normal(shape) * scale, dtype=dtype), kind)
        conv = torch.as_tensor(rng.standard_normal((4, 3, 3, 3)), dtype=torch.float32)
        check(conv, kind, " (a conv weight: reshape to (shape[0], -1))")
        check(torch.zeros(3, 4), kind, " (a zero gradient)")
        check(torch.ones(5, 1) * 2.0, kind, " (a column)")
    low_rank = torch.outer(torch.arange(1.0, 6.0), torch.ones(4))  # rank 1
    check(low_rank, "spectral", " (rank 1: nuclear = spectral = Frobenius)")
    check(torch.diag(torch.tensor([3.0, 4.0, 0.0])), "spectral")
    check(torch.tensor([[1.0, -2.0], [3.0, -4.0]]), "sign")


# -- the sharded clip -------------------------------------------------------------------------

SCENARIO = "course.distributed.run_sharded"
TIMEOUT = 30.0


def _random_shards(rng, world):
    grads = [torch.as_tensor(rng.standard_normal(checks.random_shape(rng, 2, 6) or (3,)) *
                             float(10 ** rng.uniform(-1, 1)), dtype=torch.float32)
             for _ in range(int(rng.integers(1, 5)))]
    flat = torch.cat([g.reshape(-1) for g in grads])
    cuts = sorted(int(c) for c in rng.integers(0, flat.numel() + 1, size=world - 1))
    pieces = torch.tensor_split(flat, cuts)
    shards = []
    for piece in pieces:
        # a rank's piece, as one to three tensors (possibly none)
        k = int(rng.integers(0, 3)) if piece.numel() else 0
        parts = torch.tensor_split(piece, k + 1) if piece.numel() else []
        shards.append([p.clone() for p in parts if rng.random() < 0.9 or p.numel() == 0])
    return shards


def _run(learner, shards, max_norm, groups=None):
    kwargs = {"timeout": TIMEOUT}
    if groups is not None:
        kwargs["groups"] = groups
    try:
        return learner.scenario(SCENARIO, "sharded_clip_grad_norm_", shards, max_norm, **kwargs)
    except LearnerError as exc:
        if exc.type_name == "DistributedRunError":
            raise AssertionError(f"`sharded_clip_grad_norm_` in {len(shards)} processes: "
                                 f"{exc.message}") from None
        raise AssertionError(f"running `sharded_clip_grad_norm_` in {len(shards)} processes "
                             f"failed: {exc}") from None


def _check_sharded(learner, shards, max_norm, groups=None, label=""):
    world = len(shards)
    name = (f"sharded_clip_grad_norm_ on {world} ranks (shard sizes "
            f"{[sum(g.numel() for g in s) for s in shards]}), max_norm={max_norm:.4g}{label}")
    obs = _run(learner, shards, max_norm, groups)
    empties = [r for r in range(world) if not any(g.numel() for g in shards[r])]
    for rank, raised in enumerate(obs["raised"]):
        if raised:
            quiet = [r for r in empties if not obs["raised"][r]]
            if rank in empties:
                tip = (f" Rank {rank} holds an empty shard: its sum of squares is 0, and it must "
                       "still join the all_reduce.")
            elif quiet:
                tip = (f" Rank {quiet[0]} holds an empty shard and finished without joining the "
                       "all_reduce, so the other ranks lost their partner: every rank must join "
                       "every collective, even with nothing to add.")
            else:
                tip = ""
            raise AssertionError(f"{name}: rank {rank} raised {raised}.{tip}")
    expected = [ref.expected_sharded(shards, max_norm, groups),
                ref.expected_sharded(shards, max_norm, groups, torch_rule=True)]
    want_norms = expected[0]["norms"]
    local = [math.sqrt(sum(float((g.double() ** 2).sum()) for g in s)) for s in shards]
    for rank, got in enumerate(obs["norms"]):
        where = f"{name}: the norm rank {rank} returned"
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise AssertionError(f"{where} should be a 0-dim tensor (the global norm before "
                                 f"clipping), got {checks.describe(got)}")
        value = float(got)
        if _matches(value, want_norms[rank]):
            continue
        members = next((g for g in (groups or [list(range(world))]) if rank in g))
        n = len(members)
        if _matches(value, local[rank]) and not _matches(local[rank], want_norms[rank]):
            why = ("that is the norm of its own shard: return the global norm, the root of the "
                   "all-reduced sum of squares")
        elif _matches(value, sum(local[r] for r in members)):
            why = ("that is the sum of the ranks' norms: all-reduce the sums of *squares*, then "
                   "take one square root")
        elif _matches(value, math.sqrt(sum(local[r] for r in members))):
            why = "the ranks' norms were all-reduced: all-reduce the sums of squares instead"
        elif _matches(value, want_norms[rank] / math.sqrt(n)):
            why = ("that is the norm divided by sqrt(world size): ReduceOp.AVG averages the sums "
                   "of squares; they must be added (ReduceOp.SUM)")
        elif _matches(value, want_norms[rank] ** 2):
            why = "that is the squared norm: take the square root after the all_reduce"
        elif groups is not None and _matches(value, ref.expected_sharded(shards, max_norm)["norms"][rank]):
            why = ("that is the norm over every rank: reduce over the `group` you were given "
                   "(`dist.all_reduce(..., group=group)`)")
        else:
            why = "the norm should be the one of all the shards laid end to end"
        raise AssertionError(f"{where} is {value:.6g}, expected {want_norms[rank]:.6g}: {why}.")

    def compare(e):
        for rank in range(world):
            got_shard, want_shard = obs["shards"][rank], e["shards"][rank]
            if len(got_shard) != len(want_shard):
                raise AssertionError(f"{name}: rank {rank} came back with {len(got_shard)} "
                                     f"tensors, it was given {len(want_shard)}")
            for i, (g, w) in enumerate(zip(got_shard, want_shard)):
                checks.assert_close(g, w, name=f"{name}: rank {rank}'s gradient {i} after the clip")

    try:
        compare(expected[0])
    except AssertionError as first:
        try:
            compare(expected[1])
        except AssertionError:
            per_shard = {"shards": [ref.expected_sharded([s], max_norm)["shards"][0]
                                    for s in shards]}
            hint = ""
            try:
                compare(per_shard)
                hint = (" Each rank clipped its own shard by its own norm: scale every shard by "
                        "max_norm / (the global norm).")
            except AssertionError:
                unchanged = {"shards": [[g.clone() for g in s] for s in shards]}
                try:
                    compare(unchanged)
                    hint = (" The gradients were not clipped in place: scale each tensor of "
                            "`local_grads` itself (`g.mul_(scale)`), not new copies.")
                except AssertionError:
                    pass
            raise AssertionError(f"{first}{hint}") from None


@hidden_test("test_sharded_clip_grad_norm__hidden")
def sharded_clip_grad_norm_(learner, rng):
    # the clip must bite: max_norm between the largest shard norm and the global norm
    for world in (2, 3, 4):
        shards = _random_shards(rng, world)
        norm = ref.expected_sharded(shards, 1.0)["norms"][0]
        local = max(math.sqrt(sum(float((g.double() ** 2).sum()) for g in s)) for s in shards)
        max_norm = float(rng.uniform(max(local, 0.3 * norm), norm) * 0.98) if norm else 1.0
        _check_sharded(learner, shards, max_norm)
    # equal shards: each rank's own norm is the global norm / sqrt(world)
    equal = [[torch.full((4,), 1.5), torch.full((2, 2), -1.5)] for _ in range(4)]
    _check_sharded(learner, equal, 4.0, label=" (equal shards: a per-rank clip never bites)")
    # an empty rank still joins; nothing to clip
    shards = [[torch.tensor([3.0, 4.0])], [], [torch.tensor([12.0])]]
    _check_sharded(learner, shards, 6.5, label=" (rank 1 holds no gradient)")
    _check_sharded(learner, shards, 100.0, label=" (below the threshold)")
    # two groups of two: each group clips by its own global norm
    shards = _random_shards(rng, 4)
    _check_sharded(learner, shards, 0.5, groups=[[0, 1], [2, 3]],
                   label=" (groups [[0, 1], [2, 3]]: reduce over `group`)")

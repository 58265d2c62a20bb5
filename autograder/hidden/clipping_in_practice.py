"""Hidden tests of lesson 06 (clipping inside real training loops), run outside the
learner's kernel. `framework_clip_kwargs` is graded by training: the learner's keyword
arguments (data) go into the real Hugging Face and Lightning trainers, here."""

from __future__ import annotations

import dataclasses
import inspect
import math

import torch

from course import frameworks as fw
from course import wire
from course.amp import amp_scenario

from .. import checks
from ..reference import clipping_in_practice as ref
from ..verdict import hidden_test


def _as_norm(value, *, name: str) -> float:
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        raise AssertionError(f"`{name}` should return the pre-clip norm as a 0-dim tensor "
                             f"(as torch.nn.utils.clip_grad_norm_ does), got "
                             f"{checks.describe(value)}")
    return float(value)


# -- accumulate_and_clip_ -------------------------------------------------------------------

def _mlp_case(rng):
    d_in = int(rng.integers(3, 7))
    recipe = dict(d_in=d_in, d_hidden=int(rng.integers(4, 10)), d_out=int(rng.integers(1, 3)),
                  depth=int(rng.integers(1, 3)), seed=int(rng.integers(0, 10_000)))
    k = int(rng.integers(2, 5))
    rows = int(rng.integers(2, 5))
    batches = []
    for _ in range(k):
        x = torch.as_tensor(rng.standard_normal((rows, d_in)), dtype=torch.float32)
        y = torch.as_tensor(rng.standard_normal((rows, recipe["d_out"])) * 3, dtype=torch.float32)
        batches.append((x, y))
    return ("course.models.TinyMLP", recipe), torch.nn.functional.mse_loss, batches


def _accumulate_setup(recipe, loss_fn, batches, max_norm, stale: bool):
    path, kwargs = recipe

    def setup():
        model = wire.build(path, **kwargs)
        if stale:  # gradients left over from an earlier step: they must not count
            for p in model.parameters():
                p.grad = torch.full_like(p, 0.75)
        before = [p.detach().clone() for p in model.parameters()]
        args = (model, loss_fn, [tuple(t.clone() for t in b) for b in batches], max_norm)

        def observe(returned):
            norm = _as_norm(returned, name="accumulate_and_clip_")
            for i, (p, b) in enumerate(zip(model.parameters(), before)):
                if not torch.equal(p.detach(), b):
                    raise AssertionError(
                        "`accumulate_and_clip_` changed the model's parameters: it only "
                        "accumulates and clips the gradients; the optimizer step is not its job.")
            return {"the returned (pre-clip) norm": torch.tensor(norm),
                    **{f"p.grad of parameter {i} ({tuple(p.shape)})": p.grad
                       for i, p in enumerate(model.parameters())}}
        return args, observe
    return setup


HINT_ACC = ("(zero every p.grad first, backward loss / k for each of the k micro-batches, "
            "then clip once, after the last)")


@hidden_test("test_accumulate_and_clip__hidden")
def accumulate_and_clip_(learner, rng):
    f = learner.function("accumulate_and_clip_")
    rules = [ref.accumulate_and_clip_, ref.accumulate_and_clip_torch_rule_]
    for trial in range(8):
        recipe, loss_fn, batches = _mlp_case(rng)
        model = wire.build(recipe[0], **recipe[1])
        probe_norm = float(ref.accumulate_and_clip_(model, loss_fn, batches, math.inf))
        for max_norm in (probe_norm * rng.uniform(0.1, 0.6), probe_norm * rng.uniform(1.5, 4.0)):
            checks.same_in_place(
                f, rules, _accumulate_setup(recipe, loss_fn, batches, float(max_norm),
                                            stale=trial % 2 == 0),
                name=f"accumulate_and_clip_(TinyMLP, mse_loss, {len(batches)} micro-batches, "
                     f"{max_norm:.4g})", rtol=1e-4, atol=1e-7, hint=HINT_ACC)
    # the model Hugging Face trains: a tiny GPT-2 and its next-token loss
    rows = fw.token_rows(6, seed=int(rng.integers(0, 1000)))
    batches = [fw.stack_rows(rows[i:i + 2]) for i in range(0, 6, 2)]
    recipe = ("course.frameworks.tiny_lm", {"seed": int(rng.integers(0, 1000))})
    checks.same_in_place(
        f, rules, _accumulate_setup(recipe, fw.lm_loss, batches, 0.23, stale=True),
        name="accumulate_and_clip_(tiny GPT-2, lm_loss, 3 micro-batches of 2 rows, 0.23)",
        rtol=1e-4, atol=1e-7, hint=HINT_ACC)


# -- kronos_rows_per_step ----------------------------------------------------------------

@hidden_test("test_kronos_rows_per_step_hidden")
def kronos_rows_per_step(learner, rng):
    f = learner.function("kronos_rows_per_step")
    cases = [(50, 1, 1), (50, 8, 1), (50, 8, 3), (7, 2, 7), (10, 4, 4), (64, 3, 5), (5, 1, 2)]
    for _ in range(30):
        a = int(rng.integers(1, 9))
        cases.append((int(rng.integers(a, 130)), int(rng.integers(1, 17)), a))
    for b, w, a in cases:
        got = checks.call(f, b, w, a, name=f"kronos_rows_per_step({b}, {w}, {a})")
        if isinstance(got, bool) or not isinstance(got, int):
            raise AssertionError(f"`kronos_rows_per_step({b}, {w}, {a})` should return an int, "
                                 f"got {checks.describe(got)}")
        want = ref.kronos_rows_per_step(b, w, a)
        if got != want:
            logged = ref.kronos_logged_batch_size(b, w, a)
            why = ("that is Kronos' logged 'effective batch size', batch_size * world_size * "
                   "accumulation_steps: but the loop slices each loader batch into "
                   "accumulation_steps parts, it does not load that many batches"
                   if got == logged else
                   "each slice has batch_size // accumulation_steps rows; rows left over when "
                   "the batch does not divide are never seen" if got == b * w else
                   "count the rows of every slice on every rank")
            raise AssertionError(f"`kronos_rows_per_step({b}, {w}, {a})` returned {got}, "
                                 f"expected {want}: {why}.")


# -- amp_clip_step -------------------------------------------------------------------------

def _compare_amp(got: dict, want: dict, *, label: str) -> None:
    for step, (g, w) in enumerate(zip(got["returned"], want["returned"])):
        if not isinstance(g, (int, float)) or isinstance(g, bool):
            raise AssertionError(f"`amp_clip_step` should return the pre-clip norm as a float; "
                                 f"at step {step} ({label}) it returned {checks.describe(g)}")
        if not math.isfinite(w):
            if math.isfinite(g):
                raise AssertionError(
                    f"at step {step} ({label}) the gradients overflowed (inf), so the norm is "
                    f"not finite, but `amp_clip_step` returned {g:.6g}: return the norm of the "
                    "unscaled gradients as the clip computed it (inf or NaN on such a step).")
            continue
        if not math.isclose(g, w, rel_tol=1e-4):
            scale = want["scale"][step - 1] if step else None
            hint = ""
            if scale and math.isclose(g, w * scale, rel_tol=1e-3):
                hint = (" That is the norm times the loss scale: you measured (and clipped) the "
                        "scaled gradients. Call scaler.unscale_(optimizer) before the clip.")
            elif g > 50 * w:
                hint = (" That is the norm of the scaled gradients: call "
                        "scaler.unscale_(optimizer) before measuring and clipping.")
            elif g < w / 50:
                hint = (" That is far too small: did you divide by the scale yourself as well as "
                        "calling unscale_ (unscaling twice)?")
            raise AssertionError(f"at step {step} ({label}) `amp_clip_step` returned {g:.6g}, "
                                 f"expected the unscaled pre-clip norm {w:.6g}.{hint}")
    for step, (gs, ws) in enumerate(zip(got["scale"], want["scale"])):
        if gs != ws:
            raise AssertionError(
                f"after step {step} ({label}) the loss scale is {gs:g}, expected {ws:g}: call "
                "scaler.update() once at the end of every step (it halves the scale after a "
                "skipped step and grows it after a run of good ones).")
    for step, (gp, wp) in enumerate(zip(got["params"], want["params"])):
        for i, (a, b) in enumerate(zip(gp, wp)):
            if not torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-6):
                skipped = not math.isfinite(want["returned"][step])
                why = ("this step overflowed: scaler.step(optimizer) must skip it, so the "
                       "parameters stay as they were" if skipped else
                       "the update used gradients that were not clipped at max_norm: unscale_, "
                       "then clip, then scaler.step(optimizer) (clipping after the step is too "
                       "late; clipping before unscale_ compares the scaled norm, S times the "
                       "true one, with max_norm)")
                raise AssertionError(f"after step {step} ({label}) parameter {i} differs from "
                                     f"what the right order gives: {why}.")


@hidden_test("test_amp_clip_step_hidden")
def amp_clip_step(learner, rng):
    for trial in range(3):
        kwargs = dict(seed=int(rng.integers(0, 10_000)), max_norm=float(rng.uniform(0.2, 2.5)),
                      init_scale=float(2.0 ** int(rng.integers(8, 15))), steps=5,
                      overflow_at=int(rng.integers(1, 4)), lr=0.05,
                      autocast=bool(trial == 2))
        label = (f"max_norm {kwargs['max_norm']:.3g}, initial scale {kwargs['init_scale']:g}, "
                 f"overflow at step {kwargs['overflow_at']}")
        checks.assert_builtins_intact()
        try:
            got = learner.scenario("course.amp.amp_scenario", "amp_clip_step", **kwargs)
        except NotImplementedError:
            raise AssertionError("`amp_clip_step` is not implemented yet") from None
        except RuntimeError as exc:
            hint = (" unscale_ was called twice without scaler.update() in between: call "
                    "scaler.update() at the end of every step."
                    if "unscale_" in str(exc) else "")
            raise AssertionError(f"`amp_clip_step` raised RuntimeError in a training loop "
                                 f"({label}): {str(exc)[:300]}.{hint}") from None
        wants = [amp_scenario(rule, **kwargs)
                 for rule in (ref.amp_clip_step, ref.amp_clip_step_torch_rule)]
        first = None
        for want in wants:
            try:
                _compare_amp(got, want, label=label)
                break
            except AssertionError as exc:
                first = first or exc
        else:
            raise first


# -- per_component_clip_ -----------------------------------------------------------------

def _groups_setup(specs, max_norms, containers):
    """specs: name -> list of (shape, grad scale or None)."""
    def setup():
        groups, params = {}, []
        for name, spec in specs.items():
            ps = []
            for shape, scale, seed in spec:
                p = torch.nn.Parameter(torch.zeros(shape))
                if scale is not None:
                    g = torch.Generator().manual_seed(seed)
                    p.grad = torch.randn(shape, generator=g) * scale
                ps.append(p)
                params.append((name, p))
            groups[name] = containers[name](ps)
        grad_objects = [p.grad for _, p in params]

        def observe(returned):
            if not isinstance(returned, dict) or set(returned) != set(specs):
                raise AssertionError(f"`per_component_clip_` should return a dict with one "
                                     f"pre-clip norm per group, keys {sorted(specs)}, got "
                                     f"{checks.describe(returned)}")
            for (name, p), before in zip(params, grad_objects):
                if before is not None and p.grad is not None and p.grad is not before:
                    raise AssertionError("`per_component_clip_` replaced a `p.grad` by a new "
                                         "tensor: scale the existing one in place.")
            seen = {name: _as_norm(returned[name], name=f"per_component_clip_(...)[{name!r}]")
                    for name in specs}
            return {**{f"the norm returned for group {n!r}": torch.tensor(v)
                       for n, v in seen.items()},
                    **{f"p.grad of parameter {i} (group {name!r})": p.grad
                       for i, (name, p) in enumerate(params)}}
        # thresholds in another order than the groups: they pair by name
        return (groups, dict(reversed(list(max_norms.items())))), observe
    return setup


@hidden_test("test_per_component_clip__hidden")
def per_component_clip_(learner, rng):
    f = learner.function("per_component_clip_")
    rules = [ref.per_component_clip_, ref.per_component_clip_torch_rule_]
    kinds = {"list": list, "tuple": tuple, "generator": lambda ps: (p for p in ps)}
    for _ in range(10):
        names = list(rng.choice(["tokenizer", "predictor", "embed", "head", "encoder"],
                                size=int(rng.integers(2, 4)), replace=False))
        specs, norms = {}, {}
        for name in names:
            spec = [(tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 3)))),
                     float(10 ** rng.uniform(-1, 1)) if rng.random() > 0.15 else None,
                     int(rng.integers(0, 10_000))) for _ in range(int(rng.integers(1, 4)))]
            specs[name] = spec
            total = math.sqrt(sum((torch.randn(s, generator=torch.Generator().manual_seed(seed))
                                   * sc).double().pow(2).sum().item()
                                  for s, sc, seed in spec if sc is not None))
            # one group clips, another does not, thresholds all different
            norms[name] = float(total * (rng.uniform(0.2, 0.7) if len(norms) % 2 == 0
                                         else rng.uniform(1.3, 3.0)) or rng.uniform(0.5, 2))
        chosen = {n: str(rng.choice(list(kinds))) for n in names}
        containers = {n: kinds[kind] for n, kind in chosen.items()}
        label = ", ".join(f"{n!r}: a {kind}" for n, kind in chosen.items())
        checks.same_in_place(f, rules, _groups_setup(specs, norms, containers),
                             name=f"per_component_clip_({{{label}}}, max_norms)",
                             rtol=1e-4, atol=1e-7,
                             hint="(one global norm per named group, each clipped at its own "
                                  "max_norms[name]; a group may be a generator)")
    # a group with no gradient at all has norm 0 and stays as it is
    specs = {"frozen": [((3,), None, 0)], "head": [((2, 2), 5.0, 1)]}
    checks.same_in_place(f, rules, _groups_setup(specs, {"frozen": 0.3, "head": 0.7},
                                                 {"frozen": list, "head": list}),
                         name="per_component_clip_({'frozen': [no grads], 'head': [...]}, ...)",
                         rtol=1e-4, atol=1e-7, hint="(a group with no gradients has norm 0)")


# -- framework_clip_kwargs: graded by training --------------------------------------------

#: The only options the grader passes on to the trainers it runs: the learner's kwargs are
#: untrusted data, and any other option (paths, step counts, integrations) is refused.
HF_CLIP_OPTIONS = ("max_grad_norm",)
LIGHTNING_CLIP_OPTIONS = ("gradient_clip_val", "gradient_clip_algorithm")


def _kwargs_of(learner_fn, framework: str, max_norm: float) -> dict:
    got = checks.call(learner_fn, framework, max_norm,
                      name=f"framework_clip_kwargs({framework!r}, {max_norm:.4g})")
    if not isinstance(got, dict) or not all(isinstance(k, str) for k in got):
        raise AssertionError(f"`framework_clip_kwargs({framework!r}, {max_norm:.4g})` should "
                             f"return a dict of keyword arguments, got {checks.describe(got)}")
    return got


def _hf_allowed() -> dict[str, object]:
    from transformers import TrainingArguments

    return {f.name: f.default for f in dataclasses.fields(TrainingArguments) if f.init}


def _check_hf_keys(kwargs: dict, max_norm: float) -> None:
    allowed = _hf_allowed()
    for key in kwargs:
        if key not in allowed:
            known = {"gradient_clip_val": "that is Lightning's Trainer argument (seed 003 puts "
                                          "`--gradient_clip_val` in a QLoRA script by mistake)",
                     "gradient_clipping": "that is DeepSpeed's JSON key",
                     "clip_grad_norm": "that is a function, not an option",
                     "gradient_clip_algorithm": "that is Lightning's Trainer argument"}
            raise AssertionError(f"`framework_clip_kwargs('hf', {max_norm:.4g})` returned "
                                 f"`{key}`, which transformers.TrainingArguments does not have"
                                 f"{': ' + known[key] if key in known else ''}.")
        if key not in HF_CLIP_OPTIONS:
            raise AssertionError(f"`framework_clip_kwargs('hf', ...)` returned `{key}`, a "
                                 "TrainingArguments field but not a clipping option: return only "
                                 "the options that make the Trainer clip (the grader's run sets "
                                 "the rest itself).")
        if not isinstance(kwargs[key], (int, float)) or isinstance(kwargs[key], bool):
            raise AssertionError(f"`framework_clip_kwargs('hf', ...)`[{key!r}] is "
                                 f"{kwargs[key]!r}: it should be the threshold, a number.")


def _check_lightning_keys(kwargs: dict, max_norm: float) -> None:
    import lightning

    params = inspect.signature(lightning.Trainer.__init__).parameters
    for key, value in kwargs.items():
        if key not in params:
            known = {"max_grad_norm": "that is Hugging Face's (and Axolotl's) name",
                     "gradient_clipping": "that is DeepSpeed's JSON key"}
            raise AssertionError(f"`framework_clip_kwargs('lightning', {max_norm:.4g})` "
                                 f"returned `{key}`, which lightning.Trainer does not take"
                                 f"{': ' + known[key] if key in known else ''}.")
        if key not in LIGHTNING_CLIP_OPTIONS:
            raise AssertionError(f"`framework_clip_kwargs('lightning', ...)` returned `{key}`, "
                                 "a Trainer argument but not a clipping option: return only the "
                                 "options that make the Trainer clip.")
        if not isinstance(value, (int, float, str, type(None))) or isinstance(value, bool):
            raise AssertionError(f"`framework_clip_kwargs('lightning', ...)`[{key!r}] is "
                                 f"{value!r}: a number (the threshold) or the algorithm's name.")


def _compare_runs(got: fw.Run, want: fw.Run, *, framework: str, max_norm: float) -> None:
    for step, (g, w) in enumerate(zip(got.received, want.received)):
        if fw.max_abs_difference(g, w) > 1e-6 * max(1.0, max(
                float(t.abs().max()) for t in w if t is not None)):
            received = fw.global_norm(g)
            largest = max(float(t.abs().max()) for t in g if t is not None)
            if math.isclose(received, want.received_norms[step], rel_tol=1e-4):
                why = "a norm of max_norm, but pointing elsewhere"
            elif framework == "hf" and math.isclose(received, 1.0, rel_tol=1e-4):
                why = ("a norm of 1.0: that is Hugging Face's default max_grad_norm, so it was "
                       f"not clipped at {max_norm:.4g} (your options did not set the threshold)")
            elif largest <= max_norm * (1 + 1e-5) and received > max_norm * (1 + 1e-4):
                why = (f"no element above {max_norm:.4g} but a global norm of {received:.4g}: "
                       "that is clipping by value (each element clamped), not by the norm")
            else:
                why = (f"a global norm of {received:.4g}, not clipped at {max_norm:.4g}")
            raise AssertionError(
                f"trained through the real {framework} Trainer with "
                f"`framework_clip_kwargs({framework!r}, {max_norm:.4g})` = {got.kwargs}, the "
                f"optimizer received at step {step + 1} gradients with {why}. Clipping by the "
                f"global L2 norm gives them norm {want.received_norms[step]:.4g}.")


@hidden_test("test_framework_clip_kwargs_hidden")
def framework_clip_kwargs(learner, rng):
    f = learner.function("framework_clip_kwargs")
    max_norm = float(rng.uniform(0.12, 0.45))  # never 1.0 (HF's default) and always clipping
    seed = int(rng.integers(0, 1000))
    rows = fw.token_rows(8, seed=seed)

    kwargs = _kwargs_of(f, "hf", max_norm)
    _check_hf_keys(kwargs, max_norm)
    try:
        got = fw.hf_train(fw.tiny_lm(seed), rows, steps=2, batch_size=4, seed=seed, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the learner's options broke the Trainer
        raise AssertionError(f"transformers.TrainingArguments/Trainer rejected "
                             f"{kwargs}: {type(exc).__name__}: {str(exc)[:300]}") from None
    want = fw.hf_train(fw.tiny_lm(seed), rows, steps=2, batch_size=4, seed=seed,
                       **ref.framework_clip_kwargs("hf", max_norm))
    _compare_runs(got, want, framework="hf", max_norm=max_norm)

    kwargs = _kwargs_of(f, "lightning", max_norm)
    _check_lightning_keys(kwargs, max_norm)
    try:
        got = fw.lightning_train(fw.tiny_lm(seed), rows, steps=2, batch_size=4, seed=seed,
                                 **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"lightning.Trainer rejected {kwargs}: {type(exc).__name__}: "
                             f"{str(exc)[:300]}") from None
    want = fw.lightning_train(fw.tiny_lm(seed), rows, steps=2, batch_size=4, seed=seed,
                              **ref.framework_clip_kwargs("lightning", max_norm))
    _compare_runs(got, want, framework="lightning", max_norm=max_norm)

    # DeepSpeed and Axolotl: no install, graded against their configuration schemas
    # (deepspeed/runtime/constants.py; axolotl src/axolotl/utils/schemas/training.py).
    schemas = {
        "deepspeed": ("gradient_clipping", {
            "max_grad_norm": "DeepSpeed's JSON config has no `max_grad_norm` (it rejects it as "
                             "an optimizer parameter); its key is `gradient_clipping`",
            "gradient_clip_val": "that is Lightning's; DeepSpeed's key is `gradient_clipping`"}),
        "axolotl": ("max_grad_norm", {
            "gradient_clipping": "seed 003 says so, but Axolotl's YAML key is `max_grad_norm` "
                                 "(`gradient_clipping` is DeepSpeed's JSON key)",
            "gradient_clip_val": "that is Lightning's; Axolotl's key is `max_grad_norm`"}),
    }
    for framework, (key, wrong) in schemas.items():
        kwargs = _kwargs_of(f, framework, max_norm)
        for k in kwargs:
            if k in wrong:
                raise AssertionError(f"`framework_clip_kwargs({framework!r}, {max_norm:.4g})` "
                                     f"returned `{k}`: {wrong[k]}.")
        if key not in kwargs:
            raise AssertionError(f"`framework_clip_kwargs({framework!r}, {max_norm:.4g})` "
                                 f"returned {kwargs}, without the key that sets the clip "
                                 f"threshold in {framework}'s config.")
        value = kwargs[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isclose(
                value, max_norm, rel_tol=1e-9):
            raise AssertionError(f"`framework_clip_kwargs({framework!r}, {max_norm:.4g})`"
                                 f"[{key!r}] is {value!r}: it should be max_norm itself.")
        if len(kwargs) != 1:
            extra = sorted(set(kwargs) - {key})
            raise AssertionError(f"`framework_clip_kwargs({framework!r}, ...)` returned extra "
                                 f"keys {extra}: return only the clipping option.")

"""Lesson 06 (clipping in practice): differently written correct solutions pass every test
cell; plausible mistakes fail one, with a message that names the mistake. The
`framework_clip_kwargs` variants are graded by training the real trainers."""

from __future__ import annotations

from autograder import cells
from tests.lessons.harness import make_variant_tests

LESSON = "06_clipping_in_practice"

CORRECT = {
    "accumulate_and_clip_": [
        # the course's rule, float64 norm by hand, zero_grad(set_to_none=True)
        '''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            model.zero_grad(set_to_none=True)
            k = len(micro_batches)
            for x, y in micro_batches:
                loss = loss_fn(model(x), y) / k
                loss.backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
            if norm > max_norm:
                with torch.no_grad():
                    for g in grads:
                        g.mul_(max_norm / norm)
            return torch.tensor(norm)
        ''',
        # zero the existing gradients in place, scale the losses by 1/k, torch's rule by hand
        '''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            batches = list(micro_batches)
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.zero_()
            for x, y in batches:
                (loss_fn(model(x), y) * (1.0 / len(batches))).backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
            coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
            for g in grads:
                g.mul_(coef)
            return norm
        ''',
    ],
    "kronos_rows_per_step": [
        # Kronos' loop, counted
        '''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            rows = 0
            for j in range(accumulation_steps):
                start = j * (batch_size // accumulation_steps)
                end = (j + 1) * (batch_size // accumulation_steps)
                rows += end - start
            return rows * world_size
        ''',
        # the rows that do not fit a whole slice are dropped
        '''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            return int(world_size * (batch_size - batch_size % accumulation_steps))
        ''',
    ],
    "amp_clip_step": [
        # the course's rule, by hand, on the unscaled gradients
        '''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            scaler.step(optimizer)
            scaler.update()
            return norm
        ''',
        # torch's clip over the optimizer's parameter groups, .item()
        '''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaled = scaler.scale(loss)
            scaled.backward()
            scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            total = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
            scaler.step(optimizer)
            scaler.update()
            return total
        ''',
    ],
    "per_component_clip_": [
        # the course's rule, float64, a dict comprehension over a helper
        '''
        def per_component_clip_(groups, max_norms):
            def clip(params, max_norm):
                grads = [p.grad for p in params if p.grad is not None]
                norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
                if norm > max_norm:
                    for g in grads:
                        g.mul_(max_norm / norm)
                return torch.tensor(norm)
            return {name: clip(list(params), max_norms[name]) for name, params in groups.items()}
        ''',
        # torch's own clip per group (it returns 0 for a group without gradients)
        '''
        def per_component_clip_(groups, max_norms):
            out = {}
            for name in groups:
                params = [p for p in groups[name]]
                out[name] = torch.nn.utils.clip_grad_norm_(params, max_norms[name])
            return out
        ''',
    ],
    "framework_clip_kwargs": [
        '''
        def framework_clip_kwargs(framework, max_norm):
            if framework == "hf":
                return {"max_grad_norm": max_norm}
            elif framework == "lightning":
                return {"gradient_clip_val": max_norm}    # its algorithm defaults to "norm"
            elif framework == "deepspeed":
                return {"gradient_clipping": max_norm}
            elif framework == "axolotl":
                return dict(max_grad_norm=max_norm)
            raise ValueError(framework)
        ''',
        '''
        def framework_clip_kwargs(framework, max_norm):
            key = {"hf": "max_grad_norm", "axolotl": "max_grad_norm",
                   "deepspeed": "gradient_clipping", "lightning": "gradient_clip_val"}[framework]
            kwargs = {key: float(max_norm)}
            if framework == "lightning":
                kwargs["gradient_clip_algorithm"] = "norm"
            return kwargs
        ''',
    ],
}

MISTAKES = {
    "accumulate_and_clip_": [
        ('''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            model.zero_grad(set_to_none=True)
            for x, y in micro_batches:
                (loss_fn(model(x), y) / len(micro_batches)).backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)   # every micro-batch
            return norm
        ''', "clip once"),
        ('''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            model.zero_grad(set_to_none=True)
            for x, y in micro_batches:
                loss_fn(model(x), y).backward()
            return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        ''', "divide each micro-batch's loss by k"),
        ('''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            for x, y in micro_batches:
                model.zero_grad(set_to_none=True)     # inside the loop: only the last one survives
                (loss_fn(model(x), y) / len(micro_batches)).backward()
            return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        ''', "clip once, after the last"),
        ('''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            for x, y in micro_batches:              # stale gradients are never cleared
                (loss_fn(model(x), y) / len(micro_batches)).backward()
            return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        ''', "clear them first"),
        ('''
        def accumulate_and_clip_(model, loss_fn, micro_batches, max_norm):
            model.zero_grad(set_to_none=True)
            for x, y in micro_batches:
                (loss_fn(model(x), y) / len(micro_batches)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            return torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf)   # after the clip
        ''', "norm measured before it"),
    ],
    "kronos_rows_per_step": [
        ('''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            return batch_size * world_size * accumulation_steps     # what Kronos logs
        ''', "not 48 * 2 * 4 = 384"),
        ('''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            return batch_size * world_size
        ''', "never used"),
        ('''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            return batch_size // accumulation_steps * world_size     # one slice only
        ''', "slices of 12"),
        ('''
        def kronos_rows_per_step(batch_size, world_size, accumulation_steps):
            return batch_size / accumulation_steps * accumulation_steps * world_size
        ''', "should return an int"),
    ],
    "amp_clip_step": [
        ('''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaler.scale(loss).backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)   # still scaled
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()
            return float(norm)
        ''', "unscale_ before measuring"),
        ('''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            for p in model.parameters():
                p.grad.div_(scaler.get_scale())                  # unscale_ already did this
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            scaler.step(optimizer)
            scaler.update()
            return float(norm)
        ''', "do not divide again"),
        ('''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)   # too late
            scaler.update()
            return float(norm)
        ''', "clipped at max_norm"),
        ('''
        def amp_clip_step(model, optimizer, scaler, loss, max_norm):
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            scaler.step(optimizer)                                # no scaler.update()
            return float(norm)
        ''', "update()"),
    ],
    "per_component_clip_": [
        ('''
        def per_component_clip_(groups, max_norms):
            groups = {name: list(params) for name, params in groups.items()}
            every = [p for params in groups.values() for p in params]
            grads = [p.grad for p in every if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
            for name, params in groups.items():
                torch.nn.utils.clip_grad_norm_(params, max_norms[name])
            return {name: norm for name in groups}                # one norm over all groups
        ''', "one global norm per group"),
        ('''
        def per_component_clip_(groups, max_norms):
            out = {}
            for (name, params), max_norm in zip(groups.items(), max_norms.values()):
                out[name] = torch.nn.utils.clip_grad_norm_(list(params), max_norm)
            return out
        ''', "by name"),
        ('''
        def per_component_clip_(groups, max_norms):
            out = {}
            for name, params in groups.items():
                norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None))
                if norm > max_norms[name]:
                    for p in params:                              # a generator is exhausted here
                        if p.grad is not None:
                            p.grad.mul_(max_norms[name] / norm)
                out[name] = torch.tensor(norm)
            return out
        ''', "generator"),
        ('''
        def per_component_clip_(groups, max_norms):
            out = {}
            for name, params in groups.items():
                params = [p for p in params if p.grad is not None]
                out[name] = torch.tensor(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params)))
                for p in params:                                  # per tensor
                    torch.nn.utils.clip_grad_norm_([p], max_norms[name])
            return out
        ''', "per tensor"),
    ],
    "framework_clip_kwargs": [
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {"max_grad_norm": max_norm},
                    "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "norm"},
                    "deepspeed": {"gradient_clipping": max_norm},
                    "axolotl": {"gradient_clipping": max_norm}}[framework]        # seed 003
        ''', "axolotl's yaml key is `max_grad_norm`"),
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {"gradient_clip_val": max_norm},
                    "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "norm"},
                    "deepspeed": {"gradient_clipping": max_norm},
                    "axolotl": {"max_grad_norm": max_norm}}[framework]
        ''', "that is lightning's trainer argument"),
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {"max_grad_norm": max_norm},
                    "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "value"},
                    "deepspeed": {"gradient_clipping": max_norm},
                    "axolotl": {"max_grad_norm": max_norm}}[framework]
        ''', "clipping by value"),
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {"max_grad_norm": max_norm},
                    "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "norm"},
                    "deepspeed": {"max_grad_norm": max_norm},
                    "axolotl": {"max_grad_norm": max_norm}}[framework]
        ''', "has no `max_grad_norm`"),
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {},                                    # "HF clips by default"
                    "lightning": {"gradient_clip_val": max_norm, "gradient_clip_algorithm": "norm"},
                    "deepspeed": {"gradient_clipping": max_norm},
                    "axolotl": {"max_grad_norm": max_norm}}[framework]
        ''', "not clipped at"),
        ('''
        def framework_clip_kwargs(framework, max_norm):
            return {"hf": {"max_grad_norm": max_norm},
                    "lightning": {"gradient_clip_val": max_norm, "min_steps": 10**9},   # not clipping
                    "deepspeed": {"gradient_clipping": max_norm},
                    "axolotl": {"max_grad_norm": max_norm}}[framework]
        ''', "not a clipping option"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)


def test_exercises_in_the_lesson_order():
    """The lesson's exercises, in the order it poses them, and no others."""
    assert list(cells.exercises(cells.load(LESSON))) == [
        "accumulate_and_clip_", "kronos_rows_per_step", "amp_clip_step", "per_component_clip_",
        "framework_clip_kwargs", "why_clip_after_accumulation"]


def test_recording_optimizer_sees_what_the_trainers_applied():
    """course.frameworks' observers: with clipping off both trainers hand the optimizer the
    plain gradient (our own backward), and Hugging Face logs its norm."""
    from course import frameworks as fw

    rows = fw.token_rows(4, seed=3)
    model = fw.tiny_lm(5)
    x, y = fw.stack_rows(rows)
    fw.lm_loss(model(x), y).backward()
    own = fw.grads_of(model)
    hf = fw.hf_train(fw.tiny_lm(5), rows, steps=1, batch_size=4, max_grad_norm=0.0)
    pl = fw.lightning_train(fw.tiny_lm(5), rows, steps=1, batch_size=4)
    assert fw.max_abs_difference(own, hf.received[0]) < 1e-6
    assert fw.max_abs_difference(own, pl.received[0]) < 1e-6
    assert abs(hf.logged_grad_norm[0] - fw.global_norm(own)) < 1e-5 * fw.global_norm(own)


def test_helpers_refuse_to_override_their_own_settings():
    import pytest

    from course import frameworks as fw

    with pytest.raises(ValueError, match="output_dir"):
        fw.hf_train(fw.tiny_lm(0), fw.token_rows(2), output_dir="/tmp/elsewhere")
    with pytest.raises(ValueError, match="default_root_dir"):
        fw.lightning_train(fw.tiny_lm(0), fw.token_rows(2), default_root_dir="/tmp/elsewhere")

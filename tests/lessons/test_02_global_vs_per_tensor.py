"""Lesson 02 (global vs per-tensor clipping): differently written correct solutions pass
every test cell; plausible mistakes fail one, with a message that names the mistake."""

from __future__ import annotations


import pytest

from autograder import cells
from tests.lessons.harness import make_variant_tests

LESSON = "02_global_vs_per_tensor"

CORRECT = {
    "global_l2_norm": [
        # numpy, float64 inside
        '''
        def global_l2_norm(grads):
            return float(np.sqrt(sum(np.sum(g.detach().numpy().astype(np.float64) ** 2)
                                     for g in grads if g is not None)))
        ''',
        # norm of the per-tensor norms, torch.linalg.vector_norm
        '''
        def global_l2_norm(grads):
            present = [g for g in grads if g is not None]
            if not present:
                return 0.0
            norms = torch.stack([torch.linalg.vector_norm(g) for g in present])
            return torch.linalg.vector_norm(norms).item()
        ''',
        # one flat vector
        '''
        def global_l2_norm(grads):
            flat = [g.reshape(-1) for g in grads if g is not None]
            return torch.cat(flat).norm().item() if flat else 0.0
        ''',
    ],
    "clip_by_global_norm": [
        # PyTorch's rule: always multiply by min(max_norm / (norm + 1e-6), 1)
        '''
        def clip_by_global_norm(grads, max_norm):
            scale = min(1.0, max_norm / (global_l2_norm(grads) + 1e-6))
            return [None if g is None else g * scale for g in grads]
        ''',
        # float64 inside, an explicit loop, clone when nothing to do
        '''
        def clip_by_global_norm(grads, max_norm):
            norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads if g is not None))
            out = []
            for g in grads:
                if g is None:
                    out.append(None)
                elif norm > max_norm:
                    out.append((g.double() * (max_norm / norm)).to(g.dtype))
                else:
                    out.append(g.clone())
            return out
        ''',
        # numpy round trip
        '''
        def clip_by_global_norm(grads, max_norm):
            norm = global_l2_norm(grads)
            scale = max_norm / norm if norm > max_norm else 1.0
            return [None if g is None else torch.from_numpy(np.array(g.numpy() * scale, dtype=g.numpy().dtype))
                    for g in grads]
        ''',
    ],
    "clip_per_tensor": [
        '''
        def clip_per_tensor(grads, max_norm):
            out = []
            for g in grads:
                if g is None:
                    out.append(None)
                    continue
                n = torch.linalg.vector_norm(g.double()).item()
                out.append(g * (max_norm / n) if n > max_norm else g.clone())
            return out
        ''',
        '''
        def clip_per_tensor(grads, max_norm):
            return [None if g is None else g * min(1.0, max_norm / (g.norm().item() + 1e-6))
                    for g in grads]
        ''',
    ],
    "flat_cosine": [
        '''
        def flat_cosine(a, b):
            pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
            if not pairs:
                return 0.0
            u = torch.cat([x.reshape(-1).double() for x, _ in pairs])
            v = torch.cat([y.reshape(-1).double() for _, y in pairs])
            return F.cosine_similarity(u, v, dim=0).item()
        ''',
        '''
        def flat_cosine(a, b):
            dot = na = nb = 0.0
            for x, y in zip(a, b):
                if x is None or y is None:
                    continue
                xs = x.numpy().astype(np.float64).ravel()
                ys = y.numpy().astype(np.float64).ravel()
                dot, na, nb = dot + xs @ ys, na + xs @ xs, nb + ys @ ys
            return float(dot / np.sqrt(na * nb)) if na > 0 and nb > 0 else 0.0
        ''',
    ],
    "clip_grad_norm_": [
        # PyTorch's rule, torch.linalg.vector_norm, always multiplies
        '''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in list(parameters) if p.grad is not None]
            if not grads:
                return torch.tensor(0.0)
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
            for g in grads:
                g.mul_(coef)
            return norm
        ''',
        # numpy, float64 inside, multiplies only when needed
        '''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters if p.grad is not None]
            total = 0.0
            for g in grads:
                total += float(np.sum(g.detach().cpu().numpy().astype(np.float64) ** 2))
            norm = math.sqrt(total)
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            return torch.tensor(norm, dtype=torch.float64)
        ''',
    ],
}

MISTAKES = {
    "global_l2_norm": [
        ('''
        def global_l2_norm(grads):
            return float(sum(g.norm() for g in grads if g is not None))
        ''', "sum of the per-tensor norms"),
        ('''
        def global_l2_norm(grads):
            return max((g.norm().item() for g in grads if g is not None), default=0.0)
        ''', "largest tensor norm"),
        ('''
        def global_l2_norm(grads):
            flat = torch.cat([g.reshape(-1) for g in grads if g is not None] or [torch.zeros(1)])
            return flat.pow(2).mean().sqrt().item()
        ''', "no division by the count"),
        ('''
        def global_l2_norm(grads):
            return math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        ''', "skip `none` entries"),
        ('''
        def global_l2_norm(grads):
            return torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None))
        ''', "python float"),
    ],
    "clip_by_global_norm": [
        ('''
        def clip_by_global_norm(grads, max_norm):
            return [None if g is None else g * min(1.0, max_norm / g.norm().item()) for g in grads]
        ''', "clipped per tensor"),
        ('''
        def clip_by_global_norm(grads, max_norm):
            norm = global_l2_norm(grads)
            return [None if g is None else g * (max_norm / norm) for g in grads] if norm else list(grads)
        ''', "never scale a small gradient up"),
        ('''
        def clip_by_global_norm(grads, max_norm):
            norm = global_l2_norm(grads)
            scale = norm / max_norm if norm > max_norm else 1.0
            return [None if g is None else g * scale for g in grads]
        ''', "norm / max_norm"),
        ('''
        def clip_by_global_norm(grads, max_norm):
            norm = global_l2_norm(grads)
            if norm > max_norm:
                for g in grads:
                    if g is not None:
                        g.mul_(max_norm / norm)
            return grads
        ''', "modified in place"),
        ('''
        def clip_by_global_norm(grads, max_norm):
            norm = global_l2_norm(grads)
            if norm <= max_norm:
                return list(grads)
            return [None if g is None else g * (max_norm / norm) for g in grads]
        ''', "shares memory"),
    ],
    "clip_per_tensor": [
        ('''
        def clip_per_tensor(grads, max_norm):
            return clip_by_global_norm(grads, max_norm)
        ''', "that is global clipping"),
        ('''
        def clip_per_tensor(grads, max_norm):
            return [None if g is None else g * (max_norm / g.norm()) if g.norm() > 0 else g.clone()
                    for g in grads]
        ''', "never scale it up"),
        ('''
        def clip_per_tensor(grads, max_norm):
            return [None if g is None else g / g.norm() * torch.clamp(g.norm(), max=max_norm)
                    for g in grads]
        ''', "not nan"),
        ('''
        def clip_per_tensor(grads, max_norm):
            return [clip_by_global_norm([g], max_norm)[0] for g in grads if g is not None]
        ''', "list of 4 entries"),
        ('''
        def clip_per_tensor(grads, max_norm):
            for g in grads:
                if g is not None and g.norm() > max_norm:
                    g.mul_(max_norm / g.norm())
            return grads
        ''', "modified in place"),
    ],
    "flat_cosine": [
        ('''
        def flat_cosine(a, b):
            cosines = [F.cosine_similarity(x.reshape(-1), y.reshape(-1), dim=0).item()
                       for x, y in zip(a, b) if x is not None and y is not None]
            return sum(cosines) / len(cosines) if cosines else 0.0
        ''', "mean of the per-tensor cosines"),
        ('''
        def flat_cosine(a, b):
            return sum(float((x * y).sum()) for x, y in zip(a, b) if x is not None and y is not None)
        ''', "never above 1"),
        ('''
        def flat_cosine(a, b):
            dot = sum(float((x * y).sum()) for x, y in zip(a, b) if x is not None and y is not None)
            return dot / (global_l2_norm(a) * global_l2_norm(b))
        ''', "instead of dividing by zero"),
        ('''
        def flat_cosine(a, b):
            dot = sum(float((x * y).sum()) for x, y in zip(a, b) if x is not None and y is not None)
            squares = global_l2_norm(a) ** 2 * global_l2_norm(b) ** 2
            return dot / squares if squares else 0.0
        ''', "expected 0.8"),
    ],
    "clip_grad_norm_": [
        ('''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters if p.grad is not None]
            norm = global_l2_norm(grads)
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            return torch.tensor(global_l2_norm(grads))
        ''', "before* clipping"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters]
            norm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            return torch.tensor(norm)
        ''', "`p.grad = none`: skip them"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters if p.grad is not None]
            clipped = clip_by_global_norm(grads, max_norm)   # new tensors, never written back
            return torch.tensor(global_l2_norm(grads))
        ''', "in place"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            norm = global_l2_norm([p.grad for p in parameters if p.grad is not None])
            if norm > max_norm:
                for p in parameters:          # a generator is already exhausted here
                    if p.grad is not None:
                        p.grad.mul_(max_norm / norm)
            return torch.tensor(norm)
        ''', "generator"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            params = [p for p in parameters if p.grad is not None]
            norm = global_l2_norm([p.grad for p in params])
            if norm > max_norm:
                for p in params:
                    p.grad = p.grad * (max_norm / norm)
            return torch.tensor(norm)
        ''', "replaced `p.grad`"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        ''', "write it yourself"),
        ('''
        from torch.nn.utils import get_total_norm as total_norm_of

        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters if p.grad is not None]
            norm = total_norm_of(grads)
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            return norm
        ''', "imported under another name"),
        ('''
        def clip_grad_norm_(parameters, max_norm):
            grads = [p.grad for p in parameters if p.grad is not None]
            norm = global_l2_norm(grads)
            if norm > max_norm:
                for g in grads:
                    g.mul_(max_norm / norm)
            return norm
        ''', "0-dim tensor"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)


def test_exercises_in_the_lesson_order():
    """The lesson's exercises, in the order it poses them, and no others. (Ids, kinds, test
    cells and rubrics: tests/lessons/test_lesson_sources.py, for every lesson.)"""
    assert list(cells.exercises(cells.load(LESSON))) == [
        "global_l2_norm", "clip_by_global_norm", "clip_per_tensor", "flat_cosine",
        "clip_grad_norm_", "why_direction"]


@pytest.mark.parametrize("exercise", ["clip_grad_norm_"])
def test_guard_restores_torch_after_a_forbidden_call(exercise):
    """The hidden guard puts torch's own functions back even when the learner's fails."""
    import torch

    from tests.lessons.harness import run_exercise

    originals = (torch.nn.utils.clip_grad_norm_, torch.nn.utils.get_total_norm,
                 torch.nn.utils.clip_grads_with_norm_)
    run = run_exercise(LESSON, exercise, MISTAKES[exercise][5][0])
    assert run.any_failed
    assert (torch.nn.utils.clip_grad_norm_, torch.nn.utils.get_total_norm,
            torch.nn.utils.clip_grads_with_norm_) == originals

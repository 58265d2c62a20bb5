"""Lesson 07 (beyond the global norm): differently written correct solutions pass every test
cell; plausible mistakes fail one, with a message that names the mistake. The sharded
exercise runs in real gloo processes here too."""

from __future__ import annotations

from tests.lessons.harness import make_variant_tests

LESSON = "07_beyond_global_norm"

CORRECT = {
    "autoclip_threshold": [
        # np.quantile with a fraction
        '''
        def autoclip_threshold(history, current, percentile):
            return float(np.quantile(np.append(np.asarray(history, dtype=float), current),
                                     percentile / 100.0))
        ''',
        # torch.quantile (linear interpolation too), float64
        '''
        def autoclip_threshold(history, current, percentile):
            values = torch.tensor([*history, current], dtype=torch.float64)
            return torch.quantile(values, percentile / 100.0).item()
        ''',
        # by hand: sort, interpolate between the two neighbouring ranks
        '''
        def autoclip_threshold(history, current, percentile):
            data = sorted(list(history) + [current])
            if any(x != x for x in data):
                return float("nan")
            pos = percentile / 100.0 * (len(data) - 1)
            lo = math.floor(pos)
            hi = min(lo + 1, len(data) - 1)
            if hi == lo or data[hi] == data[lo]:
                return float(data[lo])
            return float(data[lo] + (pos - lo) * (data[hi] - data[lo]))
        ''',
    ],
    "zclip_clipped_norms": [
        # numpy statistics for the warm-up, the code's own threshold form
        '''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            norms = [float(g) for g in norms]
            out = np.zeros(len(norms))
            state = None
            for t, g in enumerate(norms):
                if state is None:
                    out[t] = g
                    if t + 1 >= warmup_steps:
                        w = np.array(norms[: t + 1])
                        state = [float(w.mean()), float(w.var())]
                    continue
                mean, var = state
                std = math.sqrt(var)
                z = (g - mean) / (std + 1e-6)
                if z > z_thresh:
                    g = mean + (z_thresh * std) / (z / z_thresh)
                out[t] = g
                mean = alpha * mean + (1 - alpha) * g
                var = alpha * var + (1 - alpha) * (g - mean) ** 2
                state = [mean, var]
            return out
        ''',
        # a small class, as the reference code is written
        '''
        class _Z:
            def __init__(self, alpha, z, warm):
                self.alpha, self.z, self.warm, self.buf, self.mean, self.var = alpha, z, warm, [], None, None
            def step(self, g):
                if self.mean is None:
                    self.buf.append(g)
                    if len(self.buf) >= self.warm:
                        self.mean = sum(self.buf) / len(self.buf)
                        self.var = sum((x - self.mean) ** 2 for x in self.buf) / len(self.buf)
                    return g
                std = self.var ** 0.5
                z = (g - self.mean) / (std + 1e-6)
                eff = self.mean + self.z * self.z * std / z if z > self.z else g
                self.mean = self.alpha * self.mean + (1 - self.alpha) * eff
                self.var = self.alpha * self.var + (1 - self.alpha) * (eff - self.mean) ** 2
                return eff

        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            z = _Z(alpha, z_thresh, warmup_steps)
            return np.array([z.step(float(g)) for g in norms], dtype=np.float64)
        ''',
    ],
    "agc_": [
        # timm's form: torch.where(grad_norm < max_norm, g, clipped), copy_
        '''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                def unit_norm(x):
                    if x.ndim <= 1:
                        return x.norm()
                    return x.norm(2.0, dim=tuple(range(1, x.ndim)), keepdim=True)
                max_norm = unit_norm(p.detach()).clamp(min=eps) * clipping
                grad_norm = unit_norm(p.grad.detach())
                clipped = p.grad * (max_norm / grad_norm.clamp(min=1e-6))
                p.grad.detach().copy_(torch.where(grad_norm < max_norm, p.grad, clipped))
        ''',
        # one unit at a time, mul_ in place, float64 norms
        '''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in list(parameters):
                if p.grad is None:
                    continue
                w, g = p.detach(), p.grad
                units = [(w, g)] if g.ndim <= 1 else [(w[i], g[i]) for i in range(g.shape[0])]
                with torch.no_grad():
                    for wi, gi in units:
                        gn = float(gi.double().norm())
                        mx = clipping * max(float(wi.double().norm()), eps)
                        if gn > mx:
                            gi.mul_(mx / gn)
        ''',
    ],
    "dual_norm": [
        # numpy
        '''
        def dual_norm(g, kind):
            x = g.detach().numpy().astype(np.float64)
            if kind == "euclidean":
                return float(np.sqrt((x ** 2).sum()))
            if kind == "sign":
                return float(np.abs(x).sum())
            return float(np.linalg.norm(x.reshape(x.shape[0], -1), "nuc"))
        ''',
        # torch.linalg norms
        '''
        def dual_norm(g, kind):
            x = g.double()
            if kind == "spectral":
                return torch.linalg.matrix_norm(x.flatten(1), ord="nuc").item()
            if kind == "sign":
                return torch.linalg.vector_norm(x, ord=1).item()
            if kind == "euclidean":
                return torch.linalg.vector_norm(x).item()
            raise ValueError(kind)
        ''',
    ],
    "sharded_clip_grad_norm_": [
        # PyTorch's rule: always multiply by min(max_norm / (norm + 1e-6), 1); float32 sums
        '''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            sq = torch.zeros(())
            for g in local_grads:
                sq = sq + (g.float() ** 2).sum()
            dist.all_reduce(sq, group=group)
            norm = sq.sqrt()
            coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
            for g in local_grads:
                g.mul_(coef.to(g.dtype))
            return norm
        ''',
        # per-tensor norms stacked, the course's rule
        '''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            if local_grads:
                local = torch.stack([torch.linalg.vector_norm(g.double()) ** 2 for g in local_grads]).sum()
            else:
                local = torch.tensor(0.0, dtype=torch.float64)
            dist.all_reduce(local, op=dist.ReduceOp.SUM, group=group)
            total = torch.sqrt(local)
            if total > max_norm:
                factor = (max_norm / total).item()
                for g in local_grads:
                    g.mul_(factor)
            return total.float()
        ''',
    ],
}

MISTAKES = {
    "autoclip_threshold": [
        ('''
        def autoclip_threshold(history, current, percentile):
            return float(np.percentile(list(history), percentile))
        ''', "append the current norm first"),
        ('''
        def autoclip_threshold(history, current, percentile):
            return float(np.percentile(list(history) + [current], percentile / 100))
        ''', "fraction"),
        ('''
        def autoclip_threshold(history, current, percentile):
            data = sorted(list(history) + [current])
            return float(data[max(0, math.ceil(percentile / 100 * len(data)) - 1)])
        ''', "nearest-rank"),
        ('''
        def autoclip_threshold(history, current, percentile):
            history.append(current)
            return float(np.percentile(history, percentile))
        ''', "copy"),
    ],
    "zclip_clipped_norms": [
        ('''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            out, buf, mean, var = [], [], None, None
            for g in map(float, norms):
                if mean is None:
                    buf.append(g)
                    if len(buf) >= warmup_steps:
                        mean = sum(buf) / len(buf)
                        var = sum((x - mean) ** 2 for x in buf) / len(buf)
                    out.append(g)
                    continue
                std = var ** 0.5
                z = (g - mean) / (std + 1e-6)
                out.append(mean + z_thresh ** 2 * std / z if z > z_thresh else g)
                mean = alpha * mean + (1 - alpha) * g          # the raw spike
                var = alpha * var + (1 - alpha) * (g - mean) ** 2
            return np.array(out)
        ''', "raw spike"),
        ('''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            out, buf, mean, var = [], [], None, None
            for g in map(float, norms):
                if mean is None:
                    buf.append(g)
                    if len(buf) >= warmup_steps:
                        mean = sum(buf) / len(buf)
                        var = sum((x - mean) ** 2 for x in buf) / len(buf)
                    out.append(g)
                    continue
                std = var ** 0.5
                z = (g - mean) / (std + 1e-6)
                if z > z_thresh:
                    g = mean + z_thresh ** 2 * std / z
                out.append(g)
                var = alpha * var + (1 - alpha) * (g - mean) ** 2   # the old mean
                mean = alpha * mean + (1 - alpha) * g
            return np.array(out)
        ''', "new* mean"),
        ('''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            out, buf, mean, var = [], [], None, None
            for g in map(float, norms):
                if mean is None:
                    buf.append(g)
                    if len(buf) > warmup_steps:          # one step too many
                        mean = sum(buf) / len(buf)
                        var = sum((x - mean) ** 2 for x in buf) / len(buf)
                    out.append(g)
                    continue
                std = var ** 0.5
                z = (g - mean) / (std + 1e-6)
                if z > z_thresh:
                    g = mean + z_thresh ** 2 * std / z
                out.append(g)
                mean = alpha * mean + (1 - alpha) * g
                var = alpha * var + (1 - alpha) * (g - mean) ** 2
            return np.array(out)
        ''', "warm-up"),
        ('''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            out, buf, mean, var = [], [], None, None
            for g in map(float, norms):
                if mean is None:
                    buf.append(g)
                    if len(buf) >= warmup_steps:
                        mean = sum(buf) / len(buf)
                        var = sum((x - mean) ** 2 for x in buf) / len(buf)
                    out.append(g)
                    continue
                std = var ** 0.5
                z = (g - mean) / (std + 1e-6)
                if z > z_thresh:
                    g = mean                              # clip to the mean
                out.append(g)
                mean = alpha * mean + (1 - alpha) * g
                var = alpha * var + (1 - alpha) * (g - mean) ** 2
            return np.array(out)
        ''', "mu + z_thresh**2 * sigma / z"),
        ('''
        def zclip_clipped_norms(norms, alpha=0.97, z_thresh=2.5, warmup_steps=25):
            out, buf, mean, var = [], [], None, None
            for g in map(float, norms):
                if mean is None:
                    buf.append(g)
                    if len(buf) >= warmup_steps:
                        mean = float(np.mean(buf))
                        var = float(np.var(buf, ddof=1)) if len(buf) > 1 else 0.0
                    out.append(g)
                    continue
                std = var ** 0.5
                z = (g - mean) / (std + 1e-6)
                if z > z_thresh:
                    g = mean + z_thresh ** 2 * std / z
                out.append(g)
                mean = alpha * mean + (1 - alpha) * g
                var = alpha * var + (1 - alpha) * (g - mean) ** 2
            return np.array(out)
        ''', "sample variance"),
    ],
    "agc_": [
        ('''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                mx = clipping * max(p.detach().norm().item(), eps)
                gn = p.grad.norm().item()
                if gn > mx:
                    p.grad.mul_(mx / gn)
        ''', "whole"),
        ('''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                dims = tuple(range(p.ndim - 1)) if p.ndim > 1 else None   # JAX's (in, out) axis
                w = torch.linalg.vector_norm(p.detach(), dim=dims, keepdim=True) if dims else p.detach().norm()
                g = torch.linalg.vector_norm(p.grad, dim=dims, keepdim=True) if dims else p.grad.norm()
                mx = clipping * w.clamp(min=eps)
                p.grad.copy_(torch.where(g > mx, p.grad * mx / g.clamp(min=1e-6), p.grad))
        ''', "JAX"),
        ('''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                dims = tuple(range(1, p.ndim)) if p.ndim > 1 else None
                w = torch.linalg.vector_norm(p.detach(), dim=dims, keepdim=True) if dims else p.detach().norm()
                g = torch.linalg.vector_norm(p.grad, dim=dims, keepdim=True) if dims else p.grad.norm()
                mx = clipping * w                                 # no eps
                p.grad.copy_(torch.where(g > mx, p.grad * mx / g.clamp(min=1e-12), p.grad))
        ''', "eps"),
        ('''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                if p.ndim > 1:
                    dims = tuple(range(1, p.ndim))
                    w = torch.linalg.vector_norm(p.detach(), dim=dims, keepdim=True)
                    g = torch.linalg.vector_norm(p.grad, dim=dims, keepdim=True)
                else:                                   # each entry of a bias on its own
                    w, g = p.detach().abs(), p.grad.abs()
                mx = clipping * w.clamp(min=eps)
                p.grad.copy_(torch.where(g > mx, p.grad * mx / g.clamp(min=1e-12), p.grad))
        ''', "one unit"),
        ('''
        def agc_(parameters, clipping=0.01, eps=1e-3):
            for p in parameters:
                if p.grad is None:
                    continue
                dims = tuple(range(1, p.ndim)) if p.ndim > 1 else None
                w = torch.linalg.vector_norm(p.detach(), dim=dims, keepdim=True) if dims else p.detach().norm()
                g = torch.linalg.vector_norm(p.grad, dim=dims, keepdim=True) if dims else p.grad.norm()
                mx = clipping * w.clamp(min=eps)
                p.grad = torch.where(g > mx, p.grad * mx / g.clamp(min=1e-12), p.grad)   # a new tensor
        ''', "in place"),
    ],
    "dual_norm": [
        ('''
        def dual_norm(g, kind):
            x = g.double()
            if kind == "spectral":
                return torch.linalg.matrix_norm(x.flatten(1), ord=2).item()   # spectral, not nuclear
            if kind == "sign":
                return x.abs().sum().item()
            return x.norm().item()
        ''', "nuclear"),
        ('''
        def dual_norm(g, kind):
            x = g.double()
            if kind == "spectral":
                return torch.linalg.svdvals(x.flatten(1)).sum().item()
            if kind == "sign":
                return x.abs().max().item()                                # l-infinity
            return x.norm().item()
        ''', "l1"),
        ('''
        def dual_norm(g, kind):
            x = g.double()
            if kind == "spectral":
                return torch.linalg.svdvals(x.flatten(1)).sum().item()
            if kind == "sign":
                return x.abs().sum().item()
            return (x ** 2).sum().item()                                   # squared
        ''', "square root"),
        ('''
        def dual_norm(g, kind):
            x = g.double()
            if kind == "spectral":
                return torch.linalg.svdvals(x.flatten(1)).sum().item()
            if kind == "sign":
                return x.abs().mean().item()                               # a mean
            return x.norm().item()
        ''', "mean"),
    ],
    "sharded_clip_grad_norm_": [
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            n = torch.zeros((), dtype=torch.float64)
            for g in local_grads:
                n += g.double().pow(2).sum()
            n = n.sqrt()
            dist.all_reduce(n, group=group)          # adds the norms, not the squares
            if n > max_norm:
                for g in local_grads:
                    g.mul_(max_norm / n.item())
            return n
        ''', "squares"),
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            sq = torch.zeros((), dtype=torch.float64)
            for g in local_grads:
                sq += g.double().pow(2).sum()
            dist.all_reduce(sq, op=dist.ReduceOp.AVG, group=group)
            n = sq.sqrt()
            if n > max_norm:
                for g in local_grads:
                    g.mul_(max_norm / n.item())
            return n
        ''', "AVG"),
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            params = [torch.nn.Parameter(torch.zeros_like(g)) for g in local_grads]
            for p, g in zip(params, local_grads):
                p.grad = g
            return torch.nn.utils.clip_grad_norm_(params, max_norm)   # each shard alone
        ''', "own norm"),
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            if not local_grads:
                return torch.tensor(0.0)                 # nothing to add: skips the collective
            sq = torch.stack([g.double().pow(2).sum() for g in local_grads]).sum()
            dist.all_reduce(sq, group=group)
            n = sq.sqrt()
            if n > max_norm:
                for g in local_grads:
                    g.mul_(max_norm / n.item())
            return n
        ''', "still join the all_reduce"),
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            sq = torch.zeros((), dtype=torch.float64)
            for g in local_grads:
                sq += g.double().pow(2).sum()
            dist.all_reduce(sq)                          # ignores `group`
            n = sq.sqrt()
            if n > max_norm:
                for g in local_grads:
                    g.mul_(max_norm / n.item())
            return n
        ''', "group"),
        ('''
        def sharded_clip_grad_norm_(local_grads, max_norm, group=None):
            sq = torch.zeros((), dtype=torch.float64)
            for g in local_grads:
                sq += g.double().pow(2).sum()
            dist.all_reduce(sq, group=group)
            n = sq.sqrt()
            scale = max_norm / n.item() if n > max_norm else 1.0
            for i, g in enumerate(local_grads):
                local_grads[i] = g * scale               # new tensors, not in place
            return n
        ''', "in place"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)


def test_the_whole_lesson_runs_in_under_three_minutes():
    """The issue's budget (2 cores): every code cell in order, as the grader runs them,
    hidden-test cells included (they run the hidden tests on the instructor's solution)."""
    import contextlib
    import io
    import os
    import time

    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from autograder import cells

    nb = cells.load(LESSON)
    namespace = {"__name__": "__main__", "__gradclip_lesson__": LESSON}
    cwd, threads = os.getcwd(), torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    start = time.perf_counter()
    try:
        os.chdir(cells.lesson_path(LESSON).parent)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell.source, f"<cell {i}>", "exec"), namespace)  # noqa: S102
                plt.close("all")
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    elapsed = time.perf_counter() - start
    assert elapsed < 180, f"the lesson took {elapsed:.0f} s"

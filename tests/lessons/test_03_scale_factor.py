"""Lesson 03_scale_factor: correct variants pass, plausible mistakes fail with a message."""

from tests.lessons.harness import make_variant_tests

LESSON = "03_scale_factor"

CLIP_SCALE_OK = '''
def clip_scale(total_norm, max_norm):
    if not max_norm > 0:
        raise ValueError("max_norm must be positive")
    if total_norm < 0:
        raise ValueError("negative norm")
    if not math.isfinite(total_norm):
        raise FloatingPointError("non-finite norm")
    return max_norm / total_norm if total_norm > max_norm else 1.0
'''

CORRECT = {
    "clip_scale": [
        CLIP_SCALE_OK,
        '''
import numpy as np

def clip_scale(total_norm, max_norm):
    total, limit = np.float64(total_norm), np.float64(max_norm)
    if limit <= 0 or total < 0:
        raise ValueError(f"bad arguments {total_norm}, {max_norm}")
    if np.isnan(total) or np.isinf(total):
        raise FloatingPointError("skip this step")
    if total <= limit:          # ties and small norms: unchanged
        return 1.0
    return float(min(1.0, limit / total))
''',
        '''
import torch

def clip_scale(total_norm, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm")
    t = torch.tensor(total_norm, dtype=torch.float64)
    if bool(t < 0):
        raise ValueError("total_norm")
    if not bool(torch.isfinite(t)):
        raise FloatingPointError("total_norm")
    scale = torch.where(t > max_norm, max_norm / t, torch.ones((), dtype=torch.float64))
    return scale.item()
''',
    ],
    "scale_a": ["scale_a = 1.0 / 3.5", "scale_a = clip_scale(3.5, 1.0)", "scale_a = 0.285714286"],
    "norm_after_b": ["norm_after_b = 3.5 * (1.0 / 3.5)", "norm_after_b = 1.0",
                     "norm_after_b = 3.5 * min(1.0, 1.0 / (3.5 + 1e-6))  # PyTorch's coefficient"],
    "scale_c": ["scale_c = 1.0", "scale_c = clip_scale(0.4, 1.0)"],
    "norm_after_c": ["norm_after_c = 0.4", "norm_after_c = 0.4 * clip_scale(0.4, 1.0)"],
    "max_param_step_sgd": [
        '''
def max_param_step_sgd(lr, max_norm):
    return lr * max_norm
''',
        '''
def max_param_step_sgd(lr, max_norm):
    # the clipped gradient's largest entry is at most its norm, max_norm; SGD scales it by lr
    biggest_entry = float(np.float64(max_norm))
    return float(np.float64(lr) * biggest_entry)
''',
    ],
    "guard_reduction_factor": [
        "guard_reduction_factor = (3e-4 * 50) / (1.5e-7 * 1.0)",
        "guard_reduction_factor = 100_000.0",
        "guard_reduction_factor = max_param_step_sgd(3e-4, 50.0) / max_param_step_sgd(1.5e-7, 1.0)",
    ],
    "clipped_fraction": [
        '''
def clipped_fraction(grad_norms, max_norm):
    norms = list(grad_norms)
    if not norms:
        return 0.0
    return sum(1 for n in norms if n > max_norm) / len(norms)
''',
        '''
def clipped_fraction(grad_norms, max_norm):
    a = np.asarray(grad_norms, dtype=np.float64)
    return float((a > max_norm).mean()) if a.size else 0.0
''',
        '''
def clipped_fraction(grad_norms, max_norm):
    count = total = 0
    for norm in grad_norms:
        total += 1
        if norm > max_norm:
            count += 1
    return count / total if total else 0.0
''',
    ],
}

MISTAKES = {
    "clip_scale": [
        # returns > 1 for small norms
        ('''
def clip_scale(total_norm, max_norm):
    if max_norm <= 0 or total_norm < 0:
        raise ValueError("bad")
    if not math.isfinite(total_norm):
        raise FloatingPointError("bad")
    return max_norm / total_norm
''', "never scales a gradient up"),
        # no non-finite check
        ('''
def clip_scale(total_norm, max_norm):
    if max_norm <= 0 or total_norm < 0:
        raise ValueError("bad")
    return max_norm / total_norm if total_norm > max_norm else 1.0
''', "should raise FloatingPointError"),
        # inverted ratio
        ('''
def clip_scale(total_norm, max_norm):
    if max_norm <= 0 or total_norm < 0:
        raise ValueError("bad")
    if not math.isfinite(total_norm):
        raise FloatingPointError("bad")
    return total_norm / max_norm if total_norm > max_norm else 1.0
''', "max_norm / total_norm"),
        # PyTorch's epsilon in a function whose contract is the exact rule
        ('''
def clip_scale(total_norm, max_norm):
    if max_norm <= 0 or total_norm < 0:
        raise ValueError("bad")
    if not math.isfinite(total_norm):
        raise FloatingPointError("bad")
    return min(1.0, max_norm / (total_norm + 1e-6))
''', "1e-6"),
        # no argument checks
        ('''
def clip_scale(total_norm, max_norm):
    if not math.isfinite(total_norm):
        raise FloatingPointError("bad")
    return max_norm / total_norm if total_norm > max_norm else 1.0
''', "should raise ValueError"),
    ],
    "scale_a": [("scale_a = 3.5", "total_norm / max_norm"), ("scale_a = 0.2857", "rounded too early"),
                ("scale_a = 1.0", "scaled down"), ("scale_a = 2.5", "never does")],
    "norm_after_b": [("norm_after_b = 3.5", "before scaling"),
                     ("norm_after_b = 1.0 / 3.5", "the factor, not the norm"),
                     ("norm_after_b = 3.5 * 3.5", "divided by the factor")],
    "scale_c": [("scale_c = 2.5", "never scales up"), ("scale_c = 0.4", "the norm, not the factor"),
                ("scale_c = 1.0 / 3.5", "not the expected value")],
    "norm_after_c": [("norm_after_c = 1.0", "left alone"), ("norm_after_c = 0.16", "twice"),
                     ("norm_after_c = 2.5", "upward factor")],
    "max_param_step_sgd": [
        ("def max_param_step_sgd(lr, max_norm):\n    return lr", "lr alone"),
        ("def max_param_step_sgd(lr, max_norm):\n    return lr / max_norm", "grows with max_norm"),
        ("def max_param_step_sgd(lr, max_norm):\n    return lr * max_norm ** 2", "appears once"),
        ("def max_param_step_sgd(lr, max_norm):\n    return lr * max_norm / 2", "expected"),
    ],
    "guard_reduction_factor": [
        ("guard_reduction_factor = (1.5e-7 * 1.0) / (3e-4 * 50)", "upside down"),
        ("guard_reduction_factor = (3e-4 * 50) / (1.5e-7 * 50)", "capped at 1.0"),
        ("guard_reduction_factor = (3e-4 * 50) / (3e-4 * 1.0)", "warmup"),
        ("guard_reduction_factor = 3e-4 / 1.5e-7", "capped at 1.0"),
    ],
    "clipped_fraction": [
        ('''
def clipped_fraction(grad_norms, max_norm):
    norms = list(grad_norms)
    return sum(1 for n in norms if n >= max_norm) / len(norms) if norms else 0.0
''', "a tie is not clipped"),
        ('''
def clipped_fraction(grad_norms, max_norm):
    return float(sum(1 for n in grad_norms if n > max_norm))
''', "that is a count"),
        ('''
def clipped_fraction(grad_norms, max_norm):
    norms = list(grad_norms)
    return sum(1 for n in norms if n > max_norm) / len(norms)
''', "divided by zero"),
        ('''
def clipped_fraction(grad_norms, max_norm):
    norms = list(grad_norms)
    return 100.0 * sum(1 for n in norms if n > max_norm) / len(norms) if norms else 0.0
''', "clipped_fraction"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)

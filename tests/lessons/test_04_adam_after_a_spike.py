"""Lesson 04_adam_after_a_spike: correct variants pass, plausible mistakes fail with a message."""

from tests.lessons.harness import make_variant_tests

LESSON = "04_adam_after_a_spike"


def moments(update_m: str, update_v: str) -> str:
    """An `adam_moments` variant with the two update lines given."""
    return f'''
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    g = np.asarray(grads, dtype=np.float64)
    m, v = np.empty(len(g)), np.empty(len(g))
    mt, vt = m0, v0
    for t in range(len(g)):
        mt = {update_m}
        vt = {update_v}
        m[t], v[t] = mt, vt
    return m, v
'''


def step_sizes(m_hat: str, v_hat: str, update: str) -> str:
    return f'''
def adam_step_sizes(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m, v = adam_moments(grads, beta1, beta2)
    t = np.arange(1, len(m) + 1)
    m_hat = {m_hat}
    v_hat = {v_hat}
    return {update}
'''


CORRECT = {
    "adam_moments": [
        moments("beta1 * mt + (1 - beta1) * g[t]", "beta2 * vt + (1 - beta2) * g[t] ** 2"),
        '''
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    # torch's own recursion: exp_avg.lerp_(g, 1 - beta1), exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    m_t = torch.tensor(float(m0), dtype=torch.float64)
    v_t = torch.tensor(float(v0), dtype=torch.float64)
    ms, vs = [], []
    for g in torch.as_tensor(np.asarray(grads, dtype=np.float64)):
        m_t = m_t.lerp(g, 1 - beta1)
        v_t = v_t * beta2 + (1 - beta2) * g * g
        ms.append(m_t.item())
        vs.append(v_t.item())
    return np.array(ms, dtype=np.float64), np.array(vs, dtype=np.float64)
''',
        '''
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    # closed form: m_t = beta1**t m0 + sum_s (1 - beta1) beta1**(t - s) g_s
    g = np.asarray(grads, dtype=np.float64)
    T = len(g)
    m, v = np.zeros(T), np.zeros(T)
    for t in range(T):
        w1 = (1 - beta1) * beta1 ** np.arange(t, -1, -1)
        w2 = (1 - beta2) * beta2 ** np.arange(t, -1, -1)
        with np.errstate(invalid="ignore"):
            m[t] = beta1 ** (t + 1) * m0 + np.sum(w1 * g[: t + 1])
            v[t] = beta2 ** (t + 1) * v0 + np.sum(w2 * g[: t + 1] ** 2)
    return m, v
''',
    ],
    "m_trace_after_spike": [
        "m_trace_after_spike = adam_moments([50.0] + [0.5] * 10, beta1=0.9, m0=0.5)[0].tolist()",
        "m_trace_after_spike = [0.5 + 0.1 * 49.5 * 0.9 ** k for k in range(11)]",
        '''
m_trace_after_spike = []
m = 0.5
for g in [50.0] + [0.5] * 10:
    m = 0.9 * m + 0.1 * g
    m_trace_after_spike.append(m)
''',
    ],
    "steps_to_recover": [
        '''
def steps_to_recover(spike, typical, beta, tol=0.1):
    k = 0
    while (1 - beta) * (spike - typical) * beta ** k > tol * typical:
        k += 1
    return k
''',
        '''
def steps_to_recover(spike, typical, beta, tol=0.1):
    excess = (1 - beta) * (spike - typical)
    if excess <= tol * typical:
        return 0
    return math.ceil(math.log(tol * typical / excess) / math.log(beta))
''',
        '''
import itertools

def steps_to_recover(spike, typical, beta, tol=0.1):
    for k in itertools.count():
        if (1 - beta) * (spike - typical) * beta ** k <= tol * typical:
            return k
''',
    ],
    "adam_step_sizes": [
        step_sizes("m / (1 - beta1 ** t)", "v / (1 - beta2 ** t)",
                   "np.abs(lr * m_hat / (np.sqrt(v_hat) + eps))"),
        '''
def adam_step_sizes(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # torch.optim.Adam itself, on a float64 scalar
    p = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    out = []
    for g in np.asarray(grads, dtype=np.float64):
        p.grad = torch.tensor(g, dtype=torch.float64)
        before = p.detach().clone()
        opt.step()
        out.append(abs((p.detach() - before).item()))
    return np.array(out, dtype=np.float64)
''',
        '''
def adam_step_sizes(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        # torch's arrangement: step_size = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps
        denom = math.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
        out.append(abs(lr / (1 - beta1 ** t) * m / denom))
    return np.array(out, dtype=np.float64)
''',
    ],
    "moments_with_clipping": [
        '''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    return adam_moments(np.clip(np.asarray(grads, dtype=np.float64), -max_norm, max_norm),
                        beta1, beta2)
''',
        '''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    clipped = []
    for g in grads:
        norm = abs(g)
        scale = max_norm / norm if norm > max_norm else 1.0
        clipped.append(g * scale)
    return adam_moments(clipped, beta1, beta2)
''',
        '''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    m = v = 0.0
    ms, vs = [], []
    for g in grads:
        g = math.copysign(min(abs(g), max_norm), g)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        ms.append(m)
        vs.append(v)
    return np.array(ms, dtype=np.float64), np.array(vs, dtype=np.float64)
''',
    ],
}

MISTAKES = {
    "adam_moments": [
        (moments("beta1 * mt + (1 - beta1) * g[t] ** 2", "beta2 * vt + (1 - beta2) * g[t] ** 2"),
         "only v averages their squares"),
        (moments("(1 - beta1) * mt + beta1 * g[t]", "beta2 * vt + (1 - beta2) * g[t] ** 2"),
         "swapped"),
        (moments("beta1 * mt + (1 - beta1) * g[t]", "(1 - beta2) * vt + beta2 * g[t] ** 2"),
         "swapped"),
        (moments("beta1 * mt + (1 - beta1) * g[t]", "beta2 * vt + (1 - beta2) * g[t]"),
         "g**2, not g"),
        # ignores the start state
        ('''
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    mt = vt = 0.0
    m, v = [], []
    for g in grads:
        mt = beta1 * mt + (1 - beta1) * g
        vt = beta2 * vt + (1 - beta2) * g * g
        m.append(mt)
        v.append(vt)
    return np.array(m), np.array(v)
''', "start the recursion from m0"),
        # returns lists
        ('''
def adam_moments(grads, beta1=0.9, beta2=0.999, m0=0.0, v0=0.0):
    mt, vt, m, v = m0, v0, [], []
    for g in grads:
        mt = beta1 * mt + (1 - beta1) * g
        vt = beta2 * vt + (1 - beta2) * g * g
        m.append(mt)
        v.append(vt)
    return m, v
''', "should be a ndarray"),
    ],
    "m_trace_after_spike": [
        ("m_trace_after_spike = adam_moments([50.0] + [0.5] * 10, beta1=0.9)[0].tolist()",
         "start from m = 0.5"),
        ("m_trace_after_spike = adam_moments([50.0] + [0.5] * 11, beta1=0.9, m0=0.5)[0].tolist()[1:]",
         "one step late"),
        ("m_trace_after_spike = [0.5 + 0.1 * 49.5 * 0.9 ** k for k in range(10)]", "needs 11"),
        ("m_trace_after_spike = [0.1 * 0.5 + 0.9 * 50.0] + [0.5 + 4.955 * 0.9 ** k for k in range(1, 11)]",
         "swapped"),
        ("m_trace_after_spike = [0.5 + 0.1 * 50.0 * 0.9 ** k for k in range(11)]", "m = 0.9*m + 0.1*g"),
    ],
    "steps_to_recover": [
        ('''
def steps_to_recover(spike, typical, beta, tol=0.1):
    k = 1
    while (1 - beta) * (spike - typical) * beta ** k > tol * typical:
        k += 1
    return k
''', "one too many"),
        ('''
def steps_to_recover(spike, typical, beta, tol=0.1):
    k = 0
    while (1 - beta) * (spike - typical) * beta ** k >= tol * typical:
        k += 1
    return k
''', "equal counts as recovered"),
        ('''
def steps_to_recover(spike, typical, beta, tol=0.1):
    excess = (1 - beta) * (spike - typical)
    return math.floor(math.log(tol * typical / excess) / math.log(beta))
''', "one too few"),
        ('''
def steps_to_recover(spike, typical, beta, tol=0.1):
    k = 0
    while spike * beta ** k > tol * typical:
        k += 1
    return k
''', "expected"),
        ('''
def steps_to_recover(spike, typical, beta, tol=0.1):
    k = 0
    while (1 - beta) * (spike - typical) * beta ** k > tol * typical:
        k += 1
    return float(k)
''', "should return an int"),
    ],
    "adam_step_sizes": [
        (step_sizes("m", "v", "np.abs(lr * m_hat / (np.sqrt(v_hat) + eps))"), "without bias correction"),
        (step_sizes("m / (1 - beta1 ** t)", "v / (1 - beta2 ** t)",
                    "np.abs(lr * m_hat / np.sqrt(v_hat + eps))"), "after the square root"),
        (step_sizes("m / (1 - beta1 ** t)", "v / (1 - beta2 ** t)",
                    "lr * m_hat / (np.sqrt(v_hat) + eps)"), "absolute update"),
        (step_sizes("m / (1 - beta1 ** (t + 1))", "v / (1 - beta2 ** (t + 1))",
                    "np.abs(lr * m_hat / (np.sqrt(v_hat) + eps))"), "torch.optim.Adam"),
        # Kingma & Ba's "efficient" ordering puts eps on the uncorrected sqrt(v)
        (step_sizes("m / (1 - beta1 ** t)", "v",
                    "np.abs(lr * np.sqrt(1 - beta2 ** t) * m_hat / (np.sqrt(v_hat) + eps))"),
         "eps matters"),
    ],
    "moments_with_clipping": [
        ('''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    m, v = adam_moments(grads, beta1, beta2)
    return np.clip(m, -max_norm, max_norm), v
''', "before it enters the moments"),
        ('''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    return adam_moments([min(abs(g), max_norm) for g in grads], beta1, beta2)
''', "keep the gradient's sign"),
        ('''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    m, _ = adam_moments(np.clip(grads, -max_norm, max_norm), beta1, beta2)
    _, v = adam_moments(grads, beta1, beta2)
    return m, v
''', "before it enters the moments"),
        ('''
def moments_with_clipping(grads, max_norm, beta1=0.9, beta2=0.999):
    g = np.asarray(grads, dtype=np.float64)
    return adam_moments(g * max_norm / np.max(np.abs(g)), beta1, beta2)
''', "clip each"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)

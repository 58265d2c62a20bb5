"""Lesson 05 (three kernels): differently written correct solutions pass every test cell;
plausible mistakes fail one, with a message that names the mistake.

Kernel variants are CUDA C strings; each runs on the CPU backend of `kernels` (or CuPy
where a GPU is present) through the lesson's own visible and hidden test cells.
"""

from __future__ import annotations


import pytest

from autograder import cells
from autograder.reference import three_kernels as ref
from tests.lessons.harness import make_variant_tests, run_exercise

LESSON = "05_three_kernels"


def _src(variable: str, cuda: str) -> str:
    """A solution cell that binds `variable` to the CUDA source `cuda`."""
    return f'{variable} = r"""\n{cuda.strip()}\n"""\n'


def _ref_without(variable: str, old: str, new: str, count: int = 1) -> str:
    """The reference source of `variable` with `old` replaced by `new` (must occur)."""
    text = getattr(ref, variable)
    assert old in text, f"{old!r} not in the reference {variable}"
    return _src(variable, text.replace(old, new, count))


GRID_STRIDE = "for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;\n" \
              "         i += (long long)blockDim.x * gridDim.x)"

# -- kernel 1 ------------------------------------------------------------------------------

PARTIAL_WARP_SHUFFLE = _src("K_GRAD_NORM_PARTIAL", r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    __shared__ float warp_sums[32];
    float acc = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        acc = fmaf(g[i], g[i], acc);
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        acc += __shfl_down_sync(0xffffffffu, acc, offset);
    }
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    if (lane == 0) {
        warp_sums[warp] = acc;
    }
    __syncthreads();
    if (warp == 0) {
        float s = (lane < (int)(blockDim.x >> 5)) ? warp_sums[lane] : 0.0f;
        for (int offset = 16; offset > 0; offset >>= 1) {
            s += __shfl_down_sync(0xffffffffu, s, offset);
        }
        if (lane == 0) {
            partial[blockIdx.x] = s;
        }
    }
}
""")

PARTIAL_DOUBLE_INTERLEAVED = _src("K_GRAD_NORM_PARTIAL", r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    __shared__ double s[1024];
    const unsigned int tid = threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    double acc = 0.0;
    long long i = (long long)blockIdx.x * blockDim.x + tid;
    while (i < n) {
        const double v = g[i];
        acc += v * v;
        i += stride;
    }
    s[tid] = acc;
    __syncthreads();
    for (unsigned int step = 1; step < blockDim.x; step *= 2) {
        if (tid % (2 * step) == 0) {
            s[tid] += s[tid + step];
        }
        __syncthreads();
    }
    if (tid == 0) {
        partial[blockIdx.x] = (float)s[0];
    }
}
""")

PARTIAL_SHARED_ATOMIC = _src("K_GRAD_NORM_PARTIAL", r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    __shared__ float total;
    if (threadIdx.x == 0) {
        total = 0.0f;
    }
    __syncthreads();
    float acc = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        acc += g[i] * g[i];
    }
    atomicAdd(&total, acc);
    __syncthreads();
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = total;
    }
}
""")

# Dynamic shared memory: graders launch with blockDim.x * sizeof(double) bytes (the contract).
PARTIAL_EXTERN_SHARED_DOUBLE = _src("K_GRAD_NORM_PARTIAL", r"""
extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    extern __shared__ double cache[];   // blockDim.x doubles, sized by the launch
    double acc = 0.0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        acc += (double)g[i] * (double)g[i];
    }
    cache[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x >> 1; half > 0; half >>= 1) {
        if (threadIdx.x < half) {
            cache[threadIdx.x] += cache[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = (float)cache[0];
    }
}
""")

PARTIAL_MISSING_LOOP_BARRIER = _ref_without(
    "K_GRAD_NORM_PARTIAL",
    "        __syncthreads();  // this round's sums land before the next round reads them\n",
    "")

PARTIAL_WHOLE_PASSES_ONLY = _ref_without(
    "K_GRAD_NORM_PARTIAL",
    "    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += stride) {\n"
    "        const float v = g[i];",
    "    const long long passes = n / stride;  // whole passes of the grid only\n"
    "    for (long long k = 0; k < passes; ++k) {\n"
    "        const long long i = (long long)blockIdx.x * blockDim.x + t + k * stride;\n"
    "        const float v = g[i];")

PARTIAL_NO_GRID_STRIDE = _ref_without(
    "K_GRAD_NORM_PARTIAL",
    "    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += stride) {\n"
    "        const float v = g[i];\n"
    "        acc += v * v;\n"
    "    }",
    "    const long long i = (long long)blockIdx.x * blockDim.x + t;  // one element each\n"
    "    if (i < n) {\n"
    "        acc = g[i] * g[i];\n"
    "    }")

PARTIAL_IDLE_BLOCKS_SKIP = _ref_without(
    "K_GRAD_NORM_PARTIAL",
    "    const unsigned int t = threadIdx.x;\n",
    "    const unsigned int t = threadIdx.x;\n"
    "    if ((long long)blockIdx.x * blockDim.x >= n) {\n"
    "        return;  // nothing to do for this block\n"
    "    }\n")

PARTIAL_SMALL_SHARED = _ref_without("K_GRAD_NORM_PARTIAL", "__shared__ float sums[1024];",
                                    "__shared__ float sums[256];")

# Tested with 32 threads only: the tree starts at 16, so other block sizes lose slots.
PARTIAL_FIXED_TREE_START = _ref_without(
    "K_GRAD_NORM_PARTIAL", "for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1)",
    "for (unsigned int half = 16; half > 0; half >>= 1)")

# The tree starts past the block: a block of 32 reads `sums[512..543]`, which it never wrote.
PARTIAL_TREE_STARTS_PAST_THE_BLOCK = _ref_without("K_GRAD_NORM_PARTIAL", "half = blockDim.x / 2;",
                                                  "half = 512;")

PARTIAL_ADDS_TO_SLOT = _ref_without("K_GRAD_NORM_PARTIAL", "partial[blockIdx.x] = sums[0];",
                                    "partial[blockIdx.x] += sums[0];")

# -- kernel 2 ------------------------------------------------------------------------------

FINAL_WARP_SHUFFLE = _src("K_GRAD_NORM_FINAL", r"""
extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    __shared__ float warp_sums[32];
    float acc = 0.0f;
    for (int i = threadIdx.x; i < num_partials; i += blockDim.x) {
        acc += partial[i];
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
        acc += __shfl_xor_sync(0xffffffffu, acc, offset);
    }
    if ((threadIdx.x & 31) == 0) {
        warp_sums[threadIdx.x >> 5] = acc;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int w = 0; w < (int)(blockDim.x >> 5); ++w) {
            total += warp_sums[w];
        }
        const float norm = sqrtf(total);
        out[0] = norm;
        out[1] = norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}
""")

FINAL_SERIAL_DOUBLE = _src("K_GRAD_NORM_FINAL", r"""
extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    // a single thread does it all: slow for many partials, but correct
    if (threadIdx.x != 0) {
        return;
    }
    double total = 0.0;
    for (int i = 0; i < num_partials; ++i) {
        total += partial[i];
    }
    const float norm = (float)sqrt(total);
    out[0] = norm;
    out[1] = (norm > max_norm) ? max_norm / norm : 1.0f;   // llm.c's rule, no 1e-6
}
""")

FINAL_TORCH_RULE = _ref_without(
    "K_GRAD_NORM_FINAL",
    "out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;",
    "out[1] = fminf(max_norm / (norm + 1e-6f), 1.0f);  // PyTorch's clamp")

FINAL_EXTERN_SHARED = _src("K_GRAD_NORM_FINAL", r"""
extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    extern __shared__ float sums[];     // dynamic: at least blockDim.x floats
    float acc = 0.0f;
    for (int i = threadIdx.x; i < num_partials; i += blockDim.x) {
        acc += partial[i];
    }
    sums[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            sums[threadIdx.x] += sums[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        const float norm = sqrtf(sums[0]);
        out[0] = norm;
        out[1] = norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}
""")

FINAL_ONE_PER_THREAD = _ref_without(
    "K_GRAD_NORM_FINAL",
    "    for (int i = t; i < num_partials; i += blockDim.x) {\n        acc += partial[i];\n    }",
    "    if (t < num_partials) {\n        acc = partial[t];\n    }")

FINAL_DROPS_LAST = _ref_without("K_GRAD_NORM_FINAL", "i < num_partials;", "i < num_partials - 1;")

FINAL_NO_SQRT = _ref_without("K_GRAD_NORM_FINAL", "const float norm = sqrtf(sums[0]);",
                             "const float norm = sums[0];")

FINAL_ALWAYS_SCALES = _ref_without(
    "K_GRAD_NORM_FINAL", "out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;",
    "out[1] = max_norm / (norm + 1e-6f);")

FINAL_INVERTED = _ref_without(
    "K_GRAD_NORM_FINAL", "out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;",
    "out[1] = (norm > max_norm) ? norm / max_norm : 1.0f;")

FINAL_MISSING_BARRIER = _ref_without(
    "K_GRAD_NORM_FINAL",
    "            sums[t] += sums[t + half];\n        }\n        __syncthreads();\n",
    "            sums[t] += sums[t + half];\n        }\n")

FINAL_SCALE_FROM_SQUARES = _ref_without(
    "K_GRAD_NORM_FINAL", "max_norm / (norm + 1e-6f) : 1.0f;",
    "max_norm / (sums[0] + 1e-6f) : 1.0f;")

# -- kernel 3 ------------------------------------------------------------------------------

SCALE_IF_BELOW = _src("K_GRAD_SCALE", r"""
extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    const float s = out[1];
    if (s < 1.0f) {
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
             i += (long long)blockDim.x * gridDim.x) {
            g[i] = g[i] * s;
        }
    }
}
""")

SCALE_FOUR_PER_THREAD = _src("K_GRAD_SCALE", r"""
extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    const float s = out[1];
    if (!(s < 1.0f)) {
        return;
    }
    const long long stride = 4LL * blockDim.x * gridDim.x;
    for (long long base = 4LL * ((long long)blockIdx.x * blockDim.x + threadIdx.x); base < n;
         base += stride) {
        for (int k = 0; k < 4 && base + k < n; ++k) {
            g[base + k] *= s;
        }
    }
}
""")

SCALE_ALWAYS_WRITES = _ref_without("K_GRAD_SCALE",
                                   "    if (scale >= 1.0f) {\n"
                                   "        return;  // no clip needed: skip every read and write of g\n"
                                   "    }\n", "")

SCALE_SKIPS_ONLY_ABOVE_ONE = _ref_without("K_GRAD_SCALE", "if (scale >= 1.0f)",
                                          "if (scale > 1.0f)")

SCALE_NO_GRID_STRIDE = _ref_without(
    "K_GRAD_SCALE",
    "    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {\n"
    "        g[i] *= scale;\n    }",
    "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) {\n        g[i] *= scale;\n    }")

SCALE_OFF_BY_ONE = _ref_without("K_GRAD_SCALE", "i < n; i += stride", "i <= n; i += stride")

SCALE_WRONG_SLOT = _ref_without("K_GRAD_SCALE", "g[i] *= scale;", "g[i] *= out[0];")

# With max_norm = 1, out[1] == 1 / out[0] and this would agree with the right answer.
SCALE_DIVIDES_BY_NORM = _ref_without("K_GRAD_SCALE", "g[i] *= scale;", "g[i] /= out[0];")

# Decides from the norm alone, as if max_norm were 1.
SCALE_DECIDES_FROM_NORM = _ref_without("K_GRAD_SCALE", "if (scale >= 1.0f)", "if (out[0] <= 1.0f)")

# -- the launcher --------------------------------------------------------------------------

LAUNCHER_REFERENCE_LIKE = '''
import itertools

def clip_grad_norm_kernels(grads, max_norm, threads=256):
    k1 = kernels.RawKernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")
    k2 = kernels.RawKernel(K_GRAD_NORM_FINAL, "k_grad_norm_final")
    k3 = kernels.RawKernel(K_GRAD_SCALE, "k_grad_scale")
    live = [g for g in grads if g.size > 0]
    blocks = [min((g.size + threads - 1) // threads, 64) for g in live]
    starts = [0, *itertools.accumulate(blocks)]
    partial = xp.empty(max(starts[-1], 1), dtype=xp.float32)
    for g, b, s in zip(live, blocks, starts):
        k1((b,), (threads,), (g, np.int64(g.size), partial[s:s + b]))
    out = xp.empty(2, dtype=xp.float32)
    k2((1,), (threads,), (partial, np.int32(starts[-1]), np.float32(max_norm), out))
    for g, b in zip(live, blocks):
        k3((b,), (threads,), (g, np.int64(g.size), out))
    return float(out[0])
'''

LAUNCHER_FLAT_BUFFER = '''
def clip_grad_norm_kernels(grads, max_norm, threads=256):
    """Copy everything into one flat buffer, clip that, copy back (more traffic, same result)."""
    if not grads:
        return 0.0
    flat = xp.concatenate([g.reshape(-1) for g in grads]).astype(xp.float32)
    n = int(flat.size)
    blocks = max(1, min(kernel_lab.cdiv(n, threads), 128))
    partial = xp.zeros(blocks, dtype=xp.float32)
    out = xp.zeros(2, dtype=xp.float32)
    module = kernels.RawModule(code=K_GRAD_NORM_PARTIAL + K_GRAD_NORM_FINAL + K_GRAD_SCALE)
    module.get_function("k_grad_norm_partial")((blocks,), (threads,), (flat, np.int64(n), partial))
    module.get_function("k_grad_norm_final")((1,), (threads,),
                                             (partial, np.int32(blocks), np.float32(max_norm), out))
    module.get_function("k_grad_scale")((blocks,), (threads,), (flat, np.int64(n), out))
    offset = 0
    for g in grads:
        g[...] = flat[offset:offset + g.size].reshape(g.shape)
        offset += g.size
    return float(out[0])
'''


def _launcher(body: str) -> str:
    """The instructor's launcher with its body's lines between the markers replaced."""
    return ('''
def clip_grad_norm_kernels(grads, max_norm, threads=256):
    partial_kernel = kernels.RawKernel(K_GRAD_NORM_PARTIAL, "k_grad_norm_partial")
    final_kernel = kernels.RawKernel(K_GRAD_NORM_FINAL, "k_grad_norm_final")
    scale_kernel = kernels.RawKernel(K_GRAD_SCALE, "k_grad_scale")
    blocks = [min(kernel_lab.cdiv(g.size, threads), 1024) for g in grads]
    total = sum(blocks)
    partial = xp.zeros(max(total, 1), dtype=xp.float32)
''' + body)


_PARTIALS = '''
    offset = 0
    for g, b in zip(grads, blocks):
        if b:
            partial_kernel((b,), (threads,), (g, np.int64(g.size), partial[offset:offset + b]))
            offset += b
    out = xp.zeros(2, dtype=xp.float32)
'''
_FINAL = '''
    final_kernel((1,), (threads,), (partial, np.int32(total), np.float32(max_norm), out))
'''
_SCALES = '''
    for g, b in zip(grads, blocks):
        if b:
            scale_kernel((b,), (threads,), (g, np.int64(g.size), out))
'''

LAUNCHER_SYNCS_TO_DECIDE = _launcher(_PARTIALS + _FINAL + '''
    norm = float(out[0])                     # the host waits for the device here
    if norm > max_norm:
        for g, b in zip(grads, blocks):
            if b:
                scale_kernel((b,), (threads,), (g, np.int64(g.size), out))
    return norm
''')

LAUNCHER_SYNCS_TO_SKIP = _launcher(_PARTIALS + _FINAL + '''
    if float(out[1]) >= 1.0:                 # nothing to do: skip the launches
        return float(out[0])
''' + _SCALES + '''
    return float(out[0])
''')

LAUNCHER_HOST_SUM = _launcher(_PARTIALS + '''
    norm = math.sqrt(float(partial[:total].sum()))          # summed on the host
    out[0] = norm
    out[1] = max_norm / (norm + 1e-6) if norm > max_norm else 1.0
''' + _SCALES + '''
    return norm
''')

# (A Python int for `int num_partials` is no mistake: CuPy passes it as a `long long`, of
# which the driver copies the low 4 bytes, right when it fits; `kernels.marshal` accepts it.)
LAUNCHER_PYTHON_FLOAT = _launcher(_PARTIALS + '''
    final_kernel((1,), (threads,), (partial, np.int32(total), max_norm, out))
''' + _SCALES + '''
    return float(out[0])
''')

LAUNCHER_OVERLAPPING_SLICES = _launcher('''
    for i, (g, b) in enumerate(zip(grads, blocks)):
        if b:
            partial_kernel((b,), (threads,), (g, np.int64(g.size), partial[i:i + b]))
    out = xp.zeros(2, dtype=xp.float32)
''' + _FINAL + _SCALES + '''
    return float(out[0])
''')

LAUNCHER_DROPS_LAST_PARTIAL = _launcher(_PARTIALS + '''
    final_kernel((1,), (threads,), (partial, np.int32(total - 1), np.float32(max_norm), out))
''' + _SCALES + '''
    return float(out[0])
''')

LAUNCHER_RETURNS_CLIPPED_NORM = _launcher(_PARTIALS + _FINAL + _SCALES + '''
    return min(float(out[0]), max_norm)
''')

# Hard-codes 256 threads a block whatever the caller's `threads` says.
LAUNCHER_IGNORES_THREADS = _launcher(_PARTIALS + _FINAL + _SCALES + """
    return float(out[0])
""").replace("(threads,)", "(256,)").replace("g.size, threads)", "g.size, 256)")

LAUNCHER_FINAL_PER_TENSOR = _launcher('''
    out = xp.zeros(2, dtype=xp.float32)
    offset = 0
    for g, b in zip(grads, blocks):
        if b:
            partial_kernel((b,), (threads,), (g, np.int64(g.size), partial[offset:offset + b]))
            offset += b
            final_kernel((1,), (threads,), (partial, np.int32(offset), np.float32(max_norm), out))
''' + _SCALES + '''
    return float(out[0])
''')


CORRECT = {
    "K_GRAD_NORM_PARTIAL": [PARTIAL_WARP_SHUFFLE, PARTIAL_DOUBLE_INTERLEAVED,
                            PARTIAL_SHARED_ATOMIC, PARTIAL_EXTERN_SHARED_DOUBLE],
    "K_GRAD_NORM_FINAL": [FINAL_WARP_SHUFFLE, FINAL_SERIAL_DOUBLE, FINAL_TORCH_RULE,
                          FINAL_EXTERN_SHARED],
    "K_GRAD_SCALE": [SCALE_IF_BELOW, SCALE_FOUR_PER_THREAD],
    "clip_grad_norm_kernels": [LAUNCHER_REFERENCE_LIKE, LAUNCHER_FLAT_BUFFER],
}

MISTAKES = {
    "K_GRAD_NORM_PARTIAL": [
        (PARTIAL_MISSING_LOOP_BARRIER, "depends on thread order"),
        (PARTIAL_WHOLE_PASSES_ONLY, "multiple of the block size"),
        (PARTIAL_NO_GRID_STRIDE, "grid-stride"),
        (PARTIAL_IDLE_BLOCKS_SKIP, "never wrote its slot"),
        (PARTIAL_SMALL_SHARED, "`sums` has 256 elements"),
        (PARTIAL_FIXED_TREE_START, "expected"),
        (PARTIAL_TREE_STARTS_PAST_THE_BLOCK, "shared memory that was never written"),
        (PARTIAL_ADDS_TO_SLOT, "instead of writing it"),
    ],
    "K_GRAD_NORM_FINAL": [
        (FINAL_ONE_PER_THREAD, "only partial[threadIdx.x]"),
        (FINAL_DROPS_LAST, "last partial"),
        (FINAL_NO_SQRT, "square root"),
        (FINAL_ALWAYS_SCALES, "never scales small gradients up"),
        (FINAL_INVERTED, "inverted"),
        (FINAL_MISSING_BARRIER, "depends on thread order"),
        (FINAL_SCALE_FROM_SQUARES, "out[1]"),
    ],
    "K_GRAD_SCALE": [
        (SCALE_ALWAYS_WRITES, "must not touch g"),
        (SCALE_SKIPS_ONLY_ABOVE_ONE, "must not touch g"),
        (SCALE_NO_GRID_STRIDE, "grid-stride"),
        (SCALE_OFF_BY_ONE, "but the array `g` has"),
        (SCALE_WRONG_SLOT, "g[i] * out[1]"),
        (SCALE_DIVIDES_BY_NORM, "divided by out[0]"),
        (SCALE_DECIDES_FROM_NORM, "nothing was scaled"),
    ],
    "clip_grad_norm_kernels": [
        (LAUNCHER_SYNCS_TO_DECIDE, "reads the norm back to the host"),
        (LAUNCHER_SYNCS_TO_SKIP, "reads the norm back to the host"),
        (LAUNCHER_HOST_SUM, "never launched `k_grad_norm_final`"),
        (LAUNCHER_PYTHON_FLOAT, "numpy.float32"),
        (LAUNCHER_OVERLAPPING_SLICES, "expected the norm"),
        (LAUNCHER_DROPS_LAST_PARTIAL, "expected the norm"),
        (LAUNCHER_RETURNS_CLIPPED_NORM, "before clipping"),
        (LAUNCHER_FINAL_PER_TENSOR, "launched `k_grad_norm_final`"),
        (LAUNCHER_IGNORES_THREADS, "use `threads`"),
    ],
}

TestVariants = make_variant_tests(LESSON, CORRECT, MISTAKES)


def test_exercises_in_the_lesson_order():
    """The lesson's exercises, in the order it poses them, and no others. (Ids, kinds, test
    cells and rubrics: tests/lessons/test_lesson_sources.py, for every lesson.)"""
    assert list(cells.exercises(cells.load(LESSON))) == [
        "K_GRAD_NORM_PARTIAL", "K_GRAD_NORM_FINAL", "K_GRAD_SCALE", "clip_grad_norm_kernels",
        "why_three_kernels"]


def test_solution_cells_define_the_contract_signatures():
    """Each kernel solution defines its kernel with the contract's exact C signature."""
    from kernels.signature import find_kernels

    wanted = {
        "K_GRAD_NORM_PARTIAL": ("k_grad_norm_partial", ["const float*", "long long", "float*"]),
        "K_GRAD_NORM_FINAL": ("k_grad_norm_final", ["const float*", "int", "float", "float*"]),
        "K_GRAD_SCALE": ("k_grad_scale", ["float*", "long long", "const float*"]),
    }
    for variable, (name, decls) in wanted.items():
        sig = find_kernels(getattr(ref, variable))[name]
        assert [p.decl for p in sig.params] == decls, variable


def test_launcher_check_restores_the_kernel_class():
    """The launcher scenario (`course.launch_log`) patches `RawKernel.__call__` in the
    learner's process and must put it back, even when the learner's launcher fails."""
    import kernels

    original = vars(kernels.RawKernel)["__call__"]
    run = run_exercise(LESSON, "clip_grad_norm_kernels", LAUNCHER_SYNCS_TO_DECIDE)
    assert run.any_failed
    assert vars(kernels.RawKernel)["__call__"] is original


@pytest.mark.parametrize("variable", ["K_GRAD_NORM_PARTIAL", "K_GRAD_NORM_FINAL"])
def test_unanswered_kernels_do_not_cost_the_launcher(variable):
    """The launcher is graded with the reference kernels: an unanswered kernel exercise
    (its variable never bound) still lets a correct launcher pass."""
    from tests.lessons import harness

    nb = cells.load(LESSON)
    table = cells.exercises(nb)
    index = table[variable].solution_index
    original = nb.cells[index].source
    nb.cells[index].source = harness.STUB
    saved_load = cells.load
    try:
        cells.load = lambda lesson_id: nb  # run_exercise reads the notebook through cells
        run = run_exercise(LESSON, "clip_grad_norm_kernels")
    finally:
        cells.load = saved_load
        nb.cells[index].source = original
    hidden = {g: o for g, o in run.items() if g.endswith("_hidden")}
    assert hidden and all(o.passed for o in hidden.values()), run.errors

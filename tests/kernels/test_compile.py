"""Compilation: errors point at the learner's own lines; results are cached on disk."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

import kernels
from kernels.cpu import toolchain

BAD = '''extern "C" __global__ void k_bad(float* x, long long n) {
    long long i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        x[i] = y * 2.0f;
    }
}
'''


def test_compile_error_cites_the_learners_line_and_no_prelude():
    k = kernels.RawKernel(BAD, "k_bad", backend="cpu")
    with pytest.raises(kernels.CompileError) as e:
        k.compile()
    msg = str(e.value)
    assert "k_bad.cu:4:" in msg and ("‘y’" in msg or "'y'" in msg)
    assert "x[i] = y * 2.0f;" in msg            # the source excerpt is the learner's
    for internal in ("gradclip_cuda.h", "gc_", "tu.cpp", "::gc::", "In file included"):
        assert internal not in msg
    assert e.value.log in msg and e.value.name == "k_bad.cu"
    buf = io.StringIO()
    e.value.dump(buf)
    assert "   4         x[i] = y * 2.0f;" in buf.getvalue()


def test_type_errors_in_kernel_code_speak_cuda_types():
    src = 'extern "C" __global__ void k_t(const float* g) {\n    int* p = g;\n}\n'
    with pytest.raises(kernels.CompileError) as e:
        kernels.RawKernel(src, "k_t", backend="cpu").compile()
    msg = str(e.value)
    assert "k_t.cu:2:" in msg and "gc::ptr" not in msg


def test_lazy_compile_on_first_launch_raises_compile_error():
    k = kernels.RawKernel(BAD, "k_bad", backend="cpu")
    with pytest.raises(kernels.CompileError):
        k((1,), (32,), (np.zeros(4, np.float32), 4))


def test_unknown_kernel_name():
    with pytest.raises(kernels.CompileError, match="no `__global__` function named `k_nope`.*found: k_bad"):
        kernels.RawKernel(BAD, "k_nope", backend="cpu").compile()
    with pytest.raises(kernels.CompileError, match="k_nope"):
        kernels.RawModule(code=BAD, backend="cpu").get_function("k_nope")


def test_options_define_macros():
    src = 'extern "C" __global__ void k_opt(int* out) { out[0] = VALUE; }\n'
    k = kernels.RawKernel(src, "k_opt", options=("-DVALUE=42", "--use_fast_math"), backend="cpu")
    out = np.zeros(1, np.int32)
    k((1,), (1,), (out,))
    assert out[0] == 42


def test_cache_directory_and_reuse(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCLIP_CACHE_DIR", str(tmp_path))
    src = 'extern "C" __global__ void k_cache(int* out) { out[0] = 7; }\n'
    t0 = time.perf_counter()
    kernels.RawKernel(src, "k_cache", backend="cpu").compile()
    first = time.perf_counter() - t0
    libs = list(tmp_path.glob("*/kernel.so"))
    assert len(libs) == 1
    t0 = time.perf_counter()
    kernels.RawKernel(src, "k_cache", backend="cpu").compile()
    assert time.perf_counter() - t0 < max(first / 4, 0.05)
    assert list(tmp_path.glob("*/kernel.so")) == libs


def test_fast_mode_is_a_separate_build(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCLIP_CACHE_DIR", str(tmp_path))
    src = 'extern "C" __global__ void k_fast(float* x) { x[threadIdx.x] = 1.0f; }\n'
    monkeypatch.setenv("KERNELS_BOUNDS_CHECK", "0")
    x = np.zeros(4, np.float32)
    kernels.RawKernel(src, "k_fast", backend="cpu")((1,), (4,), (x,))
    monkeypatch.setenv("KERNELS_BOUNDS_CHECK", "1")
    kernels.RawKernel(src, "k_fast", backend="cpu")((1,), (4,), (x,))
    assert len(list(tmp_path.glob("*/kernel.so"))) == 2 and x.tolist() == [1.0] * 4


def test_compiler_is_found():
    assert toolchain.compiler()


def test_a_cached_library_that_changed_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    """Cache poisoning: a library replaced in the cache after it was built is never loaded."""
    import numpy as np

    import kernels
    from kernels.cpu import cache

    monkeypatch.setenv("GRADCLIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KERNELS_BACKEND", "cpu")
    src = 'extern "C" __global__ void fill(float* x, int n) { int i = threadIdx.x; if (i < n) x[i] = 7.0f; }'
    first = kernels.RawModule(code=src)
    first.compile()
    (lib,) = list(tmp_path.glob("*/kernel.so"))
    assert cache.intact(lib) and not (lib.stat().st_mode & 0o222)  # built read-only
    lib.chmod(0o644)
    lib.write_bytes(lib.read_bytes()[:-16] + b"\0" * 16)  # someone else's code now
    assert not cache.intact(lib)
    again = kernels.RawModule(code=src)
    x = np.zeros(4, dtype=np.float32)
    again.get_function("fill")((1,), (4,), (x, np.int32(4)))
    assert np.all(x == 7.0) and cache.intact(lib)

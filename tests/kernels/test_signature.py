"""Parsing kernel parameter lists."""

from __future__ import annotations

from kernels.signature import find_kernels, mask_source, needs_fibers

SRC = r'''
// a comment mentioning __global__ void fake(int x)
#define N 4
template <typename T> __device__ T twice(T v) { return v + v; }
extern "C" __global__ void __launch_bounds__(256) k_a(const float* __restrict__ g, long long n,
                                                     float *out, unsigned m, int) {}
__global__ void k_b(void) {}
extern "C" __global__ void k_c(float4* v, const double* const d, unsigned long long x, bool b) {}
'''


def test_finds_kernels_with_names_and_lines():
    ks = find_kernels(SRC)
    assert sorted(ks) == ["k_a", "k_b", "k_c"]
    assert ks["k_a"].line == 5


def test_parameter_types_pointers_and_const():
    a = find_kernels(SRC)["k_a"].params
    assert [(p.name, p.ctype, p.pointer, p.const) for p in a] == [
        ("g", "float", True, True), ("n", "long long", False, False),
        ("out", "float", True, False), ("m", "unsigned int", False, False),
        ("arg4", "int", False, False)]
    assert a[0].decl == "const float*"
    assert find_kernels(SRC)["k_b"].params == ()
    c = find_kernels(SRC)["k_c"].params
    assert [(p.ctype, p.itemsize) for p in c] == [("float4", 16), ("double", 8),
                                                  ("unsigned long long", 8), ("bool", 1)]


def test_mask_keeps_offsets_and_lines():
    masked = mask_source(SRC)
    assert len(masked) == len(SRC) and masked.count("\n") == SRC.count("\n")
    assert "fake" not in masked and 'extern " " __global__' in masked


def test_needs_fibers_only_with_barriers_or_warp_ops():
    assert not needs_fibers(SRC)
    assert needs_fibers("__global__ void k() { __syncthreads(); }")
    assert needs_fibers("__global__ void k(float v) { v = __shfl_down_sync(~0u, v, 1); }")
    assert not needs_fibers("__global__ void k() { /* __syncthreads(); */ }")


def test_extern_c_linkage_directly_in_a_block_or_from_a_declaration():
    ks = find_kernels('extern "C" __global__ void a(int* x) {}\n'
                      'extern "C" {\n__global__ void b(int* x) {}\n}\n'
                      '__global__ void c(int* x) {}\n'
                      'extern "C" __global__ void d(int* x);\n__global__ void d(int* x) {}\n'
                      'template <class T, int N = 4> __global__ void e(T* x, int n) {}\n')
    assert [ks[k].extern_c for k in "abcde"] == [True, True, False, True, False]
    assert ks["e"].templated and ks["e"].template_params == ("T", "N")
    assert not ks["d"].templated and ks["d"].template_params == ()


def test_typedefs_and_default_arguments_resolve_to_the_c_type():
    ks = find_kernels('typedef unsigned int u32_t;\nusing real = double;\n'
                      'extern "C" __global__ void k(u32_t a, const real* x, int* p = NULL, uint b = 2) {}')
    p = ks["k"].params
    assert [(q.name, q.ctype, q.pointer) for q in p] == [
        ("a", "unsigned int", False), ("x", "double", True), ("p", "int", True), ("b", "uint", False)]

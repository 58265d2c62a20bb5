"""Template kernels and C++ (not extern "C") kernels, found as CuPy finds them: through
`RawModule(code=..., name_expressions=[...])` and `get_function("fx3<float>")`."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

from .conftest import to_numpy, xp_of

# CuPy's documentation, "User-Defined Kernels", RawModule with name_expressions (MIT):
# the same template kernel, written here in that form.
FX3 = r'''
template<typename T>
__global__ void fx3(T* arr, int N) {
    unsigned int tid = blockIdx.x * blockDim.x + threadIdx.x;
    if (tid < N) arr[tid] = arr[tid] * 3;
}
'''

# NVIDIA cuda-samples, reduction_kernel.cu reduce4 (BSD-3-Clause): templated on the element
# type and the block size, dynamic shared memory through SharedMemory<T>.
REDUCE4 = r'''
template <class T> struct SharedMemory {
    __device__ inline operator T*() { extern __shared__ int __smem[]; return (T*)__smem; }
    __device__ inline operator const T*() const { extern __shared__ int __smem[]; return (T*)__smem; }
};
template <class T, unsigned int blockSize>
__global__ void reduce4(const T* g_idata, T* g_odata, unsigned int n) {
    T* sdata = SharedMemory<T>();
    unsigned int tid = threadIdx.x;
    unsigned int i = blockIdx.x * (blockDim.x * 2) + threadIdx.x;
    T mySum = (i < n) ? g_idata[i] : 0;
    if (i + blockSize < n) mySum += g_idata[i + blockSize];
    sdata[tid] = mySum;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) sdata[tid] = mySum = mySum + sdata[tid + s];
        __syncthreads();
    }
    if (tid == 0) g_odata[blockIdx.x] = mySum;
}
__global__ void scale_cpp(float* x, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] *= a;
}
'''


@pytest.mark.parametrize("dtype,expr", [(np.float32, "fx3<float>"), (np.float64, "fx3<double>"),
                                        (np.int32, "fx3<int>")])
@pytest.mark.parametrize("n", [1, 100, 1025])
def test_template_instances_by_name_expression(backend, dtype, expr, n):
    xp = xp_of(backend)
    mod = kernels.RawModule(code=FX3, name_expressions=["fx3<float>", "fx3<double>", "fx3<int>"],
                            backend=backend)
    x = (np.random.default_rng(n).random(n) * 100).astype(dtype)
    arr = xp.asarray(x.copy())
    mod.get_function(expr)((-(-n // 128),), (128,), (arr, np.int32(n)))
    np.testing.assert_allclose(to_numpy(arr), x * 3, rtol=1e-6)


def test_template_instance_arguments_are_checked_against_the_instance():
    mod = kernels.RawModule(code=FX3, name_expressions=["fx3<float>"], backend="cpu")
    with pytest.raises(TypeError, match="`arr`.*float32"):
        mod.get_function("fx3<float>")((1,), (32,), (np.zeros(4, np.float64), np.int32(4)))


@pytest.mark.parametrize("dtype,threads,n", [(np.float32, 128, 1000), (np.float64, 256, 5000),
                                             (np.int32, 64, 129)])
def test_cuda_samples_reduce4_template(dtype, threads, n):
    expr = f"reduce4<{ {np.float32: 'float', np.float64: 'double', np.int32: 'int'}[dtype] }, {threads}>"
    mod = kernels.RawModule(code=REDUCE4, name_expressions=[expr], backend="cpu")
    g = (np.random.default_rng(n).random(n) * 10).astype(dtype)
    blocks = -(-n // (2 * threads))
    out = np.zeros(blocks, dtype)
    kernels.check(mod.get_function(expr), (blocks,), (threads,), (g, out, np.uint32(n)),
                  shared_mem=threads * g.itemsize)
    np.testing.assert_allclose(out.sum(), g.sum(dtype=np.float64), rtol=1e-5)


def test_a_template_kernel_needs_its_instance_listed():
    mod = kernels.RawModule(code=FX3, backend="cpu")
    with pytest.raises(kernels.CompileError, match=r'name_expressions=\["fx3<float>"\]'):
        mod.get_function("fx3")
    with pytest.raises(kernels.CompileError, match=r"name_expressions"):
        mod.get_function("fx3<double>")


def test_a_kernel_without_extern_c_is_not_found_by_its_plain_name_as_on_a_gpu():
    with pytest.raises(kernels.CompileError) as e:
        kernels.RawKernel(REDUCE4, "scale_cpp", backend="cpu").compile()
    assert 'not declared extern "C"' in str(e.value) and "name-mangled" in str(e.value)
    mod = kernels.RawModule(code=REDUCE4, name_expressions=["scale_cpp"], backend="cpu")
    x = np.arange(70, dtype=np.float32)
    mod.get_function("scale_cpp")((3,), (32,), (x, np.float32(2), np.int32(70)))
    np.testing.assert_array_equal(x, np.arange(70, dtype=np.float32) * 2)

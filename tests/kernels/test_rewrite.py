"""The checked-C++ rewrite keeps every line where it was."""

from __future__ import annotations

from kernels.cpu.rewrite import rewrite

SRC = '''extern "C" __global__ void k(const float* __restrict__ g,
                             float *out, long long n) {
    __shared__ float s[256];
    __shared__ float t[16][17];
    extern __shared__ float dyn[];
    __shared__ int counter;
    const float* row = g + 3;  // float* q = 0;
    auto* p = out;
    const float4* v = reinterpret_cast<const float4*>(g);
    out[0] = n * 2.0f;
}
__device__ float f(float* x, int** pp, void* raw) { return x[0]; }
'''


def test_line_count_and_positions_are_kept():
    out = rewrite(SRC)
    assert out.count("\n") == SRC.count("\n")
    lines = out.splitlines()
    assert "::gc::ptr<const float> g" in lines[0]
    assert "::gc::ptr<float> out" in lines[1]
    assert "shared_array<float, (256)" in lines[2]
    assert "shared_array<::gc::shared_array<float, (17)" in lines[3]
    assert "extern_shared<float" in lines[4]
    assert lines[5].strip() == "__shared__ int counter;"
    assert "::gc::ptr<const float> row =" in lines[6] and "// float* q = 0;" in lines[6]
    assert "auto p = out" in lines[7]
    assert "::gc::ptr_cast<" in lines[8]
    assert "out[0] = n * 2.0f;" in lines[9]
    assert "::gc::ptr<float> x" in lines[11] and "int** pp" in lines[11] and "void* raw" in lines[11]

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


def test_shared_qualifier_after_the_type_and_pointer_defaults():
    out = rewrite('__global__ void k(float* a, int* p = NULL) {\n'
                  '    extern float __shared__ s[];\n    unsigned int __shared__ t[8];\n}\n')
    lines = out.splitlines()
    assert len(lines) == 4
    assert "::gc::ptr<float> a" in lines[0] and "::gc::ptr<int> p = nullptr" in lines[0]
    assert '::gc::extern_shared<float, ::gc::lit{"s"}> s;' in lines[1]
    assert '::gc::shared_array<unsigned int, (8), ::gc::lit{"t"}> t;' in lines[2]


def test_template_instances_get_their_own_entry_points():
    from kernels.cpu.translate import entry_symbol, translation_unit
    tu = translation_unit('template <class T> __global__ void fx3(T* a, int n) {}\n', "m.cu",
                          ("fx3<float>", "fx3<double>"))
    assert "launch_kernel(&fx3<float>," in tu and "launch_kernel(&fx3<double>," in tu
    assert entry_symbol("fx3<float>") == entry_symbol("fx3< float >") != entry_symbol("fx3<double>")
    assert entry_symbol("fx3<float>").isidentifier()

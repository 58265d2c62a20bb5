"""Arguments are checked as CuPy would pass them, with errors that name the parameter."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import marshal
from kernels.signature import find_kernels

from .conftest import kernel, to_numpy, xp_of

SIG = find_kernels('extern "C" __global__ void k(const float* g, int n, float s, long long m, '
                   'double d, bool b, float* out) {}')["k"]
SRC = r'''
extern "C" __global__ void k_sum_offset(const float* g, long long n, float* out, int shift) {
    float s = 0.0f;
    for (long long i = 0; i < n; ++i) s += g[i];
    out[0] = s + shift;
}
'''


def args(**over):
    base = dict(g=np.zeros(4, np.float32), n=np.int32(4), s=np.float32(1), m=5, d=2.0, b=True,
                out=np.zeros(4, np.float32))
    base.update(over)
    return tuple(base.values())


def test_good_arguments_pass_and_keep_exact_bytes():
    got = marshal.check_args(SIG, args(), array_kind="numpy")
    assert got[1].value == np.int32(4).tobytes()
    assert got[3].value == np.int64(5).tobytes()      # a Python int travels as long long
    assert got[4].value == np.float64(2.0).tobytes()  # a Python float as double
    assert got[5].value == b"\x01"


@pytest.mark.parametrize("over,words", [
    (dict(g=np.zeros(4, np.float64)), ["`g`", "const float*", "float64", "astype(numpy.float32)"]),
    (dict(n=2**31), ["`n`", "`int`", "does not fit", "32-bit", "low 4 bytes"]),
    (dict(n=-2**31 - 1), ["`n`", "does not fit", "-2147483648..2147483647"]),
    (dict(s=1), ["`s`", "`float`", "Python int", "numpy.float32(s)"]),
    (dict(n=np.int64(4)), ["`n`", "numpy.int64", "numpy.int32(n)"]),
    (dict(s=1.0), ["`s`", "`float`", "Python float", "double", "numpy.float32(s)"]),
    (dict(s=np.float64(1.0)), ["`s`", "numpy.float64", "numpy.float32(s)"]),
    (dict(m=np.int32(5)), ["`m`", "long long", "numpy.int64(m)"]),
    (dict(b=1), ["`b`", "Python int"]),
    (dict(d=np.float32(2)), ["`d`", "numpy.float64(d)"]),
    (dict(out=3), ["`out`", "pointer", "Python int"]),
    (dict(n=np.zeros(1, np.int32)), ["`n`", "scalar", "array"]),
    (dict(out=np.zeros(8, np.float32)[::2]), ["`out`", "C-contiguous", "ascontiguousarray"]),
    (dict(out=[1.0, 2.0]), ["`out`", "Python list"]),
])
def test_mismatches_raise_type_errors_naming_the_parameter(over, words):
    with pytest.raises(TypeError) as e:
        marshal.check_args(SIG, args(**over), array_kind="numpy")
    for w in words:
        assert w in str(e.value)


def test_a_python_int_that_fits_a_narrower_int_is_its_low_bytes_as_on_a_gpu():
    got = marshal.check_args(SIG, args(n=-7), array_kind="numpy")
    assert got[1].value == np.int32(-7).tobytes()
    got = marshal.check_args(SIG, args(n=2**31 - 1), array_kind="numpy")
    assert got[1].value == np.int32(2**31 - 1).tobytes()


def test_argument_count():
    with pytest.raises(TypeError, match=r"takes 7 argument\(s\) \(g, n, s, m, d, b, out\) but 2 were given"):
        marshal.check_args(SIG, (1, 2), array_kind="numpy")


def test_numpy_arrays_rejected_on_cupy_backend():
    with pytest.raises(TypeError, match="CuPy backend takes cupy arrays"):
        marshal.check_args(SIG, args(), array_kind="cupy")


@pytest.mark.parametrize("grid,block,shared,err", [
    ((0,), (32,), 0, ValueError), ((1,), (2048,), 0, ValueError), ((1,), (1, 1, 128), 0, ValueError),
    ((1, 2, 3, 4), (32,), 0, TypeError), ((1,), (32.0,), 0, TypeError), ((1,), (32,), -1, ValueError),
    ((1,), (32,), 64 * 1024, ValueError)])
def test_launch_configuration_limits(grid, block, shared, err):
    with pytest.raises(err):
        marshal.check_launch_config("k", grid, block, shared)


def test_launch_shapes_normalise():
    assert marshal.check_launch_config("k", 3, (4, 2), 0) == ((3, 1, 1), (4, 2, 1))


def test_type_errors_on_a_real_launch(backend):
    xp = xp_of(backend)
    k = kernel(SRC, "k_sum_offset", backend)
    g, out = xp.ones(8, dtype=np.float32), xp.zeros(1, dtype=np.float32)
    with pytest.raises(TypeError, match="`shift`"):
        k((1,), (1,), (g, 8, out, 2**40))
    with pytest.raises(TypeError, match="`shift`"):
        k((1,), (1,), (g, 8, out, 3.0))
    with pytest.raises(TypeError, match="`g`"):
        k((1,), (1,), (xp.ones(8, dtype=np.float64), 8, out, np.int32(3)))


def test_a_python_int_for_an_int_parameter_works_when_it_fits(backend):
    xp = xp_of(backend)
    k = kernel(SRC, "k_sum_offset", backend)
    g, out = xp.ones(8, dtype=np.float32), xp.zeros(1, dtype=np.float32)
    k((1,), (1,), (g, 8, out, -3))
    assert to_numpy(out).tolist() == [5.0]


def test_views_with_offsets_are_passed_as_their_own_start(backend):
    xp = xp_of(backend)
    k = kernel(SRC, "k_sum_offset", backend)
    base = xp.asarray(np.arange(10, dtype=np.float32))
    out = xp.zeros(3, dtype=np.float32)
    k((1,), (1,), (base[4:], 6, out[1:], np.int32(100)))
    assert to_numpy(out).tolist() == [0.0, 4 + 5 + 6 + 7 + 8 + 9 + 100, 0.0]

// cooperative_groups/reduce.h -- cg::reduce over a thread_block_tile with the standard
// operators (plus, less, greater, bit_and, bit_or, bit_xor): every lane gets the result.
#pragma once
#include "../cooperative_groups.h"

namespace cooperative_groups {

template <class T> struct plus { T operator()(T a, T b) const { return a + b; } };
template <class T> struct less { T operator()(T a, T b) const { return b < a ? b : a; } };
template <class T> struct greater { T operator()(T a, T b) const { return a < b ? b : a; } };
template <class T> struct bit_and { T operator()(T a, T b) const { return a & b; } };
template <class T> struct bit_or { T operator()(T a, T b) const { return a | b; } };
template <class T> struct bit_xor { T operator()(T a, T b) const { return a ^ b; } };

template <unsigned N, class T, class Op>
T reduce(const thread_block_tile<N>& g, T v, Op op, gc_loc at = gc_loc::current()) {
    for (unsigned o = N / 2; o > 0; o /= 2) v = op(v, g.shfl_xor(v, o, at));
    return v;
}

}  // namespace cooperative_groups

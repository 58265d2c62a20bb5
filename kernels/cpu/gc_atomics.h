// gc_atomics.h -- atomic functions, with the overloads CUDA defines (and no others:
// there is no atomicMax on float, so it fails to compile here as it does under nvcc).
//
// Blocks run in parallel on OS threads, so these are real hardware atomics; floating-point
// adds use a compare-and-swap loop on the bits, as CUDA's pre-sm_60 recipe does.
#pragma once
#include <string.h>
#include "gc_memory.h"

namespace gc {
template <class T> __forceinline__ T a_load(T* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
template <class T> __forceinline__ bool a_cas(T* p, T* expected, T desired) {
    return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
template <class F, class U, class Op>
__forceinline__ F float_rmw(F* p, Op op) {
    U* q = reinterpret_cast<U*>(p);
    U old = a_load(q), desired;
    F f;
    do {
        memcpy(&f, &old, sizeof f);
        F nf = op(f);
        memcpy(&desired, &nf, sizeof nf);
    } while (!a_cas(q, &old, desired));
    return f;
}
template <class T, class Op>
__forceinline__ T int_rmw(T* p, Op op) {
    T old = a_load(p);
    while (!a_cas(p, &old, op(old))) {}
    return old;
}
}  // namespace gc

#define GC_INT_ATOMICS(T)                                                                   \
    __forceinline__ T atomicAdd(T* p, T v) { GC_RACE_ATOMIC(p); return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); } \
    __forceinline__ T atomicExch(T* p, T v) { GC_RACE_ATOMIC(p); return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); } \
    __forceinline__ T atomicMin(T* p, T v) { GC_RACE_ATOMIC(p); return ::gc::int_rmw(p, [v](T o) { return v < o ? v : o; }); } \
    __forceinline__ T atomicMax(T* p, T v) { GC_RACE_ATOMIC(p); return ::gc::int_rmw(p, [v](T o) { return v > o ? v : o; }); } \
    __forceinline__ T atomicAnd(T* p, T v) { GC_RACE_ATOMIC(p); return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); } \
    __forceinline__ T atomicOr(T* p, T v) { GC_RACE_ATOMIC(p); return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); } \
    __forceinline__ T atomicXor(T* p, T v) { GC_RACE_ATOMIC(p); return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); } \
    __forceinline__ T atomicCAS(T* p, T compare, T v) { GC_RACE_ATOMIC(p); ::gc::a_cas(p, &compare, v); return compare; }

GC_INT_ATOMICS(int)
GC_INT_ATOMICS(unsigned int)
GC_INT_ATOMICS(unsigned long long)
#undef GC_INT_ATOMICS

__forceinline__ long long atomicMin(long long* p, long long v) { GC_RACE_ATOMIC(p); return ::gc::int_rmw(p, [v](long long o) { return v < o ? v : o; }); }
__forceinline__ long long atomicMax(long long* p, long long v) { GC_RACE_ATOMIC(p); return ::gc::int_rmw(p, [v](long long o) { return v > o ? v : o; }); }
__forceinline__ int atomicSub(int* p, int v) { GC_RACE_ATOMIC(p); return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
__forceinline__ unsigned int atomicSub(unsigned int* p, unsigned int v) { GC_RACE_ATOMIC(p); return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
__forceinline__ unsigned short atomicCAS(unsigned short* p, unsigned short c, unsigned short v) { GC_RACE_ATOMIC(p); ::gc::a_cas(p, &c, v); return c; }
__forceinline__ unsigned int atomicInc(unsigned int* p, unsigned int v) {
    GC_RACE_ATOMIC(p);
    return ::gc::int_rmw(p, [v](unsigned int o) { return o >= v ? 0u : o + 1u; });
}
__forceinline__ unsigned int atomicDec(unsigned int* p, unsigned int v) {
    GC_RACE_ATOMIC(p);
    return ::gc::int_rmw(p, [v](unsigned int o) { return (o == 0u || o > v) ? v : o - 1u; });
}
__forceinline__ float atomicAdd(float* p, float v) {
    GC_RACE_ATOMIC(p);
    return ::gc::float_rmw<float, unsigned int>(p, [v](float o) { return o + v; });
}
__forceinline__ double atomicAdd(double* p, double v) {
    GC_RACE_ATOMIC(p);
    return ::gc::float_rmw<double, unsigned long long>(p, [v](double o) { return o + v; });
}
__forceinline__ float atomicExch(float* p, float v) {
    GC_RACE_ATOMIC(p);
    return ::gc::float_rmw<float, unsigned int>(p, [v](float) { return v; });
}

// The same functions on a checked pointer: bounds-check the element, then the raw atomic.
#define GC_PTR_ATOMIC(F)                                                                    \
    template <class T, class... A>                                                          \
    __forceinline__ auto F(::gc::ptr<T> p, A... a) -> decltype(F((T*)nullptr, a...)) {      \
        return F(&p.at(0), a...);                                                           \
    }
GC_PTR_ATOMIC(atomicAdd) GC_PTR_ATOMIC(atomicSub) GC_PTR_ATOMIC(atomicExch)
GC_PTR_ATOMIC(atomicMin) GC_PTR_ATOMIC(atomicMax) GC_PTR_ATOMIC(atomicCAS)
GC_PTR_ATOMIC(atomicAnd) GC_PTR_ATOMIC(atomicOr) GC_PTR_ATOMIC(atomicXor)
GC_PTR_ATOMIC(atomicInc) GC_PTR_ATOMIC(atomicDec)
#undef GC_PTR_ATOMIC

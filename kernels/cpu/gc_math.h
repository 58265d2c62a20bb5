// gc_math.h -- the math functions and intrinsics kernels use.
//
// Single-precision functions come from the C library (sqrtf, expf, fminf, ...);
// CUDA's fast intrinsics (__expf, __fdividef, ...) are the accurate versions here, which
// is within the intrinsics' documented error.  min/max accept mixed argument types like
// CUDA's overload set.
#pragma once
#include <math.h>
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <type_traits>

__forceinline__ float rsqrtf(float x) { return 1.0f / sqrtf(x); }
__forceinline__ double rsqrt(double x) { return 1.0 / sqrt(x); }
__forceinline__ float __fdividef(float a, float b) { return a / b; }
__forceinline__ float fdividef(float a, float b) { return a / b; }
__forceinline__ float __expf(float x) { return expf(x); }
__forceinline__ float __exp10f(float x) { return powf(10.0f, x); }
__forceinline__ float __logf(float x) { return logf(x); }
__forceinline__ float __log2f(float x) { return log2f(x); }
__forceinline__ float __sinf(float x) { return sinf(x); }
__forceinline__ float __cosf(float x) { return cosf(x); }
__forceinline__ float __tanf(float x) { return tanf(x); }
__forceinline__ float __powf(float a, float b) { return powf(a, b); }
__forceinline__ float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
__forceinline__ float __frcp_rn(float x) { return 1.0f / x; }
__forceinline__ float __fsqrt_rn(float x) { return sqrtf(x); }
__forceinline__ float __fadd_rn(float a, float b) { return a + b; }
__forceinline__ float __fmul_rn(float a, float b) { return a * b; }
__forceinline__ float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
__forceinline__ double __dadd_rn(double a, double b) { return a + b; }
__forceinline__ double __dmul_rn(double a, double b) { return a * b; }

__forceinline__ int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
__forceinline__ unsigned int __float_as_uint(float x) { unsigned int i; memcpy(&i, &x, 4); return i; }
__forceinline__ float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
__forceinline__ float __uint_as_float(unsigned int i) { float x; memcpy(&x, &i, 4); return x; }
__forceinline__ long long __double_as_longlong(double x) { long long i; memcpy(&i, &x, 8); return i; }
__forceinline__ double __longlong_as_double(long long i) { double x; memcpy(&x, &i, 8); return x; }

__forceinline__ int __popc(unsigned int x) { return __builtin_popcount(x); }
__forceinline__ int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
__forceinline__ int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }
__forceinline__ int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
__forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
__forceinline__ int __ffsll(long long x) { return __builtin_ffsll(x); }
__forceinline__ unsigned int __brev(unsigned int x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
    return __builtin_bswap32(x);
}

template <class A, class B>
__forceinline__ std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
__forceinline__ std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }

#ifndef CUDART_INF_F
#define CUDART_INF_F INFINITY
#define CUDART_NAN_F NAN
#define CUDART_INF __builtin_inf()
#define CUDART_NAN __builtin_nan("")
#endif

// gc_fp16.h -- __half (cuda_fp16.h) and __nv_bfloat16 (cuda_bf16.h) on the CPU: 16-bit
// storage, arithmetic in float rounded back to nearest-even after every operation (for
// + - * / that is exactly the hardware result), and the conversion and math intrinsics
// kernels use.  As in CUDA, a __half converts to and from float implicitly, so mixed
// expressions like `h * 2.0f` are ambiguous here exactly where nvcc says so.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

namespace gc {
inline uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);        // rounds to infinity
    if (ax < 0x38800000u) {                                          // a subnormal half, or 0
        float a;
        memcpy(&a, &ax, 4);
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
    }
    return (uint16_t)(sign | ((ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13));
}
inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) { float f = (float)m * 5.9604644775390625e-8f; return sign ? -f : f; }
    uint32_t bits = sign | (e == 31 ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
inline uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);   // NaN stays NaN
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
inline float bf16_to_f32(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
}  // namespace gc

#define GC_HALF_TYPE(H, TO, FROM)                                                           \
    struct alignas(2) H {                                                                   \
        uint16_t __x;                                                                       \
        H() = default;                                                                      \
        H(float f) : __x(::gc::TO(f)) {}                                                    \
        H(double d) : __x(::gc::TO((float)d)) {}                                            \
        H(int i) : __x(::gc::TO((float)i)) {}                                               \
        H(unsigned int i) : __x(::gc::TO((float)i)) {}                                      \
        H(long long i) : __x(::gc::TO((float)i)) {}                                         \
        operator float() const { return ::gc::FROM(__x); }                                  \
        H& operator+=(const H& o) { return *this = H(float(*this) + float(o)); }            \
        H& operator-=(const H& o) { return *this = H(float(*this) - float(o)); }            \
        H& operator*=(const H& o) { return *this = H(float(*this) * float(o)); }            \
        H& operator/=(const H& o) { return *this = H(float(*this) / float(o)); }            \
    };                                                                                      \
    inline H operator+(const H& a, const H& b) { return H(float(a) + float(b)); }           \
    inline H operator-(const H& a, const H& b) { return H(float(a) - float(b)); }           \
    inline H operator*(const H& a, const H& b) { return H(float(a) * float(b)); }           \
    inline H operator/(const H& a, const H& b) { return H(float(a) / float(b)); }           \
    inline H operator-(const H& a) { H r = a; r.__x ^= 0x8000u; return r; }                 \
    inline H operator+(const H& a) { return a; }                                            \
    inline bool operator==(const H& a, const H& b) { return float(a) == float(b); }         \
    inline bool operator!=(const H& a, const H& b) { return float(a) != float(b); }         \
    inline bool operator<(const H& a, const H& b) { return float(a) < float(b); }           \
    inline bool operator>(const H& a, const H& b) { return float(a) > float(b); }           \
    inline bool operator<=(const H& a, const H& b) { return float(a) <= float(b); }         \
    inline bool operator>=(const H& a, const H& b) { return float(a) >= float(b); }         \
    inline H __hadd(H a, H b) { return a + b; }                                             \
    inline H __hsub(H a, H b) { return a - b; }                                             \
    inline H __hmul(H a, H b) { return a * b; }                                             \
    inline H __hdiv(H a, H b) { return a / b; }                                             \
    inline H __hfma(H a, H b, H c) { return H(fmaf(float(a), float(b), float(c))); }        \
    inline H __hneg(H a) { return -a; }                                                     \
    inline H __habs(H a) { H r = a; r.__x &= 0x7fffu; return r; }                           \
    inline H __hmax(H a, H b) { return H(fmaxf(float(a), float(b))); }                      \
    inline H __hmin(H a, H b) { return H(fminf(float(a), float(b))); }                      \
    inline bool __heq(H a, H b) { return a == b; }                                          \
    inline bool __hne(H a, H b) { return a != b; }                                          \
    inline bool __hlt(H a, H b) { return a < b; }                                           \
    inline bool __hle(H a, H b) { return a <= b; }                                          \
    inline bool __hgt(H a, H b) { return a > b; }                                           \
    inline bool __hge(H a, H b) { return a >= b; }                                          \
    inline bool __hisnan(H a) { return isnan(float(a)); }                                   \
    inline int __hisinf(H a) { float f = a; return isinf(f) ? (f < 0 ? -1 : 1) : 0; }       \
    inline H hsqrt(H a) { return H(sqrtf(float(a))); }                                      \
    inline H hrsqrt(H a) { return H(1.0f / sqrtf(float(a))); }                              \
    inline H hexp(H a) { return H(expf(float(a))); }                                        \
    inline H hlog(H a) { return H(logf(float(a))); }                                        \
    inline H htanh(H a) { return H(tanhf(float(a))); }                                      \
    struct alignas(4) H##2 {                                                                \
        H x, y;                                                                             \
    };                                                                                      \
    inline H##2 __hadd2(H##2 a, H##2 b) { return H##2{a.x + b.x, a.y + b.y}; }              \
    inline H##2 __hsub2(H##2 a, H##2 b) { return H##2{a.x - b.x, a.y - b.y}; }              \
    inline H##2 __hmul2(H##2 a, H##2 b) { return H##2{a.x * b.x, a.y * b.y}; }              \
    inline H##2 __hfma2(H##2 a, H##2 b, H##2 c) { return H##2{__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)}; }

GC_HALF_TYPE(__half, f32_to_f16, f16_to_f32)
GC_HALF_TYPE(__nv_bfloat16, f32_to_bf16, bf16_to_f32)
#undef GC_HALF_TYPE

typedef __half half;
typedef __half2 half2;
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline __half __double2half(double d) { return __half((float)d); }
inline __half __int2half_rn(int i) { return __half((float)i); }
inline float __half2float(__half h) { return float(h); }
inline int __half2int_rn(__half h) { return (int)nearbyintf(float(h)); }
inline int __half2int_rz(__half h) { return (int)float(h); }
inline __half2 __float2half2_rn(float f) { return __half2{__half(f), __half(f)}; }
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__half(a), __half(b)}; }
inline float2 __half22float2(__half2 h) { return make_float2(float(h.x), float(h.y)); }
inline __half2 __float22half2_rn(float2 f) { return __half2{__half(f.x), __half(f.y)}; }
inline float __low2float(__half2 h) { return float(h.x); }
inline float __high2float(__half2 h) { return float(h.y); }
inline __half2 __halves2half2(__half a, __half b) { return __half2{a, b}; }
inline __half __low2half(__half2 h) { return h.x; }
inline __half __high2half(__half2 h) { return h.y; }

inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return float(b); }
inline __nv_bfloat162 __float2bfloat162_rn(float f) { return __nv_bfloat162{__nv_bfloat16(f), __nv_bfloat16(f)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 b) { return make_float2(float(b.x), float(b.y)); }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 b) { return b.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 b) { return b.y; }

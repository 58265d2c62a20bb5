// gc_types.h -- CUDA's built-in vector types (dim3, uint3, float2/4, int2/4, ...) and make_*.
#pragma once

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

#define GC_VEC2(T, N, A) struct alignas(A) N##2 { T x, y; }; \
    inline N##2 make_##N##2(T x, T y) { return N##2{x, y}; }
#define GC_VEC3(T, N) struct N##3 { T x, y, z; }; \
    inline N##3 make_##N##3(T x, T y, T z) { return N##3{x, y, z}; }
#define GC_VEC4(T, N, A) struct alignas(A) N##4 { T x, y, z, w; }; \
    inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }

GC_VEC2(float, float, 8)   GC_VEC3(float, float)   GC_VEC4(float, float, 16)
GC_VEC2(double, double, 16) GC_VEC3(double, double) GC_VEC4(double, double, 16)
GC_VEC2(int, int, 8)       GC_VEC3(int, int)       GC_VEC4(int, int, 16)
GC_VEC2(unsigned int, uint, 8) GC_VEC4(unsigned int, uint, 16)
GC_VEC2(long long, longlong, 16)
inline uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }

#undef GC_VEC2
#undef GC_VEC3
#undef GC_VEC4

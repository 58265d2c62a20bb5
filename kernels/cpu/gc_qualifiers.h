// gc_qualifiers.h -- CUDA function and variable qualifiers, mapped to C++.
//
// Kernels are ordinary C++ functions on the CPU.  `__shared__` becomes per-OS-thread
// storage: every block runs start to finish on one OS thread (its CUDA threads are fibers
// on that thread), so a `static thread_local` is exactly "one copy per running block".
// Arrays declared `__shared__` are rewritten by the Python front end into
// `gc::shared_array` (bounds-checked); this macro covers the scalars.
#pragma once

#define __global__
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static thread_local
#define __constant__ static
#define __managed__
#define __grid_constant__

// gradclip_cuda.h -- the CUDA C kernel language on a CPU: the one header the generated
// translation unit includes.  Each concern lives in its own header:
//
//   gc_qualifiers.h  __global__, __device__, __shared__, __restrict__, ...
//   gc_types.h       dim3, uint3, float2/float4/int2/int4, make_*
//   gc_builtins.h    threadIdx, blockIdx, blockDim, gridDim, warpSize
//   gc_math.h        sqrtf, rsqrtf, __fdividef, __expf, min/max, bit intrinsics, INFINITY
//   gc_report.h      the launch's error record
//   gc_memory.h      bounds-checked pointers, __shared__ arrays, __ldg
//   gc_fiber.h       fibers and their stacks
//   gc_sched.h       the block scheduler, thread schedules, __syncthreads
//   gc_warp.h        __shfl*_sync, __ballot_sync, __syncwarp
//   gc_atomics.h     atomicAdd, atomicCAS, ...
//   gc_launch.h      launch entry: arguments, OS threads over blocks, crash records
//   gc_race.h        the race detector's hooks; gc_racecheck.h the detector (GC_RACECHECK)
#pragma once
#include <stdio.h>
#include <assert.h>
#include "gc_qualifiers.h"
#include "gc_types.h"
#include "gc_builtins.h"
#include "gc_math.h"
#include "gc_report.h"
#include "gc_memory.h"
#include "gc_fiber.h"
#include "gc_sched.h"
#include "gc_warp.h"
#include "gc_atomics.h"
#include "gc_launch.h"
#ifdef GC_RACECHECK
#include "gc_racecheck.h"
#endif

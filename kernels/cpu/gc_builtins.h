// gc_builtins.h -- threadIdx, blockIdx, blockDim, gridDim, warpSize.
//
// threadIdx changes at every fiber switch and blockIdx at every block, so both live in
// per-OS-thread storage the scheduler writes; blockDim and gridDim are fixed for a launch.
#pragma once
#include "gc_types.h"

namespace gc {
static thread_local uint3 t_thread_idx;
static thread_local uint3 t_block_idx;
inline dim3 g_block_dim;
inline dim3 g_grid_dim;
}  // namespace gc

#define threadIdx (static_cast<const uint3&>(::gc::t_thread_idx))
#define blockIdx (static_cast<const uint3&>(::gc::t_block_idx))
#define blockDim (static_cast<const dim3&>(::gc::g_block_dim))
#define gridDim (static_cast<const dim3&>(::gc::g_grid_dim))
#define warpSize 32

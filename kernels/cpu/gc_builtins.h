// gc_builtins.h -- threadIdx, blockIdx, blockDim, gridDim, warpSize.
//
// threadIdx and blockIdx are per fiber: the scheduler writes them at the top of the
// fiber's stack slot (see `here`); blockDim and gridDim are fixed for a launch.
#pragma once
#include <stdint.h>
#include "gc_types.h"

namespace gc {
inline thread_local uint3 t_thread_idx;   // copies for error and crash reports
inline thread_local uint3 t_block_idx;
inline dim3 g_block_dim;
inline dim3 g_grid_dim;

// What kernel code reads: kept at the top of the (power-of-two aligned) stack slot its
// fiber runs on, found from the frame address with an `or`, instead of a thread_local,
// which in a dlopen'ed library costs a call to __tls_get_addr at every use.
struct Here {
    uint3 tid;
    uint3 bid;
    void* block;
};
inline uintptr_t g_slot_mask = 0;   // stack slot size - 1 (gc_fiber.h)
inline unsigned g_slot_shift = 0;   // log2 of the slot size

// The slot's `Here` sits at the top of the fiber's stack, 64 bytes below the slot's end
// less a per-slot "colour" (0..127 times 192 bytes), so that those of a block's fibers
// spread over the cache sets (slots are a power of two apart).
[[gnu::always_inline]] inline Here* here_of(uintptr_t slot) {
    return (Here*)(slot + g_slot_mask + 1 - 64 - ((slot >> g_slot_shift) & 127) * 192);
}
[[gnu::always_inline]] inline Here* here() {
    return here_of((uintptr_t)__builtin_frame_address(0) & ~g_slot_mask);
}
}  // namespace gc

#define threadIdx (static_cast<const uint3&>(::gc::here()->tid))
#define blockIdx (static_cast<const uint3&>(::gc::here()->bid))
#define blockDim (static_cast<const dim3&>(::gc::g_block_dim))
#define gridDim (static_cast<const dim3&>(::gc::g_grid_dim))
#define warpSize 32

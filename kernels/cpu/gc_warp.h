// gc_warp.h -- warp intrinsics as warp-level barriers.
//
// A lane deposits its value in the warp's exchange slots and waits; when every lane the
// mask names has arrived, all are released and each reads the slot it asked for.  Slots
// are double-buffered by generation, so a lane that races ahead to the next shuffle cannot
// overwrite a value a slower lane has yet to read.
#pragma once
#include <string.h>
#include "gc_sched.h"

namespace gc {

enum ShflMode { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, SHFL_NONE };

inline unsigned warp_arrive(Block* b, int line, unsigned mask, unsigned long long bits, bool pred, Warp** wout, int* lane_out) {
    Fiber* f = b->cur;
    int lane = f->lin & 31;
    Warp* w = &b->warps[f->lin >> 5];
    if (!w->arrived) { w->mask = mask; w->line = line; }
    unsigned g = w->gen & 1;
    w->slot[g][lane] = bits;
    if (pred) w->ballot[g] |= 1u << lane;
    w->arrived |= 1u << lane;
    suspend(b, F_AT_WARP, line);
    *wout = w;
    *lane_out = lane;
    return g;
}

template <ShflMode mode, class T>
inline T shfl(int line, unsigned mask, T var, int arg, int width = 32) {
    static_assert(sizeof(T) <= 8, "shuffles move values of at most 8 bytes");
    Block* b = in_fiber(line);
    if (!b) return var;
    unsigned long long bits = 0;
    memcpy(&bits, &var, sizeof(T));
    Warp* w;
    int lane;
    unsigned g = warp_arrive(b, line, mask, bits, false, &w, &lane);
    if (width <= 0 || width > 32) width = 32;
    int seg = lane - lane % width;
    int src;
    switch (mode) {
        case SHFL_IDX: src = seg + ((arg % width) + width) % width; break;
        case SHFL_UP: src = (lane - seg) - arg >= 0 ? lane - arg : lane; break;
        case SHFL_DOWN: src = (lane - seg) + arg < width ? lane + arg : lane; break;
        case SHFL_XOR: src = lane ^ arg; if (src >= seg + width) src = lane; break;
        default: src = lane;
    }
    int base = (b->cur->lin >> 5) * 32;
    if (src < 0 || src > 31 || base + src >= b->n || !(mask & (1u << src))) return var;
    T r;
    memcpy(&r, &w->slot[g][src], sizeof(T));
    return r;
}

inline unsigned ballot(int line, unsigned mask, int pred) {
    Block* b = in_fiber(line);
    if (!b) return 0;
    Warp* w;
    int lane;
    unsigned g = warp_arrive(b, line, mask, 0, pred != 0, &w, &lane);
    return w->ballot[g] & mask;
}

inline void syncwarp(int line, unsigned mask) {
    Block* b = in_fiber(line);
    if (!b) return;
    Warp* w;
    int lane;
    warp_arrive(b, line, mask, 0, false, &w, &lane);
}

inline unsigned activemask() {
    Block* b = t_block;
    if (!b || !b->cur) return 0xffffffffu;
    int base = (b->cur->lin >> 5) * 32;
    unsigned m = 0;
    for (int i = 0; i < 32 && base + i < b->n; ++i)
        if (b->f[base + i].state != F_DONE) m |= 1u << i;
    return m;
}

}  // namespace gc

#define __shfl_sync(m, v, ...) ::gc::shfl<::gc::SHFL_IDX>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_up_sync(m, v, ...) ::gc::shfl<::gc::SHFL_UP>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_down_sync(m, v, ...) ::gc::shfl<::gc::SHFL_DOWN>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_xor_sync(m, v, ...) ::gc::shfl<::gc::SHFL_XOR>(__LINE__, (m), (v), __VA_ARGS__)
#define __ballot_sync(m, p) ::gc::ballot(__LINE__, (m), (p))
#define __any_sync(m, p) (::gc::ballot(__LINE__, (m), (p)) != 0u)
#define __all_sync(m, p) (::gc::ballot(__LINE__, (m), (p)) == ((m) & ::gc::activemask()))
#define __syncwarp(...) ::gc::syncwarp(__LINE__, ::gc::syncwarp_mask(__VA_ARGS__))
#define __activemask() ::gc::activemask()
#define __lanemask_lt() ((1u << (::gc::t_block->cur->lin & 31)) - 1u)

namespace gc {
inline unsigned syncwarp_mask() { return 0xffffffffu; }
inline unsigned syncwarp_mask(unsigned m) { return m; }
}

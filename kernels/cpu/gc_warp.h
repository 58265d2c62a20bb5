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
    w->part[g] |= 1u << lane;
    if (pred) w->ballot[g] |= 1u << lane;
    w->arrived |= 1u << lane;
    suspend(b, F_AT_WARP, line);
    *wout = w;
    *lane_out = lane;
    return g;
}

inline const char* shfl_name(ShflMode mode) {
    switch (mode) {
        case SHFL_IDX: return "__shfl_sync";
        case SHFL_UP: return "__shfl_up_sync";
        case SHFL_DOWN: return "__shfl_down_sync";
        default: return "__shfl_xor_sync";
    }
}

// A shuffle whose source lane is not in its mask reads an undefined value on a GPU (the
// lane may be anywhere, or hold anything): say so rather than return something plausible.
[[gnu::noinline, gnu::cold]] inline void shfl_mask_error(int line, ShflMode mode, int lane, int src,
                                                        unsigned mask, int warp) {
    if (src == lane)
        report(E_WARP, line, "lane %d of warp %d calls %s with mask 0x%08x, which does not name "
               "lane %d itself (every lane that calls a warp operation must be in its mask)",
               lane, warp, shfl_name(mode), mask, lane);
    else
        report(E_WARP, line, "lane %d of warp %d reads lane %d with %s, but the mask 0x%08x "
               "does not name lane %d: on a GPU that value is undefined (a shuffle may read "
               "only lanes its mask names; shrink the offset or widen the mask)",
               lane, warp, src, shfl_name(mode), mask, src);
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
    if (__builtin_expect(!(mask & (1u << lane)), 0)) {
        shfl_mask_error(line, mode, lane, lane, mask, base / 32);
        return var;
    }
    if (src < 0 || src > 31 || base + src >= b->n) return var;   // no such lane: the caller's own
    if (__builtin_expect(!(mask & (1u << src)), 0)) {
        shfl_mask_error(line, mode, lane, src, mask, base / 32);
        return var;
    }
    T r;
    memcpy(&r, &w->slot[g][src], sizeof(T));
    return r;
}

// op 0: __ballot_sync, 1: __any_sync, 2: __all_sync -- over the lanes that took part,
// known once the warp is released (not from a mask read while lanes are still running).
inline unsigned ballot(int line, unsigned mask, int pred, int op = 0) {
    Block* b = in_fiber(line);
    if (!b) return 0;
    Warp* w;
    int lane;
    unsigned g = warp_arrive(b, line, mask, 0, pred != 0, &w, &lane);
    unsigned votes = w->ballot[g] & mask;
    if (op == 1) return votes != 0u;
    unsigned in = w->part[g] & mask;   // tiles of one warp may vote at once, each its own mask
    if (op == 2) return (w->ballot[g] & in) == in;
    return votes;
}

inline void syncwarp(int line, unsigned mask) {
    Block* b = in_fiber(line);
    if (!b) return;
    Warp* w;
    int lane;
    warp_arrive(b, line, mask, 0, false, &w, &lane);
}


}  // namespace gc

#define __shfl_sync(m, v, ...) ::gc::shfl<::gc::SHFL_IDX>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_up_sync(m, v, ...) ::gc::shfl<::gc::SHFL_UP>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_down_sync(m, v, ...) ::gc::shfl<::gc::SHFL_DOWN>(__LINE__, (m), (v), __VA_ARGS__)
#define __shfl_xor_sync(m, v, ...) ::gc::shfl<::gc::SHFL_XOR>(__LINE__, (m), (v), __VA_ARGS__)
#define __ballot_sync(m, p) ::gc::ballot(__LINE__, (m), (p))
#define __any_sync(m, p) ((int)::gc::ballot(__LINE__, (m), (p), 1))
#define __all_sync(m, p) ((int)::gc::ballot(__LINE__, (m), (p), 2))
#define __syncwarp(...) ::gc::syncwarp(__LINE__, ::gc::syncwarp_mask(__VA_ARGS__))
#define __activemask() ::gc::activemask_at(__LINE__)
#define __lanemask_lt() ((1u << (::gc::t_block->cur->lin & 31)) - 1u)

namespace gc {
inline unsigned syncwarp_mask() { return 0xffffffffu; }
inline unsigned syncwarp_mask(unsigned m) { return m; }
}

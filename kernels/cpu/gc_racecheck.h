// gc_racecheck.h -- kernels.check's race detector (built with GC_RACECHECK only).
//
// Every access through a checked pointer or a `__shared__` array is recorded.  Whether it
// read or wrote is known at the thread's next access (or when it stops): the bytes changed
// or not (a write of the value already there counts as a read, which can hide a hazard
// but never invents one).  Then the access is compared with what the slot's shadow holds:
//
// - `__shared__` memory, per barrier interval of a block: a read after another thread's
//   write, a write after another thread's read or write, with nothing ordering the two,
//   is a hazard.  Within an interval only warp operations order anything, and only among
//   the lanes they synchronise (__syncwarp, shuffles, votes: vector clocks per warp);
//   two atomics never conflict.  __syncthreads() starts a new interval.
// - global memory (writable arguments only), per launch: an access by one block to a slot
//   another block wrote, or a write to a slot another block read, unless both are atomic
//   (or the writer block executed __threadfence() after writing: the "last block" pattern).
//
// The first hazard is reported (E_RACE) with both accesses' code addresses, threads and
// blocks.  The launch runs its blocks on one OS thread (kernels.check asks for that), so
// the global shadow needs no locking.
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include "gc_sched.h"
#include "gc_launch.h"

namespace gc {

enum { H_RAW = 1, H_WAR = 2, H_WAW = 3 };

struct RaceRegion {   // a __shared__ array, by address
    const unsigned char* start;
    long long bytes;
    const char* name;
    int elem;
};

struct SharedShadow {
    uintptr_t addr;
    uint64_t stamp;            // block serial and barrier interval; another value: empty
    int32_t w_lin;             // last write (-1: none)
    uint32_t w_clock;
    uint64_t w_pc;
    int32_t w_atomic;
    int32_t r_warp;            // the warp whose lanes' reads are kept (-1: none)
    uint32_t r_lanes;
    int32_t o_lin;             // a read by a thread of another warp (-1: none)
    uint32_t o_clock;
    uint64_t o_pc;
    uint32_t r_clock[32];
    uint64_t r_pc[32];
};

struct GlobalShadow {          // 48 bytes: a launch may write millions of elements
    uintptr_t addr;
    int32_t w_blk, r_blk, o_blk;   // writer block, a reader block, a reader of another block
    uint32_t w_pc, r_pc, o_pc;     // code offsets in the kernel library
    uint16_t w_lin, r_lin, o_lin;  // threads in their blocks
    uint8_t w_atomic, r_atomic, o_atomic, pad;
    uint32_t w_fences;             // the writer block's __threadfence() count at the write
};

struct FenceCount {
    uintptr_t addr;                // block + 1
    uint32_t count;
};

// Open addressing over addresses; never shrinks (keys are a block's shared memory, or a
// launch's written arrays).
template <class E>
struct ShadowMap {
    E* slots = nullptr;
    uint64_t cap = 0, used = 0;
    static uint64_t hash(uintptr_t a) { return (uint64_t)(a >> 2) * 0x9E3779B97F4A7C15ull; }
    E* find(uintptr_t a, bool* fresh) {
        if ((used + 1) * 2 > cap) grow();
        uint64_t m = cap - 1, i = hash(a) >> 20 & m;
        while (slots[i].addr && slots[i].addr != a) i = (i + 1) & m;
        *fresh = slots[i].addr == 0;
        if (*fresh) { slots[i].addr = a; ++used; }
        return &slots[i];
    }
    void grow() {
        uint64_t ncap = cap ? cap * 2 : 4096;
        E* n = (E*)calloc(ncap, sizeof(E));
        for (uint64_t k = 0; k < cap; ++k) {
            if (!slots[k].addr) continue;
            uint64_t i = hash(slots[k].addr) >> 20 & (ncap - 1);
            while (n[i].addr) i = (i + 1) & (ncap - 1);
            n[i] = slots[k];
        }
        free(slots);
        slots = n;
        cap = ncap;
    }
};

struct RacePending {
    unsigned char* p = nullptr;
    int bytes = 0;
    unsigned char old[32];
    const char* name = "";
    long long index = 0;
    uint64_t pc = 0;
    int lin = 0;
    int space = 0;   // 0 shared, 1 global
    uint3 tid{}, bid{};
    int64_t blk = 0;
    int atomic = 0;
};

inline thread_local RacePending t_rp;
inline thread_local RaceRegion t_regions[64];
inline thread_local int t_nregions = 0;
inline thread_local ShadowMap<SharedShadow> t_shared_shadow;
inline thread_local uint32_t* t_vc = nullptr;   // [warp][lane][lane]: vector clocks
inline ShadowMap<GlobalShadow> g_global_shadow;   // cleared at every launch
inline uint64_t g_race_global_cap = 1ull << 20;   // global elements tracked per launch at most
inline ShadowMap<FenceCount> g_fences;            // per block: __threadfence() calls
inline uint64_t g_race_base = 0;                  // the kernel library's load address

inline uint32_t pc32(uint64_t pc) { return (uint32_t)(pc - g_race_base); }
inline uint64_t pc64(uint32_t off) { return g_race_base + off; }

inline uint32_t* vc_of(int warp, int lane) {
    if (!t_vc) t_vc = (uint32_t*)calloc(32 * 32 * 32, sizeof(uint32_t));
    return t_vc + ((size_t)warp * 32 + lane) * 32;
}

inline void race_launch() {
    t_nregions = 0;
    if (g_global_shadow.used) {
        memset(g_global_shadow.slots, 0, g_global_shadow.cap * sizeof(GlobalShadow));
        g_global_shadow.used = 0;
    }
    if (g_fences.used) {
        memset(g_fences.slots, 0, g_fences.cap * sizeof(FenceCount));
        g_fences.used = 0;
    }
    Dl_info info;
    if (dladdr((void*)&race_launch, &info)) g_race_base = (uint64_t)info.dli_fbase;
}

inline void race_shared_array(const void* p, long long bytes, const char* name, int elem) {
    const unsigned char* s = (const unsigned char*)p;
    for (int i = 0; i < t_nregions; ++i)
        if (t_regions[i].start == s) return;
    if (t_nregions < 64) t_regions[t_nregions++] = RaceRegion{s, bytes, name, elem};
}

inline int lin_of(uint3 t) {
    return (int)(t.x + g_block_dim.x * (t.y + g_block_dim.y * t.z));
}
inline uint3 tid_of(int lin) {
    unsigned bx = g_block_dim.x, by = g_block_dim.y;
    return uint3{lin % bx, (lin / bx) % by, lin / (bx * by)};
}

inline uint32_t clock_of(int lin) { return vc_of(lin >> 5, lin & 31)[lin & 31]; }

// Whether an access by `prev` at its clock `c` is ordered before what `cur` does now.
inline bool ordered(int prev, uint32_t c, int cur) {
    if (prev == cur) return true;
    if ((prev >> 5) != (cur >> 5)) return false;
    return vc_of(cur >> 5, cur & 31)[prev & 31] > c;
}

inline void race_warp_sync(Block* b, int warp, unsigned lanes) {
    (void)b;
    if (!lanes) return;
    for (int p = 0; p < 32; ++p)
        if (lanes >> p & 1) vc_of(warp, p)[p]++;
    for (int k = 0; k < 32; ++k) {
        uint32_t m = 0;
        for (int p = 0; p < 32; ++p)
            if (lanes >> p & 1) { uint32_t v = vc_of(warp, p)[k]; if (v > m) m = v; }
        for (int p = 0; p < 32; ++p)
            if (lanes >> p & 1) vc_of(warp, p)[k] = m;
    }
}

inline void race_report(const RacePending& q, int hazard, int other_lin, uint64_t other_pc,
                        int64_t other_blk) {
    if (!claim_error(E_RACE)) return;
    ErrorRecord* e = g_error;
    e->index = q.index;
    e->extent = q.bytes;   // bytes of the access
    e->pc = q.pc;
    e->is_const = 0;
    copy_name(e->name, q.name, sizeof e->name);
    e->block[0] = q.bid.x; e->block[1] = q.bid.y; e->block[2] = q.bid.z;
    e->thread[0] = q.tid.x; e->thread[1] = q.tid.y; e->thread[2] = q.tid.z;
    uint3 t2 = tid_of(other_lin);
    e->thread2[0] = t2.x; e->thread2[1] = t2.y; e->thread2[2] = t2.z;
    uint64_t gx = g_grid_dim.x, gy = g_grid_dim.y;
    e->block2[0] = (uint32_t)(other_blk % gx);
    e->block2[1] = (uint32_t)((other_blk / gx) % gy);
    e->block2[2] = (uint32_t)(other_blk / (gx * gy));
    e->pc2 = other_pc;
    e->hazard = hazard;
    e->space = q.space;
    e->addr = (uint64_t)q.p;
}

inline void shared_record(RacePending& q, bool write) {
    SharedShadow* s;
    bool fresh;
    s = t_shared_shadow.find((uintptr_t)q.p, &fresh);
    Block* b = t_block;
    uint64_t stamp = (t_block_serial << 32) ^ (b ? b->bar_gen : 0u);
    if (fresh || s->stamp != stamp) {
        uintptr_t a = s->addr;
        memset(s, 0, sizeof *s);
        s->addr = a;
        s->stamp = stamp;
        s->w_lin = s->r_warp = s->o_lin = -1;
    }
    int t = q.lin, warp = t >> 5, lane = t & 31;
    uint32_t now = clock_of(t);
    // against the last write
    if (s->w_lin >= 0 && !(q.atomic && s->w_atomic) && !ordered(s->w_lin, s->w_clock, t)) {
        race_report(q, write ? H_WAW : H_RAW, s->w_lin, s->w_pc, q.blk);
        return;
    }
    if (write) {
        if (s->r_warp >= 0) {
            unsigned lanes = s->r_lanes;
            for (int l = 0; l < 32; ++l) {
                if (!(lanes >> l & 1)) continue;
                int r = s->r_warp * 32 + l;
                if (!ordered(r, s->r_clock[l], t)) { race_report(q, H_WAR, r, s->r_pc[l], q.blk); return; }
            }
        }
        if (s->o_lin >= 0 && !ordered(s->o_lin, s->o_clock, t)) {
            race_report(q, H_WAR, s->o_lin, s->o_pc, q.blk);
            return;
        }
        s->w_lin = t; s->w_clock = now; s->w_pc = q.pc; s->w_atomic = q.atomic;
        s->r_warp = -1; s->r_lanes = 0; s->o_lin = -1;   // all ordered before this write
        return;
    }
    if (s->r_warp < 0 || s->r_warp == warp) {
        s->r_warp = warp;
        s->r_lanes |= 1u << lane;
        s->r_clock[lane] = now;
        s->r_pc[lane] = q.pc;
    } else if (s->o_lin < 0) {
        s->o_lin = t;
        s->o_clock = now;
        s->o_pc = q.pc;
    }
}

inline FenceCount* fence_count(int64_t blk) {
    bool fresh;
    return g_fences.find((uintptr_t)(blk + 1), &fresh);
}

inline void race_flush();

inline void race_fence() {
    race_flush();   // the write just made is before the fence
    uint3 bi = here()->bid;
    fence_count(bi.x + (int64_t)g_grid_dim.x * (bi.y + (int64_t)g_grid_dim.y * bi.z))->count++;
}

inline void global_record(RacePending& q, bool write) {
    bool fresh;
    if (g_global_shadow.used >= g_race_global_cap || q.blk > INT32_MAX) return;   // huge: untracked
    GlobalShadow* s = g_global_shadow.find((uintptr_t)q.p, &fresh);
    if (fresh) s->w_blk = s->r_blk = s->o_blk = -1;
    int32_t B = (int32_t)q.blk;
    if (s->w_blk >= 0 && s->w_blk != B && !(q.atomic && s->w_atomic)) {
        bool published = !write && fence_count(s->w_blk)->count > s->w_fences;
        if (!published) {
            race_report(q, write ? H_WAW : H_RAW, s->w_lin, pc64(s->w_pc), s->w_blk);
            return;
        }
    }
    if (write) {
        if (s->r_blk >= 0 && s->r_blk != B && !(q.atomic && s->r_atomic)) {
            race_report(q, H_WAR, s->r_lin, pc64(s->r_pc), s->r_blk);
            return;
        }
        if (s->o_blk >= 0 && s->o_blk != B && !(q.atomic && s->o_atomic)) {
            race_report(q, H_WAR, s->o_lin, pc64(s->o_pc), s->o_blk);
            return;
        }
        if (s->w_blk < 0 || s->w_blk == B) {
            s->w_blk = B; s->w_lin = (uint16_t)q.lin; s->w_pc = pc32(q.pc);
            s->w_atomic = (uint8_t)q.atomic; s->w_fences = fence_count(B)->count;
        }
        return;
    }
    if (s->r_blk < 0) {
        s->r_blk = B; s->r_lin = (uint16_t)q.lin; s->r_pc = pc32(q.pc); s->r_atomic = (uint8_t)q.atomic;
    } else if (s->r_blk != B && s->o_blk < 0) {
        s->o_blk = B; s->o_lin = (uint16_t)q.lin; s->o_pc = pc32(q.pc); s->o_atomic = (uint8_t)q.atomic;
    }
}

inline void race_flush() {
    RacePending& q = t_rp;
    if (!q.p) return;
    int n = q.bytes < 32 ? q.bytes : 32;
    bool write = q.atomic || memcmp(q.p, q.old, n) != 0;
    if (q.space == 0) shared_record(q, write);
    else global_record(q, write);
    q.p = nullptr;
}

inline void race_atomic(const void* p) {
    if (t_rp.p == (const unsigned char*)p) {
        t_rp.atomic = 1;
        race_flush();
    }
}

// Which memory `p` lies in: 0 a __shared__ array (name and index from the registry),
// 1 a writable global argument, -1 anything else (read-only memory, the stack).
inline int race_space(const unsigned char* p, const char** name, long long* index) {
    for (int i = 0; i < t_nregions; ++i) {
        const RaceRegion& r = t_regions[i];
        if (p >= r.start && p < r.start + r.bytes) {
            *name = r.name;
            *index = (long long)(p - r.start) / (r.elem > 0 ? r.elem : 1);
            return 0;
        }
    }
    for (int64_t i = 0; i < g_ntracked; ++i)
        if ((uint64_t)(uintptr_t)p - g_tracked[i].start < g_tracked[i].len) return 1;
    return -1;
}

[[gnu::noinline]] inline void race_access(const void* vp, int bytes, const char* name,
                                          long long index, const void* arr, long long arr_bytes,
                                          int elem) {
    void* pc = __builtin_extract_return_addr(__builtin_return_address(0));
    race_flush();
    if (g_abort) return;
    unsigned char* p = (unsigned char*)vp;
    if (arr) race_shared_array(arr, arr_bytes, name, elem);
    int space = race_space(p, &name, &index);
    if (space < 0) return;
    RacePending& q = t_rp;
    Here* h = here();
    q.p = p;
    q.bytes = bytes;
    memcpy(q.old, p, bytes < 32 ? bytes : 32);
    q.name = name ? name : "";
    q.index = index;
    q.pc = (uint64_t)pc;
    q.tid = h->tid;
    q.bid = h->bid;
    q.lin = lin_of(h->tid);
    q.blk = h->bid.x + (int64_t)g_grid_dim.x * (h->bid.y + (int64_t)g_grid_dim.y * h->bid.z);
    q.space = space;
    q.atomic = 0;
}

}  // namespace gc

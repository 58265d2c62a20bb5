// gc_sched.h -- one block at a time on an OS thread: its CUDA threads as fibers.
//
// A fiber runs until it reaches a barrier (__syncthreads or a warp operation) or returns;
// then the next ready fiber runs, in the order the launch's schedule gives (forward,
// reverse, or a seeded random permutation that changes at every barrier).  The fiber that
// stops switches straight to the next one of the pass (one context switch, not two via the
// scheduler); the last one of a pass returns to the scheduler.  When every live fiber
// waits, the scheduler checks that they wait at the same barrier and releases them (the
// common case, all at one __syncthreads(), is known from counts kept as they arrive).  A
// kernel that uses no barrier (per kernel: translate.fiber_kernels) runs its threads as
// plain calls, one after another, on a single fiber stack.
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "gc_builtins.h"
#include "gc_fiber.h"
#include "gc_report.h"
#include "gc_race.h"

namespace gc {

enum Schedule : int32_t { S_FORWARD = 0, S_REVERSE = 1, S_RANDOM = 2 };
// F_AT_YIELD: stopped at a point that synchronises nothing (`__activemask()`, a `volatile`
// access); released after the pass, when every other fiber has run up to its own stop.
enum FiberState : int32_t { F_READY = 0, F_AT_BLOCK = 1, F_AT_WARP = 2, F_DONE = 3, F_AT_YIELD = 4 };

struct Fiber {
    Context ctx;
    char* stack;
    int32_t state;
    int32_t line;   // line of the barrier it waits at
    int32_t lin;    // linear thread index in the block
    uint3 tid;
    unsigned result;   // what __activemask() returns when released
};

struct Warp {
    unsigned arrived;    // lanes waiting at the current warp operation
    unsigned mask;       // the mask the first arriving lane named
    unsigned gen;        // completed warp operations
    int32_t line;
    unsigned ballot[2];
    unsigned part[2];    // lanes that took part in the operation (double-buffered)
    unsigned long long slot[2][32];   // values exchanged by shuffles (double-buffered)
};

struct Block {
    int n = 0, nwarps = 0;
    Fiber* f = nullptr;
    int* order = nullptr;
    Warp* warps = nullptr;
    Context sched;
    Fiber* cur = nullptr;
    int pos = 0;          // position in `order` of the fiber running in this pass
    int ndone = 0;
    unsigned bar_gen = 0;
    int bar_acc[2] = {0, 0};
    // Bookkeeping of the current __syncthreads() round, so that the common case (every
    // thread waits at one barrier) is released without rescanning the block.
    int nbar = 0;         // fibers waiting at __syncthreads()
    int bar_line = 0;     // line the first of them waits at
    bool bar_mixed = false;   // some wait at another line
    bool warp_used = false;   // a warp operation ran in this block: always rescan
    int nyield = 0;           // fibers stopped at F_AT_YIELD in this pass
    uint64_t rng = 0;
    StackPool* pool = nullptr;
    uint3* tid_slot = nullptr;   // this OS thread's t_thread_idx (for error reports)
    uint3 bid{};                 // blockIdx of the block running
};

inline thread_local Block* t_block = nullptr;
inline fiber_fn g_thread_fn = nullptr;   // runs one CUDA thread of the kernel
inline void* g_thread_arg = nullptr;
inline int32_t g_schedule = S_FORWARD;
inline uint32_t g_seed = 0;

inline void where(ErrorRecord* e) {
    e->block[0] = t_block_idx.x; e->block[1] = t_block_idx.y; e->block[2] = t_block_idx.z;
    e->thread[0] = t_thread_idx.x; e->thread[1] = t_thread_idx.y; e->thread[2] = t_thread_idx.z;
}

inline uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
inline uint32_t next_rand(uint64_t* s) { *s = splitmix(*s); return (uint32_t)(*s >> 32); }

inline void block_init(Block* b, int n) {
    b->n = n;
    b->nwarps = (n + 31) / 32;
    b->f = (Fiber*)calloc(n, sizeof(Fiber));
    b->order = (int*)malloc(sizeof(int) * n);
    b->warps = (Warp*)calloc(b->nwarps, sizeof(Warp));
    unsigned bx = g_block_dim.x, by = g_block_dim.y;
    for (int i = 0; i < n; ++i) {
        b->f[i].lin = i;
        b->f[i].tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
    }
}
inline void block_free(Block* b) {
    free(b->f); free(b->order); free(b->warps);
}

inline void make_order(Block* b) {
    int n = b->n;
    if (g_schedule == S_REVERSE) {
        for (int i = 0; i < n; ++i) b->order[i] = n - 1 - i;
    } else {
        for (int i = 0; i < n; ++i) b->order[i] = i;
        if (g_schedule == S_RANDOM)
            for (int i = n - 1; i > 0; --i) {
                int j = (int)(next_rand(&b->rng) % (uint32_t)(i + 1));
                int t = b->order[i]; b->order[i] = b->order[j]; b->order[j] = t;
            }
    }
}

inline void fiber_main(void* p);

// A fiber's first run in this block: a stack from the pool, its `Here`, its entry.
[[gnu::noinline]] inline bool first_run(Block* b, Fiber* f) {
    f->stack = b->pool->take();
    if (!f->stack) { report(E_INTERNAL, 0, "out of memory for fiber stacks"); return false; }
    Here* h = slot_here(f->stack);
    h->tid = f->tid;
    h->bid = b->bid;
    h->block = b;
    ctx_make_slot(&f->ctx, f->stack, fiber_main, f);
    return true;
}

// Make `f` the running fiber.
[[gnu::always_inline]] inline bool enter(Block* b, Fiber* f) {
    if (__builtin_expect(!f->stack, 0) && !first_run(b, f)) return false;
    *b->tid_slot = f->tid;
    b->cur = f;
    return true;
}

// The next ready fiber of this pass (in the schedule's order) after the running one.
inline Fiber* next_in_pass(Block* b) {
    for (int k = b->pos + 1; k < b->n; ++k) {
        Fiber* f = &b->f[b->order[k]];
        if (f->state == F_READY) { b->pos = k; return f; }
    }
    b->pos = b->n;
    return nullptr;
}

// The running fiber `f` stops (waits or is done): switch straight to the next ready fiber
// of the pass, or back to the scheduler at the end of the pass (or after a fault).  The
// order is exactly that of a scheduler loop over `order`; only the detour is saved.
inline void leave(Block* b, Fiber* f) {
    if (!g_abort) {
        Fiber* nx = next_in_pass(b);
        if (nx && enter(b, nx)) { ctx_switch(&f->ctx, &nx->ctx); return; }
    }
    ctx_switch(&f->ctx, &b->sched);
}

// Called by a fiber: wait (state) at a barrier on `line` until the scheduler releases it.
inline void suspend(Block* b, int32_t state, int line) {
    Fiber* f = b->cur;
    f->state = state;
    f->line = line;
    GC_RACE_FLUSH();
    if (state == F_AT_BLOCK) {
        if (b->nbar++ == 0) b->bar_line = line;
        else if (line != b->bar_line) b->bar_mixed = true;
    } else if (state == F_AT_YIELD) {
        ++b->nyield;
    } else {
        b->warp_used = true;
    }
    leave(b, f);
}

inline void fiber_main(void* p) {
    Fiber* f = (Fiber*)p;
    g_thread_fn(g_thread_arg);
    GC_RACE_FLUSH();
    f->state = F_DONE;
    Block* b = t_block;
    ++b->ndone;
    leave(b, f);   // its stack stays with it until the block ends
    abort();  // a finished fiber is never resumed
}

inline void barrier_error(Fiber* who, int line, const char* fmt, int a, int c) {
    if (!claim_error(E_BARRIER)) return;
    where(g_error);
    g_error->thread[0] = who->tid.x; g_error->thread[1] = who->tid.y; g_error->thread[2] = who->tid.z;
    g_error->line = line;
    snprintf(g_error->msg, sizeof g_error->msg, fmt, a, c);
}

// Release every warp whose named lanes have all arrived. Returns whether any was released.
inline bool release_warps(Block* b) {
    bool released = false;
    for (int w = 0; w < b->nwarps; ++w) {
        Warp* wp = &b->warps[w];
        if (!wp->arrived) continue;
        int first = w * 32, last = first + 32 < b->n ? first + 32 : b->n;
        unsigned exist = 0, done = 0;
        for (int i = first; i < last; ++i) {
            exist |= 1u << (i - first);
            if (b->f[i].state == F_DONE) done |= 1u << (i - first);
        }
        unsigned need = wp->mask & exist;
        if (need & done) {
            int lane = __builtin_ctz(need & done);
            barrier_error(&b->f[first + lane], wp->line,
                          "lane %d of a warp returned while the other lanes wait at the warp "
                          "operation on line %d, whose mask names it (all named lanes must "
                          "reach it)", lane, wp->line);
            return false;
        }
        if ((wp->arrived & need) != need) continue;
        for (int i = first; i < last; ++i)
            if (wp->arrived & (1u << (i - first))) b->f[i].state = F_READY;
        GC_RACE_WARP_SYNC(b, w, wp->arrived);
        wp->arrived = 0;
        wp->gen++;
        wp->ballot[wp->gen & 1] = 0;
        wp->part[wp->gen & 1] = 0;
        released = true;
    }
    return released;
}

// Release the fibers stopped at F_AT_YIELD.  Those stopped at an `__activemask()` learn
// which lanes of their warp stopped at the same one: the lanes a GPU runs converged there
// (lanes that returned, or went another way, are not in it; lanes that reach it later
// in a pass are, unlike a mask read when the lane itself happens to run).
inline bool release_yields(Block* b) {
    if (!b->nyield) return false;
    b->nyield = 0;
    for (int w = 0; w < b->nwarps; ++w) {
        int first = w * 32, last = first + 32 < b->n ? first + 32 : b->n;
        for (int i = first; i < last; ++i) {
            Fiber* f = &b->f[i];
            if (f->state != F_AT_YIELD) continue;
            if (f->line > 0) {
                unsigned m = 0;
                for (int j = first; j < last; ++j)
                    if (b->f[j].state == F_AT_YIELD && b->f[j].line == f->line) m |= 1u << (j - first);
                f->result = m;
            }
        }
        for (int i = first; i < last; ++i)
            if (b->f[i].state == F_AT_YIELD) b->f[i].state = F_READY;
    }
    return true;
}

inline void release_done(Block* b) {
    b->bar_gen++;
    b->bar_acc[b->bar_gen & 1] = 0;
    b->nbar = 0;
    b->bar_mixed = false;
}

// Every live fiber waits: check they wait at one __syncthreads() and release them.
inline bool release_block(Block* b) {
    if (!b->warp_used && !b->bar_mixed && b->ndone == 0 && b->nbar == b->n) {
        // the common case: all threads of the block wait at the same __syncthreads()
        for (int i = 0; i < b->n; ++i) b->f[i].state = F_READY;
        release_done(b);
        return true;
    }
    Fiber* first = nullptr;
    Fiber* exited = nullptr;
    for (int i = 0; i < b->n; ++i) {
        Fiber* f = &b->f[i];
        if (f->state == F_DONE) { if (!exited) exited = f; continue; }
        if (f->state == F_AT_WARP) {
            Fiber* other = nullptr;
            for (int j = 0; j < b->n; ++j) if (b->f[j].state == F_AT_BLOCK) { other = &b->f[j]; break; }
            if (other)
                barrier_error(f, f->line,
                              "threads wait at a warp operation on line %d while others of the "
                              "block wait at __syncthreads() on line %d: they can never meet",
                              f->line, other->line);
            else
                barrier_error(f, f->line,
                              "lanes wait at the warp operation on line %d for lanes that never "
                              "reach it (warp %d)", f->line, f->lin / 32);
            return false;
        }
        if (!first) { first = f; continue; }
        if (f->line != first->line) {
            barrier_error(f, first->line,
                          "threads of one block reach different __syncthreads(): some wait on "
                          "line %d, others on line %d (a __syncthreads() inside a branch that "
                          "not every thread takes is undefined behaviour in CUDA)",
                          first->line, f->line);
            return false;
        }
    }
    if (first && exited) {
        barrier_error(exited, first->line,
                      "a thread returned while the others of its block wait at __syncthreads() "
                      "on line %d (every thread of a block must reach each __syncthreads(): "
                      "an early `return` before a barrier is undefined behaviour in CUDA)%.0d",
                      first->line, 0);
        return false;
    }
    for (int i = 0; i < b->n; ++i)
        if (b->f[i].state == F_AT_BLOCK) b->f[i].state = F_READY;
    release_done(b);
    return true;
}

inline void run_block_fibers(Block* b) {
    for (int i = 0; i < b->n; ++i) { b->f[i].state = F_READY; b->f[i].stack = nullptr; }
    memset(b->warps, 0, sizeof(Warp) * b->nwarps);
    b->ndone = 0;
    b->bar_gen = 0;
    b->bar_acc[0] = b->bar_acc[1] = 0;
    b->nbar = 0;
    b->bar_mixed = false;
    b->warp_used = false;
    b->nyield = 0;
    b->tid_slot = &t_thread_idx;   // the TLS address is fixed for this OS thread: look it up once
    make_order(b);
    for (;;) {
        // One pass: every ready fiber runs once, in order, until it waits or returns; each
        // hands over to the next (leave), the last one comes back here.
        b->pos = -1;
        Fiber* f = next_in_pass(b);
        if (f && enter(b, f)) ctx_switch(&b->sched, &f->ctx);
        if (g_abort) break;
        if (b->ndone == b->n) break;
        bool released = release_warps(b);
        released |= release_yields(b);
        if (g_abort) break;
        if (released) { if (g_schedule == S_RANDOM) make_order(b); continue; }
        if (g_abort || !release_block(b)) break;
        if (g_schedule == S_RANDOM) make_order(b);
    }
    for (int i = 0; i < b->n; ++i)   // stacks go back to the pool when the block ends
        if (b->f[i].stack) { b->pool->give(b->f[i].stack); b->f[i].stack = nullptr; }
}

// A block of a kernel without barriers: its threads one after another as plain calls, on
// one fiber stack (so that threadIdx is found as in fiber mode).
inline void plain_main(void* p) {
    Block* b = (Block*)p;
    Here* h = here();
    uint3* tid_slot = b->tid_slot;
    fiber_fn fn = g_thread_fn;
    void* arg = g_thread_arg;
    for (int k = 0; k < b->n; ++k) {
        uint3 t = b->f[b->order[k]].tid;
        h->tid = t;
        *tid_slot = t;
        fn(arg);
        GC_RACE_FLUSH();
        if (g_abort) break;
    }
    Context dead;   // never resumed
    ctx_switch(&dead, &b->sched);
    abort();
}

inline void run_block_plain(Block* b) {
    make_order(b);
    b->tid_slot = &t_thread_idx;
    b->cur = nullptr;
    char* slot = b->pool->take();
    if (!slot) { report(E_INTERNAL, 0, "out of memory for fiber stacks"); return; }
    Here* h = slot_here(slot);
    h->bid = b->bid;
    h->block = b;
    Context c;
    ctx_make_slot(&c, slot, plain_main, b);
    ctx_switch(&b->sched, &c);
    b->pool->give(slot);
}

// ---- __syncthreads and friends ------------------------------------------------------

inline Block* in_fiber(int line) {
    Block* b = (Block*)here()->block;
    if (__builtin_expect(b != nullptr && b->cur != nullptr, 1)) return b;
    report(E_INTERNAL, line, "a barrier ran outside the fiber scheduler");
    return nullptr;
}

// A `volatile` access: every lane of the block makes its next access before any makes
// the one after, so warp-synchronous code written for lockstep warps (reductions over a
// `volatile` pointer without __syncwarp) computes what it computed on such GPUs.  Orders
// nothing for kernels.check's race detector.  A no-op when threads run as plain calls.
inline void lockstep_point() {
    Block* b = (Block*)here()->block;
    if (b && b->cur) suspend(b, F_AT_YIELD, 0);
}

// __activemask(): the lanes of the warp that reach this call together (see release_yields).
inline unsigned activemask_at(int line) {
    Block* b = (Block*)here()->block;
    if (!b || !b->cur) return 0xffffffffu;
    Fiber* f = b->cur;
    suspend(b, F_AT_YIELD, line);
    return f->result;
}

// op: 0 plain, 1 count, 2 and, 3 or
inline int block_barrier(int line, int op, int pred) {
    Block* b = in_fiber(line);
    if (!b) return 0;
    unsigned g = b->bar_gen & 1;
    if (op && pred) b->bar_acc[g] += 1;
    suspend(b, F_AT_BLOCK, line);
    int count = b->bar_acc[g];
    if (op == 2) return count == b->n;
    if (op == 3) return count > 0;
    return count;
}

}  // namespace gc

#define __syncthreads() ((void)::gc::block_barrier(__LINE__, 0, 0))
#define __syncthreads_count(p) ::gc::block_barrier(__LINE__, 1, (p))
#define __syncthreads_and(p) ::gc::block_barrier(__LINE__, 2, (p))
#define __syncthreads_or(p) ::gc::block_barrier(__LINE__, 3, (p))
#define __threadfence() (GC_RACE_FENCE(), __atomic_thread_fence(__ATOMIC_SEQ_CST))
#define __threadfence_block() __atomic_thread_fence(__ATOMIC_SEQ_CST)

// gc_launch.h -- a launch: unpack the arguments, run the grid's blocks on OS threads.
//
// The Python worker fills a LaunchDesc and calls the kernel's generated entry point,
// gc_launch__<name>.  Blocks are handed out from an atomic counter (in the schedule's
// order) to `nthreads` OS threads; each runs a block to the end before taking the next.
// A crash (SIGSEGV, SIGBUS, SIGFPE, ...) is recorded in shared memory (signal, faulting
// address, code address) before the worker dies, so the parent can explain it.
#pragma once
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <tuple>
#include <utility>
#include <type_traits>
#include "gc_sched.h"
#include "gc_memory.h"

namespace gc {

struct CrashRecord {
    uint64_t magic;       // k_crash_magic once written
    int32_t signo, code;
    uint64_t addr;        // faulting data address
    uint64_t pc;          // faulting code address
    uint64_t lib_base;
    uint32_t block[3];
    uint32_t thread[3];
};
constexpr uint64_t k_crash_magic = 0x6772616463726173ull;

struct Tracked;

struct LaunchDesc {
    uint32_t grid[3];
    uint32_t block[3];
    int64_t shared_mem;
    int32_t schedule;
    uint32_t seed;
    int32_t nthreads;
    int32_t nargs;
    void** args;          // args[i] points at the i-th argument's value
    int64_t* extents;     // elements of each pointer argument (-1: unchecked)
    int64_t* sizes;       // byte size of each scalar argument as marshalled by Python
    ErrorRecord* error;
    CrashRecord* crash;
    uint64_t lib_base;    // out: where this library is loaded
    int64_t stack_kb;
    struct Tracked* tracked;   // writable arguments, mapped read-only until first written
    int64_t ntracked;
    int32_t shared_poison;     // the byte every block's shared memory starts filled with
    int32_t pad;
};

// A writable argument region, passed to the kernel through the read-only mapping: its
// first write faults, the handler makes the region writable and marks it dirty, and the
// write is retried.  Regions never written are not copied back (and Python can tell
// which arguments a kernel wrote).
struct Tracked {
    uint64_t start, len;   // page-aligned, in the read-only mapping
    int64_t dirty;
};
inline Tracked* g_tracked = nullptr;
inline int64_t g_ntracked = 0;

inline bool unprotect_tracked(uint64_t addr) {
    for (int64_t i = 0; i < g_ntracked; ++i) {
        Tracked* t = &g_tracked[i];
        if (addr - t->start < t->len) {
            if (mprotect((void*)t->start, t->len, PROT_READ | PROT_WRITE) != 0) return false;
            __atomic_store_n(&t->dirty, 1, __ATOMIC_RELEASE);
            return true;
        }
    }
    return false;
}

inline CrashRecord* g_crash = nullptr;

inline void crash_handler(int sig, siginfo_t* si, void* ucv) {
    if (sig == SIGSEGV && unprotect_tracked((uint64_t)si->si_addr)) return;  // first write: retry
    CrashRecord* c = g_crash;
    if (c && c->magic != k_crash_magic) {
        c->signo = sig;
        c->code = si->si_code;
        c->addr = (uint64_t)si->si_addr;
        ucontext_t* uc = (ucontext_t*)ucv;
#if defined(__x86_64__) && defined(__linux__)
        c->pc = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__) && defined(__linux__)
        c->pc = (uint64_t)uc->uc_mcontext.pc;
#elif defined(__APPLE__) && defined(__x86_64__)
        c->pc = (uint64_t)uc->uc_mcontext->__ss.__rip;
#elif defined(__APPLE__) && defined(__aarch64__)
        c->pc = (uint64_t)uc->uc_mcontext->__ss.__pc;
#else
        (void)uc;
        c->pc = 0;
#endif
        c->block[0] = t_block_idx.x; c->block[1] = t_block_idx.y; c->block[2] = t_block_idx.z;
        c->thread[0] = t_thread_idx.x; c->thread[1] = t_thread_idx.y; c->thread[2] = t_thread_idx.z;
        __atomic_store_n(&c->magic, k_crash_magic, __ATOMIC_RELEASE);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

// Signal handlers run on an alternate stack: a fiber's stack may be the thing that broke.
inline void ensure_altstack() {
    stack_t cur;
    if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;
    static thread_local char* mem = nullptr;
    if (!mem) mem = (char*)malloc(1 << 16);
    stack_t ss;
    ss.ss_sp = mem;
    ss.ss_size = 1 << 16;
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
}

inline void install_handlers() {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (int s : sigs) sigaction(s, &sa, nullptr);
}

struct Grid {
    uint64_t total;
    uint64_t mult, add;   // random block order: an affine bijection of [0, total)
    uint64_t next;        // atomic: blocks handed out
    bool fibers;
    int threads_per_block;
};
inline Grid g_grid;

inline uint64_t gcd64(uint64_t a, uint64_t b) { while (b) { uint64_t t = a % b; a = b; b = t; } return a; }

inline uint64_t block_at(uint64_t c) {
    if (g_schedule == S_REVERSE) return g_grid.total - 1 - c;
    if (g_schedule == S_RANDOM) return (uint64_t)(((unsigned __int128)c * g_grid.mult + g_grid.add) % g_grid.total);
    return c;
}

inline void* run_slot(void*) {
    ensure_altstack();
    Block b;
    block_init(&b, g_grid.threads_per_block);
    b.pool = acquire_pool();
    unsigned char* dyn = nullptr;
    if (g_dyn_shared_bytes > 0) {
        dyn = (unsigned char*)aligned_alloc(64, (g_dyn_shared_bytes + 63) & ~63ll);
        t_dyn_shared = dyn;
    }
    t_block = &b;
    for (;;) {
        if (g_abort) break;
        uint64_t c = __atomic_fetch_add(&g_grid.next, 1, __ATOMIC_RELAXED);
        if (c >= g_grid.total) break;
        uint64_t lin = block_at(c);
        t_block_idx = uint3{(unsigned)(lin % g_grid_dim.x), (unsigned)((lin / g_grid_dim.x) % g_grid_dim.y),
                            (unsigned)(lin / ((uint64_t)g_grid_dim.x * g_grid_dim.y))};
        // Shared memory starts as garbage on a GPU: make reads before writes visible (NaN,
        // -1) in every block; static arrays are filled by shared_enter on first use.
        ++t_block_serial;
        if (dyn) memset(dyn, g_shared_poison, g_dyn_shared_bytes);
        b.bid = t_block_idx;
        b.rng = splitmix(g_seed * 0x100000001B3ull ^ lin);
        b.cur = nullptr;
        if (g_grid.fibers) run_block_fibers(&b); else run_block_plain(&b);
#ifdef GC_TRACE_SHARED
        shared_trace_flush();
#endif
        GC_RACE_FLUSH();
        b.cur = nullptr;
    }
    t_block = nullptr;
    if (b.pool) release_pool(b.pool);
    block_free(&b);
    free(dyn);
    t_dyn_shared = nullptr;
    return nullptr;
}

inline int run_grid(LaunchDesc* d, fiber_fn fn, void* arg, bool fibers) {
    g_error = d->error;
    g_crash = d->crash;
    g_tracked = d->tracked;
    g_ntracked = d->ntracked;
    g_abort = 0;
    g_grid_dim = dim3(d->grid[0], d->grid[1], d->grid[2]);
    g_block_dim = dim3(d->block[0], d->block[1], d->block[2]);
    g_dyn_shared_bytes = d->shared_mem;
    g_shared_poison = (unsigned char)d->shared_poison;
    g_schedule = d->schedule;
    g_seed = d->seed;
    g_thread_fn = fn;
    g_thread_arg = arg;
    set_stack_size(d->stack_kb > 0 ? (size_t)d->stack_kb * 1024 : (size_t)64 * 1024);
    Dl_info info;
    if (dladdr((void*)&run_grid, &info)) d->lib_base = (uint64_t)info.dli_fbase;
    if (g_crash) g_crash->lib_base = d->lib_base;
    install_handlers();
    ensure_altstack();
    GC_RACE_LAUNCH();

    g_grid.total = (uint64_t)d->grid[0] * d->grid[1] * d->grid[2];
    g_grid.threads_per_block = (int)(d->block[0] * d->block[1] * d->block[2]);
    g_grid.fibers = fibers;
    g_grid.next = 0;
    if (g_grid.total == 0 || g_grid.threads_per_block == 0) { g_ntracked = 0; return g_error->kind; }
    uint64_t r = splitmix(g_seed);
    g_grid.add = r % g_grid.total;
    g_grid.mult = (splitmix(r) % g_grid.total) | 1;
    while (gcd64(g_grid.mult, g_grid.total) != 1) g_grid.mult += 1;

    int nt = d->nthreads > 0 ? d->nthreads : 1;
    if ((uint64_t)nt > g_grid.total) nt = (int)g_grid.total;
    pthread_t th[256];
    if (nt > 256) nt = 256;
    int started = 0;
    for (int i = 1; i < nt; ++i)
        if (pthread_create(&th[started], nullptr, run_slot, nullptr) == 0) ++started;
    run_slot(nullptr);
    for (int i = 0; i < started; ++i) pthread_join(th[i], nullptr);
    g_ntracked = 0;
    fflush(stdout);
    fflush(stderr);
    return g_error->kind;
}

// ---- typed arguments ----------------------------------------------------------------

template <class T>
T make_arg(LaunchDesc* d, int i, const char* name) {
    if constexpr (is_ptr<T>::value) {
        using E = typename is_ptr<T>::elem;
        return T((E*)*(void**)d->args[i], 0, d->extents[i], name);
    } else {
        T v{};
        if (d->sizes[i] != (int64_t)sizeof(T)) {
            report(E_INTERNAL, 0, "argument `%s` was marshalled as %lld bytes but the kernel "
                   "declares %d bytes", name, (long long)d->sizes[i], (int)sizeof(T));
            return v;
        }
        memcpy(&v, d->args[i], sizeof(T));
        return v;
    }
}

template <class... P>
struct KernelCall {
    void (*fn)(P...);
    std::tuple<std::decay_t<P>...> args;
    static void run(void* self) {
        KernelCall* k = (KernelCall*)self;
        std::apply(k->fn, k->args);
    }
};

template <class... P, size_t... I>
std::tuple<std::decay_t<P>...> make_args(LaunchDesc* d, const char* const* names, std::index_sequence<I...>) {
    return std::tuple<std::decay_t<P>...>(make_arg<std::decay_t<P>>(d, (int)I, names[I])...);
}

template <class... P>
int launch_kernel(void (*fn)(P...), LaunchDesc* d, const char* const* names, bool fibers) {
    g_error = d->error;
    if ((int)sizeof...(P) != d->nargs) {
        report(E_INTERNAL, 0, "the kernel takes %d arguments but %d were marshalled",
               (int)sizeof...(P), d->nargs);
        return g_error->kind;
    }
    KernelCall<P...> call{fn, make_args<P...>(d, names, std::index_sequence_for<P...>{})};
    if (g_error->kind) return g_error->kind;
    return run_grid(d, &KernelCall<P...>::run, &call, fibers);
}

}  // namespace gc

#define GC_EXPORT extern "C" __attribute__((visibility("default")))

// gc_fiber.h -- fibers: a CUDA thread is a stack plus a saved stack pointer.
//
// On x86-64 the switch is ten instructions (push the callee-saved registers, swap stack
// pointers, pop); elsewhere it falls back to POSIX ucontext, which is correct but slower
// (it saves the signal mask with a system call).  Stacks come from a pool and are reused
// across blocks and launches; each has a guard page, so a runaway recursion faults
// cleanly instead of corrupting a neighbour.  Each stack lives in a slot aligned to its
// power-of-two size, with the fiber's threadIdx/blockIdx (`Here`) at the top, so kernel
// code finds them from its frame address (gc_builtins.h) without thread-local storage.
#pragma once
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdint.h>
#include "gc_builtins.h"

#if defined(__x86_64__) && !defined(GC_FIBER_UCONTEXT)
#define GC_FIBER_ASM 1
#else
#include <ucontext.h>
#endif

namespace gc {

typedef void (*fiber_fn)(void*);

#if GC_FIBER_ASM
extern "C" void gc_ctx_switch(void** save_sp, void* load_sp);
extern "C" void gc_ctx_start();
asm(R"(
    .text
    .globl gc_ctx_switch
    .hidden gc_ctx_switch
    .type gc_ctx_switch,@function
gc_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gc_ctx_switch, .-gc_ctx_switch

    .globl gc_ctx_start
    .hidden gc_ctx_start
    .type gc_ctx_start,@function
gc_ctx_start:
    movq %r12, %rdi
    andq $-16, %rsp
    callq *%r13
    ud2
    .size gc_ctx_start, .-gc_ctx_start
)");

struct Context {
    void* sp = nullptr;
};
// Prepare `c` to run fn(arg) on the stack [lo, hi) at its first resume.
inline void ctx_make(Context* c, char* lo, size_t size, fiber_fn fn, void* arg) {
    uintptr_t top = ((uintptr_t)(lo + size)) & ~(uintptr_t)15;
    void** s = (void**)top;
    s[-1] = nullptr;                 // fake return address of gc_ctx_start
    s[-2] = (void*)&gc_ctx_start;    // where the first `ret` goes
    s[-3] = nullptr;                 // rbp
    s[-4] = nullptr;                 // rbx
    s[-5] = arg;                     // r12
    s[-6] = (void*)fn;               // r13
    s[-7] = nullptr;                 // r14
    s[-8] = nullptr;                 // r15
    c->sp = (void*)&s[-8];
}
inline void ctx_switch(Context* from, Context* to) { gc_ctx_switch(&from->sp, to->sp); }
#else
struct Context {
    ucontext_t uc;
};
inline void ctx_trampoline(unsigned hi_fn, unsigned lo_fn, unsigned hi_arg, unsigned lo_arg) {
    fiber_fn fn = (fiber_fn)(((uintptr_t)hi_fn << 32) | lo_fn);
    void* arg = (void*)(((uintptr_t)hi_arg << 32) | lo_arg);
    fn(arg);
    abort();
}
inline void ctx_make(Context* c, char* lo, size_t size, fiber_fn fn, void* arg) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    uintptr_t f = (uintptr_t)fn, a = (uintptr_t)arg;
    makecontext(&c->uc, (void (*)())ctx_trampoline, 4, (unsigned)(f >> 32), (unsigned)f,
                (unsigned)(a >> 32), (unsigned)a);
}
inline void ctx_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
#endif

// ---- stack pool --------------------------------------------------------------------

inline size_t g_stack_size = 64 * 1024;   // usable bytes per fiber stack (KERNELS_STACK_KB)
constexpr size_t k_page = 4096;
inline size_t g_slot_size = 0;            // a power of two: guard page, stack, `Here`

// Slots are aligned to their (power-of-two) size, so `here()` finds the top of the slot
// from any frame address on it.
inline void set_stack_size(size_t usable) {
    g_stack_size = usable;
    size_t need = k_page + usable + 128 * 192 + 64;   // guard, stack, colour, Here
    size_t slot = k_page;
    unsigned shift = 12;
    while (slot < need) { slot <<= 1; ++shift; }
    g_slot_size = slot;
    g_slot_mask = slot - 1;
    g_slot_shift = shift;
}

inline Here* slot_here(char* slot) { return here_of((uintptr_t)slot); }

struct StackPool {
    char** free_list = nullptr;
    int n_free = 0, cap = 0, owned = 0;   // the free list can hold every stack owned
    size_t slot = 0;                      // g_slot_size its stacks were made for

    char* take() {
        if (n_free == 0) grow(64);
        return n_free ? free_list[--n_free] : nullptr;
    }
    void give(char* s) { free_list[n_free++] = s; }
    void grow(int count) {
        size_t one = g_slot_size;
        char* raw = (char*)mmap(nullptr, one * (count + 1), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (raw == MAP_FAILED) return;
        char* region = (char*)(((uintptr_t)raw + one - 1) & ~(uintptr_t)(one - 1));
        owned += count;
        if (owned > cap) {
            int ncap = (cap ? cap * 2 : 128);
            while (ncap < owned) ncap *= 2;
            free_list = (char**)realloc(free_list, sizeof(char*) * ncap);
            cap = ncap;
        }
        for (int i = 0; i < count; ++i) {
            char* lo = region + i * one;
            mprotect(lo, k_page, PROT_NONE);   // guard page below the stack
            free_list[n_free++] = lo;
        }
    }
};

// A fiber's stack starts just below its slot's `Here` (coloured: see `here_of`).
inline char* stack_top(char* slot) { return (char*)slot_here(slot); }

// Prepare `c` to run fn(arg) on the stack of `slot`.
inline void ctx_make_slot(Context* c, char* slot, fiber_fn fn, void* arg) {
    char* lo = slot + k_page;
    ctx_make(c, lo, (size_t)(stack_top(slot) - lo), fn, arg);
}

// One pool per OS thread slot of a launch, kept for the library's lifetime.
inline pthread_mutex_t g_pools_lock = PTHREAD_MUTEX_INITIALIZER;
inline StackPool* g_pools[256];
inline int g_pools_free = 0;

inline StackPool* acquire_pool() {
    pthread_mutex_lock(&g_pools_lock);
    StackPool* p = g_pools_free ? g_pools[--g_pools_free] : nullptr;
    pthread_mutex_unlock(&g_pools_lock);
    if (p && p->slot != g_slot_size) p = nullptr;   // made for another KERNELS_STACK_KB: dropped
    if (!p) { p = new StackPool(); p->slot = g_slot_size; }
    return p;
}
inline void release_pool(StackPool* p) {
    pthread_mutex_lock(&g_pools_lock);
    if (g_pools_free < 256) g_pools[g_pools_free++] = p;
    pthread_mutex_unlock(&g_pools_lock);
}

}  // namespace gc

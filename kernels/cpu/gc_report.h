// gc_report.h -- the launch's error record: the first fault wins, the launch stops early.
//
// The record lives in memory the Python worker owns; Python turns it into a KernelError,
// mapping `pc` (a code address in this library) to the learner's source line.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include "gc_types.h"

namespace gc {

enum ErrorKind : int32_t {
    E_NONE = 0,
    E_OUT_OF_BOUNDS = 1,   // global pointer parameter indexed outside its array
    E_SHARED_BOUNDS = 2,   // __shared__ array indexed outside its declared size
    E_BARRIER = 3,         // divergent __syncthreads / exited threads / warp deadlock
    E_INTERNAL = 4,
    E_SHARED_UNINIT = 5,   // __shared__ slot read before any thread wrote it (GC_TRACE_SHARED)
    E_WARP = 6,            // a warp operation used outside its rules (a shuffle outside its mask)
    E_RACE = 7,            // two threads' unordered accesses, one a write (GC_RACECHECK)
};

struct ErrorRecord {
    int32_t kind;
    int32_t line;          // source line when known here (barriers), else 0
    int64_t index;         // element index for bounds errors
    int64_t extent;        // number of elements of the array
    uint64_t pc;           // code address to map to a line (bounds errors)
    uint32_t block[3];
    uint32_t thread[3];
    int32_t is_const;      // the pointer was const (so the access was a read)
    int32_t pad;
    char name[64];         // the array's name
    char msg[320];
    // The other access of a race (GC_RACECHECK): code address, block, thread.
    uint64_t pc2;
    uint32_t block2[3];
    uint32_t thread2[3];
    int32_t hazard;        // 1 read-after-write, 2 write-after-read, 3 write-after-write
    int32_t space;         // 0 __shared__, 1 global
    uint64_t addr;         // the address (global: mapped back to the argument by Python)
};

inline ErrorRecord* g_error = nullptr;
inline volatile int g_abort = 0;   // set once a fault is recorded: remaining blocks are skipped

inline void copy_name(char* dst, const char* src, int cap) {
    int i = 0;
    for (; src && src[i] && i < cap - 1; ++i) dst[i] = src[i];
    dst[i] = 0;
}

// Claim the record; false if another fault got there first.
inline bool claim_error(int32_t kind) {
    int32_t expected = E_NONE;
    if (!g_error) return false;
    if (!__atomic_compare_exchange_n(&g_error->kind, &expected, kind, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return false;
    g_abort = 1;
    return true;
}

inline void where(ErrorRecord* e);  // fills block/thread (defined with the builtins)

__attribute__((format(printf, 3, 4)))
inline void report(int32_t kind, int line, const char* fmt, ...) {
    if (!claim_error(kind)) return;
    g_error->line = line;
    where(g_error);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error->msg, sizeof g_error->msg, fmt, ap);
    va_end(ap);
}

}  // namespace gc

// gc_race.h -- the hooks kernels.check's race detector places in memory accesses and
// synchronisation (GC_RACECHECK builds only; elsewhere every hook is nothing).  The
// detector itself is gc_racecheck.h.
#pragma once
#include <stddef.h>

#ifdef GC_RACECHECK
namespace gc {
struct Block;
// An access to `bytes` bytes at `p`, element `index` of array `name`; `arr`/`arr_bytes`:
// the whole `__shared__` array when the caller knows it is one (else nullptr).
inline void race_access(const void* p, int bytes, const char* name, long long index,
                        const void* arr, long long arr_bytes, int elem);
inline void race_atomic(const void* p);                  // the access just made is atomic
inline void race_flush();                                // the running thread stops
inline void race_warp_sync(Block* b, int warp, unsigned lanes);   // lanes synchronised
inline void race_fence();                                // __threadfence()
inline void race_launch();                               // a launch starts
inline void race_shared_array(const void* p, long long bytes, const char* name, int elem);
}  // namespace gc
#define GC_RACE_ACCESS(p, bytes, name, index, arr, arr_bytes, elem) \
    ::gc::race_access((const void*)(p), (bytes), (name), (index), (const void*)(arr), (arr_bytes), (elem))
#define GC_RACE_ATOMIC(p) ::gc::race_atomic((const void*)(p))
#define GC_RACE_FLUSH() ::gc::race_flush()
#define GC_RACE_WARP_SYNC(b, w, lanes) ::gc::race_warp_sync((b), (w), (lanes))
#define GC_RACE_FENCE() ::gc::race_fence()
#define GC_RACE_LAUNCH() ::gc::race_launch()
#else
#define GC_RACE_ACCESS(p, bytes, name, index, arr, arr_bytes, elem) ((void)0)
#define GC_RACE_ATOMIC(p) ((void)0)
#define GC_RACE_FLUSH() ((void)0)
#define GC_RACE_WARP_SYNC(b, w, lanes) ((void)0)
#define GC_RACE_FENCE() ((void)0)
#define GC_RACE_LAUNCH() ((void)0)
#endif

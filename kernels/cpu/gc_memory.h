// gc_memory.h -- bounds-checked pointers and __shared__ arrays.
//
// The front end rewrites every single-level pointer parameter `T* p` of a kernel or
// device function into `gc::ptr<T> p`, which carries its array's base, extent and name.
// Indexing outside [0, extent) records "`g`[1024] but `g` has 1024 elements" plus the
// code address (mapped to the source line by Python) and yields a harmless dummy, and the
// launch is stopped.  `__shared__ T s[N]` becomes `gc::shared_array<T, N, "s">`, and
// `extern __shared__ T s[]` becomes `gc::extern_shared<T, "s">` over the block's dynamic
// shared memory.  Defining GC_NO_BOUNDS (the fast mode) turns the checks off.
//
// Shared memory starts as garbage on a GPU (a static `__shared__` array here would keep
// what the previous block on this OS thread left).  So every block starts with all of its
// shared memory filled with the launch's poison byte (0xFF: NaN for float, -1 for ints):
// dynamic shared memory in run_slot, each static array by `shared_enter`, which the
// rewrite places right after its declaration and which fills it the first time a thread
// of a new block passes there (one compare per thread otherwise).  GC_TRACE_SHARED (a
// separate build, used by kernels.check only to explain a result that depends on the
// poison) also reports the first read of a slot no thread wrote in this block.
#pragma once
#include <stddef.h>
#include <string.h>
#include <type_traits>
#include "gc_builtins.h"
#include "gc_report.h"
#include "gc_race.h"

namespace gc {

inline void lockstep_point();   // gc_sched.h: a `volatile` access waits for the other lanes

// A string usable as a template argument: the name of a __shared__ array.
template <size_t N>
struct lit {
    char s[N];
    constexpr lit(const char (&a)[N]) { for (size_t i = 0; i < N; ++i) s[i] = a[i]; }
};

template <class T>
[[gnu::noinline, gnu::cold]] T& bounds_fault(int kind, const char* name, long long index,
                                            long long extent, bool is_const) {
    // Our caller is the kernel code where the inlined operator[] sits: its return
    // address maps (through the inline chain in the debug info) to the source line.
    void* pc = __builtin_extract_return_addr(__builtin_return_address(0));
    if (claim_error(kind)) {
        g_error->index = index;
        g_error->extent = extent;
        g_error->pc = (uint64_t)pc;
        g_error->is_const = is_const;
        copy_name(g_error->name, name, sizeof g_error->name);
        where(g_error);
    }
    // A harmless zeroed element to read or write instead; the launch stops soon after.
    alignas(64) static thread_local unsigned char dummy[sizeof(T) < 64 ? 64 : sizeof(T)];
    memset(dummy, 0, sizeof dummy);
    return *reinterpret_cast<T*>(dummy);
}

template <class T> struct ptr;
template <class T> struct is_ptr_t : std::false_type {};
template <class T> struct is_ptr_t<ptr<T>> : std::true_type {};
template <class U> constexpr bool is_ptr_v = is_ptr_t<std::decay_t<U>>::value;

template <class T>
struct ptr {
    T* base = nullptr;       // start of the array (as passed)
    long long off = 0;       // this pointer's position in it, in elements
    long long n = -1;        // extent in elements; -1: unknown (a raw pointer), unchecked
    const char* name = "";

    ptr() = default;
    ptr(T* p) : base(p) {}  // from a raw pointer: unchecked
    ptr(decltype(nullptr)) {}
    ptr(T* b, long long o, long long ext, const char* nm) : base(b), off(o), n(ext), name(nm) {}
    template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    ptr(const ptr<U>& o) : base(o.base), off(o.off), n(o.n), name(o.name) {}
    // from an object that converts to T* itself (the samples' SharedMemory<T>): unchecked
    template <class U>
        requires(std::is_class_v<std::decay_t<U>> && !is_ptr_v<U> &&
                 !requires { std::decay_t<U>::gc_shared_view; } && std::is_convertible_v<U&, T*>)
    ptr(U&& u) : base(static_cast<T*>(u)) {}

    T* get() const { return base + off; }
    operator T*() const { return base + off; }
    template <class V>
    explicit operator V*() const { return (V*)(base + off); }   // C-style casts: unchecked

    [[gnu::always_inline]] T& at(long long i) const {
        if constexpr (std::is_volatile_v<T>) lockstep_point();
#ifndef GC_NO_BOUNDS
        long long k = off + i;
        if (__builtin_expect(n >= 0 && (unsigned long long)k >= (unsigned long long)n, 0))
            return bounds_fault<T>(E_OUT_OF_BOUNDS, name, k, n, std::is_const_v<T>);
        GC_RACE_ACCESS(__builtin_addressof(base[k]), (int)sizeof(T), name, k, nullptr, 0, (int)sizeof(T));
        return base[k];
#else
        GC_RACE_ACCESS(__builtin_addressof(base[off + i]), (int)sizeof(T), name, off + i, nullptr, 0, (int)sizeof(T));
        return base[off + i];
#endif
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    [[gnu::always_inline]] T& operator[](I i) const { return at((long long)i); }
    [[gnu::always_inline]] T& operator*() const { return at(0); }
    [[gnu::always_inline]] T* operator->() const { return &at(0); }

    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    ptr operator+(I i) const { return ptr(base, off + (long long)i, n, name); }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    ptr operator-(I i) const { return ptr(base, off - (long long)i, n, name); }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    ptr& operator+=(I i) { off += (long long)i; return *this; }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    ptr& operator-=(I i) { off -= (long long)i; return *this; }
    ptr& operator++() { ++off; return *this; }
    ptr& operator--() { --off; return *this; }
    ptr operator++(int) { ptr t = *this; ++off; return t; }
    ptr operator--(int) { ptr t = *this; --off; return t; }
    template <class U>
    ptrdiff_t operator-(const ptr<U>& o) const { return get() - o.get(); }
    ptrdiff_t operator-(T* o) const { return get() - o; }
};

template <class I, class T, class = std::enable_if_t<std::is_integral_v<I>>>
ptr<T> operator+(I i, const ptr<T>& p) { return p + i; }

template <>
struct ptr<void> {  // void* parameters stay unchecked
    void* base = nullptr;
    ptr() = default;
    ptr(void* p) : base(p) {}
    ptr(void* b, long long, long long, const char*) : base(b) {}
    operator void*() const { return base; }
};
template <>
struct ptr<const void> {
    const void* base = nullptr;
    ptr() = default;
    ptr(const void* p) : base(p) {}
    ptr(const void* b, long long, long long, const char*) : base(b) {}
    operator const void*() const { return base; }
};

template <class T> struct is_ptr : std::false_type {};
template <class T> struct is_ptr<ptr<T>> : std::true_type { using elem = T; };

// reinterpret_cast<V*>(p) of a checked pointer: a checked pointer to V over the same bytes.
template <class To, class From>
__forceinline__ auto ptr_cast(From f) {
    if constexpr (is_ptr<From>::value && std::is_pointer_v<To>) {
        using U = typename is_ptr<From>::elem;
        using V = std::remove_pointer_t<To>;
        constexpr long long su = sizeof(std::conditional_t<std::is_void_v<U>, char, U>);
        constexpr long long sv = sizeof(std::conditional_t<std::is_void_v<V>, char, V>);
        return ptr<V>((V*)f.base, f.off * su / sv, f.n >= 0 ? f.n * su / sv : -1, f.name);
    } else {
        return reinterpret_cast<To>(f);
    }
}

// ---- __shared__ arrays -------------------------------------------------------------

// The running block's serial number on this OS thread (0: none yet), bumped by run_slot
// at every block start; an array filled during block k remembers k.  Internal linkage:
// one copy per kernel library, which also owns the arrays.
static thread_local unsigned long long t_block_serial = 0;
inline unsigned char g_shared_poison = 0xFF;   // the launch's fill byte

[[gnu::always_inline]] inline void shared_enter(void* p, size_t bytes, unsigned long long& serial) {
    const unsigned long long now = t_block_serial;
    if (__builtin_expect(serial != now, 0)) {
        memset(p, g_shared_poison, bytes);
        serial = now;
    }
}

#ifdef GC_TRACE_SHARED
// A slot holding nothing but poison bytes when it is accessed is either about to be
// written or read before any write.  Which one shows at the next check (the next shared
// access on this OS thread, or the block's end): if it still holds only poison, it was
// read (or written with the poison pattern itself, which is why the check uses an
// unlikely byte).  One access is pending at a time; its thread and code address are
// kept, so a later check reports the reading thread and line.
struct SharedPending {
    const unsigned char* p;
    size_t bytes;
    ErrorRecord rec;       // name, index, extent, pc, block, thread of the access
};
static thread_local SharedPending t_shared_pending;

inline bool all_poison(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i] != g_shared_poison) return false;
    return true;
}

inline void shared_trace_flush() {
    SharedPending& q = t_shared_pending;
    if (q.p && all_poison(q.p, q.bytes) && claim_error(E_SHARED_UNINIT)) {
        int32_t kind = g_error->kind;
        *g_error = q.rec;
        g_error->kind = kind;
    }
    q.p = nullptr;
}

[[gnu::noinline]] inline void shared_trace(const void* slot, size_t bytes, const char* name,
                                           long long index, long long extent) {
    void* pc = __builtin_extract_return_addr(__builtin_return_address(0));
    shared_trace_flush();
    const unsigned char* p = (const unsigned char*)slot;
    if (!all_poison(p, bytes)) return;
    SharedPending& q = t_shared_pending;
    q.p = p;
    q.bytes = bytes;
    q.rec.index = index;
    q.rec.extent = extent;
    q.rec.pc = (uint64_t)pc;
    q.rec.is_const = 1;
    copy_name(q.rec.name, name, sizeof q.rec.name);
    where(&q.rec);
}
#define GC_SHARED_TRACE(slot, name, index, extent) \
    ::gc::shared_trace((slot), sizeof(*(slot)), (name), (index), (extent))
#else
#define GC_SHARED_TRACE(slot, name, index, extent) ((void)0)
#endif

template <class T> struct is_shared_array : std::false_type {};
template <class T> struct shared_elem { using type = T; };   // innermost element type

template <class T, long long N, lit Name>
struct shared_array {
    T data[N];
    static constexpr bool gc_shared_view = true;   // converts to ptr<U> by itself

    [[gnu::always_inline]] T& at(long long i) {
        if constexpr (std::is_volatile_v<T>) lockstep_point();
#ifndef GC_NO_BOUNDS
        if (__builtin_expect((unsigned long long)i >= (unsigned long long)N, 0))
            return bounds_fault<T>(E_SHARED_BOUNDS, Name.s, i, N, false);
#endif
        if constexpr (!is_shared_array<T>::value) {
            GC_SHARED_TRACE(&data[i], Name.s, i, N);
            GC_RACE_ACCESS(__builtin_addressof(data[i]), (int)sizeof(T), Name.s, i, data, (long long)sizeof(data),
                           (int)sizeof(T));
        }
        return data[i];
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    [[gnu::always_inline]] T& operator[](I i) { return at((long long)i); }
    operator T*() { return data; }
    template <class U, class = std::enable_if_t<std::is_convertible_v<T*, U*>>>
    operator ptr<U>() { return ptr<U>(data, 0, N, Name.s); }
    T* operator+(long long i) { return data + i; }
};
template <class T, long long N, lit Name>
struct is_shared_array<shared_array<T, N, Name>> : std::true_type {};
template <class T, long long N, lit Name>
struct shared_elem<shared_array<T, N, Name>> { using type = typename shared_elem<T>::type; };

// shared_enter of a whole (possibly 2-D) array: the race detector learns its name and
// element size, so an access through a plain pointer into it is named too.
template <class T, long long N, lit Name>
[[gnu::always_inline]] inline void shared_enter(shared_array<T, N, Name>* a, size_t bytes,
                                                unsigned long long& serial) {
    shared_enter((void*)a, bytes, serial);
#ifdef GC_RACECHECK
    race_shared_array(a, (long long)bytes, Name.s, (int)sizeof(typename shared_elem<T>::type));
#endif
}

// Dynamic shared memory of the running block (`shared_mem` bytes of the launch).
inline thread_local unsigned char* t_dyn_shared = nullptr;
inline long long g_dyn_shared_bytes = 0;

template <class T, lit Name>
struct extern_shared {
    static constexpr bool gc_shared_view = true;
    static T* data() { return reinterpret_cast<T*>(t_dyn_shared); }
    static long long extent() { return g_dyn_shared_bytes / (long long)sizeof(T); }

    [[gnu::always_inline]] T& at(long long i) const {
        if constexpr (std::is_volatile_v<T>) lockstep_point();
#ifndef GC_NO_BOUNDS
        if (__builtin_expect((unsigned long long)i >= (unsigned long long)extent(), 0))
            return bounds_fault<T>(E_SHARED_BOUNDS, Name.s, i, extent(), false);
#endif
        GC_SHARED_TRACE(&data()[i], Name.s, i, extent());
        GC_RACE_ACCESS(__builtin_addressof(data()[i]), (int)sizeof(T), Name.s, i, data(), g_dyn_shared_bytes, (int)sizeof(T));
        return data()[i];
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    [[gnu::always_inline]] T& operator[](I i) const { return at((long long)i); }
    operator T*() const { enter(); return data(); }
    template <class U, class = std::enable_if_t<std::is_convertible_v<T*, U*>>>
    operator ptr<U>() const { enter(); return ptr<U>(data(), 0, extent(), Name.s); }
    template <class V>
    explicit operator V*() const { enter(); return (V*)data(); }   // C-style casts: unchecked
    // the race detector learns the array's name (accesses through pointers are named)
    static void enter() {
#ifdef GC_RACECHECK
        race_shared_array(data(), g_dyn_shared_bytes, Name.s, (int)sizeof(T));
#endif
    }
    T* operator+(long long i) const { return data() + i; }
};

}  // namespace gc

// Read-only data cache load: a plain load on the CPU.
template <class T>
__forceinline__ T __ldg(const T* p) { return *p; }
template <class T>
__forceinline__ T __ldg(::gc::ptr<const T> p) { return *p; }
template <class T>
__forceinline__ T __ldg(::gc::ptr<T> p) { return *p; }

// Cache-hinted loads and stores (__ldcs, __stcs, ...): plain ones on the CPU.
#define GC_LOAD_HINT(F) \
    template <class T> __forceinline__ T F(const T* p) { return *p; } \
    template <class T> __forceinline__ T F(::gc::ptr<const T> p) { return *p; } \
    template <class T> __forceinline__ T F(::gc::ptr<T> p) { return *p; }
#define GC_STORE_HINT(F) \
    template <class T> __forceinline__ void F(T* p, T v) { *p = v; } \
    template <class T> __forceinline__ void F(::gc::ptr<T> p, T v) { *p = v; }
GC_LOAD_HINT(__ldcg) GC_LOAD_HINT(__ldca) GC_LOAD_HINT(__ldcs) GC_LOAD_HINT(__ldlu) GC_LOAD_HINT(__ldcv)
GC_STORE_HINT(__stcg) GC_STORE_HINT(__stcs) GC_STORE_HINT(__stwb) GC_STORE_HINT(__stwt)
#undef GC_LOAD_HINT
#undef GC_STORE_HINT

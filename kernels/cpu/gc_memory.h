// gc_memory.h -- bounds-checked pointers and __shared__ arrays.
//
// The front end rewrites every single-level pointer parameter `T* p` of a kernel or
// device function into `gc::ptr<T> p`, which carries its array's base, extent and name.
// Indexing outside [0, extent) records "`g`[1024] but `g` has 1024 elements" plus the
// code address (mapped to the source line by Python) and yields a harmless dummy, and the
// launch is stopped.  `__shared__ T s[N]` becomes `gc::shared_array<T, N, "s">`, and
// `extern __shared__ T s[]` becomes `gc::extern_shared<T, "s">` over the block's dynamic
// shared memory.  Defining GC_NO_BOUNDS (the fast mode) turns the checks off.
#pragma once
#include <stddef.h>
#include <string.h>
#include <type_traits>
#include "gc_builtins.h"
#include "gc_report.h"

namespace gc {

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

    T* get() const { return base + off; }
    operator T*() const { return base + off; }
    template <class V>
    explicit operator V*() const { return (V*)(base + off); }   // C-style casts: unchecked

    [[gnu::always_inline]] T& at(long long i) const {
#ifndef GC_NO_BOUNDS
        long long k = off + i;
        if (__builtin_expect(n >= 0 && (unsigned long long)k >= (unsigned long long)n, 0))
            return bounds_fault<T>(E_OUT_OF_BOUNDS, name, k, n, std::is_const_v<T>);
        return base[k];
#else
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

template <class T, long long N, lit Name>
struct shared_array {
    T data[N];

    [[gnu::always_inline]] T& at(long long i) {
#ifndef GC_NO_BOUNDS
        if (__builtin_expect((unsigned long long)i >= (unsigned long long)N, 0))
            return bounds_fault<T>(E_SHARED_BOUNDS, Name.s, i, N, false);
#else
#endif
        return data[i];
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    [[gnu::always_inline]] T& operator[](I i) { return at((long long)i); }
    operator T*() { return data; }
    template <class U, class = std::enable_if_t<std::is_convertible_v<T*, U*>>>
    operator ptr<U>() { return ptr<U>(data, 0, N, Name.s); }
    T* operator+(long long i) { return data + i; }
};

// Dynamic shared memory of the running block (`shared_mem` bytes of the launch).
inline thread_local unsigned char* t_dyn_shared = nullptr;
inline long long g_dyn_shared_bytes = 0;

template <class T, lit Name>
struct extern_shared {
    static T* data() { return reinterpret_cast<T*>(t_dyn_shared); }
    static long long extent() { return g_dyn_shared_bytes / (long long)sizeof(T); }

    [[gnu::always_inline]] T& at(long long i) const {
#ifndef GC_NO_BOUNDS
        if (__builtin_expect((unsigned long long)i >= (unsigned long long)extent(), 0))
            return bounds_fault<T>(E_SHARED_BOUNDS, Name.s, i, extent(), false);
#else
#endif
        return data()[i];
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    [[gnu::always_inline]] T& operator[](I i) const { return at((long long)i); }
    operator T*() const { return data(); }
    template <class U, class = std::enable_if_t<std::is_convertible_v<T*, U*>>>
    operator ptr<U>() const { return ptr<U>(data(), 0, extent(), Name.s); }
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

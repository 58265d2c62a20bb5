// cooperative_groups.h -- the part of CUDA's cooperative groups that kernels use most,
// over the CPU backend's barriers and warp operations: this_thread_block() with sync()
// and thread_rank(), tiled_partition<N> (N a power of two up to 32) with its shuffles and
// votes, tiled_partition(block, n), coalesced_threads().  Calls report the caller's line
// (std::source_location), as __syncthreads() does.  Not here: grid_group/this_grid()
// (it needs a cooperative launch), multi-device groups, labeled_partition.
#pragma once
#include <source_location>

namespace cooperative_groups {

using gc_loc = std::source_location;

inline unsigned gc_block_rank() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
inline unsigned gc_block_size() { return blockDim.x * blockDim.y * blockDim.z; }

class thread_block {
public:
    void sync(gc_loc at = gc_loc::current()) const { ::gc::block_barrier((int)at.line(), 0, 0); }
    unsigned thread_rank() const { return gc_block_rank(); }
    unsigned size() const { return gc_block_size(); }
    unsigned num_threads() const { return gc_block_size(); }
    dim3 group_index() const { return dim3(blockIdx.x, blockIdx.y, blockIdx.z); }
    dim3 thread_index() const { return dim3(threadIdx.x, threadIdx.y, threadIdx.z); }
    dim3 group_dim() const { return blockDim; }
    dim3 dim_threads() const { return blockDim; }
};

inline thread_block this_thread_block() { return thread_block(); }

// A group of `n` consecutive threads of the block (n a power of two, at most 32: the
// threads of one warp); what tiled_partition returns.
class thread_group {
public:
    explicit thread_group(unsigned n) : n_(n) {}
    void sync(gc_loc at = gc_loc::current()) const {
        ::gc::syncwarp((int)at.line(), mask());
    }
    unsigned thread_rank() const { return gc_block_rank() % n_; }
    unsigned size() const { return n_; }
    unsigned num_threads() const { return n_; }
    unsigned meta_group_rank() const { return gc_block_rank() / n_; }
    unsigned meta_group_size() const { return (gc_block_size() + n_ - 1) / n_; }
    unsigned mask() const {
        unsigned lane = gc_block_rank() & 31;
        unsigned bits = n_ >= 32 ? 0xffffffffu : ((1u << n_) - 1u);
        return n_ >= 32 ? bits : bits << (lane / n_ * n_);
    }

protected:
    unsigned n_;
};

template <unsigned N>
class thread_block_tile : public thread_group {
    static_assert(N >= 1 && N <= 32 && (N & (N - 1)) == 0,
                  "tiled_partition<N>: N must be a power of two up to 32 (a warp)");

public:
    thread_block_tile() : thread_group(N) {}
    static constexpr unsigned size() { return N; }
    static constexpr unsigned num_threads() { return N; }
    template <class T>
    T shfl(T v, int src, gc_loc at = gc_loc::current()) const {
        return ::gc::shfl<::gc::SHFL_IDX>((int)at.line(), mask(), v, src, (int)N);
    }
    template <class T>
    T shfl_down(T v, unsigned d, gc_loc at = gc_loc::current()) const {
        return ::gc::shfl<::gc::SHFL_DOWN>((int)at.line(), mask(), v, (int)d, (int)N);
    }
    template <class T>
    T shfl_up(T v, unsigned d, gc_loc at = gc_loc::current()) const {
        return ::gc::shfl<::gc::SHFL_UP>((int)at.line(), mask(), v, (int)d, (int)N);
    }
    template <class T>
    T shfl_xor(T v, unsigned m, gc_loc at = gc_loc::current()) const {
        return ::gc::shfl<::gc::SHFL_XOR>((int)at.line(), mask(), v, (int)m, (int)N);
    }
    int any(int p, gc_loc at = gc_loc::current()) const {
        return (int)::gc::ballot((int)at.line(), mask(), p, 1);
    }
    int all(int p, gc_loc at = gc_loc::current()) const {
        return (int)::gc::ballot((int)at.line(), mask(), p, 2);
    }
    unsigned ballot(int p, gc_loc at = gc_loc::current()) const {
        unsigned lane = gc_block_rank() & 31;
        unsigned b = ::gc::ballot((int)at.line(), mask(), p, 0);
        return N >= 32 ? b : (b >> (lane / N * N)) & ((1u << N) - 1u);
    }
};

template <unsigned N, class Parent>
thread_block_tile<N> tiled_partition(const Parent&) { return thread_block_tile<N>(); }

inline thread_group tiled_partition(const thread_block&, unsigned n) { return thread_group(n); }

// The lanes of the warp that reach this call together (see __activemask()).
class coalesced_group {
public:
    explicit coalesced_group(unsigned m) : m_(m) {}
    unsigned thread_rank() const {
        return (unsigned)__builtin_popcount(m_ & ((1u << (gc_block_rank() & 31)) - 1u));
    }
    unsigned size() const { return (unsigned)__builtin_popcount(m_); }
    unsigned num_threads() const { return size(); }
    void sync(gc_loc at = gc_loc::current()) const { ::gc::syncwarp((int)at.line(), m_); }

private:
    unsigned m_;
};

inline coalesced_group coalesced_threads(gc_loc at = gc_loc::current()) {
    return coalesced_group(::gc::activemask_at((int)at.line()));
}

template <class G>
inline void sync(const G& g, gc_loc at = gc_loc::current()) { g.sync(at); }

}  // namespace cooperative_groups

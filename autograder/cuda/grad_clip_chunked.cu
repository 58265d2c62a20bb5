// grad_clip_chunked.cu -- the global norm over many tensors in one launch per kernel.
//
// A chunk table (as apex's multi_tensor_apply builds) cuts every tensor into chunks of
// `chunk_size` elements: chunk c covers elements [chunk_start[c], chunk_start[c] +
// chunk_size) of tensor chunk_tensor[c], clipped to sizes[t].  Tensors are passed as their
// device addresses (`ptrs`), so this file runs on a GPU only; the CPU backend compiles it
// but its worker cannot see the caller's addresses.  k_grad_norm_final from grad_clip.cu
// (beside this file) finishes the norm.  chunk_size must be a multiple of 4 (float4 loads
// when aligned).

#define GC_MAX_THREADS 1024

__device__ __forceinline__ float block_sum(float v, float* sdata) {
    const unsigned int tid = threadIdx.x;
    sdata[tid] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            sdata[tid] += sdata[tid + s];
        }
        __syncthreads();
    }
    return sdata[0];
}

extern "C" __global__ void k_grad_norm_partial_chunked(const unsigned long long* ptrs, const long long* sizes,
                                                       const int* chunk_tensor, const long long* chunk_start,
                                                       int num_chunks, int chunk_size, float* partial) {
    __shared__ float sdata[GC_MAX_THREADS];
    float sum = 0.0f;
    for (int c = blockIdx.x; c < num_chunks; c += gridDim.x) {
        const int t = chunk_tensor[c];
        const float* g = (const float*)ptrs[t];
        const long long start = chunk_start[c];
        const long long end = min(start + (long long)chunk_size, sizes[t]);
        if ((ptrs[t] & 15ull) == 0 && (start & 3) == 0) {
            const long long n4 = (end - start) / 4;
            const float4* g4 = (const float4*)(g + start);
            for (long long i = threadIdx.x; i < n4; i += blockDim.x) {
                const float4 v = g4[i];
                sum += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
            }
            for (long long i = start + 4 * n4 + threadIdx.x; i < end; i += blockDim.x) {
                sum += g[i] * g[i];
            }
        } else {
            for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
                sum += g[i] * g[i];
            }
        }
    }
    const float total = block_sum(sum, sdata);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = total;
    }
}

extern "C" __global__ void k_grad_scale_chunked(const unsigned long long* ptrs, const long long* sizes,
                                                const int* chunk_tensor, const long long* chunk_start,
                                                int num_chunks, int chunk_size, const float* out) {
    const float scale = out[1];
    if (scale >= 1.0f) {
        return;
    }
    for (int c = blockIdx.x; c < num_chunks; c += gridDim.x) {
        const int t = chunk_tensor[c];
        float* g = (float*)ptrs[t];
        const long long start = chunk_start[c];
        const long long end = min(start + (long long)chunk_size, sizes[t]);
        if ((ptrs[t] & 15ull) == 0 && (start & 3) == 0) {
            const long long n4 = (end - start) / 4;
            float4* g4 = (float4*)(g + start);
            for (long long i = threadIdx.x; i < n4; i += blockDim.x) {
                float4 v = g4[i];
                v.x *= scale; v.y *= scale; v.z *= scale; v.w *= scale;
                g4[i] = v;
            }
            for (long long i = start + 4 * n4 + threadIdx.x; i < end; i += blockDim.x) {
                g[i] *= scale;
            }
        } else {
            for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
                g[i] *= scale;
            }
        }
    }
}

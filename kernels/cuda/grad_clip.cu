// grad_clip.cu -- the global gradient norm and clip as three kernels (lesson 05).
//
//   k_grad_norm_partial  each block: the sum of squares of its grid-stride share of g,
//                        written to partial[blockIdx.x]
//   k_grad_norm_final    one block: out[0] = sqrt(sum of partials),
//                        out[1] = max_norm / (out[0] + 1e-6) if out[0] > max_norm else 1
//   k_grad_scale         g *= out[1], and no memory of g is touched when out[1] >= 1
//
// blockDim.x: a power of two from 32 to 1024; any gridDim.x >= 1; any n >= 0.
// The norm stays on the device between kernels: out[1] is read by k_grad_scale itself.

#define GC_MAX_THREADS 1024

extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial) {
    __shared__ float sdata[GC_MAX_THREADS];
    const unsigned int tid = threadIdx.x;
    const long long stride = (long long)blockDim.x * gridDim.x;
    float sum = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + tid; i < n; i += stride) {
        const float v = g[i];
        sum += v * v;
    }
    sdata[tid] = sum;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            sdata[tid] += sdata[tid + s];
        }
        __syncthreads();
    }
    if (tid == 0) {
        partial[blockIdx.x] = sdata[0];
    }
}

extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials, float max_norm,
                                             float* out) {
    __shared__ float sdata[GC_MAX_THREADS];
    const unsigned int tid = threadIdx.x;
    float sum = 0.0f;
    for (int i = tid; i < num_partials; i += blockDim.x) {
        sum += partial[i];
    }
    sdata[tid] = sum;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (tid < s) {
            sdata[tid] += sdata[tid + s];
        }
        __syncthreads();
    }
    if (tid == 0) {
        const float norm = sqrtf(sdata[0]);
        out[0] = norm;
        out[1] = norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}

extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out) {
    const float scale = out[1];
    if (scale >= 1.0f) {
        return;  // no clip needed: do not even rewrite g with the same values
    }
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        g[i] *= scale;
    }
}

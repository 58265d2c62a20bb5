// grad_clip.cu -- lesson 05's solution: the global gradient norm and clip as three kernels.
//
// The one copy of the reference kernels.  autograder/reference/three_kernels.py reads this
// file and cuts it into K_GRAD_NORM_PARTIAL, K_GRAD_NORM_FINAL and K_GRAD_SCALE (each kernel
// runs from its `extern "C" __global__` line to the first `}` in column 0); lesson 05's
// solution cells hold the same text (tests/lessons/test_05_solution_sources.py checks it,
// so paste an edit here into them); keep every kernel self-contained (no shared macros or
// helpers between them).
//
//   k_grad_norm_partial  each block: the sum of squares of its grid-stride share of g,
//                        written to partial[blockIdx.x]
//   k_grad_norm_final    one block: out[0] = sqrt(sum of partials),
//                        out[1] = max_norm / (out[0] + 1e-6) if out[0] > max_norm else 1
//   k_grad_scale         g *= out[1], and no memory of g is touched when out[1] >= 1
//
// blockDim.x: a power of two from 32 to 1024; any gridDim.x >= 1; any n >= 0.
// The norm stays on the device between kernels: out[1] is read by k_grad_scale itself.

extern "C" __global__ void k_grad_norm_partial(const float* g, long long n, float* partial)
{
    // One slot per thread, sized for the largest block the contract allows.
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // 1. Grid-stride loop: thread t of block b visits b*blockDim + t, then every
    //    blockDim*gridDim elements, so any n (not only multiples of the block) is covered.
    float acc = 0.0f;
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += stride) {
        const float v = g[i];
        acc += v * v;
    }
    sums[t] = acc;
    __syncthreads();  // every slot is written before anyone reads a neighbour's

    // 2. Tree reduction in shared memory: halve the active threads each round.
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();  // this round's sums land before the next round reads them
    }

    // 3. One partial per block; written even when the block saw no element (it is 0).
    if (t == 0) {
        partial[blockIdx.x] = sums[0];
    }
}

extern "C" __global__ void k_grad_norm_final(const float* partial, int num_partials,
                                             float max_norm, float* out)
{
    __shared__ float sums[1024];
    const unsigned int t = threadIdx.x;

    // Launched as one block: a block-stride loop lets any number of partials fit.
    float acc = 0.0f;
    for (int i = t; i < num_partials; i += blockDim.x) {
        acc += partial[i];
    }
    sums[t] = acc;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            sums[t] += sums[t + half];
        }
        __syncthreads();
    }

    // The norm and the scale stay on the device: the scale kernel reads out[1].
    if (t == 0) {
        const float norm = sqrtf(sums[0]);
        out[0] = norm;
        out[1] = (norm > max_norm) ? max_norm / (norm + 1e-6f) : 1.0f;
    }
}

extern "C" __global__ void k_grad_scale(float* g, long long n, const float* out)
{
    const float scale = out[1];
    if (scale >= 1.0f) {
        return;  // no clip needed: skip every read and write of g
    }
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        g[i] *= scale;
    }
}

// cuda_runtime.h -- on the CPU backend everything CUDA provides here comes with the prelude
// (gradclip_cuda.h), included before the kernel source.
#pragma once

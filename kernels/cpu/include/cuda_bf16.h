// cuda_bf16.h -- __nv_bfloat16 and __nv_bfloat162 (gc_fp16.h).
#pragma once
#include "gc_fp16.h"

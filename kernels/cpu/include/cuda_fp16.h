// cuda_fp16.h -- __half and __half2 (gc_fp16.h).
#pragma once
#include "gc_fp16.h"

/* tests/emu/include/cuda_fp16.h: see cuda_runtime_api.h (types and all). */
#ifndef SI_EMU_CUDA_FP16_H
#define SI_EMU_CUDA_FP16_H
#include "cuda_runtime_api.h"
#endif

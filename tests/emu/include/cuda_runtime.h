/* tests/emu/include/cuda_runtime.h: see cuda_runtime_api.h (types and all). */
#ifndef SI_EMU_CUDA_RUNTIME_H
#define SI_EMU_CUDA_RUNTIME_H
#include "cuda_runtime_api.h"
#endif

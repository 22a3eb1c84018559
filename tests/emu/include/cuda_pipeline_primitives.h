/* tests/emu/include/cuda_pipeline_primitives.h: see cuda_runtime_api.h. */
#ifndef SI_EMU_CUDA_PIPELINE_PRIMITIVES_H
#define SI_EMU_CUDA_PIPELINE_PRIMITIVES_H
#include "cuda_runtime_api.h"
#endif

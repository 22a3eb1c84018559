/* The CUDA kernel file src/backend/cuda/dequant.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/dequant.cu"

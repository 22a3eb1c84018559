/* The CUDA kernel file src/backend/cuda/gemv.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/gemv.cu"

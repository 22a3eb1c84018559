/* The CUDA kernel file src/backend/cuda/sampling.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/sampling.cu"

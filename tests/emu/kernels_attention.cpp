/* The CUDA kernel file src/backend/cuda/attention.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/attention.cu"

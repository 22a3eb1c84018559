/* The CUDA kernel file src/backend/cuda/norm.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/norm.cu"

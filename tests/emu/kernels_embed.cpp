/* The CUDA kernel file src/backend/cuda/embed.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/embed.cu"

/* The CUDA kernel file src/backend/cuda/launch.cu, compiled for the CPU emulator. */
#include "../../src/backend/cuda/launch.cu"

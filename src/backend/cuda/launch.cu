/* backend/cuda/launch.cu: the switch for programmatic dependent launch
 * (common.cuh says how kernels use it). One process-wide setting: the
 * backend sets it when it opens its device, from the device's compute
 * capability and SWIFTINFER_CUDA_PDL. */
#include "common.cuh"

bool si_cu_pdl_on = false;

extern "C" void si_cu_set_pdl(bool on) { si_cu_pdl_on = on; }

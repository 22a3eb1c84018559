/* backend/cuda/norm.cu: RMSNorm and the element-wise kernels (SwiGLU,
 * residual add, f32 to f16/bf16 for cuBLAS inputs). Reference: the CPU
 * backend's rmsnorm, swiglu and add (backend/cpu/cpu_backend.c). */
#include "common.cuh"

namespace {

constexpr int NORM_THREADS = 256;

/* One block per row; the sum of squares in double, as the CPU does it. */
__global__ void __launch_bounds__(NORM_THREADS) rmsnorm_kernel(float *out, const float *in, const float *w, int dim,
                                                                 float eps) {
    __shared__ double partial[NORM_THREADS / 32];
    si_grid_wait();
    si_grid_launch_dependents();
    const float *x = in + (size_t)blockIdx.x * dim;
    float *y = out + (size_t)blockIdx.x * dim;
    double ss = 0;
    for (int j = threadIdx.x; j < dim; j += NORM_THREADS) ss += (double)x[j] * x[j];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(SI_FULL_MASK, ss, o);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    double total = 0;
#pragma unroll
    for (int i = 0; i < NORM_THREADS / 32; i++) total += partial[i];
    float scale = 1.0f / sqrtf((float)(total / dim) + eps);
    for (int j = threadIdx.x; j < dim; j += NORM_THREADS) y[j] = x[j] * scale * w[j];
}

__global__ void swiglu_kernel(float *gate, const float *up, size_t count) {
    si_grid_wait();
    si_grid_launch_dependents();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
        gate[i] = si_swiglu1(gate[i], up[i]);
}

__global__ void add_kernel(float *x, const float *y, size_t count) {
    si_grid_wait();
    si_grid_launch_dependents();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

template <bool BF>
__global__ void to_half_kernel(void *out, const float *in, size_t count) {
    si_grid_wait();
    si_grid_launch_dependents();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        if (BF)
            static_cast<__nv_bfloat16 *>(out)[i] = __float2bfloat16_rn(in[i]);
        else
            static_cast<__half *>(out)[i] = __float2half_rn(in[i]);
    }
}

/* Enough blocks of 256 for a grid-stride loop over count elements. */
dim3 elementwise_grid(size_t count) {
    size_t blocks = (count + 255) / 256;
    return dim3((unsigned)(blocks < 4096 ? (blocks ? blocks : 1) : 4096));
}

} // namespace

extern "C" cudaError_t si_cu_rmsnorm(float *out, const float *in, const float *w, int n, int dim, float eps,
                                     cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    return si_launch(rmsnorm_kernel, n, NORM_THREADS, s, out, in, w, dim, eps);
}

extern "C" cudaError_t si_cu_swiglu(float *gate, const float *up, size_t count, cudaStream_t s) {
    if (!count) return cudaSuccess;
    return si_launch(swiglu_kernel, elementwise_grid(count), 256, s, gate, up, count);
}

extern "C" cudaError_t si_cu_add(float *x, const float *y, size_t count, cudaStream_t s) {
    if (!count) return cudaSuccess;
    return si_launch(add_kernel, elementwise_grid(count), 256, s, x, y, count);
}

extern "C" cudaError_t si_cu_to_half(void *out, const float *in, size_t count, bool to_bf16, cudaStream_t s) {
    if (!count) return cudaSuccess;
    if (to_bf16) return si_launch(to_half_kernel<true>, elementwise_grid(count), 256, s, out, in, count);
    return si_launch(to_half_kernel<false>, elementwise_grid(count), 256, s, out, in, count);
}

/* backend/cuda/dequant.cu: planar quantized weights (Q8_0, Q4_0, Q4_1)
 * expanded to f16 rows, so that prefill products of a quantized model run
 * on cuBLAS's tensor cores (cuda_ops.c) instead of rereading the quantized
 * matrix once per 8 activation rows through the GEMV kernels. Reference:
 * si_gpu_planar_get (gpu_layout.c), each value rounded once to f16. */
#include "common.cuh"

namespace {

constexpr int THREADS = 256;

/* Thread i writes 8 consecutive f16 values (16 bytes, so a warp's stores are
 * one contiguous 512-byte run): quarter u % 4 of 32-element block u / 4.
 * Q8_0 keeps a block's 32 bytes in order; Q4 byte j holds element j (low
 * nibble) and element j + 16 (high), so quarters 0, 1 read the low nibbles
 * of bytes 0-7, 8-15 and quarters 2, 3 the high nibbles of the same bytes. */
template <int DT>
__global__ void __launch_bounds__(THREADS) dequant_kernel(uint4 *out, si_cu_matrix w, int64_t first, int64_t count) {
    si_grid_wait();
    si_grid_launch_dependents();
    const __half *scale = static_cast<const __half *>(w.d), *minimum = static_cast<const __half *>(w.m);
    const unsigned char *qs = static_cast<const unsigned char *>(w.qs);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t u = first + i, b = u / 4;
        const int part = (int)(u % 4);
        const float d = __half2float(scale[b]);
        uint2 q;
        int shift = 0;
        if (DT == SI_DTYPE_Q8_0) {
            q = *reinterpret_cast<const uint2 *>(qs + b * 32 + part * 8);
        } else {
            q = *reinterpret_cast<const uint2 *>(qs + b * 16 + (part & 1) * 8);
            shift = part >= 2 ? 4 : 0;
        }
        const float m = DT == SI_DTYPE_Q4_1 ? __half2float(minimum[b]) : 0.0f;
        uint4 packed;
        __half *h = reinterpret_cast<__half *>(&packed);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const unsigned byte = ((k < 4 ? q.x : q.y) >> (8 * (k % 4))) & 0xffu;
            float v;
            /* no fused multiply-add: the reference rounds the product first */
            if (DT == SI_DTYPE_Q8_0)
                v = d * (float)(int8_t)byte;
            else if (DT == SI_DTYPE_Q4_0)
                v = d * (float)((int)((byte >> shift) & 15) - 8);
            else
                v = __fadd_rn(__fmul_rn(d, (float)((byte >> shift) & 15)), m);
            h[k] = __float2half_rn(v);
        }
        out[i] = packed;
    }
}

template <int DT>
cudaError_t launch(void *out, const si_cu_matrix &w, int64_t row0, int64_t rows, cudaStream_t s) {
    const int64_t units = rows * (w.cols / 8), blocks = (units + THREADS - 1) / THREADS;
    return si_launch(dequant_kernel<DT>, dim3((unsigned)(blocks < 8192 ? blocks : 8192)), THREADS, s,
                     static_cast<uint4 *>(out), w, row0 * (w.cols / 8), units);
}

} // namespace

extern "C" cudaError_t si_cu_dequant_f16(void *out, const si_cu_matrix *w, int64_t row0, int64_t rows, cudaStream_t s) {
    if (rows <= 0) return cudaSuccess;
    if (row0 < 0 || row0 + rows > w->rows || w->cols % 32) return cudaErrorInvalidValue;
    switch (w->dtype) {
    case SI_DTYPE_Q8_0: return launch<SI_DTYPE_Q8_0>(out, *w, row0, rows, s);
    case SI_DTYPE_Q4_0: return launch<SI_DTYPE_Q4_0>(out, *w, row0, rows, s);
    case SI_DTYPE_Q4_1: return launch<SI_DTYPE_Q4_1>(out, *w, row0, rows, s);
    default: return cudaErrorInvalidValue;
    }
}

/* backend/cuda/dequant.cu: planar quantized weights (every quantized type)
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
    constexpr int HW = si_gpu_high_words((si_dtype)DT), CENTRE = si_gpu_centre((si_dtype)DT);
    constexpr bool K = si_gpu_k_type((si_dtype)DT);
    const __half *scale = static_cast<const __half *>(w.d), *minimum = static_cast<const __half *>(w.m);
    const unsigned char *qs = static_cast<const unsigned char *>(w.qs);
    const uint32_t *qh = static_cast<const uint32_t *>(w.qh);
    const uint16_t *sc = static_cast<const uint16_t *>(w.sc);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t u = first + i, b = u / 4, di = K ? b / 8 : b;
        const int part = (int)(u % 4), e0 = (part & 1) * 8 + (part >= 2 ? 16 : 0); /* first element */
        /* Q4 order: the quarters from 16 on read the high nibbles of the same bytes */
        const uint2 q = DT == SI_DTYPE_Q8_0 ? *reinterpret_cast<const uint2 *>(qs + b * 32 + part * 8)
                                            : *reinterpret_cast<const uint2 *>(qs + b * 16 + (part & 1) * 8);
        const uint32_t h4 = HW >= 1 ? qh[b * HW] : 0, h5 = HW == 2 ? qh[b * 2 + 1] : 0;
        /* the block's scale (this quarter's half) and offset, as si_gpu_planar_get */
        const float d = __half2float(scale[di]);
        float lo, hi, off;
        const float m = si_gpu_has_m((si_dtype)DT) ? __half2float(minimum[di]) : 0.0f;
        si_gpu_block_scales((si_dtype)DT, d, m, K ? sc[b] : 0u, &lo, &hi, &off);
        const float sl = e0 < 16 ? lo : hi;
        uint4 packed;
        __half *h = reinterpret_cast<__half *>(&packed);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const unsigned byte = ((k < 4 ? q.x : q.y) >> (8 * (k % 4))) & 0xffu;
            const int e = e0 + k;
            float v;
            if (DT == SI_DTYPE_Q8_0) {
                v = d * (float)(int8_t)byte;
            } else {
                const int code = si_gpu_code((si_dtype)DT, byte, h4, h5, e);
                /* no fused multiply-add: the reference rounds the product
                 * first; Q4_0's has no offset to add (+ 0 would make -0 +0) */
                v = __fmul_rn(sl, (float)(code - CENTRE));
                if (DT != SI_DTYPE_Q4_0) v = __fadd_rn(v, off);
            }
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
    case SI_DTYPE_Q5_0: return launch<SI_DTYPE_Q5_0>(out, *w, row0, rows, s);
    case SI_DTYPE_Q5_1: return launch<SI_DTYPE_Q5_1>(out, *w, row0, rows, s);
    case SI_DTYPE_Q4_K: return launch<SI_DTYPE_Q4_K>(out, *w, row0, rows, s);
    case SI_DTYPE_Q5_K: return launch<SI_DTYPE_Q5_K>(out, *w, row0, rows, s);
    case SI_DTYPE_Q6_K: return launch<SI_DTYPE_Q6_K>(out, *w, row0, rows, s);
    default: return cudaErrorInvalidValue;
    }
}

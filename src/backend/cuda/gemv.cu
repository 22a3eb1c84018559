/* backend/cuda/gemv.cu: decode matrix products — weights times 1 to 8
 * activation rows — for F32, F16, BF16 and planar quantized weights (Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
 *
 * Batch-1 decode reads every weight once per token, so these kernels are
 * built to stream weights at memory speed: one warp per output row, each
 * lane reading 16 bytes of weights at a time with several loads in flight
 * (streaming loads that do not keep weights in L1), activations read in f32
 * through the read-only cache (they are small and every warp rereads them),
 * f32 accumulation, a warp reduction, and the epilogue (store, add, or
 * silu(gate) * up for two matrices read by the same warp) fused in.
 * Reference: the CPU backend's matmul (backend/cpu/matmul.c). */
#include "common.cuh"

namespace {

constexpr int WARPS = 8; /* per block of 256 threads */

struct gemv_params {
    const void *w[SI_CU_GEMV_MAX_W]; /* row data, or quant bytes */
    const __half *d[SI_CU_GEMV_MAX_W];
    const __half *m[SI_CU_GEMV_MAX_W];
    const void *qh[SI_CU_GEMV_MAX_W];     /* higher code bits (Q5, Q6_K) */
    const uint16_t *sc[SI_CU_GEMV_MAX_W]; /* K types' block scales */
    float *y[SI_CU_GEMV_MAX_W];
    int row_start[SI_CU_GEMV_MAX_W + 1]; /* first row of each matrix in the launch's row space */
    int n_w, cols, epilogue;
    int kernel; /* SI_CU_GEMV_*: for F16/BF16 */
    const float *x; /* [NT][cols] */
    const float *g; /* non-NULL: multiply rmsnorm(x) with norm weight g (F16/BF16 only) */
    float eps;
};

/* A unit is what one lane reads at once: ELEMS consecutive weights of a row. */
template <int DT>
struct unit;

template <>
struct unit<SI_DTYPE_F32> {
    static constexpr int ELEMS = 4, UNROLL = 4;
    float4 w;
    __device__ void load(const gemv_params &p, int j, int64_t row, int u) {
        w = __ldcs(reinterpret_cast<const float4 *>(p.w[j]) + row * (p.cols / ELEMS) + u);
    }
    __device__ float dot(const float *x) const {
        float4 a = __ldg(reinterpret_cast<const float4 *>(x));
        return w.x * a.x + w.y * a.y + w.z * a.z + w.w * a.w;
    }
};

/* F16 and BF16: eight weights in 16 bytes. */
template <bool BF>
struct unit_half {
    static constexpr int ELEMS = 8, UNROLL = 4;
    uint4 w;
    __device__ void load(const gemv_params &p, int j, int64_t row, int u) {
        w = __ldcs(reinterpret_cast<const uint4 *>(p.w[j]) + row * (p.cols / ELEMS) + u);
    }
    /* the dot product with eight activations held in registers */
    __device__ float dot_vals(const float *v) const {
        float f[8];
        if (BF)
            si_bf8_to_f(w, f);
        else
            si_h8_to_f(w, f);
        return f[0] * v[0] + f[1] * v[1] + f[2] * v[2] + f[3] * v[3] + f[4] * v[4] + f[5] * v[5] + f[6] * v[6] +
               f[7] * v[7];
    }
    __device__ float dot(const float *x) const {
        float4 a = __ldg(reinterpret_cast<const float4 *>(x));
        float4 b = __ldg(reinterpret_cast<const float4 *>(x) + 1);
        const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
        return dot_vals(v);
    }
    /* x[0..8) times the norm weight g[0..8) into v (rmsnorm's scale comes
     * once the row is done); adds x's squares to ss */
    __device__ static void normed(const float *x, const float *g, float *v, float &ss) {
        float4 a = __ldg(reinterpret_cast<const float4 *>(x)), b = __ldg(reinterpret_cast<const float4 *>(x) + 1);
        float4 c = __ldg(reinterpret_cast<const float4 *>(g)), d = __ldg(reinterpret_cast<const float4 *>(g) + 1);
        const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w}, gs[8] = {c.x, c.y, c.z, c.w, d.x, d.y, d.z, d.w};
#pragma unroll
        for (int e = 0; e < 8; e++) {
            v[e] = xs[e] * gs[e];
            ss += xs[e] * xs[e];
        }
    }
};
template <>
struct unit<SI_DTYPE_F16> : unit_half<false> {};
template <>
struct unit<SI_DTYPE_BF16> : unit_half<true> {};

/* Q8_0: a block of 32 int8 (two 16-byte loads) and its f16 scale. */
template <>
struct unit<SI_DTYPE_Q8_0> {
    static constexpr int ELEMS = 32, UNROLL = 2;
    uint4 q0, q1;
    float d;
    __device__ void load(const gemv_params &p, int j, int64_t row, int u) {
        const uint4 *q = reinterpret_cast<const uint4 *>(p.w[j]) + (row * (p.cols / 32) + u) * 2;
        q0 = __ldcs(q);
        q1 = __ldcs(q + 1);
        d = __half2float(p.d[j][row * (p.cols / 32) + u]);
    }
    __device__ static float dot16(const uint4 &q, const float *x) {
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
        float s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float4 a = __ldg(reinterpret_cast<const float4 *>(x) + i);
            s += (float)(int8_t)(w[i] & 0xff) * a.x + (float)(int8_t)((w[i] >> 8) & 0xff) * a.y +
                 (float)(int8_t)((w[i] >> 16) & 0xff) * a.z + (float)(int8_t)(w[i] >> 24) * a.w;
        }
        return s;
    }
    __device__ float dot(const float *x) const { return d * (dot16(q0, x) + dot16(q1, x + 16)); }
};

/* Q4_0 / Q4_1: a block of 32 nibbles in 16 bytes — byte i holds element i
 * (low nibble) and element i + 16 (high) — with scale d (and minimum m). */
template <bool MIN>
struct unit_q4 {
    static constexpr int ELEMS = 32, UNROLL = 4;
    uint4 q;
    float d, m;
    __device__ void load(const gemv_params &p, int j, int64_t row, int u) {
        q = __ldcs(reinterpret_cast<const uint4 *>(p.w[j]) + row * (p.cols / 32) + u);
        int64_t b = row * (p.cols / 32) + u;
        d = __half2float(p.d[j][b]);
        m = MIN ? __half2float(p.m[j][b]) : 0.0f;
    }
    __device__ float dot(const float *x) const {
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
        float sq = 0, sx = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float4 lo = __ldg(reinterpret_cast<const float4 *>(x) + i);
            float4 hi = __ldg(reinterpret_cast<const float4 *>(x + 16) + i);
            sq += (float)(w[i] & 15) * lo.x + (float)((w[i] >> 8) & 15) * lo.y + (float)((w[i] >> 16) & 15) * lo.z +
                  (float)((w[i] >> 24) & 15) * lo.w;
            sq += (float)((w[i] >> 4) & 15) * hi.x + (float)((w[i] >> 12) & 15) * hi.y +
                  (float)((w[i] >> 20) & 15) * hi.z + (float)(w[i] >> 28) * hi.w;
            sx += lo.x + lo.y + lo.z + lo.w + hi.x + hi.y + hi.z + hi.w;
        }
        /* Q4_1: x = d q + m; Q4_0: x = d (q - 8) */
        return MIN ? d * sq + m * sx : d * (sq - 8.0f * sx);
    }
};
template <>
struct unit<SI_DTYPE_Q4_0> : unit_q4<false> {};
template <>
struct unit<SI_DTYPE_Q4_1> : unit_q4<true> {};

/* Q5_0, Q5_1 and the K types (planar, gpu_layout.h): Q4's 16 bytes of low
 * nibbles, plus a block's higher code bits (one u32: bit e is bit 4 of code
 * e; Q6_K a second u32 of bit 5s) and its scales: an f16 d (and m) per
 * block, or for the K types d (and dmin) per super-block of 8 blocks times
 * the block's integer scale (and minimum) from the sc plane. A block's value
 * e is scale_g * (code_e - centre) + offset, g the half of the block
 * (Q6_K's two scales; one for the others): its dot product with x is
 *   sum_g scale_g * (sum_g code x - centre * sum_g x) + offset * sum x. */
template <int DT>
struct unit_qx {
    static constexpr int ELEMS = 32, UNROLL = 4;
    static constexpr int HW = si_gpu_high_words((si_dtype)DT), CENTRE = si_gpu_centre((si_dtype)DT);
    static constexpr bool K = si_gpu_k_type((si_dtype)DT);
    uint4 q;
    uint32_t h4, h5;
    float s_lo, s_hi, off;
    __device__ void load(const gemv_params &p, int j, int64_t row, int u) {
        const int64_t b = row * (p.cols / 32) + u, di = K ? b / 8 : b;
        q = __ldcs(reinterpret_cast<const uint4 *>(p.w[j]) + b);
        h4 = h5 = 0;
        if (HW == 1) h4 = __ldcs(static_cast<const uint32_t *>(p.qh[j]) + b);
        if (HW == 2) {
            uint2 h = __ldcs(static_cast<const uint2 *>(p.qh[j]) + b);
            h4 = h.x;
            h5 = h.y;
        }
        const float m = si_gpu_has_m((si_dtype)DT) ? __half2float(p.m[j][di]) : 0.0f;
        si_gpu_block_scales((si_dtype)DT, __half2float(p.d[j][di]), m, K ? p.sc[j][b] : 0u, &s_lo, &s_hi, &off);
    }
    __device__ float dot(const float *x) const {
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
        float sq_lo = 0, sq_hi = 0, sx_lo = 0, sx_hi = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float4 lo4 = __ldg(reinterpret_cast<const float4 *>(x) + i);
            const float4 hi4 = __ldg(reinterpret_cast<const float4 *>(x + 16) + i);
            const float lo[4] = {lo4.x, lo4.y, lo4.z, lo4.w}, hi[4] = {hi4.x, hi4.y, hi4.z, hi4.w};
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const int e = 4 * i + k; /* elements e (low nibble) and e + 16 (high) */
                const unsigned byte = (w[i] >> (8 * k)) & 0xffu;
                const int c_lo = si_gpu_code((si_dtype)DT, byte, h4, h5, e),
                          c_hi = si_gpu_code((si_dtype)DT, byte, h4, h5, e + 16);
                sq_lo += (float)c_lo * lo[k];
                sq_hi += (float)c_hi * hi[k];
                sx_lo += lo[k];
                sx_hi += hi[k];
            }
        }
        return s_lo * (sq_lo - CENTRE * sx_lo) + s_hi * (sq_hi - CENTRE * sx_hi) + off * (sx_lo + sx_hi);
    }
};
template <>
struct unit<SI_DTYPE_Q5_0> : unit_qx<SI_DTYPE_Q5_0> {};
template <>
struct unit<SI_DTYPE_Q5_1> : unit_qx<SI_DTYPE_Q5_1> {};
template <>
struct unit<SI_DTYPE_Q4_K> : unit_qx<SI_DTYPE_Q4_K> {};
template <>
struct unit<SI_DTYPE_Q5_K> : unit_qx<SI_DTYPE_Q5_K> {};
template <>
struct unit<SI_DTYPE_Q6_K> : unit_qx<SI_DTYPE_Q6_K> {};

/* A warp's row done: its lanes' sums reduced (and scaled by scale[t], when
 * given: rmsnorm's 1 / rms of activation row t), the epilogue applied by
 * lane 0. */
template <int NT, bool PAIR>
__device__ __forceinline__ void finish_row(const gemv_params &p, int j, int64_t row, float *acc, float *acc2,
                                           const float *scale = nullptr) {
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = si_warp_sum(acc[t]);
        if (PAIR) acc2[t] = si_warp_sum(acc2[t]);
        if (scale) {
            acc[t] *= scale[t];
            if (PAIR) acc2[t] *= scale[t];
        }
    }
    if (threadIdx.x % 32 != 0) return;
    const int rows = p.row_start[j + 1] - p.row_start[j];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        float *y = p.y[j] + (size_t)t * rows + row;
        if (PAIR)
            *y = si_swiglu1(acc[t], acc2[t]);
        else if (p.epilogue == SI_CU_ADD)
            *y += acc[t];
        else
            *y = acc[t];
    }
}

/* This warp's output row: matrix *j (0 for a pair), row *row of it; false
 * for a warp past the launch's last row. */
template <bool PAIR>
__device__ __forceinline__ bool warp_row(const gemv_params &p, int *j, int64_t *row) {
    const int grow = blockIdx.x * WARPS + threadIdx.x / 32;
    if (grow >= p.row_start[PAIR ? 1 : p.n_w]) return false;
    *j = 0;
    if (!PAIR)
        while (*j + 1 < p.n_w && grow >= p.row_start[*j + 1]) ++*j;
    *row = grow - p.row_start[*j];
    return true;
}

/* One warp per output row (PAIR: the same row of matrices 0 and 1), UNROLL
 * loads in flight per lane and matrix. A wider UNROLL than the unit's asks
 * for 4 blocks per multiprocessor (64 registers): 32 warps x 8 loads, a
 * third more bytes in flight than 6 blocks x 8 warps x 4 loads.
 * NORM (F16/BF16): x is the residual stream and the product is of
 * rmsnorm(x) = x * g / rms(x): each lane multiplies its activations by g and
 * sums their squares, and the warp, which passes over all of x for its row,
 * scales its sum by 1 / rms at the end: no separate norm kernel.
 * With the unit's own UNROLL the launch bound leaves the blocks per
 * multiprocessor to ptxas (0): an explicit 1 made it take 62 registers
 * instead of 40 for one F16 activation row, 4 blocks instead of 6. */
template <int DT, int NT, bool PAIR, int UNROLL = unit<DT>::UNROLL, bool NORM = false>
__global__ void __launch_bounds__(WARPS * 32, UNROLL > unit<DT>::UNROLL ? 4 : 0) gemv_kernel(gemv_params p) {
    using U = unit<DT>;
    const int lane = threadIdx.x % 32;
    int j;
    int64_t row;
    if (!warp_row<PAIR>(p, &j, &row)) return;
    const int units = p.cols / U::ELEMS;

    float acc[NT], acc2[NT], ss[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = acc2[t] = ss[t] = 0.0f;

    U a[UNROLL], b[PAIR ? UNROLL : 1];
    /* all loads of a step first, so that UNROLL (x2 for a pair) are in flight */
    auto load_step = [&](int u0) {
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
                a[k].load(p, j, row, u);
                if (PAIR) b[k].load(p, 1, row, u);
            }
        }
    };
    /* weights never change during a pass: the first step's loads go out
     * before waiting for the kernel that writes x */
    load_step(lane);
    si_grid_wait();
    si_grid_launch_dependents();
    for (int u0 = lane; u0 < units;) {
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const float *x = p.x + (size_t)t * p.cols + (size_t)u * U::ELEMS;
                    if constexpr (NORM) {
                        float v[U::ELEMS];
                        U::normed(x, p.g + (size_t)u * U::ELEMS, v, ss[t]);
                        acc[t] += a[k].dot_vals(v);
                        if (PAIR) acc2[t] += b[k].dot_vals(v);
                    } else {
                        acc[t] += a[k].dot(x);
                        if (PAIR) acc2[t] += b[k].dot(x);
                    }
                }
            }
        }
        u0 += 32 * UNROLL;
        if (u0 < units) load_step(u0);
    }
    if constexpr (NORM) {
        float scale[NT];
#pragma unroll
        for (int t = 0; t < NT; t++) scale[t] = 1.0f / sqrtf(si_warp_sum(ss[t]) / p.cols + p.eps);
        finish_row<NT, PAIR>(p, j, row, acc, acc2, scale);
    } else {
        finish_row<NT, PAIR>(p, j, row, acc, acc2);
    }
}

/* The same product for F16 and BF16 weights, the weights streamed through
 * shared memory with cp.async: each lane keeps STAGES 16-byte loads (x2 for
 * a pair) in flight without holding them in registers, so more bytes are
 * in flight per multiprocessor than the register kernel's UNROLL allows.
 * Each lane reads back only what it copied itself: no barrier. */
template <int DT, int NT, bool PAIR>
__global__ void __launch_bounds__(WARPS * 32) gemv_async_kernel(gemv_params p) {
    using U = unit<DT>;
    static_assert(DT == SI_DTYPE_F16 || DT == SI_DTYPE_BF16, "16-bit float weights only");
    constexpr int STAGES = PAIR ? 4 : 6, NM = PAIR ? 2 : 1;
    __shared__ __align__(16) uint4 ring[WARPS][STAGES][NM][32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int j;
    int64_t row;
    if (!warp_row<PAIR>(p, &j, &row)) return;
    const int units = p.cols / U::ELEMS, steps = (units + 31) / 32;
    const uint4 *src[NM];
    for (int m = 0; m < NM; m++) src[m] = static_cast<const uint4 *>(p.w[PAIR ? m : j]) + row * units;

    /* step s: unit s * 32 + lane of each matrix, into ring slot s % STAGES;
     * one commit per step, empty or not, so that group counts stay uniform */
    auto issue = [&](int s) {
        const int u = s * 32 + lane;
        if (u < units)
            for (int m = 0; m < NM; m++) si_cp_async16(&ring[warp][s % STAGES][m][lane], src[m] + u);
        si_cp_async_commit();
    };
    /* weights never change during a pass: the first steps go out before
     * waiting for the kernel that writes x */
    for (int s = 0; s < STAGES - 1; s++) issue(s);
    si_grid_wait();
    si_grid_launch_dependents();

    float acc[NT], acc2[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = acc2[t] = 0.0f;
    for (int s = 0; s < steps; s++) {
        si_cp_async_wait<STAGES - 2>(); /* step s has landed */
        const int u = s * 32 + lane;
        if (u < units) {
            U a, b;
            a.w = ring[warp][s % STAGES][0][lane];
            if (PAIR) b.w = ring[warp][s % STAGES][NM - 1][lane];
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float *x = p.x + (size_t)t * p.cols + (size_t)u * U::ELEMS;
                acc[t] += a.dot(x);
                if (PAIR) acc2[t] += b.dot(x);
            }
        }
        /* refills the slot read in step s - 1: that read has completed, its
         * values were used above (a warp issues in order) */
        issue(s + STAGES - 1);
    }
    finish_row<NT, PAIR>(p, j, row, acc, acc2);
}

template <int DT, int NT>
cudaError_t launch_nt(const gemv_params &p, cudaStream_t s) {
    bool pair = p.epilogue == SI_CU_SWIGLU;
    int rows = p.row_start[pair ? 1 : p.n_w];
    dim3 grid((rows + WARPS - 1) / WARPS);
    if constexpr ((DT == SI_DTYPE_F16 || DT == SI_DTYPE_BF16) && NT <= 2) {
        if (p.g) {
            constexpr int U = unit<DT>::UNROLL;
            if (pair) return si_launch(gemv_kernel<DT, NT, true, U, true>, grid, WARPS * 32, s, p);
            if (p.kernel == SI_CU_GEMV_WIDE) return si_launch(gemv_kernel<DT, NT, false, 8, true>, grid, WARPS * 32, s, p);
            if (p.kernel == SI_CU_GEMV_REG) return si_launch(gemv_kernel<DT, NT, false, U, true>, grid, WARPS * 32, s, p);
        }
    }
    if (p.g) return cudaErrorInvalidValue; /* si_cu_gemv_norm_fits says which */
    if constexpr (DT == SI_DTYPE_F16 || DT == SI_DTYPE_BF16) {
        if (p.kernel == SI_CU_GEMV_ASYNC) {
            if (pair) return si_launch(gemv_async_kernel<DT, NT, true>, grid, WARPS * 32, s, p);
            return si_launch(gemv_async_kernel<DT, NT, false>, grid, WARPS * 32, s, p);
        }
        /* wide: a single matrix gets the 8 loads in flight that a pair has
         * (for 1 or 2 activation rows: more accumulators than that spill) */
        if constexpr (NT <= 2)
            if (p.kernel == SI_CU_GEMV_WIDE && !pair)
                return si_launch(gemv_kernel<DT, NT, false, 8>, grid, WARPS * 32, s, p);
    }
    if (pair) return si_launch(gemv_kernel<DT, NT, true>, grid, WARPS * 32, s, p);
    return si_launch(gemv_kernel<DT, NT, false>, grid, WARPS * 32, s, p);
}

template <int DT>
cudaError_t launch_dt(const gemv_params &p, int nt, cudaStream_t s) {
    switch (nt) {
    case 1: return launch_nt<DT, 1>(p, s);
    case 2: return launch_nt<DT, 2>(p, s);
    case 4: return launch_nt<DT, 4>(p, s);
    default: return launch_nt<DT, 8>(p, s);
    }
}

cudaError_t launch(const gemv_params &p, si_dtype dt, int nt, cudaStream_t s) {
    switch (dt) {
    case SI_DTYPE_F32: return launch_dt<SI_DTYPE_F32>(p, nt, s);
    case SI_DTYPE_F16: return launch_dt<SI_DTYPE_F16>(p, nt, s);
    case SI_DTYPE_BF16: return launch_dt<SI_DTYPE_BF16>(p, nt, s);
    case SI_DTYPE_Q8_0: return launch_dt<SI_DTYPE_Q8_0>(p, nt, s);
    case SI_DTYPE_Q4_0: return launch_dt<SI_DTYPE_Q4_0>(p, nt, s);
    case SI_DTYPE_Q4_1: return launch_dt<SI_DTYPE_Q4_1>(p, nt, s);
    case SI_DTYPE_Q5_0: return launch_dt<SI_DTYPE_Q5_0>(p, nt, s);
    case SI_DTYPE_Q5_1: return launch_dt<SI_DTYPE_Q5_1>(p, nt, s);
    case SI_DTYPE_Q4_K: return launch_dt<SI_DTYPE_Q4_K>(p, nt, s);
    case SI_DTYPE_Q5_K: return launch_dt<SI_DTYPE_Q5_K>(p, nt, s);
    case SI_DTYPE_Q6_K: return launch_dt<SI_DTYPE_Q6_K>(p, nt, s);
    default: return cudaErrorInvalidValue;
    }
}

} // namespace

extern "C" bool si_cu_gemv_norm_fits(si_dtype dt, int n, int kernel) {
    return (dt == SI_DTYPE_F16 || dt == SI_DTYPE_BF16) && n >= 1 && n <= 2 && kernel != SI_CU_GEMV_ASYNC;
}

extern "C" cudaError_t si_cu_gemv(const si_cu_gemv_job *job, const float *x, int n, cudaStream_t s) {
    if (job->n_w < 1 || job->n_w > SI_CU_GEMV_MAX_W || (job->epilogue == SI_CU_SWIGLU && job->n_w != 2))
        return cudaErrorInvalidValue;
    if (job->norm && !si_cu_gemv_norm_fits(job->w[0]->dtype, n, job->kernel)) return cudaErrorInvalidValue;
    const si_cu_matrix *w0 = job->w[0];
    gemv_params p = {};
    p.n_w = job->n_w;
    p.cols = (int)w0->cols;
    p.epilogue = job->epilogue;
    p.kernel = job->kernel;
    p.g = job->norm;
    p.eps = job->eps;
    p.row_start[0] = 0;
    for (int j = 0; j < job->n_w; j++) {
        const si_cu_matrix *w = job->w[j];
        if (w->dtype != w0->dtype || w->cols != w0->cols) return cudaErrorInvalidValue;
        p.w[j] = w->qs ? w->qs : w->data;
        p.d[j] = static_cast<const __half *>(w->d);
        p.m[j] = static_cast<const __half *>(w->m);
        p.qh[j] = w->qh;
        p.sc[j] = static_cast<const uint16_t *>(w->sc);
        p.row_start[j + 1] = p.row_start[j] + (int)w->rows;
    }
    if (job->epilogue == SI_CU_SWIGLU && job->w[1]->rows != w0->rows) return cudaErrorInvalidValue;
    /* groups of 8 rows of x, then 4, 2, 1: each group reads the weights once */
    for (int t0 = 0; t0 < n;) {
        int left = n - t0, nt = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        gemv_params q = p;
        q.x = x + (size_t)t0 * p.cols;
        for (int j = 0; j < p.n_w; j++) q.y[j] = job->y[j] + (size_t)t0 * (p.row_start[j + 1] - p.row_start[j]);
        cudaError_t e = launch(q, w0->dtype, nt, s);
        if (e != cudaSuccess) return e;
        t0 += nt;
    }
    return cudaSuccess;
}

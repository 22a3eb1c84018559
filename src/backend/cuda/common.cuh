/* backend/cuda/common.cuh: device helpers shared by the kernel files —
 * warp and block reductions, 16-byte loads turned into floats, and reading
 * one element of a weight matrix of any supported type. */
#ifndef SI_BACKEND_CUDA_COMMON_CUH
#define SI_BACKEND_CUDA_COMMON_CUH

#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_pipeline_primitives.h>
#include <math.h>
#include <stdint.h>

#define SI_FULL_MASK 0xffffffffu

__device__ __forceinline__ float si_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(SI_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float si_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(SI_FULL_MASK, v, o));
    return v;
}

/* Sum over the first `width` lanes of each aligned group of `width` lanes. */
template <int WIDTH>
__device__ __forceinline__ float si_group_sum(float v) {
#pragma unroll
    for (int o = WIDTH / 2; o > 0; o >>= 1) v += __shfl_xor_sync(SI_FULL_MASK, v, o);
    return v;
}

/* Block-wide sum / max for blocks of NW warps; every thread gets the result.
 * scratch: NW floats of shared memory, free again on return. */
template <int NW, bool MAX>
__device__ __forceinline__ float si_block_reduce(float v, float *scratch) {
    v = MAX ? si_warp_max(v) : si_warp_sum(v);
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
    __syncthreads();
    float t = MAX ? -INFINITY : 0.0f;
#pragma unroll
    for (int w = 0; w < NW; w++) t = MAX ? fmaxf(t, scratch[w]) : t + scratch[w];
    __syncthreads();
    return t;
}

/* Eight f16 (or bf16) values in 16 bytes, to floats. */
__device__ __forceinline__ void si_h8_to_f(const uint4 &u, float *f) {
    const __half2 *h = reinterpret_cast<const __half2 *>(&u);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 t = __half22float2(h[i]);
        f[2 * i] = t.x;
        f[2 * i + 1] = t.y;
    }
}

__device__ __forceinline__ void si_bf8_to_f(const uint4 &u, float *f) {
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

/* Element (r, c) of a weight matrix (slow path: embeddings only). */
__device__ __forceinline__ float si_matrix_elem(const si_cu_matrix &m, int64_t r, int64_t c) {
    switch (m.dtype) {
    case SI_DTYPE_F32: return static_cast<const float *>(m.data)[r * m.cols + c];
    case SI_DTYPE_F16: return __half2float(static_cast<const __half *>(m.data)[r * m.cols + c]);
    case SI_DTYPE_BF16:
        return __uint_as_float((uint32_t) static_cast<const uint16_t *>(m.data)[r * m.cols + c] << 16);
    default: break;
    }
    /* planar (gpu_layout.h): scale * (code - centre) + offset, as si_gpu_planar_get */
    const int64_t b = r * (m.cols / 32) + c / 32, di = si_gpu_k_type(m.dtype) ? b / 8 : b;
    const int e = (int)(c % 32), hw = si_gpu_high_words(m.dtype);
    const float d = __half2float(static_cast<const __half *>(m.d)[di]);
    if (m.dtype == SI_DTYPE_Q8_0) return d * (float)static_cast<const int8_t *>(m.qs)[r * m.cols + c];
    const uint32_t *qh = static_cast<const uint32_t *>(m.qh);
    const uint8_t byte = static_cast<const uint8_t *>(m.qs)[r * (m.cols / 2) + (c / 32) * 16 + (e & 15)];
    const int code = si_gpu_code(m.dtype, byte, hw >= 1 ? qh[b * hw] : 0, hw == 2 ? qh[b * 2 + 1] : 0, e);
    const float mn = m.m != m.d ? __half2float(static_cast<const __half *>(m.m)[di]) : 0.0f;
    const unsigned sc = si_gpu_k_type(m.dtype) ? static_cast<const uint16_t *>(m.sc)[b] : 0;
    float lo, hi, offset;
    si_gpu_block_scales(m.dtype, d, mn, sc, &lo, &hi, &offset);
    /* no fused multiply-add: the reference rounds the product first (Q4_0
     * has no offset to add: + 0 would turn a -0 into +0) */
    const float v = __fmul_rn(e < 16 ? lo : hi, (float)(code - si_gpu_centre(m.dtype)));
    return m.dtype == SI_DTYPE_Q4_0 ? v : __fadd_rn(v, offset);
}

/* ---- programmatic dependent launch (Hopper: sm_90 and later) ----
 * Kernels are launched with si_launch, which lets the next kernel of the
 * stream start while this one finishes (when si_cu_pdl_on, launch.cu). So
 * every kernel calls si_grid_wait() before it reads anything an earlier
 * kernel wrote or writes anything: it returns once the previous kernel has
 * completed and its writes are visible. Only immutable data (weights) may be
 * read before it. si_grid_launch_dependents() then lets the kernel after
 * this one be scheduled (its blocks run up to their own si_grid_wait). On
 * older GPUs, or launched without the attribute, both are no-ops. */
__device__ __forceinline__ void si_grid_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void si_grid_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* ---- asynchronous copies to shared memory (sm_80 and later) ----
 * 16 bytes from global to shared memory without passing through registers
 * (cached in L2 only: weights are read once); groups of copies are
 * committed and waited for by the thread that issued them. Elsewhere the
 * CUDA pipeline primitives stand in: the CPU emulator of tests/emu defers
 * each group's copies until it is waited for, as the hardware may. */
__device__ __forceinline__ void si_cp_async16(void *smem, const void *gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(gmem) : "memory");
#else
    __pipeline_memcpy_async(smem, gmem, 16);
#endif
}
__device__ __forceinline__ void si_cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#else
    __pipeline_commit();
#endif
}
/* Waits until at most N of this thread's committed groups are in flight. */
template <int N>
__device__ __forceinline__ void si_cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#else
    __pipeline_wait_prior(N);
#endif
}

/* Whether si_launch asks for programmatic dependent launch (set once by
 * the backend: sm_90 or later and SWIFTINFER_CUDA_PDL not 0). */
extern bool si_cu_pdl_on;

template <typename... KArgs, typename... Args>
cudaError_t si_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, cudaStream_t s, Args &&...args) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = 0;
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = si_cu_pdl_on ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<Args &&>(args)...);
}

/* silu(g) * u, written as the CPU backend writes it. */
__device__ __forceinline__ float si_swiglu1(float g, float u) { return g / (1.0f + expf(-g)) * u; }

#endif

/* backend/cuda/sampling.cu: greedy sampling on the device — the argmax of
 * each logit row, so that only token ids cross the bus. Same rule as the CPU
 * backend's argmax op: the lowest index among equal largest values, NaN
 * never wins, 0 when nothing compares. */
#include "common.cuh"

namespace {

constexpr int THREADS = 1024;

/* (v, i) beats (bv, bi): larger, or equal and earlier; i < 0 is "none". */
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
    if (i < 0) return false;
    if (bi < 0) return true;
    return v > bv || (v == bv && i < bi);
}

__global__ void __launch_bounds__(THREADS) argmax_kernel(int32_t *ids, const float *logits, int n_vocab) {
    __shared__ float sv[THREADS / 32];
    __shared__ int si[THREADS / 32];
    si_grid_wait();
    si_grid_launch_dependents();
    const float *row = logits + (size_t)blockIdx.x * n_vocab;
    float bv = 0;
    int bi = -1;
    for (int j = threadIdx.x; j < n_vocab; j += THREADS) {
        float v = row[j];
        if (v == v && better(v, j, bv, bi)) {
            bv = v;
            bi = j;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(SI_FULL_MASK, bv, o);
        int oi = __shfl_xor_sync(SI_FULL_MASK, bi, o);
        if (better(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    if (threadIdx.x % 32 == 0) {
        sv[threadIdx.x / 32] = bv;
        si[threadIdx.x / 32] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < THREADS / 32; w++)
            if (better(sv[w], si[w], bv, bi)) {
                bv = sv[w];
                bi = si[w];
            }
        ids[blockIdx.x] = bi < 0 ? 0 : bi;
    }
}

} // namespace

extern "C" cudaError_t si_cu_argmax(int32_t *ids, const float *logits, int n, int n_vocab, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    return si_launch(argmax_kernel, n, THREADS, s, ids, logits, n_vocab);
}

/* backend/cuda/sampling.cu: choosing tokens on the device, so that only
 * token ids cross the bus — the argmax op, and the sample op, which applies
 * the sampler's rules (sampling/sample_spec.h; reference: si_sample_row) to
 * each logit row: repetition penalty, then greedy or top-k (k <= 256),
 * temperature, top-p and the draw.
 *
 * The top-k cut is a radix select: four passes over the row, each a
 * histogram of one byte of the keys (a float's bits, reordered so that
 * integer order is logit order) among the keys that match the bytes chosen
 * so far, find the k-th largest key T. Keys above T are all in; of those
 * equal to T, the lowest ids (as the reference's order by logit, then id).
 * The k survivors are sorted (bitonic) and one thread runs the reference's
 * own tail (si_sample_tail) on them. */
#include "common.cuh"

#include "../../sampling/sample_spec.h"

#include <limits.h>

namespace {

constexpr int THREADS = 1024;
constexpr int SORT = SI_CU_SAMPLE_TOP_K_MAX; /* candidates sorted at once: the largest k */
static_assert(SORT == 256 && SORT <= THREADS, "one histogram bin and one sort slot per thread");

/* (v, i) beats (bv, bi): larger, or equal and earlier; i < 0 is "none". */
__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
    if (i < 0) return false;
    if (bi < 0) return true;
    return v > bv || (v == bv && i < bi);
}

/* The sampler's rule 2: NaN counts as -inf. */
__device__ __forceinline__ float sane(float v) { return v == v ? v : -INFINITY; }

/* Index of the largest value of row (the lowest among equals), NaN never
 * winning (SANE: counting as -inf); 0 when nothing compares. Every thread of
 * the block calls it; thread 0 gets the answer. */
template <bool SANE>
__device__ int block_argmax(const float *row, int n) {
    __shared__ float sv[THREADS / 32];
    __shared__ int si[THREADS / 32];
    float bv = 0;
    int bi = -1;
    for (int j = threadIdx.x; j < n; j += THREADS) {
        float v = SANE ? sane(row[j]) : row[j];
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
    if (threadIdx.x != 0) return 0;
    for (int w = 1; w < THREADS / 32; w++)
        if (better(sv[w], si[w], bv, bi)) {
            bv = sv[w];
            bi = si[w];
        }
    return bi < 0 ? 0 : bi;
}

__global__ void __launch_bounds__(THREADS) argmax_kernel(int32_t *ids, const float *logits, int n_vocab) {
    si_grid_wait();
    si_grid_launch_dependents();
    int best = block_argmax<false>(logits + (size_t)blockIdx.x * n_vocab, n_vocab);
    if (threadIdx.x == 0) ids[blockIdx.x] = best;
}

/* Unsigned keys in logit order (NaN as -inf; -0 and +0 equal, as the
 * reference's comparison has them). */
__device__ __forceinline__ unsigned order_key(float v) {
    v = sane(v);
    if (v == 0.0f) v = 0.0f;
    unsigned u = __float_as_uint(v);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* Candidate a comes before b: larger key, or equal key and lower id. */
__device__ __forceinline__ bool before(unsigned ka, int ia, unsigned kb, int ib) {
    return ka > kb || (ka == kb && ia < ib);
}

/* One block per logit row. The row is penalized in place. */
__global__ void __launch_bounds__(THREADS)
    sample_kernel(int32_t *ids, float *logits, int n_vocab, const si_sample_spec *specs) {
    __shared__ unsigned hist[SORT];
    __shared__ unsigned equal_before[THREADS];
    __shared__ unsigned key[SORT];
    __shared__ int id[SORT];
    __shared__ float val[SORT];
    __shared__ unsigned chosen_prefix, chosen_left, n_above;
    si_grid_wait();
    si_grid_launch_dependents();
    const si_sample_spec *sp = &specs[blockIdx.x];
    float *row = logits + (size_t)blockIdx.x * n_vocab;
    const int tid = threadIdx.x;

    /* rule 1: the ids are distinct, so no two threads touch one logit */
    if (sp->repeat_penalty != 1.0f)
        for (int h = tid; h < sp->n_penalized; h += THREADS) {
            const int t = sp->penalized[h];
            if (t < 0 || t >= n_vocab) continue;
            const float l = row[t];
            row[t] = l > 0 ? l / sp->repeat_penalty : l * sp->repeat_penalty;
        }
    __syncthreads();

    if (sp->temperature <= 0) {
        int best = block_argmax<true>(row, n_vocab);
        if (tid == 0) ids[blockIdx.x] = best;
        return;
    }

    /* the k-th largest key, a byte at a time (k < n_vocab: the host checked) */
    const unsigned k = (unsigned)sp->top_k;
    unsigned prefix = 0, mask = 0, left = k; /* left: how many keys matching prefix are still to take */
    for (int shift = 24; shift >= 0; shift -= 8) {
        if (tid < SORT) hist[tid] = 0;
        __syncthreads();
        for (int j = tid; j < n_vocab; j += THREADS) {
            const unsigned kj = order_key(row[j]);
            if ((kj & mask) == prefix) atomicAdd(&hist[(kj >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            unsigned above = 0;
            int d = 255;
            for (; d > 0 && above + hist[d] < left; d--) above += hist[d];
            chosen_prefix = prefix | (unsigned)d << shift;
            chosen_left = left - above;
            n_above = 0;
        }
        __syncthreads();
        prefix = chosen_prefix;
        left = chosen_left;
        mask |= 255u << shift;
    }
    /* prefix is T: the k - left keys above it are in, and the first `left`
     * ids (in id order) whose key is T. Threads own consecutive id ranges,
     * so counting the T keys of the ranges before one's own orders them. */
    const int chunk = (n_vocab + THREADS - 1) / THREADS;
    const int c0 = min(n_vocab, tid * chunk), c1 = min(n_vocab, c0 + chunk);
    unsigned equal = 0;
    for (int j = c0; j < c1; j++) equal += order_key(row[j]) == prefix;
    equal_before[tid] = equal;
    if (tid >= (int)k && tid < SORT) { /* empty slots sort last */
        key[tid] = 0;
        id[tid] = INT_MAX;
        val[tid] = -INFINITY;
    }
    __syncthreads();
    if (tid == 0) {
        unsigned sum = 0;
        for (int t = 0; t < THREADS; t++) {
            unsigned e = equal_before[t];
            equal_before[t] = sum;
            sum += e;
        }
    }
    __syncthreads();
    unsigned rank = equal_before[tid];
    for (int j = c0; j < c1; j++) {
        const unsigned kj = order_key(row[j]);
        unsigned slot;
        if (kj > prefix)
            slot = atomicAdd(&n_above, 1u);
        else if (kj == prefix && rank < left)
            slot = k - left + rank++;
        else
            continue;
        key[slot] = kj;
        id[slot] = j;
        val[slot] = sane(row[j]);
    }
    __syncthreads();

    /* bitonic sort of the SORT slots into the reference's order */
    for (int size = 2; size <= SORT; size <<= 1)
        for (int stride = size / 2; stride > 0; stride /= 2) {
            const int other = tid ^ stride;
            if (tid < SORT && other > tid) {
                const bool ascending = (tid & size) == 0;
                if (ascending != before(key[tid], id[tid], key[other], id[other])) {
                    unsigned tk = key[tid];
                    key[tid] = key[other];
                    key[other] = tk;
                    int ti = id[tid];
                    id[tid] = id[other];
                    id[other] = ti;
                    float tv = val[tid];
                    val[tid] = val[other];
                    val[other] = tv;
                }
            }
            __syncthreads();
        }
    if (tid == 0) ids[blockIdx.x] = id[si_sample_tail(val, (int)k, sp->temperature, sp->top_p, sp->u)];
}

} // namespace

extern "C" cudaError_t si_cu_argmax(int32_t *ids, const float *logits, int n, int n_vocab, cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    return si_launch(argmax_kernel, n, THREADS, s, ids, logits, n_vocab);
}

extern "C" cudaError_t si_cu_sample(int32_t *ids, float *logits, int n, int n_vocab, const si_sample_spec *specs,
                                    cudaStream_t s) {
    if (n <= 0) return cudaSuccess;
    return si_launch(sample_kernel, n, THREADS, s, ids, logits, n_vocab, specs);
}

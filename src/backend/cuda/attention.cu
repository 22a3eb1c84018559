/* backend/cuda/attention.cu: attention over the StreamingLLM cache.
 *
 * 1. rope_store: per row, rotates the new keys at their key position and
 *    stores keys and values in the row's cache slot (f32 or f16), and writes
 *    the query twice: rotated at its window position and at its sink
 *    position (kvcache.h explains the two rotations).
 * 2. attend: split-K ("flash decoding"). Block (head, split, row) takes a
 *    contiguous range of the row's visible keys — sinks first, then the
 *    window around the ring (gpu_layout.h) — with a running max and sum
 *    (online softmax). With one split the block writes the output;
 *    otherwise it writes its partial (max, sum, unnormalized accumulator)
 *    and the last block of the (row, head) to finish, found with a counter,
 *    merges all splits. Two kernels do this:
 *    - warp (default): each warp streams its own keys and values with its
 *      own online softmax, no block barrier until the warps merge; under
 *      grouped-query attention one block serves all the query heads of a
 *      KV head, and in a prefill one block serves several rows of a chunk
 *      (attend_group_kernel), reading each key once for all of them;
 *    - tiled (SWIFTINFER_CUDA_ATTN=tiled, the first one, measured on an
 *      H200): tiles of scores in shared memory, block barriers between the
 *      score, softmax and value phases.
 * Keys and values are read 16 bytes per lane, several loads in flight.
 * Reference: backend/cpu/attention.c. */
#include "common.cuh"

#include <type_traits>

namespace {

constexpr int ATT_THREADS = 128, ATT_WARPS = 4, TILE = 256, LOADS = 4;

struct attn_params {
    si_cu_attn a;
    int q_dim, kv_dim;
    float scale;
};

/* ---- 1. RoPE and cache store ---- */

__device__ __forceinline__ void rope_pair(int style, int head_dim, int p, int *i0, int *i1) {
    if (style == SI_ROPE_ADJACENT) {
        *i0 = 2 * p;
        *i1 = 2 * p + 1;
    } else {
        *i0 = p;
        *i1 = p + head_dim / 2;
    }
}

/* (x0, x1) rotated by (c, s), computed in double and rounded once to float,
 * as the CPU's si_rope_rotate: keys are rotated at other angles than the
 * original re-rotates them to, so each rotation keeps half-an-ulp accuracy. */
__device__ __forceinline__ void rotate_pair(float x0, float x1, double c, double s, float *y0, float *y1) {
    *y0 = (float)((double)x0 * c - (double)x1 * s);
    *y1 = (float)((double)x0 * s + (double)x1 * c);
}

__global__ void rope_store_kernel(attn_params p) {
    si_grid_wait();
    si_grid_launch_dependents();
    const si_cu_attn &a = p.a;
    const int i = blockIdx.x, hd = a.head_dim, half = hd / 2;
    const si_gpu_attn_row r = a.rows[i];
    const double *cs = a.rope + (size_t)i * 3 * hd; /* key | query window | query sink */
    const size_t dst = ((size_t)a.layer * r.slots + r.store_slot) * p.kv_dim;
    const float *k = a.k + (size_t)i * p.kv_dim, *v = a.v + (size_t)i * p.kv_dim;
    for (int idx = threadIdx.x; idx < a.n_kv_heads * half; idx += blockDim.x) {
        int h = idx / half, pr = idx % half, i0, i1;
        rope_pair(a.rope_style, hd, pr, &i0, &i1);
        i0 += h * hd;
        i1 += h * hd;
        float y0, y1;
        rotate_pair(k[i0], k[i1], cs[pr], cs[half + pr], &y0, &y1);
        if (a.kv_f16) {
            static_cast<__half *>(r.k)[dst + i0] = __float2half_rn(y0);
            static_cast<__half *>(r.k)[dst + i1] = __float2half_rn(y1);
        } else {
            static_cast<float *>(r.k)[dst + i0] = y0;
            static_cast<float *>(r.k)[dst + i1] = y1;
        }
    }
    for (int idx = threadIdx.x; idx < p.kv_dim; idx += blockDim.x) {
        if (a.kv_f16)
            static_cast<__half *>(r.v)[dst + idx] = __float2half_rn(v[idx]);
        else
            static_cast<float *>(r.v)[dst + idx] = v[idx];
    }
    const float *q = a.q + (size_t)i * p.q_dim;
    float *qw = a.qrot + (size_t)i * 2 * p.q_dim, *qs = qw + p.q_dim;
    for (int idx = threadIdx.x; idx < a.n_heads * half; idx += blockDim.x) {
        int h = idx / half, pr = idx % half, i0, i1;
        rope_pair(a.rope_style, hd, pr, &i0, &i1);
        i0 += h * hd;
        i1 += h * hd;
        rotate_pair(q[i0], q[i1], cs[hd + pr], cs[hd + half + pr], &qw[i0], &qw[i1]);
        rotate_pair(q[i0], q[i1], cs[2 * hd + pr], cs[2 * hd + half + pr], &qs[i0], &qs[i1]);
    }
}

/* ---- 2. attention ---- */

/* 16 bytes of a cache row: 8 halves or 4 floats. */
template <typename KT>
struct kv_vec;
template <>
struct kv_vec<float> {
    static constexpr int N = 4;
    float4 raw;
    __device__ void load(const float *p) { raw = *reinterpret_cast<const float4 *>(p); }
    __device__ void get(float *f) const {
        f[0] = raw.x;
        f[1] = raw.y;
        f[2] = raw.z;
        f[3] = raw.w;
    }
};
template <>
struct kv_vec<__half> {
    static constexpr int N = 8;
    uint4 raw;
    __device__ void load(const __half *p) { raw = *reinterpret_cast<const uint4 *>(p); }
    __device__ void get(float *f) const { si_h8_to_f(raw, f); }
};

/* The end of an attend block, after a barrier: with one split, writes the
 * output (acc_at(d) is the block's unnormalized sum for dimension d, l its
 * softmax sum); otherwise writes the partial (m, l, accumulator), and the
 * last block of the (row, head) to finish merges all splits and resets the
 * counter for the next launch. */
template <int HD, typename ACC>
__device__ void finish_block(const si_cu_attn &a, int i, int h, int split, int q_dim, float m, float l, ACC acc_at) {
    __shared__ int last;
    const size_t head_off = (size_t)i * q_dim + (size_t)h * HD;
    if (a.splits == 1) {
        for (int d = threadIdx.x; d < HD; d += blockDim.x) a.out[head_off + d] = acc_at(d) / l;
        return;
    }
    const size_t ph = (size_t)i * a.n_heads + h;
    const int stride = HD + 2;
    float *mine = a.part + (ph * a.splits + split) * stride;
    for (int d = threadIdx.x; d < HD; d += blockDim.x) mine[2 + d] = acc_at(d);
    if (threadIdx.x == 0) {
        mine[0] = m;
        mine[1] = l;
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&a.count[ph], 1u) == (unsigned)a.splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    const float *all = a.part + ph * a.splits * stride;
    float M = -INFINITY;
    for (int s = 0; s < a.splits; s++) M = fmaxf(M, __ldcg(all + s * stride));
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float o = 0.0f, lsum = 0.0f;
        for (int s = 0; s < a.splits; s++) {
            float ms = __ldcg(all + s * stride);
            float w = ms == -INFINITY ? 0.0f : expf(ms - M); /* an empty split has m = -inf, l = 0 */
            lsum += __ldcg(all + s * stride + 1) * w;
            o += __ldcg(all + s * stride + 2 + d) * w;
        }
        a.out[head_off + d] = o / lsum;
    }
    if (threadIdx.x == 0) a.count[ph] = 0;
}

/* What an attend block reads: its split's range [j0, j1) of row i's visible
 * keys (or of a group's view), and the cache's key and value rows of its KV head, offset to the
 * lane's `col` (each key row is then `slot * kv_dim` further). */
template <int HD, typename KT>
struct block_keys {
    si_gpu_attn_row r;
    int j0, j1;
    const KT *kb, *vb;

    __device__ block_keys(const attn_params &p, int i, int h, int split, int col)
        : block_keys(p, p.a.rows[i], h, split, col) {}

    /* the same for a group's view of several rows' keys */
    __device__ block_keys(const attn_params &p, const si_gpu_attn_row &view, int h, int split, int col) {
        const si_cu_attn &a = p.a;
        r = view;
        const int n_vis = r.n_sinks + r.n_win, per = (n_vis + a.splits - 1) / a.splits;
        j0 = min(split * per, n_vis);
        j1 = min(j0 + per, n_vis);
        const int kvh = h / (a.n_heads / a.n_kv_heads);
        const size_t off = (size_t)a.layer * r.slots * p.kv_dim + (size_t)kvh * HD + col;
        kb = static_cast<const KT *>(r.k) + off;
        vb = static_cast<const KT *>(r.v) + off;
    }

    /* Loads key and value j = first + u * stride for each u < N with j < j1
     * (the warp kernels' step: all of them in flight at once). */
    template <int N, typename V>
    __device__ void load_step(V (&kv)[N], V (&vv)[N], int first, int stride, int kv_dim) const {
#pragma unroll
        for (int u = 0; u < N; u++) {
            const int j = first + u * stride;
            if (j < j1) {
                const size_t off = (size_t)si_gpu_visible_slot(&r, j) * kv_dim;
                kv[u].load(kb + off);
                vv[u].load(vb + off);
            }
        }
    }
};

template <int HD, typename KT>
__global__ void __launch_bounds__(ATT_THREADS) attend_kernel(attn_params p) {
    using V = kv_vec<KT>;
    constexpr int VN = V::N;
    constexpr int L = HD / VN;              /* lanes per key row */
    constexpr int KPW = 32 / L;             /* keys per warp step */
    constexpr int G = ATT_THREADS / L;      /* value rows in flight per block step */
    static_assert(L <= 32 && 32 % L == 0, "head_dim does not fit a warp");

    const si_cu_attn &a = p.a;
    const int h = blockIdx.x, split = blockIdx.y, i = blockIdx.z;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, sub = tid % L;
    __shared__ __align__(16) float qw[HD], qs[HD];
    __shared__ float sc[TILE];
    __shared__ float red[ATT_WARPS];
    __shared__ __align__(16) float accs[G][HD];
    si_grid_wait();
    si_grid_launch_dependents();

    const auto [r, j0, j1, kb, vb] = block_keys<HD, KT>(p, i, h, split, sub * VN);

    for (int d = tid; d < HD; d += ATT_THREADS) {
        qw[d] = a.qrot[(size_t)i * 2 * p.q_dim + h * HD + d];
        qs[d] = a.qrot[(size_t)i * 2 * p.q_dim + p.q_dim + h * HD + d];
    }
    __syncthreads();

    float m_run = -INFINITY, l_run = 0.0f, acc[VN];
#pragma unroll
    for (int e = 0; e < VN; e++) acc[e] = 0.0f;

    for (int t0 = j0; t0 < j1; t0 += TILE) {
        const int tn = min(TILE, j1 - t0);
        /* scores: each group of L lanes takes one key; LOADS keys per lane in flight */
        for (int base = warp * KPW; base < tn; base += ATT_WARPS * KPW * LOADS) {
            V kv[LOADS];
#pragma unroll
            for (int u = 0; u < LOADS; u++) {
                int jj = base + u * ATT_WARPS * KPW + lane / L;
                if (jj < tn) kv[u].load(kb + (size_t)si_gpu_visible_slot(&r, t0 + jj) * p.kv_dim);
            }
#pragma unroll
            for (int u = 0; u < LOADS; u++) {
                int jj = base + u * ATT_WARPS * KPW + lane / L;
                float d = 0.0f;
                if (jj < tn) {
                    float f[VN];
                    kv[u].get(f);
                    const float *q = (t0 + jj < r.n_sinks ? qs : qw) + sub * VN;
#pragma unroll
                    for (int e = 0; e < VN; e++) d += f[e] * q[e];
                }
                d = si_group_sum<L>(d); /* every lane takes part in the shuffle */
                if (jj < tn && sub == 0) sc[jj] = d * p.scale;
            }
        }
        __syncthreads();
        float mx = -INFINITY;
        for (int jj = tid; jj < tn; jj += ATT_THREADS) mx = fmaxf(mx, sc[jj]);
        const float m_new = fmaxf(m_run, si_block_reduce<ATT_WARPS, true>(mx, red));
        float ps = 0.0f;
        for (int jj = tid; jj < tn; jj += ATT_THREADS) {
            float e = expf(sc[jj] - m_new);
            sc[jj] = e;
            ps += e;
        }
        const float tile_sum = si_block_reduce<ATT_WARPS, false>(ps, red); /* its barrier also publishes sc */
        const float corr = expf(m_run - m_new);
        l_run = l_run * corr + tile_sum;
        m_run = m_new;
#pragma unroll
        for (int e = 0; e < VN; e++) acc[e] *= corr;
        /* values: thread group tid / L takes rows jj = tid / L, + G, ... */
        for (int base = tid / L; base < tn; base += G * LOADS) {
            V vv[LOADS] = {}; /* zeroed: GCC -O3 cannot see that loads and uses share their condition */
#pragma unroll
            for (int u = 0; u < LOADS; u++) {
                int jj = base + u * G;
                if (jj < tn) vv[u].load(vb + (size_t)si_gpu_visible_slot(&r, t0 + jj) * p.kv_dim);
            }
#pragma unroll
            for (int u = 0; u < LOADS; u++) {
                int jj = base + u * G;
                if (jj < tn) {
                    float f[VN], w = sc[jj];
                    vv[u].get(f);
#pragma unroll
                    for (int e = 0; e < VN; e++) acc[e] += w * f[e];
                }
            }
        }
        __syncthreads(); /* sc is rewritten by the next tile */
    }

    /* sum the G groups' accumulators */
#pragma unroll
    for (int e = 0; e < VN; e++) accs[tid / L][sub * VN + e] = acc[e];
    __syncthreads();
    finish_block<HD>(a, i, h, split, p.q_dim, m_run, l_run, [&](int d) {
        float o = 0.0f;
#pragma unroll
        for (int g = 0; g < G; g++) o += accs[g][d];
        return o;
    });
}

/* The same attention with no block barrier in the key loop: each warp owns
 * every ATT_WARPS-th step of WLOADS * KPW keys of the block's range, loads
 * their keys and values together (a value does not wait for its score), and
 * keeps its own running max, sum and accumulator; the warps' states merge
 * once at the end. The tiled kernel above waits on block barriers between
 * its score, softmax and value phases, so each block's short key range costs
 * several dependent memory round trips; here a warp's loads for a step are
 * all in flight at once. */
template <int HD, typename KT>
__global__ void __launch_bounds__(ATT_THREADS) attend_warp_kernel(attn_params p) {
    using V = kv_vec<KT>;
    constexpr int VN = V::N;
    constexpr int L = HD / VN;  /* lanes per key row */
    constexpr int KPW = 32 / L; /* keys per warp per load */
    constexpr int WLOADS = 4;   /* keys (and values) in flight per lane */
    constexpr int STEP = KPW * WLOADS;
    static_assert(L <= 32 && 32 % L == 0, "head_dim does not fit a warp");

    const si_cu_attn &a = p.a;
    const int h = blockIdx.x, split = blockIdx.y, i = blockIdx.z;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, sub = lane % L, grp = lane / L;
    __shared__ float wm[ATT_WARPS], wl[ATT_WARPS];
    __shared__ __align__(16) float wacc[ATT_WARPS][HD];
    si_grid_wait();
    si_grid_launch_dependents();

    const block_keys<HD, KT> bk(p, i, h, split, sub * VN);
    const auto &[r, j0, j1, kb, vb] = bk;

    /* this lane's slice of both rotations of the query */
    float qw[VN], qs[VN];
    const float *qrow = a.qrot + (size_t)i * 2 * p.q_dim + h * HD + sub * VN;
#pragma unroll
    for (int e = 0; e < VN; e++) {
        qw[e] = qrow[e];
        qs[e] = qrow[p.q_dim + e];
    }

    /* m_run is the same in every lane of the warp; l_run and acc cover the
     * keys of this lane's group (lane / L) */
    float m_run = -INFINITY, l_run = 0.0f, acc[VN];
#pragma unroll
    for (int e = 0; e < VN; e++) acc[e] = 0.0f;

    for (int base = j0 + warp * STEP; base < j1; base += ATT_WARPS * STEP) {
        V kv[WLOADS], vv[WLOADS];
        bk.load_step(kv, vv, base + grp, KPW, p.kv_dim);
        float sc[WLOADS], m_step = -INFINITY;
#pragma unroll
        for (int u = 0; u < WLOADS; u++) {
            const int j = base + u * KPW + grp;
            float d = 0.0f;
            if (j < j1) {
                float f[VN];
                kv[u].get(f);
                const bool sink = j < r.n_sinks;
#pragma unroll
                for (int e = 0; e < VN; e++) d += f[e] * (sink ? qs[e] : qw[e]);
            }
            d = si_group_sum<L>(d); /* every lane takes part in the shuffle */
            sc[u] = j < j1 ? d * p.scale : -INFINITY;
            m_step = fmaxf(m_step, sc[u]);
        }
        /* the groups of the warp saw different keys: one max for the warp */
#pragma unroll
        for (int o = L; o < 32; o <<= 1) m_step = fmaxf(m_step, __shfl_xor_sync(SI_FULL_MASK, m_step, o));
        const float m_new = fmaxf(m_run, m_step); /* finite: the step has at least one key */
        const float corr = expf(m_run - m_new);   /* 0 on the first step */
        m_run = m_new;
        l_run *= corr;
#pragma unroll
        for (int e = 0; e < VN; e++) acc[e] *= corr;
#pragma unroll
        for (int u = 0; u < WLOADS; u++) {
            const float w = expf(sc[u] - m_new); /* 0 for a slot past the range */
            l_run += w;
            if (w != 0.0f) {
                float f[VN];
                vv[u].get(f);
#pragma unroll
                for (int e = 0; e < VN; e++) acc[e] += w * f[e];
            }
        }
    }

    /* sum the warp's groups (they share m_run), then merge the warps */
#pragma unroll
    for (int o = L; o < 32; o <<= 1) {
        l_run += __shfl_xor_sync(SI_FULL_MASK, l_run, o);
#pragma unroll
        for (int e = 0; e < VN; e++) acc[e] += __shfl_xor_sync(SI_FULL_MASK, acc[e], o);
    }
    if (grp == 0) {
#pragma unroll
        for (int e = 0; e < VN; e++) wacc[warp][sub * VN + e] = acc[e];
    }
    if (lane == 0) {
        wm[warp] = m_run;
        wl[warp] = l_run;
    }
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, wm[w]);
    float scale_w[ATT_WARPS], L_sum = 0.0f;
#pragma unroll
    for (int w = 0; w < ATT_WARPS; w++) {
        scale_w[w] = wm[w] == -INFINITY ? 0.0f : expf(wm[w] - M); /* a warp with no keys */
        L_sum += wl[w] * scale_w[w];
    }
    finish_block<HD>(a, i, h, split, p.q_dim, M, L_sum, [&](int d) {
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < ATT_WARPS; w++) o += wacc[w][d] * scale_w[w];
        return o;
    });
}

/* The warp kernel for several queries that read the same keys: the G query
 * heads of one KV head (grouped-query attention) of R consecutive rows of
 * one session (a prefill chunk, si_gpu_attn_group). Block (KV head, split,
 * row or group) reads each key and value once for all G x R queries, where
 * the kernel above reads them once per query head and row. The queries (both
 * rotations) sit in shared memory; each lane keeps one online softmax per
 * query; a key that a query's row does not see scores -inf for it. Each
 * (row, head) then ends as in the kernel above. R = 1: block z is row z. */
template <int HD, typename KT, int G, int R>
__global__ void __launch_bounds__(ATT_THREADS) attend_group_kernel(attn_params p) {
    using V = kv_vec<KT>;
    constexpr int VN = V::N;
    constexpr int L = HD / VN;
    constexpr int KPW = 32 / L;
    constexpr int WLOADS = 4;
    constexpr int STEP = KPW * WLOADS;
    constexpr int Q = G * R; /* query q: head h0 + q % G of row row0 + q / G */
    static_assert(L <= 32 && 32 % L == 0, "head_dim does not fit a warp");

    const si_cu_attn &a = p.a;
    const int kvh = blockIdx.x, split = blockIdx.y, h0 = kvh * G;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, sub = lane % L, grp = lane / L;
    __shared__ __align__(16) float qv[Q][2][HD]; /* [query][window, sink rotation] */
    __shared__ si_gpu_attn_row row_of[R];
    __shared__ float wm[ATT_WARPS][Q], wl[ATT_WARPS][Q];
    __shared__ __align__(16) float wacc[ATT_WARPS][Q][HD];
    si_grid_wait();
    si_grid_launch_dependents();

    int row0 = blockIdx.z, n_rows = 1;
    si_gpu_attn_row view;
    if constexpr (R == 1) {
        view = a.rows[row0];
    } else {
        const si_gpu_attn_group &grp_rows = a.groups[blockIdx.z];
        row0 = grp_rows.row0;
        n_rows = grp_rows.n_rows;
        view = grp_rows.view;
        if (tid < n_rows) row_of[tid] = a.rows[row0 + tid];
    }
    const block_keys<HD, KT> bk(p, view, h0, split, sub * VN);
    const auto &[r, j0, j1, kb, vb] = bk;

    for (int idx = tid; idx < Q * 2 * HD; idx += ATT_THREADS) {
        const int q = idx / (2 * HD), rot = idx / HD % 2, d = idx % HD, rr = q / G;
        qv[q][rot][d] = rr < n_rows ? a.qrot[(size_t)(row0 + rr) * 2 * p.q_dim + (size_t)rot * p.q_dim +
                                             (size_t)(h0 + q % G) * HD + d]
                                    : 0.0f;
    }
    __syncthreads();

    float m_run[Q], l_run[Q], acc[Q][VN];
#pragma unroll
    for (int q = 0; q < Q; q++) {
        m_run[q] = -INFINITY;
        l_run[q] = 0.0f;
#pragma unroll
        for (int e = 0; e < VN; e++) acc[q][e] = 0.0f;
    }

    for (int base = j0 + warp * STEP; base < j1; base += ATT_WARPS * STEP) {
        V kv[WLOADS] = {}, vv[WLOADS] = {};
        bk.load_step(kv, vv, base + grp, KPW, p.kv_dim);
        float sc[WLOADS][Q], m_step[Q];
#pragma unroll
        for (int q = 0; q < Q; q++) m_step[q] = -INFINITY;
#pragma unroll
        for (int u = 0; u < WLOADS; u++) {
            const int j = base + u * KPW + grp;
            float f[VN];
            kv[u].get(f);
            const int rot = j < r.n_sinks ? 1 : 0;
            bool sees[R];
#pragma unroll
            for (int rr = 0; rr < R; rr++) sees[rr] = j < j1 && (R == 1 || (rr < n_rows && si_gpu_group_sees(&r, &row_of[rr], j)));
#pragma unroll
            for (int q = 0; q < Q; q++) {
                const float *qq = &qv[q][rot][sub * VN];
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < VN; e++) d += f[e] * qq[e];
                d = si_group_sum<L>(d); /* every lane takes part in the shuffle */
                sc[u][q] = sees[q / G] ? d * p.scale : -INFINITY;
                m_step[q] = fmaxf(m_step[q], sc[u][q]);
            }
        }
#pragma unroll
        for (int q = 0; q < Q; q++) {
#pragma unroll
            for (int o = L; o < 32; o <<= 1) m_step[q] = fmaxf(m_step[q], __shfl_xor_sync(SI_FULL_MASK, m_step[q], o));
            const float m_new = fmaxf(m_run[q], m_step[q]);
            if (m_new == -INFINITY) continue; /* no key of this query's row yet: nothing to rescale */
            const float corr = expf(m_run[q] - m_new); /* 0 on its first keys */
            m_run[q] = m_new;
            l_run[q] *= corr;
#pragma unroll
            for (int e = 0; e < VN; e++) acc[q][e] *= corr;
        }
#pragma unroll
        for (int u = 0; u < WLOADS; u++) {
            if (base + u * KPW + grp >= j1) continue;
            float f[VN];
            vv[u].get(f);
#pragma unroll
            for (int q = 0; q < Q; q++) {
                const float w = sc[u][q] == -INFINITY ? 0.0f : expf(sc[u][q] - m_run[q]);
                l_run[q] += w;
#pragma unroll
                for (int e = 0; e < VN; e++) acc[q][e] += w * f[e];
            }
        }
    }

    /* per query: sum the warp's groups (they share m_run), then merge the warps */
#pragma unroll
    for (int q = 0; q < Q; q++) {
#pragma unroll
        for (int o = L; o < 32; o <<= 1) {
            l_run[q] += __shfl_xor_sync(SI_FULL_MASK, l_run[q], o);
#pragma unroll
            for (int e = 0; e < VN; e++) acc[q][e] += __shfl_xor_sync(SI_FULL_MASK, acc[q][e], o);
        }
        if (grp == 0) {
#pragma unroll
            for (int e = 0; e < VN; e++) wacc[warp][q][sub * VN + e] = acc[q][e];
        }
        if (lane == 0) {
            wm[warp][q] = m_run[q];
            wl[warp][q] = l_run[q];
        }
    }
    __syncthreads();
    for (int q = 0; q < G * n_rows; q++) {
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, wm[w][q]);
        float scale_w[ATT_WARPS], L_sum = 0.0f;
#pragma unroll
        for (int w = 0; w < ATT_WARPS; w++) {
            scale_w[w] = wm[w][q] == -INFINITY ? 0.0f : expf(wm[w][q] - M); /* a warp with no keys */
            L_sum += wl[w][q] * scale_w[w];
        }
        /* a split may hold no key of this row: its partial is (-inf, 0, 0), which the merge skips */
        finish_block<HD>(a, row0 + q / G, h0 + q % G, split, p.q_dim, M, L_sum, [&](int d) {
            float o = 0.0f;
#pragma unroll
            for (int w = 0; w < ATT_WARPS; w++) o += wacc[w][q][d] * scale_w[w];
            return o;
        });
    }
}

/* Query heads per KV head that attend_group_kernel is built for (1: the
 * prefill row groups of models without GQA), in one list: visit(g, f) calls
 * f with g as a compile-time constant, cudaErrorInvalidValue for another g. */
template <int... Gs>
struct group_list {
    static constexpr bool has(int g) { return ((g == Gs) || ...); }
    template <typename F>
    static auto visit(int g, F f) -> decltype(f(std::integral_constant<int, 1>{})) {
        decltype(f(std::integral_constant<int, 1>{})) r{};
        bool found = ((g == Gs ? (r = f(std::integral_constant<int, Gs>{}), true) : false) || ...);
        return found ? r : decltype(r)(cudaErrorInvalidValue);
    }
};
using built_groups = group_list<1, 2, 3, 4, 8>;

/* How many rows of a prefill chunk a block takes together for G query heads
 * (G x R <= 8 queries: more would spill registers). */
__host__ __device__ constexpr int rows_per_group(int g) { return g == 1 ? 8 : g == 2 ? 4 : g <= 4 ? 2 : 1; }

/* Grouped launches, G query heads per block: with a.groups, R =
 * rows_per_group(G) rows per block where that is more than one; else a
 * block per row. */
template <int HD, typename KT, int G>
cudaError_t launch_group_g(const attn_params &p, cudaStream_t s) {
    constexpr int R = rows_per_group(G);
    if constexpr (R > 1)
        if (p.a.groups)
            return si_launch(attend_group_kernel<HD, KT, G, R>, dim3(p.a.n_heads / G, p.a.splits, p.a.n_groups),
                             ATT_THREADS, s, p);
    if constexpr (G > 1)
        return si_launch(attend_group_kernel<HD, KT, G, 1>, dim3(p.a.n_heads / G, p.a.splits, p.a.n_tokens),
                         ATT_THREADS, s, p);
    return cudaErrorInvalidValue;
}

template <int HD, typename KT>
cudaError_t launch_group(const attn_params &p, int group, cudaStream_t s) {
    return built_groups::visit(group, [&](auto g) { return launch_group_g<HD, KT, decltype(g)::value>(p, s); });
}

template <int HD>
cudaError_t launch_attend(const attn_params &p, cudaStream_t s) {
    const int group = si_cu_attn_group(p.a.kernel, p.a.n_heads, p.a.n_kv_heads);
    if (group > 1 || (p.a.groups && si_cu_attn_group_rows(p.a.kernel, p.a.n_heads, p.a.n_kv_heads) > 1))
        return p.a.kv_f16 ? launch_group<HD, __half>(p, group, s) : launch_group<HD, float>(p, group, s);
    dim3 grid(p.a.n_heads, p.a.splits, p.a.n_tokens);
    if (p.a.kernel == SI_CU_ATTN_TILED)
        return p.a.kv_f16 ? si_launch(attend_kernel<HD, __half>, grid, ATT_THREADS, s, p)
                          : si_launch(attend_kernel<HD, float>, grid, ATT_THREADS, s, p);
    return p.a.kv_f16 ? si_launch(attend_warp_kernel<HD, __half>, grid, ATT_THREADS, s, p)
                      : si_launch(attend_warp_kernel<HD, float>, grid, ATT_THREADS, s, p);
}

/* Blocks per multiprocessor of the decode launch: the tiled kernel, the warp
 * kernel (one query head per block), or the group kernel for G > 1. */
template <int HD, typename KT>
int occupancy(int kernel, int group) {
    int n = 0;
    cudaError_t e;
    if (kernel == SI_CU_ATTN_TILED)
        e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, attend_kernel<HD, KT>, ATT_THREADS, 0);
    else
        e = built_groups::visit(group, [&](auto g) {
            constexpr int G = decltype(g)::value;
            if constexpr (G == 1)
                return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, attend_warp_kernel<HD, KT>, ATT_THREADS, 0);
            else
                return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, attend_group_kernel<HD, KT, G, 1>,
                                                                     ATT_THREADS, 0);
        });
    if (e != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

} // namespace

extern "C" int si_cu_attn_group(int kernel, int n_heads, int n_kv_heads) {
    if (kernel != SI_CU_ATTN_WARP || n_kv_heads < 1 || n_heads % n_kv_heads) return 1;
    return built_groups::has(n_heads / n_kv_heads) ? n_heads / n_kv_heads : 1;
}

extern "C" int si_cu_attn_group_rows(int kernel, int n_heads, int n_kv_heads) {
    if (kernel != SI_CU_ATTN_WARP) return 1;
    return rows_per_group(si_cu_attn_group(kernel, n_heads, n_kv_heads));
}

extern "C" int si_cu_attn_blocks_per_sm(int kernel, int group, int head_dim, bool kv_f16) {
    if (head_dim == 64) return kv_f16 ? occupancy<64, __half>(kernel, group) : occupancy<64, float>(kernel, group);
    if (head_dim == 128) return kv_f16 ? occupancy<128, __half>(kernel, group) : occupancy<128, float>(kernel, group);
    return 0;
}

extern "C" int si_cu_attn_splits(int n_tokens, int n_heads, int max_visible, int n_sm, int blocks_per_sm,
                                 int keys_per_split) {
    long blocks = (long)n_tokens * n_heads;
    /* rounded down: blocks past one wave would start only when a whole
     * block of the first has finished, and these blocks are latency-bound */
    long want = (long)blocks_per_sm * n_sm / blocks;
    long by_keys = (max_visible + keys_per_split - 1) / keys_per_split;
    long s = want < by_keys ? want : by_keys;
    if (s > 64) s = 64;
    return s < 1 ? 1 : (int)s;
}

extern "C" cudaError_t si_cu_attention(const si_cu_attn *a, cudaStream_t s) {
    if (a->n_tokens <= 0) return cudaSuccess;
    if ((a->head_dim != 64 && a->head_dim != 128) || a->splits < 1 || a->n_heads % a->n_kv_heads)
        return cudaErrorInvalidValue;
    attn_params p;
    p.a = *a;
    p.q_dim = a->n_heads * a->head_dim;
    p.kv_dim = a->n_kv_heads * a->head_dim;
    p.scale = 1.0f / sqrtf((float)a->head_dim);
    cudaError_t e = si_launch(rope_store_kernel, a->n_tokens, 256, s, p);
    if (e != cudaSuccess) return e;
    return a->head_dim == 64 ? launch_attend<64>(p, s) : launch_attend<128>(p, s);
}

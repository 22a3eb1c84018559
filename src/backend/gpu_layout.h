/* backend/gpu_layout.h: host-side data layouts a GPU backend hands its
 * kernels, kept in plain C so that they build and are tested without a GPU.
 *
 *  - Attention rows: for every query row of a pass, where its cache lives and
 *    which slots it sees (the StreamingLLM policy of kvcache.h, flattened to
 *    a few integers), so that one kernel launch serves any mix of sessions
 *    and a recorded pass can be replayed with new rows.
 *  - Planar quantized weights: GGUF blocks (18 to 34 bytes, or super-blocks
 *    of 144 to 210) are not 16-byte aligned; the GPU copy splits a matrix
 *    into planes (si_gpu_planar), each 16-byte aligned, so that a lane
 *    reads a block of 32 weights' low bits with one 16-byte load. */
#ifndef SI_BACKEND_GPU_LAYOUT_H
#define SI_BACKEND_GPU_LAYOUT_H

#include "backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define SI_HOST_DEVICE __host__ __device__
#else
#define SI_HOST_DEVICE
#endif

/* One query row's view of its cache. Keys visible to it: sink slots
 * 0..n_sinks-1, then n_win window keys starting at slot win_slot and
 * continuing around the ring (slots sinks..slots-1). */
typedef struct {
    void *k, *v;        /* the cache's [layer][slot][kv_dim] arrays (backend memory) */
    int32_t slots;      /* slots per layer */
    int32_t sinks;      /* S: the ring starts at slot S */
    int32_t store_slot; /* where this row's own key and value go */
    int32_t n_sinks;
    int32_t win_slot;
    int32_t n_win;      /* >= 1 unless the row itself is a sink */
} si_gpu_attn_row;

/* Slot of visible window key j (0 <= j < n_win). n_win never exceeds the
 * ring (W + 1 <= W + C), so one wrap is enough. */
static inline SI_HOST_DEVICE int si_gpu_window_slot(const si_gpu_attn_row *r, int j) {
    int s = r->win_slot + j;
    return s >= r->slots ? s - (r->slots - r->sinks) : s;
}

/* Slot of visible key j, counting the sinks first (0 <= j < n_sinks + n_win). */
static inline SI_HOST_DEVICE int si_gpu_visible_slot(const si_gpu_attn_row *r, int j) {
    return j < r->n_sinks ? j : si_gpu_window_slot(r, j - r->n_sinks);
}

/* Fills rows[first..first+n) of every run; the runs must cover n_rows rows
 * in order (forward.c checks that). 0 or -1 with an error. */
int si_gpu_attn_rows(const si_attn_run *runs, int n_runs, si_gpu_attn_row *rows, int n_rows);

/* Consecutive rows of a pass that one attention block serves together (a
 * prefill chunk of one session: neighbouring rows see nearly the same
 * keys). view is the union of their views: sinks 0..view.n_sinks-1, then
 * view.n_win window keys from view.win_slot around the ring; each row of
 * the group sees a prefix of those sinks and a contiguous run of that
 * window (si_gpu_group_sees). view.store_slot is unused. */
typedef struct {
    int32_t row0, n_rows;
    si_gpu_attn_row view;
} si_gpu_attn_group;

/* Whether key j of a group's view (sinks first) is one that row r of the
 * group sees. */
static inline SI_HOST_DEVICE bool si_gpu_group_sees(const si_gpu_attn_row *view, const si_gpu_attn_row *r, int j) {
    if (j < view->n_sinks) return j < r->n_sinks;
    if (r->n_win == 0) return false;
    const int ring = view->slots - view->sinks;
    const int start = (r->win_slot - view->win_slot + ring) % ring, o = j - view->n_sinks;
    return o >= start && o < start + r->n_win;
}

/* Splits rows[0..n_rows) into groups of at most max_rows consecutive rows
 * (into groups[], which holds n_rows); returns how many. A row joins the
 * group before it when it has the same cache and its window starts within
 * or right after the group's and ends within one ring of its start. */
int si_gpu_attn_groups(const si_gpu_attn_row *rows, int n_rows, int max_rows, si_gpu_attn_group *groups);

/* Planar quantized layout of a rows x cols matrix (cols a multiple of the
 * type's block: 32, or 256 for the K types). Every type is seen as blocks
 * of 32 weights, weight e of a block being
 *     scale_g * (code_e - centre) + offset        (g = e / 16 for Q6_K, else 0)
 * with an unsigned code of 4 to 8 bits; the planes, by byte offset:
 *  - qs: per row, 32 bytes a block for Q8_0 (the int8 values, centre 0);
 *    16 bytes for the others, the low 4 bits of the codes, byte j holding
 *    element j (low nibble) and j + 16 (high), Q4_0's own order;
 *  - qh: the codes' higher bits, per block: one u32 (bit e = bit 4 of code
 *    e) for Q5_0, Q5_1, Q5_K; two (bit 4s, then bit 5s) for Q6_K;
 *  - sc: the K types' sub-block scales, a u16 per block: Q4_K/Q5_K the 6-bit
 *    scale (low byte) and minimum (high byte), Q6_K the two int8 scales of
 *    its halves;
 *  - d: f16 scale per block, or per super-block (K types: scale_g = d * sc);
 *  - m: f16 minimum per block (Q4_1, Q5_1: offset = m) or per super-block
 *    (Q4_K, Q5_K: offset = -(dmin * mn)); m == d where there is none.
 * Centres: 8 (Q4_0), 16 (Q5_0), 32 (Q6_K), otherwise 0. The scales are
 * f16 values times small integers, exact in f32: an element is the value
 * si_dequantize_row gives, bit for bit. */
typedef struct {
    size_t qs, qh, sc, d, m, bytes;
    size_t row_qs; /* quant bytes per row */
} si_gpu_planar;

/* 0, or -1 with an error for a float type or cols that are not whole blocks. */
int si_gpu_planar_layout(si_dtype t, int64_t rows, int64_t cols, si_gpu_planar *p);

/* The weight types the GPU kernels take: all of them (F32, F16, BF16 as
 * they are, the quantized ones planar). */
bool si_gpu_native_dtype(si_dtype t);
/* Rewrites a matrix of GGUF blocks (src, rows after rows) into dst (p->bytes). */
void si_gpu_planar_pack(si_dtype t, const void *src, int64_t rows, int64_t cols, const si_gpu_planar *p, void *dst);
/* Element (r, c) of a planar matrix, as the kernels compute it (for tests). */
float si_gpu_planar_get(si_dtype t, const void *planar, const si_gpu_planar *p, int64_t cols, int64_t r, int64_t c);

/* What the kernels need to know of a planar type (constant expressions in
 * the kernels' C++, where they pick template code). */
#ifdef __cplusplus
#define SI_GPU_TYPE_FN static constexpr SI_HOST_DEVICE
#else
#define SI_GPU_TYPE_FN static inline
#endif
SI_GPU_TYPE_FN int si_gpu_centre(si_dtype t) {
    return t == SI_DTYPE_Q4_0 ? 8 : t == SI_DTYPE_Q5_0 ? 16 : t == SI_DTYPE_Q6_K ? 32 : 0;
}
/* u32 words of higher code bits per block: 0, 1 or 2 */
SI_GPU_TYPE_FN int si_gpu_high_words(si_dtype t) {
    return t == SI_DTYPE_Q6_K ? 2 : (t == SI_DTYPE_Q5_0 || t == SI_DTYPE_Q5_1 || t == SI_DTYPE_Q5_K) ? 1 : 0;
}
SI_GPU_TYPE_FN bool si_gpu_k_type(si_dtype t) {
    return t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K || t == SI_DTYPE_Q6_K;
}
/* whether the m plane exists (minimum, or the K types' dmin) */
SI_GPU_TYPE_FN bool si_gpu_has_m(si_dtype t) {
    return t == SI_DTYPE_Q4_1 || t == SI_DTYPE_Q5_1 || t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K;
}

/* The one reading of the planes, shared by the host reference
 * (si_gpu_planar_get) and the kernels (GEMV, f16 expansion, embedding):
 *
 * Code e (0..31) of a block from the qs byte holding it (byte e % 16: low
 * nibble for e < 16) and the block's higher-bit words. */
static inline SI_HOST_DEVICE int si_gpu_code(si_dtype t, unsigned byte, uint32_t h4, uint32_t h5, int e) {
    int code = (int)(e < 16 ? byte & 15u : (byte >> 4) & 15u);
    if (si_gpu_high_words(t) >= 1) code |= (int)(h4 >> e & 1u) << 4;
    if (si_gpu_high_words(t) == 2) code |= (int)(h5 >> e & 1u) << 5;
    return code;
}
/* A block's scales for its elements below 16 (lo) and from 16 (hi), and its
 * offset, from its d and m (f16 values, m 0 where the type has none) and,
 * for the K types, its u16 of the sc plane. Exact: f16 times small integers. */
static inline SI_HOST_DEVICE void si_gpu_block_scales(si_dtype t, float d, float m, unsigned sc, float *lo, float *hi,
                                                      float *off) {
    *lo = *hi = d;
    *off = m; /* Q4_1, Q5_1; 0 for the types without */
    if (t == SI_DTYPE_Q6_K) {
        *lo = d * (float)(int8_t)(sc & 0xffu);
        *hi = d * (float)(int8_t)(sc >> 8);
        *off = 0.0f;
    } else if (t == SI_DTYPE_Q4_K || t == SI_DTYPE_Q5_K) {
        *lo = *hi = d * (float)(sc & 0xffu);
        *off = -(m * (float)(sc >> 8)); /* m is dmin */
    }
}

#endif

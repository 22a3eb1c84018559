/* backend/cpu/kernels_avx2.c: the kernel set for processors with AVX2, FMA
 * and F16C (no AVX-512, no VNNI): the activation quantizer, the integer-dot
 * GEMM for Q8_0/Q4_0/Q4_1 weights (Q5_0/Q5_1/Q4_K/Q5_K/Q6_K: kernels_qx.h)
 * and the float GEMM for F32/F16/BF16 weights. Built into the generic
 * x86-64 library through function target attributes; dispatch.c hands it
 * out only when the processor has them.
 *
 * Quantized GEMM. One 256-bit register holds one block. vpmaddubsw
 * (unsigned x signed bytes, pairs summed to 16 bits) then vpmaddwd by ones
 * gives, per 32-bit lane, the dot product of 4 elements; the 16-bit step
 * cannot saturate: Q4 nibbles give at most 2 * 15 * 127, and Q8_0 runs as
 * |w| times x with w's sign moved onto x (at most 2 * 128 * 127). Q4_0's
 * nibbles are q + 8; the -8 * sum(x) term is added as an exact integer.
 * The lane sums go to float once per block, times d_w * d_x, into per-lane
 * accumulators; Q4_1's m * s term is one FMA per 8 blocks (lanes = blocks).
 *
 * Tiles are 4 weight rows x 1 or 2 tokens (16 registers hold no more); see
 * kernels_x86.h for the batch-invariance contract the loops keep. */
#include "kernels_x86.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

enum { NR = SI_X86_TILE_ROWS, KC = SI_X86_KC, NT_MAX = 2 };

/* ---- activations ---------------------------------------------------------- */

INL float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

INL int hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The same float operations as si_quantize_q8x_ref, so the blocks are
 * bit-identical (see kernels_avx512.c). */
TGT static void quantize_q8x(const float *x, si_block_q8x *y, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / SI_QBLOCK; b++) {
        const float *xb = x + b * SI_QBLOCK;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        float amax = hmax8(m);
        float d = amax / 127.0f;
        float id = d > 0 ? 1.0f / d : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid)), q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
        __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid)), q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
        /* The packs work within 128-bit lanes: the bytes come out as
         * q0[0..3] q1[0..3] q2[0..3] q3[0..3] | q0[4..7] ..., and the dword
         * permute restores element order. Values are within +-127, so the
         * saturation never acts. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)y[b].qs, p);
        y[b].d = d;
        y[b].s = d * (float)hsum8_epi32(_mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3)));
    }
}

/* ---- reductions ----------------------------------------------------------- */

/* The lane sums of four accumulators, each slot through the same adds. */
INL __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

INL void put_tile(__m256 acc[NR][NT_MAX], const int nt, float *out, int out_stride, int r0, int n_rows, int first) {
    for (int t = 0; t < nt; t++) {
        float v[NR];
        _mm_storeu_ps(v, hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
        si_x86_put(out + (size_t)t * out_stride, v, r0, n_rows, first);
    }
}

/* ---- quantized GEMM ------------------------------------------------------- */

/* The activations of a token tile over one K chunk, as the tile loop reads them. */
typedef struct {
    __m256i q[NT_MAX][KC];  /* signed bytes */
    __m256i nc[NT_MAX][KC]; /* Q4_0: -8 * (sum of each lane's 4 bytes) */
    float d[NT_MAX][KC];
    float s[NT_MAX][KC]; /* Q4_1: s_x, zero past the chunk */
} xpack;

INL __m256i dot4(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }

INL void pack_x(si_dtype t, xpack *p, const si_block_q8x *const xs[NT_MAX], const int nt, int nb) {
    for (int i = 0; i < nt; i++) {
        const si_block_q8x *x = xs[i];
        for (int j = 0; j < nb; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)x[j].qs);
            p->q[i][j] = q;
            p->d[i][j] = x[j].d;
            if (t == SI_DTYPE_Q4_0) p->nc[i][j] = _mm256_sub_epi32(_mm256_setzero_si256(), dot4(_mm256_set1_epi8(8), q));
        }
        if (t == SI_DTYPE_Q4_1) {
            int j = 0;
            for (; j < nb; j++) p->s[i][j] = x[j].s;
            for (; j % 8; j++) p->s[i][j] = 0;
        }
    }
}

/* d (and for Q4_1 m) of a row's nb blocks as floats, zero up to a multiple of 8. */
INL uint32_t load_u32_if(const uint8_t *p, int valid) {
    uint32_t v = 0;
    if (valid) memcpy(&v, p, sizeof v);
    return v;
}

INL void row_scales(si_dtype t, const uint8_t *row, int nb, float *d, float *m) {
    const int bs = (int)si_x86_block_bytes(t);
    const __m256i lo16 = _mm256_set1_epi32(0xffff);
    for (int g = 0; g < nb; g += 8) {
        int n = si_x86_min(8, nb - g);
        const uint8_t *p = row + (size_t)g * bs;
        /* The 4 bytes at each block's start (d, then m or qs) without leaving
         * the block; scalar loads, as gathers are slow on many processors. */
        __m256i h = _mm256_setr_epi32((int)load_u32_if(p, 1), (int)load_u32_if(p + bs, n > 1),
                                      (int)load_u32_if(p + 2 * bs, n > 2), (int)load_u32_if(p + 3 * bs, n > 3),
                                      (int)load_u32_if(p + 4 * bs, n > 4), (int)load_u32_if(p + 5 * bs, n > 5),
                                      (int)load_u32_if(p + 6 * bs, n > 6), (int)load_u32_if(p + 7 * bs, n > 7));
        __m256i dh = _mm256_and_si256(h, lo16);
        __m128i d16 = _mm_packus_epi32(_mm256_castsi256_si128(dh), _mm256_extracti128_si256(dh, 1));
        _mm256_storeu_ps(d + g, _mm256_cvtph_ps(d16));
        if (t == SI_DTYPE_Q4_1) {
            __m256i mh = _mm256_srli_epi32(h, 16);
            __m128i m16 = _mm_packus_epi32(_mm256_castsi256_si128(mh), _mm256_extracti128_si256(mh, 1));
            _mm256_storeu_ps(m + g, _mm256_cvtph_ps(m16));
        }
    }
}

/* A weight block as unsigned bytes: Q4's nibbles (low = elements 0-15), or
 * |q| for Q8_0 (whose signs sign_x moves onto the activations). */
INL __m256i load_w(si_dtype t, const uint8_t *p) {
    const int o = si_x86_qs_offset(t);
    if (t == SI_DTYPE_Q8_0) return _mm256_loadu_si256((const __m256i *)(const void *)(p + o));
    __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(p + o));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

INL void tile_q(si_dtype t, const int nt, const uint8_t *const rows[NR], const xpack *p, int nb, __m256 out[NR][NT_MAX]) {
    const size_t bs = si_x86_block_bytes(t);
    /* Local accumulators, copied out once: an array the caller can see
     * would be kept in memory, stored on every step. */
    __m256 acc[NR][NT_MAX];
    float dr[NR][KC] __attribute__((aligned(32)));
    float mr[NR][KC] __attribute__((aligned(32)));
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) row_scales(t, rows[r], nb, dr[r], mr[r]);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int i = 0; i < nt; i++) acc[r][i] = _mm256_setzero_ps();
    if (t == SI_DTYPE_Q4_1) {
        for (int g = 0; g < nb; g += 8)
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
                for (int i = 0; i < nt; i++)
                    acc[r][i] = _mm256_fmadd_ps(_mm256_load_ps(mr[r] + g), _mm256_loadu_ps(p->s[i] + g), acc[r][i]);
    }
    for (int j = 0; j < nb; j++) {
        __m256i w[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) w[r] = load_w(t, rows[r] + (size_t)j * bs);
#pragma GCC unroll 2
        for (int i = 0; i < nt; i++) {
            __m256i xq = p->q[i][j];
            __m256 xd = _mm256_broadcast_ss(&p->d[i][j]);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) {
                __m256i dot;
                if (t == SI_DTYPE_Q8_0)
                    dot = dot4(_mm256_abs_epi8(w[r]), _mm256_sign_epi8(xq, w[r]));
                else if (t == SI_DTYPE_Q4_0)
                    dot = _mm256_add_epi32(dot4(w[r], xq), p->nc[i][j]);
                else
                    dot = dot4(w[r], xq);
                __m256 sc = _mm256_mul_ps(_mm256_broadcast_ss(&dr[r][j]), xd);
                acc[r][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), sc, acc[r][i]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int i = 0; i < nt; i++) out[r][i] = acc[r][i];
}

INL void gemm_q_typed(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                      int n_tok, float *out, int out_stride) {
    xpack p;
    for (int t0 = 0; t0 < n_tok; t0 += NT_MAX) {
        int nt = si_x86_token_tile(n_tok - t0, NT_MAX);
        for (int c0 = 0; c0 < n_blocks; c0 += KC) {
            int nb = si_x86_min(KC, n_blocks - c0);
            const si_block_q8x *xs[NT_MAX];
            for (int i = 0; i < NT_MAX; i++) xs[i] = x + (size_t)si_x86_min(t0 + i, n_tok - 1) * n_blocks + c0;
            float *o = out + (size_t)t0 * out_stride;
            if (nt == 1)
                pack_x(t, &p, xs, 1, nb);
            else
                pack_x(t, &p, xs, 2, nb);
            for (int r0 = 0; r0 < n_rows; r0 += NR) {
                const uint8_t *rows[NR];
                si_x86_tile_rows(rows, w, row_bytes, r0, n_rows);
                for (int r = 0; r < NR; r++) rows[r] += (size_t)c0 * si_x86_block_bytes(t);
                __m256 acc[NR][NT_MAX];
                if (nt == 1)
                    tile_q(t, 1, rows, &p, nb, acc);
                else
                    tile_q(t, 2, rows, &p, nb, acc);
                put_tile(acc, nt, o, out_stride, r0, n_rows, c0 == 0);
            }
        }
    }
}

/* Q5_0, Q5_1 and the K types: kernels_qx.h, two tokens per tile as above. */
#define QX_TGT TGT
#define QX_NT 2
#define QX_DOT4(a, u, s) _mm256_add_epi32(a, dot4(u, s))
#define QX_GEMM gemm_qx
#include "kernels_qx.h"

TGT static void gemm_q(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                       int n_tok, float *out, int out_stride) {
    switch (t) {
    case SI_DTYPE_Q8_0: gemm_q_typed(SI_DTYPE_Q8_0, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q4_0: gemm_q_typed(SI_DTYPE_Q4_0, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q4_1: gemm_q_typed(SI_DTYPE_Q4_1, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    default: gemm_qx(t, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    }
}

/* ---- float GEMM ----------------------------------------------------------- */

/* 8 weights as floats at p; for Q8_0 (the output head's float-activation
 * path) p is a block and j8 the offset of the 8 inside it. */
INL __m256 load_wf_q8(const uint8_t *blk, int j8) {
    uint16_t d;
    memcpy(&d, blk, 2);
    __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(blk + 2 + j8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(_cvtsh_ss(d)));
}

INL __m256 load_wf(si_dtype t, const uint8_t *p) {
    if (t == SI_DTYPE_F32) return _mm256_loadu_ps((const float *)(const void *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    if (t == SI_DTYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* bf16 = top half of an f32 */
}

INL __m256 load_w8(si_dtype t, const uint8_t *row, int j) {
    if (t == SI_DTYPE_Q8_0) return load_wf_q8(row + (size_t)(j >> 5) * sizeof(si_block_q8_0), j & 31);
    return load_wf(t, row + (size_t)j * (t == SI_DTYPE_F32 ? 4 : 2));
}

/* 8 weights and 8 activations from element j on; the last n % 8 are copied
 * into zeroed buffers so nothing past the rows is read. */
INL void load_f8(si_dtype t, const uint8_t *row, const float *x, int j, int n, __m256 *wv, __m256 *xv) {
    if (n - j >= 8) { /* always so for Q8_0: rows are whole blocks */
        *wv = load_w8(t, row, j);
        *xv = _mm256_loadu_ps(x + j);
        return;
    }
    const size_t es = t == SI_DTYPE_F32 ? 4 : 2;
    size_t left = (size_t)(n - j);
    uint8_t wb[32] = {0};
    float xb[8] = {0};
    memcpy(wb, row + j * es, left * es);
    memcpy(xb, x + j, left * sizeof(float));
    *wv = load_wf(t, wb);
    *xv = _mm256_loadu_ps(xb);
}

INL void tile_f(si_dtype t, const int nt, const uint8_t *const rows[NR], const float *const xs[NT_MAX], int n,
                __m256 out[NR][NT_MAX]) {
    __m256 acc[NR][NT_MAX]; /* local, copied out once (see tile_q) */
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int i = 0; i < nt; i++) acc[r][i] = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        __m256 wv[NR], xv[NT_MAX], unused;
        if (n - j >= 8) {
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) wv[r] = load_w8(t, rows[r], j);
#pragma GCC unroll 2
            for (int i = 0; i < nt; i++) xv[i] = _mm256_loadu_ps(xs[i] + j);
        } else {
            for (int r = 0; r < NR; r++) load_f8(t, rows[r], xs[0], j, n, &wv[r], &unused);
            for (int i = 0; i < nt; i++) load_f8(t, rows[0], xs[i], j, n, &unused, &xv[i]);
        }
#pragma GCC unroll 2
        for (int i = 0; i < nt; i++)
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[r][i] = _mm256_fmadd_ps(wv[r], xv[i], acc[r][i]);
    }
    for (int r = 0; r < NR; r++)
        for (int i = 0; i < nt; i++) out[r][i] = acc[r][i];
}

/* One slot of hsum4, the same adds in the same order. */
INL float hsum1(__m256 a) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, a), _mm256_hadd_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
}

/* One row against one token: a slot of tile_f, bit for bit. Rows go one
 * after another: four rows read side by side are four short streams (a row
 * is 1-2 KB), which the hardware prefetcher follows badly. */
INL float row_f(si_dtype t, const uint8_t *row, const float *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        __m256 wv, xv;
        load_f8(t, row, x, j, n, &wv, &xv);
        acc = _mm256_fmadd_ps(wv, xv, acc);
    }
    return hsum1(acc);
}

INL void gemm_f_typed(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                      float *out, int out_stride) {
    if (n_tok == 1) {
        for (int r = 0; r < n_rows; r++) out[r] = row_f(t, (const uint8_t *)w + (size_t)r * row_bytes, x, n);
        return;
    }
    for (int r0 = 0; r0 < n_rows; r0 += NR) {
        const uint8_t *rows[NR];
        si_x86_tile_rows(rows, w, row_bytes, r0, n_rows);
        for (int t0 = 0; t0 < n_tok; t0 += NT_MAX) {
            int nt = si_x86_token_tile(n_tok - t0, NT_MAX);
            const float *xs[NT_MAX];
            for (int i = 0; i < NT_MAX; i++) xs[i] = x + (size_t)si_x86_min(t0 + i, n_tok - 1) * n;
            __m256 acc[NR][NT_MAX];
            if (nt == 1)
                tile_f(t, 1, rows, xs, n, acc);
            else
                tile_f(t, 2, rows, xs, n, acc);
            put_tile(acc, nt, out + (size_t)t0 * out_stride, out_stride, r0, n_rows, 1);
        }
    }
}

TGT static void gemm_f(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                       float *out, int out_stride) {
    switch (t) {
    case SI_DTYPE_F32: gemm_f_typed(SI_DTYPE_F32, w, row_bytes, n_rows, x, n, n_tok, out, out_stride); break;
    case SI_DTYPE_F16: gemm_f_typed(SI_DTYPE_F16, w, row_bytes, n_rows, x, n, n_tok, out, out_stride); break;
    case SI_DTYPE_BF16: gemm_f_typed(SI_DTYPE_BF16, w, row_bytes, n_rows, x, n, n_tok, out, out_stride); break;
    case SI_DTYPE_Q8_0: gemm_f_typed(SI_DTYPE_Q8_0, w, row_bytes, n_rows, x, n, n_tok, out, out_stride); break;
    default: si_gemm_f_ref(t, w, row_bytes, n_rows, x, n, n_tok, out, out_stride); break;
    }
}

/* ---- attention: weighted value rows ---------------------------------------- */

/* 32 columns at a time in four accumulators, each row's weight broadcast
 * once; a last partial group of columns goes through the reference. */
INL __m256 load_v8(si_dtype t, const uint8_t *row, int d) {
    if (t == SI_DTYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * (size_t)d)));
    return _mm256_loadu_ps((const float *)(const void *)(row + 4 * (size_t)d));
}

TGT static void weighted_rows1(si_dtype t, const float *p, const void *v, size_t v_stride, int n, int hd, float *out) {
    size_t es = t == SI_DTYPE_F16 ? 2 : 4;
    int d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
        __m256 acc[4];
        for (int k = 0; k < 4; k++) acc[k] = _mm256_loadu_ps(out + d0 + 8 * k);
        for (int j = 0; j < n; j++) {
            __m256 pj = _mm256_set1_ps(p[j]);
            const uint8_t *row = (const uint8_t *)v + (size_t)j * v_stride * es;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) acc[k] = _mm256_fmadd_ps(pj, load_v8(t, row, d0 + 8 * k), acc[k]);
        }
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + d0 + 8 * k, acc[k]);
    }
    if (d0 < hd) si_weighted_rows_ref(t, p, 0, 1, (const uint8_t *)v + d0 * es, v_stride, n, hd - d0, out + d0, 0);
}

/* Head after head: sixteen registers leave no room to share a value row's
 * loads between heads. */
TGT static void weighted_rows(si_dtype t, const float *p, size_t p_stride, int heads, const void *v, size_t v_stride,
                              int n, int hd, float *out, size_t out_stride) {
    for (int h = 0; h < heads; h++) weighted_rows1(t, p + h * p_stride, v, v_stride, n, hd, out + h * out_stride);
}

const si_cpu_kernels si_cpu_kernels_avx2 = {
    .name = "avx2",
    .quantize_q8x = quantize_q8x,
    .gemm_q = gemm_q,
    .gemm_f = gemm_f,
    .weighted_rows = weighted_rows,
};

#endif

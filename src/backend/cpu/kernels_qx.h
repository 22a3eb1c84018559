/* backend/cpu/kernels_qx.h: the integer-dot GEMM for Q5_0, Q5_1 and the K
 * types (Q4_K, Q5_K, Q6_K), on 256-bit registers. Included by
 * kernels_avx2.c and kernels_avx512.c, each defining first:
 *   QX_TGT         the function target attribute
 *   QX_NT          tokens per tile (2 in 16 registers, 4 in 32)
 *   QX_DOT4(a, u, s)  a + per 32-bit lane the dot product of 4 unsigned
 *                  bytes of u with 4 signed bytes of s (vpmaddubsw +
 *                  vpmaddwd + add, or VNNI's one instruction)
 *   QX_GEMM        the name of the (static) si_cpu_kernels.gemm_q-shaped entry point
 *
 * One block of 32 weights at a time, its values unpacked to unsigned bytes
 * (Q5: 0..31, Q4_K: 0..15, Q5_K: 0..31, Q6_K: 0..63); for the types whose
 * values are centred (Q5_0: q - 16, Q6_K: q - 32) the dot starts from
 * -16 or -32 times the activations' lane sums, packed once per token. The
 * 16-bit step of vpmaddubsw cannot saturate: at most 2 * 63 * 128. A row's
 * scales and offsets for a K chunk are unpacked once per row (as
 * si_block_scales does, inline); a Q6_K block has two scales, for its groups of 16: the dot's lanes
 * 0-3 take the first, 4-7 the second. Offsets (x = scale * q + offset) meet
 * x.s with one FMA per 8 blocks, lanes being blocks. Tiles are
 * SI_X86_TILE_ROWS weight rows x QX_NT tokens; kernels_x86.h has the
 * batch-invariance contract the loops keep. */
#ifndef QX_GEMM
#error "define QX_TGT, QX_NT, QX_DOT4 and QX_GEMM before including kernels_qx.h"
#endif

#define QX_INL static inline __attribute__((always_inline)) QX_TGT

enum { QX_NR = SI_X86_TILE_ROWS, QX_KC = SI_X86_KC };

/* The activations of a token tile over one K chunk. */
typedef struct {
    __m256i q[QX_NT][QX_KC];
    __m256i c[QX_NT][QX_KC]; /* Q5_0, Q6_K: -centre * (each lane's sum of x) */
    float d[QX_NT][QX_KC];
    float s[QX_NT][QX_KC]; /* zero past the chunk, up to a multiple of 8 */
} qx_pack;

/* The value the type's unsigned codes are centred on (0: none). */
QX_INL int qx_centre(si_dtype t) { return t == SI_DTYPE_Q5_0 ? 16 : t == SI_DTYPE_Q6_K ? 32 : 0; }

QX_INL void qx_pack_x(si_dtype t, qx_pack *p, const si_block_q8x *const xs[QX_NT], const int nt, int nb) {
    for (int i = 0; i < nt; i++) {
        int j = 0;
        for (; j < nb; j++) {
            p->q[i][j] = _mm256_loadu_si256((const __m256i *)(const void *)xs[i][j].qs);
            if (qx_centre(t))
                p->c[i][j] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                              QX_DOT4(_mm256_setzero_si256(), _mm256_set1_epi8((char)qx_centre(t)), p->q[i][j]));
            p->d[i][j] = xs[i][j].d;
            p->s[i][j] = xs[i][j].s;
        }
        for (; j % 8; j++) p->s[i][j] = 0;
    }
}

/* Bytes of the 32 bits of m, byte j all ones when bit j is set. */
QX_INL __m256i qx_bits_to_bytes(uint32_t m) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                          3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Q4's nibble order of 16 bytes: low nibbles are elements 0-15, high 16-31. */
QX_INL __m256i qx_nibbles16(const uint8_t *p) {
    __m128i q = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* Block j (from the chunk's start) of a row as 32 unsigned bytes, in element order. */
QX_INL __m256i qx_load_w(si_dtype t, const uint8_t *row, int j) {
    const __m256i low4 = _mm256_set1_epi8(15);
    if (t == SI_DTYPE_Q5_0 || t == SI_DTYPE_Q5_1) {
        const uint8_t *p = row + (size_t)j * (t == SI_DTYPE_Q5_0 ? sizeof(si_block_q5_0) : sizeof(si_block_q5_1));
        const int o = t == SI_DTYPE_Q5_0 ? 2 : 4; /* qh after d (and m) */
        uint32_t qh;
        memcpy(&qh, p + o, 4);
        return _mm256_or_si256(qx_nibbles16(p + o + 4), _mm256_and_si256(qx_bits_to_bytes(qh), _mm256_set1_epi8(16)));
    }
    const int k = j % 8; /* the block within its super-block */
    if (t == SI_DTYPE_Q6_K) {
        const uint8_t *p = row + (size_t)(j / 8) * sizeof(si_block_q6_k);
        const int h = k / 4, kk = k % 4;
        __m256i ql = _mm256_loadu_si256((const __m256i *)(const void *)(p + 64 * h + 32 * (kk & 1)));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(p + 128 + 32 * h));
        __m256i lo = kk < 2 ? _mm256_and_si256(ql, low4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
        /* the two top bits, at 2kk in qh's bytes, moved to bits 4-5 (16-bit
         * shifts: the masks drop what crosses a byte) */
        __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * kk)), _mm256_set1_epi8(3));
        return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    }
    const size_t bs = t == SI_DTYPE_Q4_K ? sizeof(si_block_q4_k) : sizeof(si_block_q5_k);
    const uint8_t *p = row + (size_t)(j / 8) * bs;
    const uint8_t *qs = p + (t == SI_DTYPE_Q4_K ? 16 : 48) + 32 * (k / 2);
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)qs);
    __m256i q = k % 2 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), low4) : _mm256_and_si256(v, low4);
    if (t == SI_DTYPE_Q5_K) {
        const __m256i bit = _mm256_set1_epi8((char)(1 << k));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16));
        __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
        q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)));
    }
    return q;
}

/* A row's scales over nb blocks of a chunk: lo[j] for block j's dot, or
 * for Q6_K its lanes 0-3 and hi[j] for 4-7 (hi is written and read only
 * for Q6_K), offsets zero up to a multiple of 8. */
QX_INL void qx_row_scales(si_dtype t, const uint8_t *row, int nb, float *lo, float *hi, float *off) {
    const int per = si_dtype_block_elems(t) / SI_QBLOCK;
    const size_t bs = si_dtype_block_bytes(t);
    if (per == 1) {
        /* Q5_0, Q5_1: d (and m) lead the block, read here: a call per 32
         * weights would cost as much as their products */
        for (int j = 0; j < nb; j++) {
            uint16_t h[2];
            memcpy(h, row + (size_t)j * bs, sizeof h);
            lo[j] = _cvtsh_ss(h[0]);
            off[j] = t == SI_DTYPE_Q5_1 ? _cvtsh_ss(h[1]) : 0.0f;
        }
    } else if (t == SI_DTYPE_Q6_K) {
        /* si_block_scales' work, inline (a call per super-block, with its
         * software f16 conversion, cost more than the super-block's products) */
        for (int b = 0; b < nb / per; b++) {
            const si_block_q6_k *blk = (const si_block_q6_k *)(const void *)(row + (size_t)b * bs);
            uint16_t dh;
            memcpy(&dh, &blk->d, sizeof dh);
            const float d = _cvtsh_ss(dh);
            for (int k = 0; k < per; k++) {
                lo[b * per + k] = d * (float)blk->scales[2 * k];
                hi[b * per + k] = d * (float)blk->scales[2 * k + 1];
                off[b * per + k] = 0.0f;
            }
        }
    } else {
        /* Q4_K / Q5_K: d and dmin (leading both layouts), then the 6-bit
         * scales and minima (bytes 4-15), unpacked eight at a time and
         * widened to floats; the products are the reference's (each exact
         * value rounded once) */
        for (int b = 0; b < nb / per; b++) {
            const uint8_t *p = row + (size_t)b * bs;
            uint16_t h[2];
            uint32_t sc8[2], mn8[2];
            memcpy(h, p, sizeof h);
            si_k_scales_min8(p + 4, sc8, mn8);
            const __m128i sc_bytes = _mm_setr_epi32((int)sc8[0], (int)sc8[1], 0, 0);
            const __m128i mn_bytes = _mm_setr_epi32((int)mn8[0], (int)mn8[1], 0, 0);
            const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sc_bytes));
            const __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mn_bytes));
            _mm256_storeu_ps(lo + b * per, _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h[0])), sc));
            /* -(dmin * mn): the sign flipped after the rounded product */
            _mm256_storeu_ps(off + b * per, _mm256_xor_ps(_mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(h[1])), mn),
                                                          _mm256_set1_ps(-0.0f)));
        }
    }
    for (int j = nb; j % 8; j++) off[j] = 0;
}

/* The lane sums of four accumulators, each slot through the same adds. */
QX_INL __m128 qx_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

QX_INL void qx_tile(si_dtype t, const int nt, const uint8_t *const rows[QX_NR], const qx_pack *p, int nb,
                    __m256 out[QX_NR][QX_NT]) {
    const bool has_offset = !qx_centre(t), two_scales = t == SI_DTYPE_Q6_K;
    /* Local accumulators, copied out once: an array the caller can see
     * would be kept in memory, stored on every step. */
    __m256 acc[QX_NR][QX_NT];
    float lo[QX_NR][QX_KC], hi[QX_NR][QX_KC];
    float off[QX_NR][QX_KC] __attribute__((aligned(32)));
#pragma GCC unroll 4
    for (int r = 0; r < QX_NR; r++) qx_row_scales(t, rows[r], nb, lo[r], hi[r], off[r]);
#pragma GCC unroll 4
    for (int r = 0; r < QX_NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < nt; i++) acc[r][i] = _mm256_setzero_ps();
    if (has_offset) {
        for (int g = 0; g < nb; g += 8)
#pragma GCC unroll 4
            for (int r = 0; r < QX_NR; r++)
#pragma GCC unroll 4
                for (int i = 0; i < nt; i++)
                    acc[r][i] = _mm256_fmadd_ps(_mm256_load_ps(off[r] + g), _mm256_loadu_ps(p->s[i] + g), acc[r][i]);
    }
    for (int j = 0; j < nb; j++) {
        __m256i w[QX_NR];
        __m256 sc[QX_NR];
#pragma GCC unroll 4
        for (int r = 0; r < QX_NR; r++) {
            w[r] = qx_load_w(t, rows[r], j);
            sc[r] = two_scales ? _mm256_insertf128_ps(_mm256_set1_ps(lo[r][j]), _mm_set1_ps(hi[r][j]), 1)
                               : _mm256_set1_ps(lo[r][j]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < nt; i++) {
            __m256i xq = p->q[i][j], start = has_offset ? _mm256_setzero_si256() : p->c[i][j];
            __m256 xd = _mm256_broadcast_ss(&p->d[i][j]);
#pragma GCC unroll 4
            for (int r = 0; r < QX_NR; r++) {
                __m256i dot = QX_DOT4(start, w[r], xq);
                acc[r][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(sc[r], xd), acc[r][i]);
            }
        }
    }
    for (int r = 0; r < QX_NR; r++)
        for (int i = 0; i < nt; i++) out[r][i] = acc[r][i];
}

QX_INL void qx_gemm_typed(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                          int n_tok, float *out, int out_stride) {
    const int per = si_dtype_block_elems(t) / SI_QBLOCK; /* QX_KC is a multiple: chunks start on super-blocks */
    qx_pack p;
    for (int t0 = 0; t0 < n_tok; t0 += QX_NT) {
        int nt = si_x86_token_tile(n_tok - t0, QX_NT), nt_real = si_x86_min(QX_NT, n_tok - t0);
        for (int c0 = 0; c0 < n_blocks; c0 += QX_KC) {
            int nb = si_x86_min(QX_KC, n_blocks - c0);
            const si_block_q8x *xs[QX_NT];
            for (int i = 0; i < QX_NT; i++) xs[i] = x + (size_t)si_x86_min(t0 + i, n_tok - 1) * n_blocks + c0;
            float *o = out + (size_t)t0 * out_stride;
            qx_pack_x(t, &p, xs, nt, nb);
            for (int r0 = 0; r0 < n_rows; r0 += QX_NR) {
                const uint8_t *rows[QX_NR];
                si_x86_tile_rows(rows, w, row_bytes, r0, n_rows);
                for (int r = 0; r < QX_NR; r++) rows[r] += (size_t)(c0 / per) * si_dtype_block_bytes(t);
                __m256 acc[QX_NR][QX_NT];
                /* the compiled tile widths: powers of two up to QX_NT */
                if (nt == 1)
                    qx_tile(t, 1, rows, &p, nb, acc);
                else if (nt == 2 || QX_NT == 2)
                    qx_tile(t, 2, rows, &p, nb, acc);
                else
                    qx_tile(t, QX_NT, rows, &p, nb, acc);
                for (int i = 0; i < nt_real; i++) {
                    float v[QX_NR];
                    _mm_storeu_ps(v, qx_hsum4(acc[0][i], acc[1][i], acc[2][i], acc[3][i]));
                    si_x86_put(o + (size_t)i * out_stride, v, r0, n_rows, c0 == 0);
                }
            }
        }
    }
}

static QX_TGT void QX_GEMM(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                    int n_tok, float *out, int out_stride) {
    switch (t) {
    case SI_DTYPE_Q5_0: qx_gemm_typed(SI_DTYPE_Q5_0, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q5_1: qx_gemm_typed(SI_DTYPE_Q5_1, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q4_K: qx_gemm_typed(SI_DTYPE_Q4_K, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q5_K: qx_gemm_typed(SI_DTYPE_Q5_K, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    case SI_DTYPE_Q6_K: qx_gemm_typed(SI_DTYPE_Q6_K, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    default: si_gemm_q_ref(t, w, row_bytes, n_rows, x, n_blocks, n_tok, out, out_stride); break;
    }
}

#undef QX_INL

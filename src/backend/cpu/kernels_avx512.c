/* backend/cpu/kernels_avx512.c: the kernel set for processors with AVX-512
 * F/BW/VL/DQ and VNNI (plus F16C, FMA): the activation quantizer, the
 * integer-dot GEMM for Q8_0/Q4_0/Q4_1 weights and the float GEMM for
 * F32/F16/BF16 weights. Built into the generic x86-64 library through
 * function target attributes; dispatch.c hands it out only when the processor
 * has every one of those features.
 *
 * Quantized GEMM: whole integer block sums first, floats once per 16 blocks.
 * A weight row is read in groups of 16 blocks, each group as 4 quads of 4
 * blocks: one register holds bytes 0-15 (the Q4 low nibbles) of 4 blocks,
 * one per 128-bit lane, another bytes 16-31. vpdpbusd (unsigned weight bytes
 * times signed activation bytes) on both leaves each block's dot product
 * spread over the 4 dwords of its lane; a short tree of packs/madds (or
 * unpacks/adds for Q8_0, whose sums do not fit 16 bits) turns the 4 quads
 * into one vector holding the 16 blocks' exact integer sums, one per lane (in
 * a fixed permuted order, see block_order). Then one convert, one multiply
 * of scale vectors and one FMA per 16 blocks: acc += float(sum) * d_w * d_x.
 * Q8_0 and Q4_0 weights are made unsigned by an offset (q + 128, and the
 * stored nibble = q + 8); offset * sum(x) is subtracted from the integer sums,
 * so they are exact. Q4_1's m * s is one more FMA per 16 blocks.
 *
 * Each 128-byte window of a row is read once and its quads unpacked once for
 * up to 8 tokens; a call's activations are repacked once into the layout
 * above (about 22 KB of stack) and serve all its rows. The lanes are summed
 * once per output; see kernels_x86.h for the batch-invariance contract the
 * loops keep. Float GEMM: 4 rows x up to 4 tokens of 16-lane FMAs. BF16
 * GEMM (AVX512_BF16 only, si_cpu_kernels_avx512bf16): the same tiles of
 * vdpbf16ps on activations rounded to bf16. */
#include "kernels_x86.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline)) TGT

/* NR: weight rows per float tile; QT: tokens per quantized tile; NG: groups
 * of 16 blocks per K chunk. */
enum { NR = SI_X86_TILE_ROWS, QT = 8, KC = SI_X86_KC, NG = SI_X86_KC / 16 };

/* ---- activations ---------------------------------------------------------- */

/* The same float operations as si_quantize_q8x_ref, so the blocks are
 * bit-identical: max and abs are exact, d and 1/d are the same scalar
 * divisions, and vcvtps2dq rounds to nearest even like lrintf in the default
 * rounding mode. */
TGT static void quantize_q8x(const float *x, si_block_q8x *y, int n) {
    for (int b = 0; b < n / SI_QBLOCK; b++) {
        __m512 lo = _mm512_loadu_ps(x + b * SI_QBLOCK), hi = _mm512_loadu_ps(x + b * SI_QBLOCK + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
        float d = amax / 127.0f;
        float id = d > 0 ? 1.0f / d : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, vid));
        __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, vid));
        _mm_storeu_si128((__m128i *)(void *)y[b].qs, _mm512_cvtepi32_epi8(qlo));
        _mm_storeu_si128((__m128i *)(void *)(y[b].qs + 16), _mm512_cvtepi32_epi8(qhi));
        y[b].d = d;
        y[b].s = d * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));
    }
}

/* ---- reductions ----------------------------------------------------------- */

/* The lane sums of four accumulators. Each slot goes through the same adds
 * in the same order, so which slot a result used does not change it. */
INL __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a8, b8), _mm256_hadd_ps(c8, d8));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* One slot of hsum4, the same adds in the same order. */
INL float hsum1(__m512 a) {
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a8, a8), _mm256_hadd_ps(a8, a8));
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
}

/* Sums a 4-row x nt-token tile of accumulators and stores it. */
INL void put_tile(__m512 acc[NR][4], const int nt, int nt_real, float *out, int out_stride, int r0, int n_rows) {
    for (int t = 0; t < nt && t < nt_real; t++) {
        float v[NR];
        _mm_storeu_ps(v, hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
        si_x86_put(out + (size_t)t * out_stride, v, r0, n_rows, 1);
    }
}

/* ---- quantized GEMM ------------------------------------------------------- */

/* Which block of a group each lane of a block-sum vector holds (see
 * reduce_quads): lane 4l + j holds block 4j + l for the packs tree (Q4), and
 * block l + 4 * {0, 2, 1, 3}[j] for the unpack tree (Q8_0). */
static const uint8_t order_q4[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
static const uint8_t order_q8[16] = {0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15};

INL const uint8_t *block_order(si_dtype t) { return t == SI_DTYPE_Q8_0 ? order_q8 : order_q4; }

/* Four quads' dpbusd results (block 4q + l of quad q in 128-bit lane l,
 * spread over its 4 dwords) to one vector of 16 whole block sums. For Q4 a
 * dword is at most 8 * 15 * 127 and a pair of them fits 16 bits, so packs
 * (which would saturate otherwise) and madd-by-ones add neighbours; Q8_0's
 * dwords reach 8 * 128 * 127 and take 32-bit unpacks and adds. */
INL __m512i reduce_quads(si_dtype t, __m512i d0, __m512i d1, __m512i d2, __m512i d3) {
    if (t == SI_DTYPE_Q8_0) {
        __m512i a = _mm512_add_epi32(_mm512_unpacklo_epi32(d0, d1), _mm512_unpackhi_epi32(d0, d1));
        __m512i b = _mm512_add_epi32(_mm512_unpacklo_epi32(d2, d3), _mm512_unpackhi_epi32(d2, d3));
        return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    }
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i a = _mm512_madd_epi16(_mm512_packs_epi32(d0, d1), ones);
    __m512i b = _mm512_madd_epi16(_mm512_packs_epi32(d2, d3), ones);
    return _mm512_madd_epi16(_mm512_packs_epi32(a, b), ones);
}

/* Four 32-byte blocks to (bytes 0-15 of each, bytes 16-31 of each). */
INL void split_quad(__m256i y0, __m256i y1, __m256i y2, __m256i y3, __m512i *lo, __m512i *hi) {
    __m512i z01 = _mm512_inserti64x4(_mm512_castsi256_si512(y0), y1, 1);
    __m512i z23 = _mm512_inserti64x4(_mm512_castsi256_si512(y2), y3, 1);
    *lo = _mm512_shuffle_i32x4(z01, z23, 0x88); /* 128-bit lanes 0, 2 of each */
    *hi = _mm512_shuffle_i32x4(z01, z23, 0xdd); /* lanes 1, 3 */
}

INL __m256i load256_if(const void *p, int valid) {
    return valid ? _mm256_loadu_si256((const __m256i *)p) : _mm256_setzero_si256();
}

/* The activations of up to QT tokens over one K chunk, in the layout above;
 * blocks past the chunk are zeros. */
typedef struct {
    __m512i lo[QT][NG][4], hi[QT][NG][4]; /* [token][group][quad] */
    __m512 d[QT][NG];                     /* d_x in block_order */
    __m512 s[QT][NG];                     /* Q4_1: s_x in block_order */
    __m512i c[QT][NG];                    /* Q8_0, Q4_0: offset * sum(x) in block_order */
} xpack;

INL void pack_x(si_dtype t, xpack *p, const si_block_q8x *const xs[QT], const int nt, int nb) {
    const uint8_t *order = block_order(t);
    const __m512i ones = _mm512_set1_epi8(1);
    for (int i = 0; i < nt; i++) {
        for (int g = 0, gi = 0; g < nb; g += 16, gi++) {
            const si_block_q8x *x = xs[i] + g;
            int n = si_x86_min(16, nb - g);
            __m512i sum[4];
            for (int q = 0; q < 4; q++) {
                const si_block_q8x *b = x + 4 * q;
                split_quad(load256_if(b[0].qs, 4 * q < n), load256_if(b[1].qs, 4 * q + 1 < n),
                           load256_if(b[2].qs, 4 * q + 2 < n), load256_if(b[3].qs, 4 * q + 3 < n), &p->lo[i][gi][q],
                           &p->hi[i][gi][q]);
                sum[q] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, p->lo[i][gi][q]), ones,
                                             p->hi[i][gi][q]);
            }
            float d[16], s[16];
            for (int j = 0; j < 16; j++) {
                d[j] = order[j] < n ? x[order[j]].d : 0.0f;
                s[j] = order[j] < n ? x[order[j]].s : 0.0f;
            }
            p->d[i][gi] = _mm512_loadu_ps(d);
            p->s[i][gi] = _mm512_loadu_ps(s);
            /* The same tree as the weights' sums gives sum(x) in the same lane order. */
            __m512i sx = reduce_quads(t, sum[0], sum[1], sum[2], sum[3]);
            p->c[i][gi] = t == SI_DTYPE_Q8_0 ? _mm512_slli_epi32(sx, 7) : _mm512_slli_epi32(sx, 3);
        }
    }
}

/* Bytes [0, n) of p as a 64-byte vector (zeros past n), read without
 * touching memory past n: masked-off bytes of a masked load never fault. */
INL __m512i load_upto(const uint8_t *p, int n) {
    __mmask64 m = n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1);
    return _mm512_maskz_loadu_epi8(m, p);
}

/* A weight quad is read as 128-byte windows and its bytes picked out with
 * vpermt2w (every block size and qs offset is even, so everything is whole
 * 16-bit words; this beats per-block loads and inserts, and gathers). For
 * Q4 (72 or 80 bytes) one window at the quad's start holds all of it. A
 * Q8_0 quad is 136 bytes: bytes 0-15 of each block come from the window at
 * its start, bytes 16-31 from a window 8 bytes further on. The word indices: */
typedef struct {
    __m512i lo;      /* lane 8i + k: word k of block i's first 16 qs bytes (Q4: all 16 bytes) */
    __m512i hi;      /* Q8_0, from the second window: word k of its last 16 */
    __m512i sc[4];   /* quad q: its blocks' d (lanes 0-15) and m (16-31), in block_order */
    __mmask32 sk[4]; /* the lanes quad q supplies */
} quad_windows;

enum { Q8_HI_WINDOW = 8 };

INL void make_quad_windows(si_dtype t, quad_windows *w) {
    const int bs = (int)si_x86_block_bytes(t), o = si_x86_qs_offset(t);
    const uint8_t *order = block_order(t);
    int16_t lo[32], hi[32], sc[32];
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 8; k++) {
            lo[8 * i + k] = (int16_t)((i * bs + o) / 2 + k);
            hi[8 * i + k] = (int16_t)((i * bs + o + 16 - Q8_HI_WINDOW) / 2 + k);
        }
    }
    w->lo = _mm512_loadu_si512(lo);
    w->hi = _mm512_loadu_si512(hi);
    for (int q = 0; q < 4; q++) {
        uint32_t mask = 0;
        for (int lane = 0; lane < 16; lane++) {
            int l = order[lane] - 4 * q; /* its block within quad q, if it is one of its */
            sc[lane] = (int16_t)(l * bs / 2);
            sc[16 + lane] = (int16_t)(l * bs / 2 + 1);
            if (l >= 0 && l < 4) mask |= (1u << lane) | (1u << (16 + lane));
        }
        w->sc[q] = _mm512_loadu_si512(sc);
        w->sk[q] = (__mmask32)mask;
    }
}

/* Quad q of a group, of which `bytes` are present (the rest reads as zero),
 * as unsigned bytes: Q4 nibbles, or Q8_0's q + 128. Its scale words are
 * or-ed into dm. */
INL void load_quad(si_dtype t, const quad_windows *w, int q, const uint8_t *p, int bytes, __m512i *lo, __m512i *hi,
                   __m512i *dm) {
    __m512i a = load_upto(p, bytes), b = load_upto(p + 64, bytes - 64);
    *dm = _mm512_or_si512(*dm, _mm512_maskz_permutex2var_epi16(w->sk[q], a, w->sc[q], b));
    if (t == SI_DTYPE_Q8_0) {
        const __m512i bias = _mm512_set1_epi8((char)0x80);
        __m512i c = load_upto(p + Q8_HI_WINDOW, bytes - Q8_HI_WINDOW);
        __m512i e = load_upto(p + Q8_HI_WINDOW + 64, bytes - Q8_HI_WINDOW - 64);
        *lo = _mm512_xor_si512(_mm512_permutex2var_epi16(a, w->lo, b), bias);
        *hi = _mm512_xor_si512(_mm512_permutex2var_epi16(c, w->hi, e), bias);
        return;
    }
    __m512i v = _mm512_permutex2var_epi16(a, w->lo, b);
    const __m512i nib = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(v, nib);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib); /* a 16-bit shift: the mask drops what crosses bytes */
}

/* One weight row against nt tokens over one K chunk of nb blocks: the nt
 * accumulators (lanes still to be summed). */
INL void row_q(si_dtype t, const int nt, const uint8_t *row, const xpack *p, const quad_windows *qw, int nb,
               __m512 out[QT]) {
    const int bs = (int)si_x86_block_bytes(t);
    __m512 acc[QT]; /* local, copied out once (see tile_f) */
#pragma GCC unroll 8
    for (int i = 0; i < QT; i++) acc[i] = _mm512_setzero_ps();
    for (int g = 0, gi = 0; g < nb; g += 16, gi++) {
        int n = si_x86_min(16, nb - g);
        __m512i lo[4], hi[4], dm = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            const uint8_t *pq = row + (g + 4 * q) * bs;
            /* Full quads get a constant byte count, so their load masks fold. */
            if (4 * q + 4 <= n)
                load_quad(t, qw, q, pq, 4 * bs, &lo[q], &hi[q], &dm);
            else if (4 * q < n)
                load_quad(t, qw, q, pq, (n - 4 * q) * bs, &lo[q], &hi[q], &dm);
            else
                lo[q] = hi[q] = _mm512_setzero_si512();
        }
        __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(dm));
        __m512 m = t == SI_DTYPE_Q4_1 ? _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dm, 1)) : _mm512_setzero_ps();
#pragma GCC unroll 8
        for (int i = 0; i < nt; i++) {
            __m512i dq[4];
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                /* A quad past the row's end contributes exact zeros: skip its work. */
                dq[q] = 4 * q < n ? _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[q], p->lo[i][gi][q]),
                                                        hi[q], p->hi[i][gi][q])
                                  : _mm512_setzero_si512();
            }
            __m512i sum = reduce_quads(t, dq[0], dq[1], dq[2], dq[3]);
            if (t != SI_DTYPE_Q4_1) sum = _mm512_sub_epi32(sum, p->c[i][gi]);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, p->d[i][gi]), acc[i]);
            if (t == SI_DTYPE_Q4_1) acc[i] = _mm512_fmadd_ps(m, p->s[i][gi], acc[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < QT; i++) out[i] = acc[i];
}

INL void gemm_q_typed(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                      int n_tok, float *out, int out_stride) {
    xpack p;
    quad_windows qw;
    make_quad_windows(t, &qw);
    for (int t0 = 0; t0 < n_tok; t0 += QT) {
        int nt = si_x86_token_tile(n_tok - t0, QT), nt_real = si_x86_min(QT, n_tok - t0);
        float *o = out + (size_t)t0 * out_stride;
        for (int c0 = 0; c0 < n_blocks; c0 += KC) {
            int nb = si_x86_min(KC, n_blocks - c0);
            const si_block_q8x *xs[QT];
            for (int i = 0; i < QT; i++) xs[i] = x + (size_t)si_x86_min(t0 + i, n_tok - 1) * n_blocks + c0;
            /* Four compiled tile widths; the branches are per row, not per block. */
            switch (nt) {
            case 1: pack_x(t, &p, xs, 1, nb); break;
            case 2: pack_x(t, &p, xs, 2, nb); break;
            case 4: pack_x(t, &p, xs, 4, nb); break;
            default: pack_x(t, &p, xs, 8, nb); break;
            }
            for (int r = 0; r < n_rows; r++) {
                const uint8_t *row = (const uint8_t *)w + (size_t)r * row_bytes + (size_t)c0 * si_x86_block_bytes(t);
                __m512 acc[QT];
                float v[QT];
                switch (nt) {
                case 1:
                    row_q(t, 1, row, &p, &qw, nb, acc);
                    v[0] = hsum1(acc[0]);
                    break;
                case 2: row_q(t, 2, row, &p, &qw, nb, acc); break;
                case 4: row_q(t, 4, row, &p, &qw, nb, acc); break;
                default: row_q(t, 8, row, &p, &qw, nb, acc); break;
                }
                if (nt > 1) _mm_storeu_ps(v, hsum4(acc[0], acc[1], acc[2], acc[3]));
                if (nt > 4) _mm_storeu_ps(v + 4, hsum4(acc[4], acc[5], acc[6], acc[7]));
                for (int i = 0; i < nt_real; i++) {
                    float *oi = o + (size_t)i * out_stride + r;
                    *oi = c0 == 0 ? v[i] : *oi + v[i];
                }
            }
        }
    }
}

/* Q5_0, Q5_1 and the K types: kernels_qx.h on 256-bit registers, with
 * VNNI's byte dot products and the 32 registers' wider token tiles. */
#define QX_TGT TGT
#define QX_NT 4
#define QX_DOT4(a, u, s) _mm256_dpbusd_epi32(a, u, s)
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

/* 16 weights as floats from element j of a row (the first ones of them when
 * masked). Q8_0 rows (only the output head takes this path: float
 * activations keep the logits accurate) hold whole blocks, so j is a
 * multiple of 16 inside a 32-element block and no mask applies. */
INL __m512 load_wf(si_dtype t, const uint8_t *row, int j, __mmask16 m) {
    if (t == SI_DTYPE_Q8_0) {
        const uint8_t *blk = row + (size_t)(j >> 5) * sizeof(si_block_q8_0);
        uint16_t d;
        memcpy(&d, blk, 2);
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2 + (j & 16)));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(_cvtsh_ss(d)));
    }
    const uint8_t *p = row + (size_t)j * (t == SI_DTYPE_F32 ? 4 : 2);
    if (t == SI_DTYPE_F32) return _mm512_maskz_loadu_ps(m, p);
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (t == SI_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); /* bf16 = top half of an f32 */
}

INL void tile_f(si_dtype t, const int nt, const uint8_t *const rows[NR], const float *const xs[4], int n,
                __m512 out[NR][4]) {
    /* Local accumulators (copied out once): an array the caller can see
     * would be kept in memory, stored on every step. */
    __m512 acc[NR][4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[r][i] = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        /* Full vectors use an all-ones mask, which the compiler turns into plain loads. */
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 wv[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) wv[r] = load_wf(t, rows[r], j, m);
#pragma GCC unroll 4
        for (int i = 0; i < nt; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, xs[i] + j);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) out[r][i] = acc[r][i];
}

/* One row against one token, the same FMAs in the same order as a slot of
 * tile_f and the same lane sum (so the result is the same bit for bit).
 * Rows go one after another: four rows read side by side are four short
 * streams (a row is 1-2 KB), which the hardware prefetcher follows badly. */
INL float row_f(si_dtype t, const uint8_t *row, const float *x, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        acc = _mm512_fmadd_ps(load_wf(t, row, j, m), _mm512_maskz_loadu_ps(m, x + j), acc);
    }
    return hsum1(acc);
}

/* Q8_0 rows (the output head) against float activations, NR rows x nt
 * tokens: each 32-element block's two halves are converted once per row and
 * summed per token before the block's scale is applied once, so a row's
 * accumulator chain has one FMA per block. One token runs the same code with
 * nt = 1: results do not depend on the batch. */
INL void tile_q8f(const int nt, const uint8_t *const rows[NR], const float *const xs[4], int n, __m512 out[NR][4]) {
    __m512 acc[NR][4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[r][i] = _mm512_setzero_ps();
    for (int b = 0; b < n / SI_QBLOCK; b++) {
        __m512 lo[NR], hi[NR], d[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const uint8_t *blk = rows[r] + (size_t)b * sizeof(si_block_q8_0);
            uint16_t h;
            memcpy(&h, blk, 2);
            d[r] = _mm512_set1_ps(_cvtsh_ss(h));
            lo[r] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 2))));
            hi[r] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 18))));
        }
#pragma GCC unroll 4
        for (int i = 0; i < nt; i++) {
            __m512 x0 = _mm512_loadu_ps(xs[i] + b * SI_QBLOCK), x1 = _mm512_loadu_ps(xs[i] + b * SI_QBLOCK + 16);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++)
                acc[r][i] = _mm512_fmadd_ps(d[r], _mm512_fmadd_ps(hi[r], x1, _mm512_mul_ps(lo[r], x0)), acc[r][i]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) out[r][i] = acc[r][i];
}

/* A float tile of any float-path weight type. */
INL void tile_any(si_dtype t, const int nt, const uint8_t *const rows[NR], const float *const xs[4], int n,
                  __m512 out[NR][4]) {
    if (t == SI_DTYPE_Q8_0)
        tile_q8f(nt, rows, xs, n, out);
    else
        tile_f(t, nt, rows, xs, n, out);
}

/* The tiling the float-path GEMMs share (gemm_f_typed, gemm_bf16): NR
 * weight rows x a tile of 1, 2, 3 (attention's three query heads per KV
 * head, SmolLM2: no fourth) or 4 tokens, each run by TILE(nt, rows, xs, acc)
 * with nt a constant, then summed and stored. XT: the activations' element
 * type; w, row_bytes, n_rows, x, n, n_tok, out, out_stride: the caller's. */
#define TILED_GEMM(XT, TILE)                                                                                           \
    for (int r0 = 0; r0 < n_rows; r0 += NR) {                                                                         \
        const uint8_t *rows[NR];                                                                                      \
        si_x86_tile_rows(rows, w, row_bytes, r0, n_rows);                                                             \
        for (int t0 = 0; t0 < n_tok; t0 += 4) {                                                                       \
            int nt = si_x86_token_tile(n_tok - t0, 4);                                                                \
            const XT *xs[4];                                                                                          \
            for (int i = 0; i < 4; i++) xs[i] = x + (size_t)si_x86_min(t0 + i, n_tok - 1) * n;                        \
            float *o = out + (size_t)t0 * out_stride;                                                                 \
            __m512 acc[NR][4];                                                                                        \
            if (nt == 1) {                                                                                            \
                TILE(1, rows, xs, acc);                                                                               \
                put_tile(acc, 1, 1, o, out_stride, r0, n_rows);                                                       \
            } else if (nt == 2) {                                                                                     \
                TILE(2, rows, xs, acc);                                                                               \
                put_tile(acc, 2, 2, o, out_stride, r0, n_rows);                                                       \
            } else if (n_tok - t0 == 3) {                                                                             \
                TILE(3, rows, xs, acc);                                                                               \
                put_tile(acc, 3, 3, o, out_stride, r0, n_rows);                                                       \
            } else {                                                                                                  \
                TILE(4, rows, xs, acc);                                                                               \
                put_tile(acc, 4, n_tok - t0, o, out_stride, r0, n_rows);                                              \
            }                                                                                                         \
        }                                                                                                             \
    }

INL void gemm_f_typed(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                      float *out, int out_stride) {
    /* one token: row after row (long rows stream better alone), except short
     * rows such as attention's keys, where a row's final lane sum would cost
     * as much as its products: those go four at a time */
    if (n_tok == 1 && n > 128 && t != SI_DTYPE_Q8_0) {
        for (int r = 0; r < n_rows; r++) out[r] = row_f(t, (const uint8_t *)w + (size_t)r * row_bytes, x, n);
        return;
    }
#define TILE_F(nt, rows, xs, acc) tile_any(t, nt, rows, xs, n, acc)
    TILED_GEMM(float, TILE_F)
#undef TILE_F
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

/* 64 columns at a time in four accumulators per head (the tail masked), for
 * up to four heads at once: each value row is loaded and converted once for
 * all of them (per row 4 loads and 4 FMAs per head), and each head's sums
 * run over the rows in order, as one head alone would. */
INL __m512 load_v16(si_dtype t, const void *row, int d, __mmask16 m) {
    if (t == SI_DTYPE_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + d));
    return _mm512_maskz_loadu_ps(m, (const float *)row + d);
}

INL void weighted_heads(si_dtype t, const int nh, const float *p, size_t p_stride, const void *v, size_t v_stride, int n,
                        int hd, float *out, size_t out_stride) {
    size_t es = t == SI_DTYPE_F16 ? 2 : 4;
    for (int d0 = 0; d0 < hd; d0 += 64) {
        __mmask16 m[4];
        __m512 acc[4][4];
        for (int k = 0; k < 4; k++) {
            int left = hd - d0 - 16 * k;
            m[k] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) acc[h][k] = _mm512_maskz_loadu_ps(m[k], out + h * out_stride + d0 + 16 * k);
        }
        for (int j = 0; j < n; j++) {
            const uint8_t *row = (const uint8_t *)v + (size_t)j * v_stride * es;
            __m512 vk[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) vk[k] = load_v16(t, row, d0 + 16 * k, m[k]);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                __m512 pj = _mm512_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) acc[h][k] = _mm512_fmadd_ps(pj, vk[k], acc[h][k]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++)
            for (int k = 0; k < 4; k++) _mm512_mask_storeu_ps(out + h * out_stride + d0 + 16 * k, m[k], acc[h][k]);
    }
}

TGT static void weighted_rows(si_dtype t, const float *p, size_t p_stride, int heads, const void *v, size_t v_stride,
                              int n, int hd, float *out, size_t out_stride) {
    for (int h0 = 0; h0 < heads; h0 += 4) {
        const float *ph = p + h0 * p_stride;
        float *oh = out + h0 * out_stride;
        switch (heads - h0 < 4 ? heads - h0 : 4) {
        case 1: weighted_heads(t, 1, ph, p_stride, v, v_stride, n, hd, oh, out_stride); break;
        case 2: weighted_heads(t, 2, ph, p_stride, v, v_stride, n, hd, oh, out_stride); break;
        case 3: weighted_heads(t, 3, ph, p_stride, v, v_stride, n, hd, oh, out_stride); break;
        default: weighted_heads(t, 4, ph, p_stride, v, v_stride, n, hd, oh, out_stride); break;
        }
    }
}

/* ---- BF16 weights x bf16 activations (AVX512_BF16) ------------------------ */

/* vdpbf16ps multiplies 32 bf16 pairs into 16 f32 lanes (each lane adds two
 * exact products), twice gemm_f's 16 FMAs per instruction, and the weights
 * need no conversion. The activations are rounded to bf16 once per call
 * (round_bf16x). Each lane's chain and the final lane sum are the same
 * whatever the tile (kernels_x86.h's batch invariance). */
#define TGT_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c")))
#define INL_BF16 static inline __attribute__((always_inline)) TGT_BF16

TGT_BF16 static void round_bf16x(const float *x, uint16_t *y, int n) {
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + j));
        _mm256_mask_storeu_epi16(y + j, m, h);
    }
}

/* 32 bf16 from p (the first ones when masked, zeros after them). */
INL_BF16 __m512bh load_bh(const void *p, __mmask32 m) { return (__m512bh)_mm512_maskz_loadu_epi16(m, p); }

INL_BF16 __mmask32 mask32(int left) { return left >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << left) - 1); }

INL_BF16 void tile_bf16(const int nt, const uint8_t *const rows[NR], const uint16_t *const xs[4], int n,
                        __m512 out[NR][4]) {
    __m512 acc[NR][4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[r][i] = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 32) {
        __mmask32 m = mask32(n - j);
        __m512bh wv[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) wv[r] = load_bh((const uint16_t *)(const void *)rows[r] + j, m);
#pragma GCC unroll 4
        for (int i = 0; i < nt; i++) {
            __m512bh xv = load_bh(xs[i] + j, m);
#pragma GCC unroll 4
            for (int r = 0; r < NR; r++) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], wv[r], xv);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) out[r][i] = acc[r][i];
}

/* One row against one token: a slot of tile_bf16, bit for bit (as row_f). */
INL_BF16 float row_bf16(const uint8_t *row, const uint16_t *x, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 32) {
        __mmask32 m = mask32(n - j);
        acc = _mm512_dpbf16_ps(acc, load_bh((const uint16_t *)(const void *)row + j, m), load_bh(x + j, m));
    }
    return hsum1(acc);
}

TGT_BF16 static void gemm_bf16(const void *w, size_t row_bytes, int n_rows, const uint16_t *x, int n, int n_tok,
                               float *out, int out_stride) {
    if (n_tok == 1 && n > 128) { /* as gemm_f: long rows stream better one at a time */
        for (int r = 0; r < n_rows; r++) out[r] = row_bf16((const uint8_t *)w + (size_t)r * row_bytes, x, n);
        return;
    }
#define TILE_BF16(nt, rows, xs, acc) tile_bf16(nt, rows, xs, n, acc)
    TILED_GEMM(uint16_t, TILE_BF16)
#undef TILE_BF16
}

const si_cpu_kernels si_cpu_kernels_avx512 = {
    .name = "avx512",
    .quantize_q8x = quantize_q8x,
    .gemm_q = gemm_q,
    .gemm_f = gemm_f,
    .weighted_rows = weighted_rows,
};

/* The same set with the bf16 products, for processors with AVX512_BF16. */
const si_cpu_kernels si_cpu_kernels_avx512bf16 = {
    .name = "avx512bf16",
    .quantize_q8x = quantize_q8x,
    .gemm_q = gemm_q,
    .gemm_f = gemm_f,
    .round_bf16x = round_bf16x,
    .gemm_bf16 = gemm_bf16,
    .weighted_rows = weighted_rows,
};

#endif

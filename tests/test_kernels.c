/* tests/test_kernels.c: every SIMD kernel level this processor has, against
 * the scalar reference (backend/cpu/dot_ref.c, the definition of correct).
 *
 *  - quantize_q8x: bit-identical blocks (d, s and qs), random rows and edge
 *    blocks (zeros, ties of round-half-even, huge, tiny, one spike).
 *  - gemm_q (Q8_0, Q4_0, Q4_1) and gemm_f (F32, F16, BF16): every output
 *    within a tolerance relative to the sum of |terms| (the only allowed
 *    difference is float summation order), for n_blocks 1..48 and longer
 *    rows (more than one K chunk), row counts that are not multiples of the
 *    tile (1, 3, 5, 17, 64, 517), token counts 1, 2, 3, 5, 8, 17, and an out
 *    stride wider than n_rows (the gaps must stay untouched).
 *  - Batch invariance: a row's result for a token is bit-identical whether
 *    computed alone (one row, one token) or inside any batch.
 *  - Where the processor has AVX512_BF16: round_bf16x bit-identical to
 *    si_round_bf16x_ref (ties, NaN, infinities, overflow, denormals, tails),
 *    and gemm_bf16 (BF16 weights, bf16 activations) against si_gemm_bf16_ref
 *    in every shape above.
 * Weights mix random blocks with edge blocks: all-zero, extreme codes (-128,
 * 127, nibbles 0 and 15), negative, tiny (subnormal f16) and huge scales. */
#include "backend/cpu/dot.h"
#include "testutil.h"
#include "util/half.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(next_u32() >> 8) / 16777216.0f; }

/* ---- data ----------------------------------------------------------------- */

/* An f16 scale: mostly ordinary, sometimes negative, subnormal, zero or the largest. */
static uint16_t rand_scale(void) {
    switch (next_u32() % 16) {
    case 0: return 0x0001;                 /* smallest subnormal */
    case 1: return 0x7bff;                 /* 65504 */
    case 2: return 0x0000;
    case 3: return si_f32_to_f16(-uniform(0.001f, 0.1f));
    default: return si_f32_to_f16(uniform(-0.05f, 0.05f));
    }
}

/* Blocks of the Q5 and K types: random bytes, with scales from rand_scale;
 * some all zero, some all ones (every code at its largest). */
static void fill_weights_x(si_dtype t, uint8_t *row, int nb) {
    const size_t bs = si_dtype_block_bytes(t);
    for (int b = 0; b < nb; b++) {
        uint8_t *p = row + (size_t)b * bs;
        int kind = (int)(next_u32() % 8);
        for (size_t j = 0; j < bs; j++) p[j] = kind == 0 ? 0 : kind == 1 ? 0xff : (uint8_t)next_u32();
        uint16_t d = rand_scale(), m = rand_scale();
        if (t == SI_DTYPE_Q6_K) {
            memcpy(p + bs - 2, &d, 2); /* d comes last */
        } else {
            memcpy(p, &d, 2);
            if (t != SI_DTYPE_Q5_0) memcpy(p + 2, &m, 2); /* m or dmin */
        }
    }
}

static void fill_weights(si_dtype t, uint8_t *row, int nb) {
    if (t != SI_DTYPE_Q8_0 && t != SI_DTYPE_Q4_0 && t != SI_DTYPE_Q4_1) {
        fill_weights_x(t, row, nb / (si_dtype_block_elems(t) / SI_QBLOCK));
        return;
    }
    for (int b = 0; b < nb; b++) {
        int kind = (int)(next_u32() % 8); /* 0: all zero, 1: extreme codes, else random */
        if (t == SI_DTYPE_Q8_0) {
            si_block_q8_0 *q = (si_block_q8_0 *)(void *)row + b;
            si_block_q8_0 v;
            v.d = rand_scale();
            for (int j = 0; j < SI_QBLOCK; j++)
                v.qs[j] = kind == 0 ? 0 : kind == 1 ? (int8_t)(j % 2 ? 127 : -128) : (int8_t)(next_u32() & 255);
            memcpy(q, &v, sizeof v);
        } else {
            uint8_t qs[SI_QBLOCK / 2];
            for (int j = 0; j < SI_QBLOCK / 2; j++)
                qs[j] = kind == 0 ? (t == SI_DTYPE_Q4_0 ? 0x88 : 0) : kind == 1 ? (j % 2 ? 0xf0 : 0x0f) : (uint8_t)next_u32();
            if (t == SI_DTYPE_Q4_0) {
                si_block_q4_0 v = {.d = rand_scale()};
                memcpy(v.qs, qs, sizeof qs);
                memcpy((si_block_q4_0 *)(void *)row + b, &v, sizeof v);
            } else {
                si_block_q4_1 v = {.d = rand_scale(), .m = rand_scale()};
                memcpy(v.qs, qs, sizeof qs);
                memcpy((si_block_q4_1 *)(void *)row + b, &v, sizeof v);
            }
        }
    }
}

/* Activations: random, with some edge blocks. */
static void fill_x(float *x, int n) {
    for (int b = 0; b < n / SI_QBLOCK; b++) {
        float *xb = x + b * SI_QBLOCK;
        int kind = (int)(next_u32() % 10);
        float scale = kind == 5 ? 1e-30f : kind == 6 ? 1e6f : uniform(0.1f, 4.0f);
        for (int j = 0; j < SI_QBLOCK; j++) {
            switch (kind) {
            case 0: xb[j] = 0; break;
            case 1: xb[j] = j == 7 ? -scale : 0; break; /* one spike */
            /* amax 127 makes d = 1: every x.5 is a tie for round-half-even. */
            case 2: xb[j] = j == 0 ? 127.0f : (float)((int)(next_u32() % 253) - 126) + 0.5f; break;
            case 3: xb[j] = j % 2 ? scale : -scale; break; /* all at max magnitude */
            default: xb[j] = uniform(-scale, scale); break;
            }
        }
    }
}

/* ---- quantize ------------------------------------------------------------- */

static void test_quantize(const si_cpu_kernels *k) {
    enum { N = 1536 };
    float *x = malloc(N * sizeof(float));
    si_block_q8x *a = malloc(N / SI_QBLOCK * sizeof *a), *b = malloc(N / SI_QBLOCK * sizeof *b);
    int bad = 0;
    for (int rep = 0; rep < 200; rep++) {
        int n = SI_QBLOCK * (1 + (int)(next_u32() % (N / SI_QBLOCK)));
        fill_x(x, n);
        memset(a, 0, N / SI_QBLOCK * sizeof *a);
        memset(b, 0, N / SI_QBLOCK * sizeof *b);
        si_quantize_q8x_ref(x, a, n);
        k->quantize_q8x(x, b, n);
        if (memcmp(a, b, (size_t)(n / SI_QBLOCK) * sizeof *a) != 0) bad++;
    }
    CHECKF(bad == 0, "%s quantize_q8x: %d of 200 rows differ from the reference", k->name, bad);
    free(x);
    free(a);
    free(b);
}

/* ---- gemm ----------------------------------------------------------------- */

/* The Q5 and K types: through the unpacked blocks. */
static double abs_terms_qx(si_dtype t, const uint8_t *w, const si_block_q8x *x, int nb) {
    const int per = si_dtype_block_elems(t) / SI_QBLOCK;
    double sum = 0;
    si_qunpacked u;
    for (int b = 0; b < nb; b += per) {
        si_unpack_block(t, w + (size_t)(b / per) * si_dtype_block_bytes(t), &u);
        for (int e = 0; e < per * SI_QBLOCK; e++) {
            const si_block_q8x *xb = &x[b + e / SI_QBLOCK];
            sum += fabs((double)u.scale[e / u.group] * u.q[e] * xb->d * xb->qs[e % SI_QBLOCK]);
        }
        for (int k = 0; k < per; k++) sum += fabs((double)u.offset[k] * x[b + k].s);
    }
    return sum;
}

/* Sum of |terms| of one reference dot product: what float rounding scales with. */
static double abs_terms_q(si_dtype t, const uint8_t *w, const si_block_q8x *x, int nb) {
    if (t != SI_DTYPE_Q8_0 && t != SI_DTYPE_Q4_0 && t != SI_DTYPE_Q4_1) return abs_terms_qx(t, w, x, nb);
    double sum = 0;
    for (int b = 0; b < nb; b++) {
        double s = 0, d, m = 0;
        if (t == SI_DTYPE_Q8_0) {
            const si_block_q8_0 *q = (const si_block_q8_0 *)(const void *)w + b;
            for (int j = 0; j < SI_QBLOCK; j++) s += fabs((double)q->qs[j] * x[b].qs[j]);
            d = si_f16_to_f32(q->d);
        } else {
            const uint8_t *qs = t == SI_DTYPE_Q4_0 ? ((const si_block_q4_0 *)(const void *)w)[b].qs
                                                   : ((const si_block_q4_1 *)(const void *)w)[b].qs;
            int off = t == SI_DTYPE_Q4_0 ? 8 : 0;
            for (int j = 0; j < SI_QBLOCK / 2; j++)
                s += fabs((double)((qs[j] & 15) - off) * x[b].qs[j]) + fabs((double)((qs[j] >> 4) - off) * x[b].qs[j + 16]);
            if (t == SI_DTYPE_Q4_0) {
                d = si_f16_to_f32(((const si_block_q4_0 *)(const void *)w)[b].d);
            } else {
                d = si_f16_to_f32(((const si_block_q4_1 *)(const void *)w)[b].d);
                m = si_f16_to_f32(((const si_block_q4_1 *)(const void *)w)[b].m);
            }
        }
        sum += fabs(d * x[b].d) * s + fabs(m * x[b].s);
    }
    return sum;
}

static double abs_terms_f(si_dtype t, const uint8_t *w, const float *x, int n) {
    double sum = 0;
    float *v = malloc((size_t)n * sizeof(float));
    si_dequantize_row(t, w, v, n);
    for (int i = 0; i < n; i++) sum += fabs((double)v[i] * x[i]);
    free(v);
    return sum;
}

#define SENTINEL 12345.0f

/* Set for the pass where Q8_0 weights meet float activations (gemm_f), the
 * output head's path. */
static bool float_act;

/* Set for the pass where BF16 weights meet bf16 activations (gemm_bf16). */
static bool bf16_act;

/* Whether the case runs on 8-bit activations (gemm_q), or bf16 ones. */
static bool q8_path(si_dtype t) { return si_dtype_is_quantized(t) && !float_act; }
static bool bf16_path(si_dtype t) { return t == SI_DTYPE_BF16 && bf16_act; }

typedef struct {
    si_dtype t;
    int n_rows, n_tok, cols, out_stride;
    const uint8_t *w;
    size_t row_bytes;
    const void *x; /* si_block_q8x, float or bf16 rows */
} gemm_case;

static void run_gemm(const si_cpu_kernels *k, const gemm_case *c, const void *w, int n_rows, const void *x, int n_tok,
                     float *out, int out_stride) {
    if (q8_path(c->t))
        k->gemm_q(c->t, w, c->row_bytes, n_rows, x, c->cols / SI_QBLOCK, n_tok, out, out_stride);
    else if (bf16_path(c->t))
        k->gemm_bf16(w, c->row_bytes, n_rows, x, c->cols, n_tok, out, out_stride);
    else
        k->gemm_f(c->t, w, c->row_bytes, n_rows, x, c->cols, n_tok, out, out_stride);
}

static const void *x_row(const gemm_case *c, int i) {
    if (q8_path(c->t)) return (const si_block_q8x *)c->x + (size_t)i * (c->cols / SI_QBLOCK);
    if (bf16_path(c->t)) return (const uint16_t *)c->x + (size_t)i * c->cols;
    return (const float *)c->x + (size_t)i * c->cols;
}

static float ref_dot(const gemm_case *c, int r, int i) {
    const uint8_t *wr = c->w + (size_t)r * c->row_bytes;
    if (q8_path(c->t)) return si_dot_q_ref(c->t, wr, x_row(c, i), c->cols / SI_QBLOCK);
    if (bf16_path(c->t)) {
        float v;
        si_gemm_bf16_ref(wr, c->row_bytes, 1, x_row(c, i), c->cols, 1, &v, 1);
        return v;
    }
    return si_dot_f_ref(c->t, wr, x_row(c, i), c->cols);
}

static double tolerance(const gemm_case *c, int r, int i) {
    const uint8_t *wr = c->w + (size_t)r * c->row_bytes;
    double terms;
    if (q8_path(c->t)) {
        terms = abs_terms_q(c->t, wr, x_row(c, i), c->cols / SI_QBLOCK);
    } else if (bf16_path(c->t)) {
        float *xf = malloc((size_t)c->cols * sizeof(float));
        for (int j = 0; j < c->cols; j++) xf[j] = si_bf16_to_f32(((const uint16_t *)x_row(c, i))[j]);
        terms = abs_terms_f(c->t, wr, xf, c->cols);
        free(xf);
    } else {
        terms = abs_terms_f(c->t, wr, x_row(c, i), c->cols);
    }
    /* Both sides round each of their float adds (relative 2^-24) and sum in
     * different orders; the sequential reference's error grows like
     * sqrt(adds) * 2^-24 * |terms| (the worst case, linear in adds, never
     * comes up with random data). Factor 4 leaves room: the worst ratio seen
     * is about 0.4. A wrong block or element is off by far more. */
    int adds = q8_path(c->t) ? 2 * (c->cols / SI_QBLOCK) : c->cols;
    return 4.0 * sqrt((double)adds) * 0x1p-24 * terms + 1e-35;
}

/* Checks one case; returns the number of bad outputs. */
static int check_case(const si_cpu_kernels *k, const gemm_case *c, double *worst) {
    size_t n_out = (size_t)c->n_tok * c->out_stride;
    float *out = malloc(n_out * sizeof(float));
    for (size_t j = 0; j < n_out; j++) out[j] = SENTINEL;
    run_gemm(k, c, c->w, c->n_rows, c->x, c->n_tok, out, c->out_stride);
    int bad = 0;
    for (int i = 0; i < c->n_tok; i++) {
        for (int r = 0; r < c->out_stride; r++) {
            float got = out[(size_t)i * c->out_stride + r];
            if (r >= c->n_rows) {
                if (got != SENTINEL && bad++ < 3) fprintf(stderr, "  wrote past n_rows at token %d, column %d\n", i, r);
                continue;
            }
            float want = ref_dot(c, r, i);
            double tol = tolerance(c, r, i), err = fabs((double)got - want);
            if (tol > 0 && err / tol > *worst) *worst = err / tol;
            if (!(err <= tol)) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s %s rows=%d tok=%d cols=%d: out[%d][%d] = %.9g, reference %.9g (tol %.3g)\n",
                            k->name, si_dtype_name(c->t), c->n_rows, c->n_tok, c->cols, i, r, got, want, tol);
            }
            /* Batch invariance: the same row and token alone. */
            float alone;
            run_gemm(k, c, c->w + (size_t)r * c->row_bytes, 1, x_row(c, i), 1, &alone, 1);
            if (memcmp(&alone, &got, sizeof got) != 0 && bad++ < 3)
                fprintf(stderr, "  %s %s rows=%d tok=%d cols=%d: out[%d][%d] = %.9g in the batch, %.9g alone\n", k->name,
                        si_dtype_name(c->t), c->n_rows, c->n_tok, c->cols, i, r, got, alone);
        }
    }
    free(out);
    return bad;
}

static int test_shape(const si_cpu_kernels *k, si_dtype t, int n_rows, int n_tok, int cols, double *worst) {
    gemm_case c = {.t = t, .n_rows = n_rows, .n_tok = n_tok, .cols = cols, .out_stride = n_rows + (int)(next_u32() % 3)};
    c.row_bytes = si_dtype_row_bytes(t, cols);
    uint8_t *w = malloc((size_t)n_rows * c.row_bytes);
    float *xf = malloc((size_t)n_tok * cols * sizeof(float));
    si_block_q8x *xq = malloc((size_t)n_tok * (cols / SI_QBLOCK + 1) * sizeof *xq);
    if (si_dtype_is_quantized(t)) {
        for (int r = 0; r < n_rows; r++) fill_weights(t, w + (size_t)r * c.row_bytes, cols / SI_QBLOCK);
        fill_x(xf, n_tok * cols);
        si_quantize_q8x_ref(xf, xq, n_tok * cols);
        c.x = float_act ? (const void *)xf : (const void *)xq;
    } else {
        for (size_t j = 0; j < (size_t)n_rows * cols; j++) {
            float v = uniform(-2, 2);
            uint32_t kind = next_u32() % 64;
            if (kind == 0) v = 65504.0f;   /* largest f16 */
            if (kind == 1) v = -6e-8f;     /* subnormal f16 */
            if (kind == 2) v = 0;
            if (t == SI_DTYPE_F32) memcpy(w + j * 4, &v, 4);
            else {
                uint16_t h = t == SI_DTYPE_F16 ? si_f32_to_f16(v) : si_f32_to_bf16(v);
                memcpy(w + j * 2, &h, 2);
            }
        }
        for (size_t j = 0; j < (size_t)n_tok * cols; j++) xf[j] = uniform(-3, 3);
        c.x = xf;
    }
    uint16_t *xb = NULL;
    if (bf16_path(t)) {
        xb = malloc((size_t)n_tok * cols * sizeof *xb);
        si_round_bf16x_ref(xf, xb, n_tok * cols);
        c.x = xb;
    }
    c.w = w;
    int bad = check_case(k, &c, worst);
    free(w);
    free(xb);
    free(xf);
    free(xq);
    return bad;
}

static void test_gemm(const si_cpu_kernels *k, si_dtype t) {
    static const int rows[] = {1, 3, 5, 17, 64, 4};
    static const int toks[] = {1, 2, 3, 5, 8, 17};
    int bad = 0, cases = 0;
    double worst = 0;
    bool quant = si_dtype_is_quantized(t);
    /* Every row length up to 48 blocks (of a K type's super-blocks: 8
     * blocks each), each with two (rows, tokens) shapes taken in rotation so
     * every pair of counts comes up. */
    const int per = quant ? si_dtype_block_elems(t) / SI_QBLOCK : 1;
    for (int nb = per; nb <= 48; nb += per) {
        for (int s = 0; s < 2; s++) {
            int ri = (nb / per + 3 * s) % 6, ti = (nb / per / 6 + s) % 6;
            bad += test_shape(k, t, rows[ri], toks[ti], nb * SI_QBLOCK, &worst);
            cases++;
        }
    }
    /* Longer rows (several K chunks for the quantized kernels), a tall
     * output-head-like shape, and float rows that are not a multiple of 8. */
    bad += test_shape(k, t, 5, 3, (70 + per - 1) / per * per * SI_QBLOCK, &worst);
    bad += test_shape(k, t, 3, 5, (130 + per - 1) / per * per * SI_QBLOCK, &worst);
    bad += test_shape(k, t, 517, 1, (18 + per - 1) / per * per * SI_QBLOCK, &worst);
    bad += test_shape(k, t, 64, 17, 48 * SI_QBLOCK, &worst);
    cases += 4;
    if (!quant) {
        static const int odd[] = {1, 7, 9, 15, 17, 33, 100};
        for (int j = 0; j < 7; j++, cases++) bad += test_shape(k, t, 5, 3, odd[j], &worst);
    }
    printf("  %-6s %-4s: %d shapes, worst |error| / tolerance = %.3g\n", k->name, si_dtype_name(t), cases, worst);
    CHECKF(bad == 0, "%s %s: %d bad outputs", k->name, si_dtype_name(t), bad);
}

/* Attention's weighted value rows against the reference, on odd widths,
 * strides wider than the rows, no rows at all, and 1 to 5 heads sharing the
 * rows (each head's result must not depend on how many share them). */
static void test_weighted_rows(const si_cpu_kernels *k, si_dtype t) {
    static const int widths[] = {1, 7, 16, 33, 64, 80, 128};
    static const int counts[] = {0, 1, 5, 100};
    double worst = 0;
    int bad = 0, shapes = 0;
    for (int w = 0; w < 7; w++)
        for (int c = 0; c < 4; c++)
            for (int heads = 1; heads <= 5; heads += 2, shapes++) {
                int hd = widths[w], n = counts[c];
                size_t stride = (size_t)hd + 3, p_stride = (size_t)n + 2, o_stride = (size_t)hd + 5;
                float *p = malloc(sizeof(float) * (p_stride * heads + 1)), *v = malloc(sizeof(float) * (stride * n + 1));
                float *got = malloc(sizeof(float) * o_stride * heads), *want = malloc(sizeof(float) * o_stride * heads);
                for (size_t j = 0; j < p_stride * heads; j++) p[j] = uniform(0, 1);
                uint16_t *vh = malloc(sizeof(uint16_t) * (stride * n + 1));
                for (size_t j = 0; j < stride * n; j++) {
                    vh[j] = si_f32_to_f16(uniform(-3, 3));
                    v[j] = t == SI_DTYPE_F16 ? si_f16_to_f32(vh[j]) : uniform(-3, 3);
                }
                const void *vt = t == SI_DTYPE_F16 ? (const void *)vh : (const void *)v;
                for (size_t d = 0; d < o_stride * heads; d++) got[d] = want[d] = uniform(-1, 1);
                k->weighted_rows(t, p, p_stride, heads, vt, stride, n, hd, got, o_stride);
                si_weighted_rows_ref(t, p, p_stride, heads, vt, stride, n, hd, want, o_stride);
                for (int h = 0; h < heads; h++) {
                    for (int d = 0; d < hd; d++) {
                        double terms = 1;
                        for (int j = 0; j < n; j++) terms += fabs((double)p[h * p_stride + j] * v[(size_t)j * stride + d]);
                        double tol = 4.0 * sqrt((double)n + 1) * 0x1p-24 * terms;
                        double err = fabs((double)got[h * o_stride + d] - want[h * o_stride + d]);
                        if (err / tol > worst) worst = err / tol;
                        if (!(err <= tol) && bad++ < 3)
                            fprintf(stderr, "  %s weighted_rows hd=%d n=%d heads=%d: out[%d][%d] = %.9g, reference %.9g\n",
                                    k->name, hd, n, heads, h, d, got[h * o_stride + d], want[h * o_stride + d]);
                    }
                }
                if (heads > 1) { /* the last head alone, from the same start: bit for bit the same */
                    int h = heads - 1;
                    float *solo = malloc(sizeof(float) * (size_t)hd), *start = malloc(sizeof(float) * o_stride * heads);
                    for (int d = 0; d < hd; d++) solo[d] = 0.5f;
                    for (size_t d = 0; d < o_stride * heads; d++) start[d] = 0.5f;
                    k->weighted_rows(t, p + h * p_stride, p_stride, 1, vt, stride, n, hd, solo, o_stride);
                    k->weighted_rows(t, p, p_stride, heads, vt, stride, n, hd, start, o_stride);
                    for (int d = 0; d < hd; d++)
                        if (solo[d] != start[h * o_stride + d] && bad++ < 3)
                            fprintf(stderr, "  %s weighted_rows: head %d of %d differs from the head alone\n", k->name, h, heads);
                    free(solo), free(start);
                }
                free(p), free(v), free(vh), free(got), free(want);
            }
    printf("  %-6s weighted %s rows: %d shapes, worst |error| / tolerance = %.3g\n", k->name, si_dtype_name(t), shapes,
           worst);
    CHECKF(bad == 0, "%s weighted_rows: %d bad outputs", k->name, bad);
}

/* round_bf16x against the reference, bit for bit: random values of every
 * magnitude, then edge values; every length up to 40 (masked tails), with a
 * sentinel after the end. */
static void test_round_bf16x(const si_cpu_kernels *k) {
    static const uint32_t edges[] = {
        0x00000000, 0x80000000, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x3f807fff, /* zeros; ties to even, near ties */
        0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffa00000,             /* infinities, NaNs (signalling too) */
        0x7f7fffff, 0xff7fffff,                                                 /* rounds up to infinity */
        0x00000001, 0x807fffff, 0x00400000, 0x00800000, 0x00808000,             /* denormals, the smallest normals */
    };
    enum { N = 40 + 18 };
    float x[N];
    uint16_t got[N + 1], want[N + 1];
    int bad = 0, cases = 0;
    for (int rep = 0; rep < 200; rep++) {
        for (int j = 0; j < N; j++) {
            uint32_t b = next_u32() ^ (next_u32() << 16);
            if (rep % 2) b = (b & 0x807fffff) | ((uint32_t)(100 + next_u32() % 60) << 23); /* ordinary magnitudes */
            memcpy(&x[j], &b, 4);
        }
        if (rep == 0)
            for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++) memcpy(&x[e], &edges[e], 4);
        int n = rep == 0 ? N : 1 + rep % 40;
        got[n] = 0xbeef;
        k->round_bf16x(x, got, n);
        si_round_bf16x_ref(x, want, n);
        cases++;
        if (got[n] != 0xbeef && bad++ < 3) fprintf(stderr, "  round_bf16x wrote past %d elements\n", n);
        for (int j = 0; j < n; j++) {
            uint32_t b;
            memcpy(&b, &x[j], 4);
            if (got[j] != want[j] && bad++ < 3)
                fprintf(stderr, "  round_bf16x(0x%08x) = 0x%04x, reference 0x%04x\n", b, got[j], want[j]);
        }
    }
    printf("  %-6s round_bf16x: %d rows, %d wrong\n", k->name, cases, bad);
    CHECKF(bad == 0, "%s round_bf16x: %d bad", k->name, bad);
}

/* The reference's integer dot products for the Q5 and K types against
 * float64 sums of the dequantized weights times the activations' values
 * (x.d * qs): the two meet only in the block layout, which test_gguf
 * checks against the gguf package. */
static void test_dot_q_ref_x(si_dtype t) {
    enum { N = 4 * SI_QK };
    const int per = si_dtype_block_elems(t) / SI_QBLOCK;
    uint8_t *w = malloc(si_dtype_row_bytes(t, N));
    float *x = malloc(N * sizeof(float)), *wf = malloc(N * sizeof(float));
    si_block_q8x *xq = malloc(N / SI_QBLOCK * sizeof *xq);
    int bad = 0;
    for (int rep = 0; rep < 200; rep++) {
        int n = SI_QBLOCK * per * (1 + (int)(next_u32() % (N / SI_QBLOCK / per)));
        fill_weights(t, w, n / SI_QBLOCK);
        fill_x(x, n);
        si_quantize_q8x_ref(x, xq, n);
        si_dequantize_row(t, w, wf, n);
        double want = 0, terms = 0;
        for (int e = 0; e < n; e++) {
            double v = (double)wf[e] * xq[e / SI_QBLOCK].d * xq[e / SI_QBLOCK].qs[e % SI_QBLOCK];
            want += v;
            terms += fabs(v);
        }
        float got = si_dot_q_ref(t, w, xq, n / SI_QBLOCK);
        /* the reference rounds once per block (as the gemm tests allow), the
         * dequantized weights once per element (scale * q + offset) */
        double tol = 4.0 * 0x1p-24 *
                         (sqrt(2.0 * n / SI_QBLOCK) * abs_terms_qx(t, w, xq, n / SI_QBLOCK) + sqrt((double)n) * terms) +
                     1e-35;
        if (!(fabs(got - want) <= tol) && bad++ < 3)
            fprintf(stderr, "  %s n=%d: %.9g, float64 of the dequantized %.9g\n", si_dtype_name(t), n, got, want);
    }
    printf("  reference %s dot: 200 rows against the dequantized weights, %d off\n", si_dtype_name(t), bad);
    CHECK(bad == 0);
    free(w);
    free(x);
    free(wf);
    free(xq);
}

/* The K types' packed scales: the eight-at-a-time form the kernels use
 * against the one-by-one definition, for random bytes. */
static void test_k_scales_min8(void) {
    int bad = 0;
    for (int i = 0; i < 4096; i++) {
        uint8_t s[12];
        for (int j = 0; j < 12; j++) s[j] = (uint8_t)next_u32();
        uint32_t sc8[2], mn8[2];
        si_k_scales_min8(s, sc8, mn8);
        for (int b = 0; b < 8; b++) {
            int sc, mn;
            si_k_scale_min(s, b, &sc, &mn);
            bad += (int)(sc8[b / 4] >> (8 * (b % 4)) & 0xff) != sc || (int)(mn8[b / 4] >> (8 * (b % 4)) & 0xff) != mn;
        }
    }
    printf("K scales eight at a time: %d of %d differ\n", bad, 4096 * 8);
    CHECK(bad == 0);
}

int main(void) {
    const char *levels[] = {"scalar", "avx2", "avx512", "avx512bf16"};
    test_k_scales_min8();
    const si_dtype types[] = {SI_DTYPE_Q8_0, SI_DTYPE_Q4_0, SI_DTYPE_Q4_1, SI_DTYPE_Q5_0, SI_DTYPE_Q5_1, SI_DTYPE_Q4_K,
                              SI_DTYPE_Q5_K, SI_DTYPE_Q6_K, SI_DTYPE_F32,  SI_DTYPE_F16,  SI_DTYPE_BF16};
    const int n_types = (int)(sizeof types / sizeof types[0]);
    for (int t = 3; t < 8; t++) test_dot_q_ref_x(types[t]);
    CHECK(si_cpu_kernels_for("no-such-level") == NULL);
    CHECK(si_cpu_kernels_get() != NULL);
    printf("default level: %s\n", si_cpu_kernels_get()->name);
    for (int l = 0; l < 4; l++) {
        const si_cpu_kernels *k = si_cpu_kernels_for(levels[l]);
        if (!k) {
            printf("level %s: not available on this processor, not tested\n", levels[l]);
            continue;
        }
        printf("level %s\n", k->name);
        test_quantize(k);
        test_weighted_rows(k, SI_DTYPE_F32);
        test_weighted_rows(k, SI_DTYPE_F16);
        for (int t = 0; t < n_types; t++) test_gemm(k, types[t]);
        float_act = true;
        printf("  Q8_0 weights with float activations (the output head):\n");
        test_gemm(k, SI_DTYPE_Q8_0);
        float_act = false;
        if (k->gemm_bf16) {
            printf("  BF16 weights with bf16 activations:\n");
            test_round_bf16x(k);
            bf16_act = true;
            test_gemm(k, SI_DTYPE_BF16);
            bf16_act = false;
        }
    }
    return si_test_finish("test_kernels");
}

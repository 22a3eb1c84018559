/* backend/cpu/dot_ref.c: scalar reference kernels (the definition of correct). */
#include "dot.h"

#include "../../util/half.h"

#include <math.h>
#include <string.h>

void si_quantize_q8x_ref(const float *x, si_block_q8x *y, int n) {
    for (int b = 0; b < n / SI_QBLOCK; b++) {
        const float *xb = x + b * SI_QBLOCK;
        float amax = 0;
        for (int j = 0; j < SI_QBLOCK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f;
        float id = d > 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < SI_QBLOCK; j++) {
            int q = (int)lrintf(xb[j] * id);
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        y[b].d = d;
        y[b].s = d * (float)sum;
    }
}

float si_dot_q_ref(si_dtype t, const void *w, const si_block_q8x *x, int n_blocks) {
    float acc = 0;
    switch (t) {
    case SI_DTYPE_Q8_0: {
        const si_block_q8_0 *b = w;
        for (int i = 0; i < n_blocks; i++) {
            int s = 0;
            for (int j = 0; j < SI_QBLOCK; j++) s += b[i].qs[j] * x[i].qs[j];
            acc += si_f16_to_f32(b[i].d) * x[i].d * (float)s;
        }
        break;
    }
    case SI_DTYPE_Q4_0: {
        const si_block_q4_0 *b = w;
        for (int i = 0; i < n_blocks; i++) {
            int s = 0;
            for (int j = 0; j < SI_QBLOCK / 2; j++)
                s += ((b[i].qs[j] & 15) - 8) * x[i].qs[j] + ((b[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
            acc += si_f16_to_f32(b[i].d) * x[i].d * (float)s;
        }
        break;
    }
    case SI_DTYPE_Q4_1: {
        const si_block_q4_1 *b = w;
        for (int i = 0; i < n_blocks; i++) {
            int s = 0;
            for (int j = 0; j < SI_QBLOCK / 2; j++)
                s += (b[i].qs[j] & 15) * x[i].qs[j] + (b[i].qs[j] >> 4) * x[i].qs[j + 16];
            acc += si_f16_to_f32(b[i].d) * x[i].d * (float)s + si_f16_to_f32(b[i].m) * x[i].s;
        }
        break;
    }
    default: {
        /* Q5_0, Q5_1 and the K types, through their unpacked blocks: each
         * block of 32 activations meets one scale (two for Q6_K's groups of
         * 16) and one offset, which multiplies the activations' sum x.s */
        const int per = si_dtype_block_elems(t) / SI_QBLOCK;
        const size_t bb = si_dtype_block_bytes(t);
        si_qunpacked u;
        for (int i = 0; i < n_blocks; i += per) {
            si_unpack_block(t, (const char *)w + (size_t)(i / per) * bb, &u);
            for (int k = 0; k < per; k++) {
                const int8_t *q = u.q + k * SI_QBLOCK;
                const si_block_q8x *xb = &x[i + k];
                if (u.group == SI_QBLOCK) {
                    int s = 0;
                    for (int j = 0; j < SI_QBLOCK; j++) s += q[j] * xb->qs[j];
                    acc += u.scale[k] * xb->d * (float)s + u.offset[k] * xb->s;
                } else {
                    int s0 = 0, s1 = 0;
                    for (int j = 0; j < 16; j++) {
                        s0 += q[j] * xb->qs[j];
                        s1 += q[j + 16] * xb->qs[j + 16];
                    }
                    acc += xb->d * (u.scale[2 * k] * (float)s0 + u.scale[2 * k + 1] * (float)s1);
                }
            }
        }
        break;
    }
    }
    return acc;
}

float si_dot_f_ref(si_dtype t, const void *w, const float *x, int n) {
    double acc = 0; /* double: the reference and the precise mode keep rounding out of the way */
    switch (t) {
    case SI_DTYPE_F32: {
        const float *r = w;
        for (int i = 0; i < n; i++) acc += r[i] * x[i];
        break;
    }
    case SI_DTYPE_F16: {
        const uint16_t *r = w;
        for (int i = 0; i < n; i++) acc += si_f16_to_f32(r[i]) * x[i];
        break;
    }
    case SI_DTYPE_BF16: {
        const uint16_t *r = w;
        for (int i = 0; i < n; i++) acc += si_bf16_to_f32(r[i]) * x[i];
        break;
    }
    default: {
        /* quantized weights against float activations: the precise mode */
        float wf[SI_QK];
        const int be = si_dtype_block_elems(t);
        const size_t block_bytes = si_dtype_block_bytes(t);
        for (int b = 0; b < n / be; b++) {
            si_dequantize_row(t, (const char *)w + (size_t)b * block_bytes, wf, be);
            for (int j = 0; j < be; j++) acc += wf[j] * x[b * be + j];
        }
        break;
    }
    }
    return (float)acc;
}

void si_gemm_q_ref(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                   int n_tok, float *out, int out_stride) {
    for (int i = 0; i < n_tok; i++)
        for (int r = 0; r < n_rows; r++)
            out[(size_t)i * out_stride + r] = si_dot_q_ref(t, (const char *)w + r * row_bytes, x + (size_t)i * n_blocks, n_blocks);
}

void si_gemm_f_ref(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                       float *out, int out_stride) {
    for (int i = 0; i < n_tok; i++)
        for (int r = 0; r < n_rows; r++)
            out[(size_t)i * out_stride + r] = si_dot_f_ref(t, (const char *)w + r * row_bytes, x + (size_t)i * n, n);
}

void si_round_bf16x_ref(const float *x, uint16_t *y, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        if ((b & 0x7f800000) == 0 && (b & 0x007fffff) != 0)
            y[i] = (uint16_t)((b >> 16) & 0x8000); /* denormal: signed zero */
        else
            y[i] = si_f32_to_bf16(x[i]);
    }
}

void si_gemm_bf16_ref(const void *w, size_t row_bytes, int n_rows, const uint16_t *x, int n, int n_tok, float *out,
                      int out_stride) {
    for (int i = 0; i < n_tok; i++)
        for (int r = 0; r < n_rows; r++) {
            const uint16_t *row = (const uint16_t *)(const void *)((const char *)w + (size_t)r * row_bytes);
            double acc = 0;
            for (int j = 0; j < n; j++)
                acc += (double)si_bf16_to_f32(row[j]) * si_bf16_to_f32(x[(size_t)i * n + j]);
            out[(size_t)i * out_stride + r] = (float)acc;
        }
}

void si_weighted_rows_ref(si_dtype t, const float *p, size_t p_stride, int heads, const void *v, size_t v_stride, int n,
                          int hd, float *out, size_t out_stride) {
    for (int h = 0; h < heads; h++)
        for (int j = 0; j < n; j++)
            for (int d = 0; d < hd; d++) {
                size_t at = (size_t)j * v_stride + d;
                float x = t == SI_DTYPE_F16 ? si_f16_to_f32(((const uint16_t *)v)[at]) : ((const float *)v)[at];
                out[h * out_stride + d] += p[h * p_stride + j] * x;
            }
}

const si_cpu_kernels si_cpu_kernels_scalar = {
    .name = "scalar",
    .quantize_q8x = si_quantize_q8x_ref,
    .gemm_q = si_gemm_q_ref,
    .gemm_f = si_gemm_f_ref,
    .weighted_rows = si_weighted_rows_ref,
};

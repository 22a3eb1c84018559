#include "dtype.h"

#include "../util/half.h"

#include <stdbool.h>

const char *si_dtype_name(si_dtype t) {
    switch (t) {
    case SI_DTYPE_F32: return "F32";
    case SI_DTYPE_F16: return "F16";
    case SI_DTYPE_BF16: return "BF16";
    case SI_DTYPE_Q8_0: return "Q8_0";
    case SI_DTYPE_Q4_0: return "Q4_0";
    case SI_DTYPE_Q4_1: return "Q4_1";
    case SI_DTYPE_Q5_0: return "Q5_0";
    case SI_DTYPE_Q5_1: return "Q5_1";
    case SI_DTYPE_Q4_K: return "Q4_K";
    case SI_DTYPE_Q5_K: return "Q5_K";
    case SI_DTYPE_Q6_K: return "Q6_K";
    default: return "?";
    }
}

int si_dtype_block_elems(si_dtype t) {
    switch (t) {
    case SI_DTYPE_Q8_0:
    case SI_DTYPE_Q4_0:
    case SI_DTYPE_Q4_1:
    case SI_DTYPE_Q5_0:
    case SI_DTYPE_Q5_1: return SI_QBLOCK;
    case SI_DTYPE_Q4_K:
    case SI_DTYPE_Q5_K:
    case SI_DTYPE_Q6_K: return SI_QK;
    default: return 1;
    }
}

size_t si_dtype_block_bytes(si_dtype t) {
    switch (t) {
    case SI_DTYPE_F32: return 4;
    case SI_DTYPE_F16:
    case SI_DTYPE_BF16: return 2;
    case SI_DTYPE_Q8_0: return sizeof(si_block_q8_0);
    case SI_DTYPE_Q4_0: return sizeof(si_block_q4_0);
    case SI_DTYPE_Q4_1: return sizeof(si_block_q4_1);
    case SI_DTYPE_Q5_0: return sizeof(si_block_q5_0);
    case SI_DTYPE_Q5_1: return sizeof(si_block_q5_1);
    case SI_DTYPE_Q4_K: return sizeof(si_block_q4_k);
    case SI_DTYPE_Q5_K: return sizeof(si_block_q5_k);
    case SI_DTYPE_Q6_K: return sizeof(si_block_q6_k);
    default: return 0;
    }
}

size_t si_dtype_row_bytes(si_dtype t, int64_t n) {
    int be = si_dtype_block_elems(t);
    if (n < 0 || n % be) return 0;
    return (size_t)(n / be) * si_dtype_block_bytes(t);
}

/* Q5_0 / Q5_1: 4 low bits from the nibbles, the fifth from qh. */
static void unpack_q5(const uint8_t qs[SI_QBLOCK / 2], const uint8_t qh_bytes[4], int bias, int8_t *q) {
    uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 | (uint32_t)qh_bytes[2] << 16 |
                  (uint32_t)qh_bytes[3] << 24;
    for (int j = 0; j < SI_QBLOCK / 2; j++) {
        q[j] = (int8_t)(((qs[j] & 15) | ((qh >> j) & 1) << 4) - bias);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - bias);
    }
}

/* Q4_K / Q5_K: the 8 blocks' scales d * sc and offsets -(dmin * mn). */
static void unpack_k_scales(const uint8_t s[12], uint16_t d_h, uint16_t dmin_h, float *scale, float *offset) {
    float d = si_f16_to_f32(d_h), dmin = si_f16_to_f32(dmin_h);
    for (int b = 0; b < 8; b++) {
        int sc, mn;
        si_k_scale_min(s, b, &sc, &mn);
        scale[b] = d * (float)sc;
        offset[b] = -(dmin * (float)mn);
    }
}

int si_block_scales(si_dtype t, const void *block, float scale[SI_QK / 16], float offset[SI_QK / 16]) {
    switch (t) {
    case SI_DTYPE_Q5_0: {
        const si_block_q5_0 *b = block;
        scale[0] = si_f16_to_f32(b->d);
        offset[0] = 0.0f;
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q5_1: {
        const si_block_q5_1 *b = block;
        scale[0] = si_f16_to_f32(b->d);
        offset[0] = si_f16_to_f32(b->m);
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q4_K: {
        const si_block_q4_k *b = block;
        unpack_k_scales(b->scales, b->d, b->dmin, scale, offset);
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q5_K: {
        const si_block_q5_k *b = block;
        unpack_k_scales(b->scales, b->d, b->dmin, scale, offset);
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q6_K: {
        const si_block_q6_k *b = block;
        float d = si_f16_to_f32(b->d);
        for (int g = 0; g < 16; g++) {
            scale[g] = d * (float)b->scales[g];
            offset[g] = 0.0f;
        }
        return 16;
    }
    default: return 0;
    }
}

int si_unpack_block(si_dtype t, const void *block, si_qunpacked *u) {
    u->group = si_block_scales(t, block, u->scale, u->offset);
    switch (t) {
    case SI_DTYPE_Q5_0: {
        const si_block_q5_0 *b = block;
        unpack_q5(b->qs, b->qh, 16, u->q);
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q5_1: {
        const si_block_q5_1 *b = block;
        unpack_q5(b->qs, b->qh, 0, u->q);
        return SI_QBLOCK;
    }
    case SI_DTYPE_Q4_K:
    case SI_DTYPE_Q5_K: {
        const bool five = t == SI_DTYPE_Q5_K;
        const uint8_t *qs = five ? ((const si_block_q5_k *)block)->qs : ((const si_block_q4_k *)block)->qs;
        const uint8_t *qh = five ? ((const si_block_q5_k *)block)->qh : NULL;
        for (int i = 0; i < 4; i++) /* blocks 2i and 2i+1 share 32 bytes */
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * i + l] & 15, hi = qs[32 * i + l] >> 4;
                if (qh) {
                    lo |= (qh[l] >> (2 * i) & 1) << 4;
                    hi |= (qh[l] >> (2 * i + 1) & 1) << 4;
                }
                u->q[64 * i + l] = (int8_t)lo;
                u->q[64 * i + 32 + l] = (int8_t)hi;
            }
        return SI_QK;
    }
    case SI_DTYPE_Q6_K: {
        const si_block_q6_k *b = block;
        /* each half of 128: ql's 64 bytes give elements l and l + 32 (low
         * nibbles), l + 64 and l + 96 (high); qh's 32 bytes their top two
         * bits, two by two from the bottom */
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            int8_t *q = u->q + 128 * h;
            for (int l = 0; l < 32; l++) {
                q[l] = (int8_t)(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
                q[l + 32] = (int8_t)(((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4) - 32);
                q[l + 64] = (int8_t)(((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32);
                q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32);
            }
        }
        return SI_QK;
    }
    default: return 0;
    }
}

void si_dequantize_row(si_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case SI_DTYPE_F32: {
        const float *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = s[i];
        break;
    }
    case SI_DTYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = si_f16_to_f32(s[i]);
        break;
    }
    case SI_DTYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = si_bf16_to_f32(s[i]);
        break;
    }
    case SI_DTYPE_Q8_0: {
        const si_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / SI_QBLOCK; i++) {
            float d = si_f16_to_f32(b[i].d);
            for (int j = 0; j < SI_QBLOCK; j++) dst[i * SI_QBLOCK + j] = d * (float)b[i].qs[j];
        }
        break;
    }
    case SI_DTYPE_Q4_0: {
        const si_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / SI_QBLOCK; i++) {
            float d = si_f16_to_f32(b[i].d);
            for (int j = 0; j < SI_QBLOCK / 2; j++) {
                dst[i * SI_QBLOCK + j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
                dst[i * SI_QBLOCK + j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    case SI_DTYPE_Q4_1: {
        const si_block_q4_1 *b = src;
        for (int64_t i = 0; i < n / SI_QBLOCK; i++) {
            float d = si_f16_to_f32(b[i].d), m = si_f16_to_f32(b[i].m);
            for (int j = 0; j < SI_QBLOCK / 2; j++) {
                dst[i * SI_QBLOCK + j] = d * (float)(b[i].qs[j] & 0x0f) + m;
                dst[i * SI_QBLOCK + j + 16] = d * (float)(b[i].qs[j] >> 4) + m;
            }
        }
        break;
    }
    default: {
        const int be = si_dtype_block_elems(t);
        const size_t bb = si_dtype_block_bytes(t);
        si_qunpacked u;
        for (int64_t i = 0; i < n / be; i++) {
            if (!si_unpack_block(t, (const char *)src + i * bb, &u)) return;
            for (int e = 0; e < be; e++) dst[i * be + e] = u.scale[e / u.group] * (float)u.q[e] + u.offset[e / u.group];
        }
        break;
    }
    }
}

/* format/quantize.c: float rows to F32/F16/BF16 and to Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q4_K, Q5_K and Q6_K blocks (scalar reference; the inverse of
 * si_dequantize_row in dtype.c). Plain rounding to the nearest level: no
 * search for the scales that minimize the error, as llama.cpp's quantizer
 * does for the K types (and its importance matrices), so its files of
 * those types are somewhat more accurate than ours.
 *
 * Each block's scale is chosen as the format intends (Q8_0: the largest
 * magnitude maps to +-127; Q4_0: the value of largest magnitude maps to -8;
 * Q4_1: min..max spread over 0..15), then rounded to the f16 it is stored
 * as, and the quants are rounded against that stored scale: they are the
 * nearest levels to what the dequantizer will actually compute. */
#include "quantize.h"

#include "../util/error.h"
#include "../util/half.h"

#include <math.h>
#include <string.h>

/* round(v) clamped to lo..hi (clamped first, so the conversion cannot overflow). */
static int round_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo; /* also catches NaN */
    if (v > (float)hi) return hi;
    return (int)roundf(v);
}

/* The scale as stored: f16 bits, and back as a float; -1 if it does not fit. */
static int store_scale(float v, uint16_t *bits, float *stored) {
    *bits = si_f32_to_f16(v);
    *stored = si_f16_to_f32(*bits);
    if (!isfinite(*stored)) return si_fail("block scale %g is out of the range of f16", v);
    return 0;
}

/* The value of largest magnitude, with its sign (the first of equals). */
static float largest_magnitude(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *min, float *max) {
    *min = *max = x[0];
    for (int j = 1; j < n; j++) {
        *min = fminf(*min, x[j]);
        *max = fmaxf(*max, x[j]);
    }
}

/* Q5's codes (0..31) into Q4's nibble order plus the fifth bits. */
static void pack_q5(const uint8_t q[SI_QBLOCK], uint8_t qs[SI_QBLOCK / 2], uint8_t qh_bytes[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < SI_QBLOCK / 2; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
    for (int j = 0; j < SI_QBLOCK; j++) qh |= (uint32_t)(q[j] >> 4) << j;
    for (int i = 0; i < 4; i++) qh_bytes[i] = (uint8_t)(qh >> (8 * i));
}

static int quantize_q8_0(const float *x, si_block_q8_0 *b) {
    float amax = 0;
    for (int j = 0; j < SI_QBLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d;
    if (store_scale(amax / 127.0f, &b->d, &d)) return -1;
    for (int j = 0; j < SI_QBLOCK; j++) b->qs[j] = (int8_t)(d > 0 ? round_clamp(x[j] / d, -127, 127) : 0);
    return 0;
}

/* Codes centred on `half` (Q4_0: 8, Q5_0: 16): the value of largest
 * magnitude maps to -half, so the far side of zero gets one level less. */
static int centred_codes(const float *x, int half, uint16_t *d_bits, uint8_t q[SI_QBLOCK]) {
    float d;
    if (store_scale(largest_magnitude(x, SI_QBLOCK) / (float)-half, d_bits, &d)) return -1;
    for (int j = 0; j < SI_QBLOCK; j++) q[j] = (uint8_t)(d != 0 ? round_clamp(x[j] / d, -half, half - 1) + half : half);
    return 0;
}

/* Codes 0..levels spread over min..max (Q4_1: 15, Q5_1: 31): x = d q + m. */
static int affine_codes(const float *x, int levels, uint16_t *d_bits, uint16_t *m_bits, uint8_t q[SI_QBLOCK]) {
    float min, max, d, m;
    min_max(x, SI_QBLOCK, &min, &max);
    if (store_scale((max - min) / (float)levels, d_bits, &d) || store_scale(min, m_bits, &m)) return -1;
    for (int j = 0; j < SI_QBLOCK; j++) q[j] = (uint8_t)(d > 0 ? round_clamp((x[j] - m) / d, 0, levels) : 0);
    return 0;
}

static void pack_q4(const uint8_t q[SI_QBLOCK], uint8_t qs[SI_QBLOCK / 2]) {
    for (int j = 0; j < SI_QBLOCK / 2; j++) qs[j] = (uint8_t)(q[j] | q[j + SI_QBLOCK / 2] << 4);
}

static int quantize_q4_0(const float *x, si_block_q4_0 *b) {
    uint8_t q[SI_QBLOCK];
    if (centred_codes(x, 8, &b->d, q)) return -1;
    pack_q4(q, b->qs);
    return 0;
}

static int quantize_q4_1(const float *x, si_block_q4_1 *b) {
    uint8_t q[SI_QBLOCK];
    if (affine_codes(x, 15, &b->d, &b->m, q)) return -1;
    pack_q4(q, b->qs);
    return 0;
}

static int quantize_q5_0(const float *x, si_block_q5_0 *b) {
    uint8_t q[SI_QBLOCK];
    if (centred_codes(x, 16, &b->d, q)) return -1;
    pack_q5(q, b->qs, b->qh);
    return 0;
}

static int quantize_q5_1(const float *x, si_block_q5_1 *b) {
    uint8_t q[SI_QBLOCK];
    if (affine_codes(x, 31, &b->d, &b->m, q)) return -1;
    pack_q5(q, b->qs, b->qh);
    return 0;
}

/* Q4_K / Q5_K (levels 15 or 31): each block of 32 spans [-lmin, max] with
 * lmin = max(0, -min) (the format stores minima as non-negative numbers
 * subtracted), so its scale is (max + lmin) / levels; the 8 scales and 8
 * minima are then quantized to 6 bits against the super-block's d and dmin
 * (their largest / 63), and the weights are rounded against the scales and
 * minima as stored. */
static int quantize_k(const float *x, int levels, uint16_t *d_bits, uint16_t *dmin_bits, uint8_t scales[12],
                      uint8_t q[SI_QK]) {
    float sc[8], lmin[8], max_sc = 0, max_min = 0;
    for (int b = 0; b < 8; b++) {
        float mn, mx;
        min_max(x + 32 * b, SI_QBLOCK, &mn, &mx);
        lmin[b] = -fminf(mn, 0.0f);
        sc[b] = (fmaxf(mx, 0.0f) + lmin[b]) / (float)levels;
        max_sc = fmaxf(max_sc, sc[b]);
        max_min = fmaxf(max_min, lmin[b]);
    }
    float d, dmin;
    if (store_scale(max_sc / 63.0f, d_bits, &d) || store_scale(max_min / 63.0f, dmin_bits, &dmin)) return -1;
    uint8_t isc[8], imn[8];
    for (int b = 0; b < 8; b++) {
        isc[b] = (uint8_t)(d > 0 ? round_clamp(sc[b] / d, 0, 63) : 0);
        imn[b] = (uint8_t)(dmin > 0 ? round_clamp(lmin[b] / dmin, 0, 63) : 0);
        float s = d * (float)isc[b], m = dmin * (float)imn[b];
        for (int j = 0; j < SI_QBLOCK; j++)
            q[32 * b + j] = (uint8_t)(s > 0 ? round_clamp((x[32 * b + j] + m) / s, 0, levels) : 0);
    }
    /* the inverse of dtype.c's unpack_k_scales */
    memset(scales, 0, 12);
    for (int b = 0; b < 4; b++) {
        scales[b] = (uint8_t)(isc[b] | (isc[b + 4] >> 4) << 6);
        scales[b + 4] = (uint8_t)(imn[b] | (imn[b + 4] >> 4) << 6);
        scales[b + 8] = (uint8_t)((isc[b + 4] & 15) | (imn[b + 4] & 15) << 4);
    }
    return 0;
}

static int quantize_q4_k(const float *x, si_block_q4_k *b) {
    uint8_t q[SI_QK];
    if (quantize_k(x, 15, &b->d, &b->dmin, b->scales, q)) return -1;
    for (int i = 0; i < 4; i++)
        for (int l = 0; l < 32; l++) b->qs[32 * i + l] = (uint8_t)(q[64 * i + l] | q[64 * i + 32 + l] << 4);
    return 0;
}

static int quantize_q5_k(const float *x, si_block_q5_k *b) {
    uint8_t q[SI_QK];
    if (quantize_k(x, 31, &b->d, &b->dmin, b->scales, q)) return -1;
    memset(b->qh, 0, sizeof b->qh);
    for (int i = 0; i < 4; i++)
        for (int l = 0; l < 32; l++) {
            uint8_t lo = q[64 * i + l], hi = q[64 * i + 32 + l];
            b->qs[32 * i + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            b->qh[l] |= (uint8_t)((lo >> 4) << (2 * i) | (hi >> 4) << (2 * i + 1));
        }
    return 0;
}

/* Q6_K: each group of 16 as Q4_0 with 64 levels (the value of largest
 * magnitude maps to -32), the 16 scales quantized to int8 against d = the
 * largest magnitude / 127, the weights rounded against the stored scales. */
static int quantize_q6_k(const float *x, si_block_q6_k *b) {
    float sc[16], amax_sc = 0;
    for (int g = 0; g < 16; g++) {
        sc[g] = largest_magnitude(x + 16 * g, 16) / -32.0f;
        amax_sc = fmaxf(amax_sc, fabsf(sc[g]));
    }
    float d;
    if (store_scale(amax_sc / 127.0f, &b->d, &d)) return -1;
    uint8_t q[SI_QK];
    for (int g = 0; g < 16; g++) {
        b->scales[g] = (int8_t)(d > 0 ? round_clamp(sc[g] / d, -127, 127) : 0);
        float s = d * (float)b->scales[g];
        for (int j = 0; j < 16; j++) q[16 * g + j] = (uint8_t)(s != 0 ? round_clamp(x[16 * g + j] / s, -32, 31) + 32 : 32);
    }
    /* the inverse of dtype.c's Q6_K unpacking */
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *e = q + 128 * h + l; /* e[0], e[32], e[64], e[96] */
            b->ql[64 * h + l] = (uint8_t)((e[0] & 15) | (e[64] & 15) << 4);
            b->ql[64 * h + 32 + l] = (uint8_t)((e[32] & 15) | (e[96] & 15) << 4);
            b->qh[32 * h + l] = (uint8_t)((e[0] >> 4) | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 | (e[96] >> 4) << 6);
        }
    return 0;
}

static int to_halves(si_dtype t, const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        dst[i] = t == SI_DTYPE_F16 ? si_f32_to_f16(src[i]) : si_f32_to_bf16(src[i]);
        float back = t == SI_DTYPE_F16 ? si_f16_to_f32(dst[i]) : si_bf16_to_f32(dst[i]);
        if (!isfinite(back))
            return si_fail("element %lld (%g) is out of the range of %s", (long long)i, src[i], si_dtype_name(t));
    }
    return 0;
}

int si_quantize_row(si_dtype t, const float *src, void *dst, int64_t n) {
    if ((int)t < 0 || t >= SI_DTYPE_COUNT) return si_fail("unknown dtype %d", (int)t);
    if (n < 0 || (n > 0 && si_dtype_row_bytes(t, n) == 0))
        return si_fail("row of %lld elements does not fill whole %s blocks of %d", (long long)n, si_dtype_name(t),
                       si_dtype_block_elems(t));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(src[i])) return si_fail("element %lld is not finite (%g)", (long long)i, src[i]);
    int64_t blocks = n / SI_QBLOCK, supers = n / SI_QK;
    int rc = 0;
    switch (t) {
    case SI_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof *src); break;
    case SI_DTYPE_F16:
    case SI_DTYPE_BF16: rc = to_halves(t, src, dst, n); break;
    case SI_DTYPE_Q8_0:
        for (int64_t i = 0; rc == 0 && i < blocks; i++) rc = quantize_q8_0(src + i * SI_QBLOCK, (si_block_q8_0 *)dst + i);
        break;
    case SI_DTYPE_Q4_0:
        for (int64_t i = 0; rc == 0 && i < blocks; i++) rc = quantize_q4_0(src + i * SI_QBLOCK, (si_block_q4_0 *)dst + i);
        break;
    case SI_DTYPE_Q4_1:
        for (int64_t i = 0; rc == 0 && i < blocks; i++) rc = quantize_q4_1(src + i * SI_QBLOCK, (si_block_q4_1 *)dst + i);
        break;
    case SI_DTYPE_Q5_0:
        for (int64_t i = 0; rc == 0 && i < blocks; i++) rc = quantize_q5_0(src + i * SI_QBLOCK, (si_block_q5_0 *)dst + i);
        break;
    case SI_DTYPE_Q5_1:
        for (int64_t i = 0; rc == 0 && i < blocks; i++) rc = quantize_q5_1(src + i * SI_QBLOCK, (si_block_q5_1 *)dst + i);
        break;
    case SI_DTYPE_Q4_K:
        for (int64_t i = 0; rc == 0 && i < supers; i++) rc = quantize_q4_k(src + i * SI_QK, (si_block_q4_k *)dst + i);
        break;
    case SI_DTYPE_Q5_K:
        for (int64_t i = 0; rc == 0 && i < supers; i++) rc = quantize_q5_k(src + i * SI_QK, (si_block_q5_k *)dst + i);
        break;
    case SI_DTYPE_Q6_K:
        for (int64_t i = 0; rc == 0 && i < supers; i++) rc = quantize_q6_k(src + i * SI_QK, (si_block_q6_k *)dst + i);
        break;
    default: break;
    }
    return rc;
}

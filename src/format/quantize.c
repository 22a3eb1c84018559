/* format/quantize.c: float rows to F32/F16/BF16 and to Q8_0, Q4_0 and Q4_1
 * blocks (scalar reference; the inverse of si_dequantize_row in dtype.c).
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

static int quantize_q8_0(const float *x, si_block_q8_0 *b) {
    float amax = 0;
    for (int j = 0; j < SI_QBLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d;
    if (store_scale(amax / 127.0f, &b->d, &d)) return -1;
    for (int j = 0; j < SI_QBLOCK; j++) b->qs[j] = (int8_t)(d > 0 ? round_clamp(x[j] / d, -127, 127) : 0);
    return 0;
}

static int quantize_q4_0(const float *x, si_block_q4_0 *b) {
    float amax = 0, max = 0; /* max: the signed value of largest magnitude */
    for (int j = 0; j < SI_QBLOCK; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d;
    if (store_scale(max / -8.0f, &b->d, &d)) return -1;
    uint8_t q[SI_QBLOCK];
    for (int j = 0; j < SI_QBLOCK; j++) q[j] = (uint8_t)(d != 0 ? round_clamp(x[j] / d, -8, 7) + 8 : 8);
    for (int j = 0; j < SI_QBLOCK / 2; j++) b->qs[j] = (uint8_t)(q[j] | q[j + SI_QBLOCK / 2] << 4);
    return 0;
}

static int quantize_q4_1(const float *x, si_block_q4_1 *b) {
    float min = x[0], max = x[0];
    for (int j = 1; j < SI_QBLOCK; j++) {
        min = fminf(min, x[j]);
        max = fmaxf(max, x[j]);
    }
    float d, m;
    if (store_scale((max - min) / 15.0f, &b->d, &d) || store_scale(min, &b->m, &m)) return -1;
    uint8_t q[SI_QBLOCK];
    for (int j = 0; j < SI_QBLOCK; j++) q[j] = (uint8_t)(d > 0 ? round_clamp((x[j] - m) / d, 0, 15) : 0);
    for (int j = 0; j < SI_QBLOCK / 2; j++) b->qs[j] = (uint8_t)(q[j] | q[j + SI_QBLOCK / 2] << 4);
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
    int64_t blocks = n / SI_QBLOCK;
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
    default: break;
    }
    return rc;
}

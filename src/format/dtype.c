#include "dtype.h"

#include "../util/half.h"

const char *si_dtype_name(si_dtype t) {
    switch (t) {
    case SI_DTYPE_F32: return "F32";
    case SI_DTYPE_F16: return "F16";
    case SI_DTYPE_BF16: return "BF16";
    case SI_DTYPE_Q8_0: return "Q8_0";
    case SI_DTYPE_Q4_0: return "Q4_0";
    case SI_DTYPE_Q4_1: return "Q4_1";
    default: return "?";
    }
}

int si_dtype_block_elems(si_dtype t) {
    return (t == SI_DTYPE_Q8_0 || t == SI_DTYPE_Q4_0 || t == SI_DTYPE_Q4_1) ? SI_QBLOCK : 1;
}

size_t si_dtype_block_bytes(si_dtype t) {
    switch (t) {
    case SI_DTYPE_F32: return 4;
    case SI_DTYPE_F16:
    case SI_DTYPE_BF16: return 2;
    case SI_DTYPE_Q8_0: return sizeof(si_block_q8_0);
    case SI_DTYPE_Q4_0: return sizeof(si_block_q4_0);
    case SI_DTYPE_Q4_1: return sizeof(si_block_q4_1);
    default: return 0;
    }
}

size_t si_dtype_row_bytes(si_dtype t, int64_t n) {
    int be = si_dtype_block_elems(t);
    if (n < 0 || n % be) return 0;
    return (size_t)(n / be) * si_dtype_block_bytes(t);
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
    default: break;
    }
}

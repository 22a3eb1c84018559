/* format/dtype.h: the element types a weight tensor can have, and their block
 * layouts. Quantized types use llama.cpp's block formats, so GGUF files are
 * used in place: blocks of 32 weights sharing one scale (Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1), and the "K" super-blocks of 256 weights whose sub-blocks
 * have their own scales, themselves quantized (Q4_K, Q5_K, Q6_K: what
 * Q4_K_M, Q5_K_M and Q6_K files are mostly made of). */
#ifndef SI_FORMAT_DTYPE_H
#define SI_FORMAT_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    SI_DTYPE_F32 = 0,
    SI_DTYPE_F16,
    SI_DTYPE_BF16,
    SI_DTYPE_Q8_0,
    SI_DTYPE_Q4_0,
    SI_DTYPE_Q4_1,
    SI_DTYPE_Q5_0,
    SI_DTYPE_Q5_1,
    SI_DTYPE_Q4_K,
    SI_DTYPE_Q5_K,
    SI_DTYPE_Q6_K,
    SI_DTYPE_COUNT
} si_dtype;

#define SI_QBLOCK 32
#define SI_QK 256 /* weights per K super-block: 8 blocks of SI_QBLOCK */

/* Q8_0: x = d * q, q in [-127, 127] */
typedef struct {
    uint16_t d; /* f16 scale */
    int8_t qs[SI_QBLOCK];
} si_block_q8_0;

/* Q4_0: x = d * (q - 8); low nibbles hold elements 0..15, high nibbles 16..31 */
typedef struct {
    uint16_t d;
    uint8_t qs[SI_QBLOCK / 2];
} si_block_q4_0;

/* Q4_1: x = d * q + m; nibble order as Q4_0 */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[SI_QBLOCK / 2];
} si_block_q4_1;

/* Q5_0: x = d * (q - 16), q of 5 bits: the low 4 in qs (nibble order as
 * Q4_0), the fifth of element j in bit j of qh (little-endian) */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[SI_QBLOCK / 2];
} si_block_q5_0;

/* Q5_1: x = d * q + m; bits as Q5_0 */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[SI_QBLOCK / 2];
} si_block_q5_1;

/* Q4_K: 8 blocks of 32, block b: x = (d * sc_b) * q - (dmin * mn_b), q of 4
 * bits, sc_b and mn_b of 6 bits packed into scales[12] (si_unpack_block).
 * qs holds pairs of blocks in 32 bytes: block 2i in the low nibbles of
 * qs[32i..32i+31], block 2i+1 in the high ones. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[SI_QK / 2];
} si_block_q4_k;

/* Q5_K: Q4_K with a fifth bit: element l of block b in bit b of qh[l]. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[SI_QK / 8];
    uint8_t qs[SI_QK / 2];
} si_block_q5_k;

/* Q6_K: 16 groups of 16, group g: x = (d * sc_g) * (q - 32), q of 6 bits
 * (low 4 in ql, high 2 in qh; the layout is in si_unpack_block), sc_g int8. */
typedef struct {
    uint8_t ql[SI_QK / 2];
    uint8_t qh[SI_QK / 4];
    int8_t scales[SI_QK / 16];
    uint16_t d;
} si_block_q6_k;

/* (this header is also read by the CUDA kernels, compiled as C++) */
#ifdef __cplusplus
#define SI_STATIC_ASSERT static_assert
#else
#define SI_STATIC_ASSERT _Static_assert
#endif
SI_STATIC_ASSERT(sizeof(si_block_q8_0) == 34, "Q8_0 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q4_0) == 18, "Q4_0 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q4_1) == 20, "Q4_1 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q5_0) == 22, "Q5_0 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q5_1) == 24, "Q5_1 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q4_k) == 144, "Q4_K block layout");
SI_STATIC_ASSERT(sizeof(si_block_q5_k) == 176, "Q5_K block layout");
SI_STATIC_ASSERT(sizeof(si_block_q6_k) == 210, "Q6_K block layout");

const char *si_dtype_name(si_dtype t);
/* Elements per block (1 for float types) and bytes per block. */
int si_dtype_block_elems(si_dtype t);
size_t si_dtype_block_bytes(si_dtype t);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t si_dtype_row_bytes(si_dtype t, int64_t n);

/* Scalar reference: converts n elements (n a multiple of the block size) of a row to float. */
void si_dequantize_row(si_dtype t, const void *src, float *dst, int64_t n);

/* Q4_K / Q5_K: the 6-bit scale and minimum of block b (0..7) of a
 * super-block from its 12 packed bytes. The first four sit in the low 6
 * bits of bytes 0-3 (scales) and 4-7 (minima); the last four take their low
 * 4 bits from bytes 8-11 (scale: low nibble, minimum: high) and their top 2
 * from the spare top bits of bytes 0-7. (Inline: the CPU kernels unpack
 * them per row too, eight at a time with si_k_scales_min8.) */
static inline void si_k_scale_min(const uint8_t s[12], int b, int *sc, int *mn) {
    if (b < 4) {
        *sc = s[b] & 63;
        *mn = s[b + 4] & 63;
    } else {
        *sc = (s[b + 4] & 15) | (s[b - 4] >> 6) << 4;
        *mn = (s[b + 4] >> 4) | (s[b] >> 6) << 4;
    }
}

/* The same for all eight blocks at once, as words whose byte b % 4 is
 * block b's value (word 0: blocks 0-3, word 1: blocks 4-7; little-endian,
 * as the file). What SIMD kernels widen in one step. */
static inline void si_k_scales_min8(const uint8_t s[12], uint32_t sc[2], uint32_t mn[2]) {
    uint32_t u[3];
    memcpy(u, s, sizeof u);
    sc[0] = u[0] & 0x3f3f3f3fu;
    mn[0] = u[1] & 0x3f3f3f3fu;
    sc[1] = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    mn[1] = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
}

/* One block of Q5_0, Q5_1, Q4_K, Q5_K or Q6_K as integers and float scales:
 * weight e is scale[e / group] * q[e] + offset[e / group], where group is
 * 32 (16 for Q6_K). Exact: the scales are f16 values times small integers,
 * which a float holds without rounding. Returns the block's element count
 * (32 or SI_QK), 0 for another type. */
typedef struct {
    int group;
    int8_t q[SI_QK];
    float scale[SI_QK / 16];
    float offset[SI_QK / 16];
} si_qunpacked;
int si_unpack_block(si_dtype t, const void *block, si_qunpacked *u);
/* Only the scales and offsets of such a block (what the fast kernels take
 * from the reference; they unpack the integers themselves): its group size. */
int si_block_scales(si_dtype t, const void *block, float scale[SI_QK / 16], float offset[SI_QK / 16]);

#endif

/* format/dtype.h: the element types a weight tensor can have, and their block
 * layouts. Quantized types use llama.cpp's block formats (a block of 32
 * weights shares one scale), so GGUF files are used in place. */
#ifndef SI_FORMAT_DTYPE_H
#define SI_FORMAT_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SI_DTYPE_F32 = 0,
    SI_DTYPE_F16,
    SI_DTYPE_BF16,
    SI_DTYPE_Q8_0,
    SI_DTYPE_Q4_0,
    SI_DTYPE_Q4_1,
    SI_DTYPE_COUNT
} si_dtype;

#define SI_QBLOCK 32

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

/* (this header is also read by the CUDA kernels, compiled as C++) */
#ifdef __cplusplus
#define SI_STATIC_ASSERT static_assert
#else
#define SI_STATIC_ASSERT _Static_assert
#endif
SI_STATIC_ASSERT(sizeof(si_block_q8_0) == 34, "Q8_0 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q4_0) == 18, "Q4_0 block layout");
SI_STATIC_ASSERT(sizeof(si_block_q4_1) == 20, "Q4_1 block layout");

const char *si_dtype_name(si_dtype t);
/* Elements per block (1 for float types) and bytes per block. */
int si_dtype_block_elems(si_dtype t);
size_t si_dtype_block_bytes(si_dtype t);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t si_dtype_row_bytes(si_dtype t, int64_t n);

/* Scalar reference: converts n elements (n a multiple of the block size) of a row to float. */
void si_dequantize_row(si_dtype t, const void *src, float *dst, int64_t n);

#endif

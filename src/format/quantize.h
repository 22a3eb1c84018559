/* format/quantize.h: float rows to every element type (scalar reference, the
 * inverse of si_dequantize_row): F32, F16 and BF16 rounded to nearest even,
 * and llama.cpp's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K blocks
 * with the scales each format intends. Used to write GGUF files. */
#ifndef SI_FORMAT_QUANTIZE_H
#define SI_FORMAT_QUANTIZE_H

#include "dtype.h"

/* Converts n floats (a multiple of the type's block size) into dst, which
 * holds si_dtype_row_bytes(t, n) bytes. -1 with an error when n does not fit
 * the blocks, a value is not finite, or a value (F16) or a block's scale does
 * not fit the format's 16-bit floats. */
int si_quantize_row(si_dtype t, const float *src, void *dst, int64_t n);

#endif

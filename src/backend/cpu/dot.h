/* backend/cpu/dot.h: the dot products every CPU matrix product is made of.
 *
 * Quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, and the K types, whose
 * blocks of 32 inside a super-block of 256 each have a scale) are multiplied
 * by activations that are quantized on the fly to 8 bits per block of 32
 * (si_block_q8x), so the inner loop is an integer dot product; float weights (F32, F16, BF16) are
 * multiplied by float activations, except that BF16 weights, where the
 * processor has AVX512_BF16 and the precise mode is off, meet activations
 * rounded to bf16 (si_round_bf16x: two products per instruction, as
 * llama.cpp does for BF16). The functions here are the scalar
 * reference; faster versions for a SIMD level must give the same results up
 * to float rounding, and tests/test_kernels.c checks that they do. */
#ifndef SI_BACKEND_CPU_DOT_H
#define SI_BACKEND_CPU_DOT_H

#include "../../format/dtype.h"

#include <stdbool.h>
#include <stdint.h>

/* An activation block: x = d * qs, and s = d * sum(qs) (used by Q4_1's offset). */
typedef struct {
    float d;
    float s;
    int8_t qs[SI_QBLOCK];
} si_block_q8x;

static inline bool si_dtype_is_quantized(si_dtype t) { return si_dtype_block_elems(t) > 1; }

/* n is a multiple of 32. */
void si_quantize_q8x_ref(const float *x, si_block_q8x *y, int n);
/* Dot product of a weight row with quantized activations: n_blocks blocks
 * of 32 activations (for a K type, n_blocks / 8 super-blocks of weights). */
float si_dot_q_ref(si_dtype t, const void *w, const si_block_q8x *x, int n_blocks);
void si_gemm_q_ref(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                   int n_tok, float *out, int out_stride);
/* Dot product of a weight row with float activations (any dtype: quantized
 * rows are dequantized block by block, for the precise mode). */
float si_dot_f_ref(si_dtype t, const void *w, const float *x, int n);
void si_gemm_f_ref(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                   float *out, int out_stride);
/* Activations rounded to bf16 the way the processor's vcvtneps2bf16 does:
 * to nearest even, NaN made quiet, denormals flushed to a signed zero. */
void si_round_bf16x_ref(const float *x, uint16_t *y, int n);
/* BF16 weight rows times bf16 activations (si_gemm_f_ref's layout, x as
 * bf16): the exact products summed in double. */
void si_gemm_bf16_ref(const void *w, size_t row_bytes, int n_rows, const uint16_t *x, int n, int n_tok, float *out,
                      int out_stride);
void si_weighted_rows_ref(si_dtype t, const float *p, size_t p_stride, int heads, const void *v, size_t v_stride, int n,
                          int hd, float *out, size_t out_stride);

/* The kernels in use, chosen once at start-up from the processor's features
 * (SWIFTINFER_SIMD=scalar|avx2|avx512|avx512bf16 forces a level). */
typedef struct {
    const char *name;
    void (*quantize_q8x)(const float *x, si_block_q8x *y, int n);
    /* Matrix products over a block of weight rows and a batch of input rows:
     * out[i * out_stride + r] = W_r · x_i for r < n_rows, i < n_tok.
     * Weight rows are row_bytes apart; input rows follow each other
     * (n_blocks blocks, or n floats, each). */
    void (*gemm_q)(si_dtype t, const void *w, size_t row_bytes, int n_rows, const si_block_q8x *x, int n_blocks,
                   int n_tok, float *out, int out_stride);
    void (*gemm_f)(si_dtype t, const void *w, size_t row_bytes, int n_rows, const float *x, int n, int n_tok,
                   float *out, int out_stride);
    /* BF16 weights times activations rounded to bf16 (round_bf16x), gemm_f's
     * layout with bf16 input rows; both NULL where the processor lacks
     * AVX512_BF16 (BF16 weights then take gemm_f). */
    void (*round_bf16x)(const float *x, uint16_t *y, int n);
    void (*gemm_bf16)(const void *w, size_t row_bytes, int n_rows, const uint16_t *x, int n, int n_tok, float *out,
                      int out_stride);
    /* Attention's weighted sum of value rows for the query heads sharing them:
     * out[h * out_stride + d] += sum_{j<n} p[h * p_stride + j] v[j * v_stride + d], d < hd, h < heads,
     * the rows taken in order for each head (so a head's result does not depend on the others);
     * v holds F32 or F16 elements (the cache's type). */
    void (*weighted_rows)(si_dtype t, const float *p, size_t p_stride, int heads, const void *v, size_t v_stride,
                          int n, int hd, float *out, size_t out_stride);
} si_cpu_kernels;

const si_cpu_kernels *si_cpu_kernels_get(void);
/* A specific level ("scalar", "avx2", "avx512", "avx512bf16": avx512 with
 * the bf16 products), or NULL if this processor lacks it. */
const si_cpu_kernels *si_cpu_kernels_for(const char *level);

#endif

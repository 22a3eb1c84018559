/* backend/cpu/kernels_x86.h: what the x86 kernel sets (kernels_avx2.c,
 * kernels_avx512.c) share that is not SIMD code: block geometry, the way a
 * gemm call is cut into tiles, and the reduction-order contract.
 *
 * Batch invariance: every (weight row, input row) pair is computed by the
 * same sequence of operations on its own accumulator whatever tile it lands
 * in, whatever n_tok and n_rows are. A short tile is filled by repeating its
 * last row or token (the extra results are dropped), so one token decoded
 * alone gets bit-identical logits to the same token inside a prompt batch. */
#ifndef SI_BACKEND_CPU_KERNELS_X86_H
#define SI_BACKEND_CPU_KERNELS_X86_H

#include "dot.h"

#include <stddef.h>
#include <stdint.h>

/* Weight rows per tile of the tiled loops (the float GEMMs, the AVX2
 * quantized GEMM; the AVX-512 quantized GEMM goes row by row). */
#define SI_X86_TILE_ROWS 4
/* Quantized blocks per K chunk: the activations of a token tile for one
 * chunk are repacked on the stack, so this bounds that buffer; rows longer
 * than this (n > 2048) are summed chunk by chunk through out[]. */
#define SI_X86_KC 64

static inline size_t si_x86_block_bytes(si_dtype t) {
    return t == SI_DTYPE_Q8_0 ? sizeof(si_block_q8_0) : t == SI_DTYPE_Q4_0 ? sizeof(si_block_q4_0) : sizeof(si_block_q4_1);
}

/* Offset of qs in a weight block. */
static inline int si_x86_qs_offset(si_dtype t) { return t == SI_DTYPE_Q4_1 ? 4 : 2; }

static inline int si_x86_min(int a, int b) { return a < b ? a : b; }

/* The width of the next token tile for a kernel whose widest is max (a power
 * of two): the smallest power of two covering what is left, at most max. A
 * tile wider than the tokens left repeats the last token, so only the
 * powers of two are compiled. */
static inline int si_x86_token_tile(int left, int max) {
    int w = 1;
    while (w < left && w < max) w *= 2;
    return w;
}

/* Pointers to the SI_X86_TILE_ROWS weight rows of the tile starting at r0,
 * the rows past n_rows replaced by the last one (read, never stored). */
static inline void si_x86_tile_rows(const uint8_t *rows[SI_X86_TILE_ROWS], const void *w, size_t row_bytes, int r0,
                                    int n_rows) {
    for (int r = 0; r < SI_X86_TILE_ROWS; r++)
        rows[r] = (const uint8_t *)w + (size_t)si_x86_min(r0 + r, n_rows - 1) * row_bytes;
}

/* Stores (first K chunk) or adds (later chunks) the results of one token of
 * a tile: v[r] for weight rows r0 + r < n_rows. */
static inline void si_x86_put(float *o, const float v[SI_X86_TILE_ROWS], int r0, int n_rows, int first) {
    int n = si_x86_min(SI_X86_TILE_ROWS, n_rows - r0);
    for (int r = 0; r < n; r++) o[r0 + r] = first ? v[r] : o[r0 + r] + v[r];
}

#endif

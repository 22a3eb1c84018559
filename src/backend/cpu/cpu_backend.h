/* backend/cpu/cpu_backend.h: state shared by the CPU backend's operation files. */
#ifndef SI_BACKEND_CPU_CPU_BACKEND_H
#define SI_BACKEND_CPU_CPU_BACKEND_H

#include "../backend.h"
#include "dot.h"
#include "threadpool.h"

#include <stddef.h>

typedef struct {
    si_backend base;
    si_pool *pool;
    const si_cpu_kernels *kern;
    /* Precise mode: every matrix product is the scalar reference — float32
     * activations (never 8-bit ones, whose rounding is a step function that
     * turns a tiny input difference into a large output one) and double
     * accumulation. Slow; for exactness tests and accuracy studies. */
    bool precise;
    const si_tensor *head; /* the model's output head (see matmul.c) */
    /* Grown on demand, outside the inner loops: quantized (or bf16)
     * activations for matmul, and per-thread attention scores. */
    si_block_q8x *qx;
    size_t qx_cap; /* blocks */
    uint16_t *xbf;  /* activations rounded to bf16 for BF16 weights (matmul.c) */
    size_t xbf_cap; /* elements */
    float *scores;  /* [n_threads][query heads per KV head][SI_ATTN_PART] */
    size_t scores_cap; /* floats per thread */
    float *qrot;    /* [n_threads][2][query heads per KV head][head_dim]: window and sink rotations */
    size_t qrot_cap;   /* floats per thread */
    float *partial; /* [rows][heads][parts][head_dim + 2]: each key slice's output, max and sum */
    size_t partial_cap;
    si_sample_candidate *cand; /* [n_vocab]: the sample op's scratch */
    float *weights;            /* [n_vocab] */
    size_t cand_cap, weights_cap;
} si_cpu_backend;

void si_cpu_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in, int n);
/* Attention splits each row's keys into slices of this many (flash-decoding),
 * so one decode row still gives every thread work. */
#define SI_ATTN_PART 256
static inline int si_attn_parts(int keys) { return keys <= SI_ATTN_PART ? 1 : (keys + SI_ATTN_PART - 1) / SI_ATTN_PART; }

void si_cpu_attention(si_backend *be, const si_hparams *hp, const si_attn_args *a);

/* Rotates one head vector: dst = R(pos) src, cs = cos[half] then sin[half]. */
void si_rope_rotate(float *dst, const float *src, const double *cs, int head_dim, int style);

#endif

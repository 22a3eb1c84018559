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
    /* Precise mode: quantized weights meet float32 activations (dequantized
     * block by block) instead of 8-bit ones. Slower; the 8-bit rounding of
     * activations is a step function, so tiny input differences can move
     * results by far more than float rounding, which tests of exactness
     * (and accuracy studies) must exclude. */
    bool precise;
    /* Grown on demand, outside the inner loops: quantized activations for
     * matmul, and per-thread attention scores. */
    si_block_q8x *qx;
    size_t qx_cap; /* blocks */
    float *scores;  /* [n_threads][scores_cap] */
    size_t scores_cap;
    float *qrot;    /* [n_threads][2 * head_dim]: the two query rotations */
    size_t qrot_cap;
} si_cpu_backend;

void si_cpu_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in, int n);
void si_cpu_attention(si_backend *be, const si_hparams *hp, const si_attn_args *a);

/* Rotates one head vector: dst = R(pos) src, cs = cos[half] then sin[half]. */
void si_rope_rotate(float *dst, const float *src, const float *cs, int head_dim, int style);

#endif

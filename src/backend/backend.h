/* backend/backend.h: the compute interface the forward pass runs on.
 *
 * The forward pass (model/forward.c) is written once as a sequence of these
 * operations; a backend (cpu/, cuda/) implements them on its own memory.
 * Activations and caches are backend buffers (host memory for the CPU,
 * device memory for CUDA); weights are the model file's tensors, which a
 * backend may prepare once (upload, repack) in prepare_model. All operations
 * act on a batch of n tokens laid out row after row. */
#ifndef SI_BACKEND_BACKEND_H
#define SI_BACKEND_BACKEND_H

#include "../format/tensor.h"
#include "../kvcache/kvcache.h"
#include "../model/llama.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Consecutive batch rows that belong to one sequence's cache. */
typedef struct {
    si_kvcache *cache;
    int64_t t0;  /* stream index of the first row */
    int first;   /* first batch row */
    int n;       /* rows */
} si_attn_run;

typedef struct {
    int layer;
    int n_tokens;
    const float *q;    /* [n][n_heads * head_dim], not yet rotated */
    float *k, *v;      /* [n][kv_dim], not yet rotated; k is rotated in place */
    float *out;        /* [n][n_heads * head_dim] */
    /* [n][3][head_dim]: for each row, cos (first half) and sin (second half)
     * of the key rotation, the query's window rotation and its sink rotation.
     * Double, and rotations computed in double and rounded once: keys are
     * rotated at other angles than the original re-rotates them to, so the
     * rounding of each rotation must stay at half an ulp of the result. */
    const double *rope;
    const si_attn_run *runs;
    int n_runs;
} si_attn_args;

typedef struct si_backend si_backend;

struct si_backend {
    const char *name;
    int n_threads;
    void (*destroy)(si_backend *be);
    /* Once per model: anything the backend needs before the first forward. */
    int (*prepare_model)(si_backend *be, const si_llama *m);

    /* Sizes scratch memory for forward passes of up to max_tokens rows whose
     * queries see up to max_visible keys; called before a forward may need
     * more, so that the operations themselves never allocate. */
    int (*reserve)(si_backend *be, const si_hparams *hp, int max_tokens, int max_visible);

    void *(*alloc)(si_backend *be, size_t bytes); /* NULL with an error on failure */
    void (*free)(si_backend *be, void *p);
    void (*upload)(si_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(si_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy)(si_backend *be, void *dst, const void *src, size_t bytes); /* within backend memory */

    /* x[i] = embedding row tokens[i] (tokens in host memory) */
    void (*embed)(si_backend *be, float *x, const si_tensor *emb, const int32_t *tokens, int n);
    /* out[i] = in[i] / rms(in[i]) * w */
    void (*rmsnorm)(si_backend *be, float *out, const float *in, const si_tensor *w, int n, int dim, float eps);
    /* For each j < count: outs[j][i] = W_j · in[i] for the n rows (W_j has ne[0] = row length of in).
     * Several weights that read the same input go in one call. */
    void (*matmul)(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in, int n);
    /* RoPE on the new keys, store K/V in the caches, causal attention over sinks + window. */
    void (*attention)(si_backend *be, const si_hparams *hp, const si_attn_args *a);
    /* gate[i] = silu(gate[i]) * up[i] */
    void (*swiglu)(si_backend *be, float *gate, const float *up, size_t count);
    /* x[i] += y[i] */
    void (*add)(si_backend *be, float *x, const float *y, size_t count);
    /* Waits until all queued work is done (a no-op on the CPU). */
    void (*sync)(si_backend *be);
};

/* n_threads <= 0: one per available core. precise: see cpu/cpu_backend.h. */
si_backend *si_backend_cpu_create(int n_threads, bool precise);

#endif

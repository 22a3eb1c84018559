/* backend/backend.h: the compute interface the forward pass runs on.
 *
 * The forward pass (model/forward.c) is written once as a sequence of these
 * operations; a backend (cpu/, cuda/) implements them on its own memory.
 * Activations and caches are backend buffers (host memory for the CPU,
 * device memory for CUDA); weights are the model file's tensors, which a
 * backend may prepare once (upload, repack) in prepare_model. All operations
 * act on a batch of n tokens laid out row after row.
 *
 * Operations return nothing: a backend whose work runs asynchronously (CUDA)
 * remembers the first failure and reports it from sync. */
#ifndef SI_BACKEND_BACKEND_H
#define SI_BACKEND_BACKEND_H

#include "../format/tensor.h"
#include "../kvcache/kvcache.h"
#include "../model/llama.h"
#include "../sampling/sample_spec.h"

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

/* One forward pass as a backend that records passes sees it (pass_begin). */
typedef struct {
    int n_tokens;
    const si_attn_run *runs; /* host memory */
    int n_runs;
    int max_visible;  /* most keys one query of the pass can see (S + W + 1 over the runs) */
    int n_logits;     /* rows with logits */
    bool argmax;      /* the logits are reduced to token ids (argmax op) */
    bool sample;      /* ... by the sample op instead */
    /* The pass's operations are fixed by the fields above (forward.c: logit
     * rows are 0..n_logits-1, so no rows are gathered); false: never replay. */
    bool recordable;
} si_pass;

typedef struct si_backend si_backend;

struct si_backend {
    const char *name;
    int n_threads;
    int kv_elem_bytes; /* bytes of one KV cache element: 4 (f32) or 2 (f16) */
    void (*destroy)(si_backend *be);
    /* Once per model: anything the backend needs before the first forward. */
    int (*prepare_model)(si_backend *be, const si_llama *m);

    /* Sizes scratch memory for forward passes of up to max_tokens rows whose
     * queries see up to max_visible keys; called before a forward may need
     * more, so that the operations themselves never allocate. */
    int (*reserve)(si_backend *be, const si_hparams *hp, int max_tokens, int max_visible);

    void *(*alloc)(si_backend *be, size_t bytes); /* NULL with an error on failure */
    void (*free)(si_backend *be, void *p);
    /* Optional (NULL: malloc and free): host memory that upload and download
     * move fastest (page-locked for CUDA). An upload from it may still be in
     * flight when upload returns: leave the source unchanged until sync. */
    void *(*host_alloc)(si_backend *be, size_t bytes);
    void (*host_free)(si_backend *be, void *p);
    void (*upload)(si_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(si_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy)(si_backend *be, void *dst, const void *src, size_t bytes); /* within backend memory */

    /* x[i] = embedding row tokens[i] (tokens in backend memory) */
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
    /* ids[i] = index of the largest of logits[i][0..n_vocab) (the lowest such
     * index; NaN never wins; 0 if nothing compares), for n rows. */
    void (*argmax)(si_backend *be, int32_t *ids, const float *logits, int n, int n_vocab);

    /* Optional (NULL: sampling happens on the host, from downloaded logits):
     * ids[i] = the token that specs[i] picks from logits[i] (sample_spec.h's
     * rules; specs in backend memory). May overwrite the logits. Takes the
     * specs sample_top_k_max allows (SI_SAMPLE_ANY_K: all). */
    void (*sample)(si_backend *be, int32_t *ids, float *logits, int n, int n_vocab, const si_sample_spec *specs);
    int sample_top_k_max;

    /* Optional fused operations (NULL: the forward pass uses the plain ones).
     * x[i] += W · in[i], as matmul into scratch followed by add. */
    void (*matmul_add)(si_backend *be, float *x, const si_tensor *w, const float *in, int n);
    /* gate[i] = silu(Wg · in[i]) * (Wu · in[i]), as matmul of both followed by swiglu. */
    void (*matmul_swiglu)(si_backend *be, float *gate, const si_tensor *wg, const si_tensor *wu, const float *in,
                          int n);
    /* The products of an RMS-normed input, normalized and multiplied in one
     * step where the backend can fold the norm into the product: outs[j] =
     * W_j · rmsnorm(x) (norm weight nw; with swiglu, count 2 and outs[0] =
     * silu(W_0 ·) * (W_1 ·), outs[1] unused), as rmsnorm into h followed by
     * matmul or matmul_swiglu. Returns false, having done nothing, when it
     * cannot fold this one (the caller then runs those steps). */
    bool (*norm_matmul)(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *x,
                        const si_tensor *nw, int n, int dim, float eps, bool swiglu);

    /* Optional (NULL on the CPU): whole forward passes. forward.c calls
     * pass_begin after uploading a pass's inputs (tokens, RoPE table) and
     * before its operations. The backend stages whatever per-pass metadata it
     * needs (attention rows from p->runs; every attention call must come
     * within a pass) and returns 1 when it replayed a recording of an earlier
     * pass with the same shape instead (the operations are then skipped), 0
     * when the operations should be issued (it may record them), -1 on error.
     * pass_end follows the operations when pass_begin returned 0: 0, -1 on
     * error, or 1 when recording failed and nothing ran: the operations are
     * then issued once more (and run as they come). */
    int (*pass_begin)(si_backend *be, const si_pass *p);
    int (*pass_end)(si_backend *be);

    /* Waits until all queued work is done; 0, or -1 with the first error any
     * of it had (the CPU never fails here). */
    int (*sync)(si_backend *be);
};

/* n_threads <= 0: one per available core. precise: see cpu/cpu_backend.h. */
si_backend *si_backend_cpu_create(int n_threads, bool precise);
/* The first CUDA device (SWIFTINFER_CUDA_DEVICE picks another); NULL with
 * "no CUDA device: ..." when there is none. Only in builds with SI_HAVE_CUDA. */
si_backend *si_backend_cuda_create(void);

#endif

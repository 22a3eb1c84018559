/* backend/cuda/kernels.h: the launchers of the CUDA kernels, callable from C.
 * Each returns the launch's error (cudaSuccess when it was queued). Every
 * pointer is device memory unless said otherwise; all work goes to stream s.
 * The CPU backend (backend/cpu) is the reference for what each computes. */
#ifndef SI_BACKEND_CUDA_KERNELS_H
#define SI_BACKEND_CUDA_KERNELS_H

#include "../../sampling/sample_spec.h"
#include "../gpu_layout.h"

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix on the device: rows of cols elements. For F32/F16/BF16,
 * data holds the rows; for the quantized types the planar layout of
 * gpu_layout.h, with qs, qh, sc, d and m pointing at its planes. */
typedef struct {
    si_dtype dtype;
    int64_t rows, cols;
    const void *data;
    const void *qs, *qh, *sc, *d, *m;
} si_cu_matrix;

/* ---- launch.cu ---- */

/* Launch kernels with programmatic dependent launch (sm_90 and later):
 * each kernel's start overlaps the end of the one before. */
void si_cu_set_pdl(bool on);

/* ---- gemv.cu: weights times a few activation rows ---- */

enum { SI_CU_STORE = 0, SI_CU_ADD = 1, SI_CU_SWIGLU = 2 };
#define SI_CU_GEMV_MAX_W 4

/* Which kernel streams F16/BF16 weights (gemv.cu says how they differ;
 * other types always use the register kernel). */
enum { SI_CU_GEMV_REG = 0, SI_CU_GEMV_ASYNC = 1, SI_CU_GEMV_WIDE = 2 };

/* y_j[t][r] = W_j · x[t] for t < n and each matrix j (all of one dtype and
 * one cols), with the epilogue: store, add to y, or (two matrices of equal
 * rows) y_0 = silu(W_0 · x) * (W_1 · x). One launch per group of up to 8
 * rows of x: the weights are read once per group. */
typedef struct {
    int n_w;
    const si_cu_matrix *w[SI_CU_GEMV_MAX_W];
    float *y[SI_CU_GEMV_MAX_W];
    int epilogue;
    int kernel; /* SI_CU_GEMV_* */
    /* non-NULL: the products are of rmsnorm(x) with this f32 norm weight and
     * eps, folded in (F16/BF16 weights, 1 or 2 rows, not SI_CU_GEMV_ASYNC;
     * si_cu_gemv_norm_fits) */
    const float *norm;
    float eps;
} si_cu_gemv_job;

/* Whether si_cu_gemv folds a norm into products of n rows with this dtype and kernel. */
bool si_cu_gemv_norm_fits(si_dtype dt, int n, int kernel);

cudaError_t si_cu_gemv(const si_cu_gemv_job *job, const float *x, int n, cudaStream_t s);

/* ---- norm.cu: element-wise operations ---- */

/* out[i] = in[i] / rms(in[i]) * w, w in f32 */
cudaError_t si_cu_rmsnorm(float *out, const float *in, const float *w, int n, int dim, float eps, cudaStream_t s);
/* gate[i] = silu(gate[i]) * up[i] */
cudaError_t si_cu_swiglu(float *gate, const float *up, size_t count, cudaStream_t s);
/* x[i] += y[i] */
cudaError_t si_cu_add(float *x, const float *y, size_t count, cudaStream_t s);
/* out = in rounded to f16 (bf16 when to_bf16), for cuBLAS */
cudaError_t si_cu_to_half(void *out, const float *in, size_t count, bool to_bf16, cudaStream_t s);

/* ---- dequant.cu ---- */

/* out[r][c] = element (row0 + r, c) of the planar quantized matrix w,
 * rounded to f16, for 0 <= r < rows: the f16 copy cuBLAS multiplies. */
cudaError_t si_cu_dequant_f16(void *out, const si_cu_matrix *w, int64_t row0, int64_t rows, cudaStream_t s);

/* ---- embed.cu ---- */

/* x[i] = row tokens[i] of emb, as f32 */
cudaError_t si_cu_embed(float *x, const si_cu_matrix *emb, const int32_t *tokens, int n, cudaStream_t s);

/* ---- sampling.cu ---- */

/* ids[i] = argmax of logits[i] (as the CPU backend's argmax op) */
cudaError_t si_cu_argmax(int32_t *ids, const float *logits, int n, int n_vocab, cudaStream_t s);
/* ids[i] = the token specs[i] picks from logits[i] (si_sample_row's rules),
 * for greedy specs and those with 1 <= top_k <= SI_CU_SAMPLE_TOP_K_MAX and
 * top_k < n_vocab. The logit rows are penalized in place. */
#define SI_CU_SAMPLE_TOP_K_MAX 256
cudaError_t si_cu_sample(int32_t *ids, float *logits, int n, int n_vocab, const si_sample_spec *specs, cudaStream_t s);

/* ---- attention.cu: RoPE, cache store and split-K attention ---- */

/* Which attend kernel (attention.cu says how they differ). WARP serves a
 * KV head shared by 2, 3, 4 or 8 query heads with one block for all of them;
 * WARP_PER_HEAD is the same kernel with a block per query head always. */
enum { SI_CU_ATTN_WARP = 0, SI_CU_ATTN_TILED = 1, SI_CU_ATTN_WARP_PER_HEAD = 2 };

typedef struct {
    int layer, n_tokens;
    int n_heads, n_kv_heads, head_dim;
    int rope_style;      /* si_rope_style */
    bool kv_f16;         /* cache elements are f16 (else f32) */
    const si_gpu_attn_row *rows; /* [n_tokens] */
    const float *q, *k, *v;      /* [n][dims], not rotated */
    const double *rope;          /* [n][3][head_dim]: rotations in double, rounded once (as the CPU) */
    float *qrot;                 /* scratch [n][2][q_dim]: window and sink rotations */
    float *out;                  /* [n][q_dim] */
    int splits;                  /* key ranges per (row, head) */
    int kernel;                  /* SI_CU_ATTN_* */
    const si_gpu_attn_group *groups; /* NULL, or n_groups groups of rows served together (WARP kernel;
                                        at most si_cu_attn_group_rows rows each) */
    int n_groups;
    float *part;                 /* scratch [n][n_heads][splits][head_dim + 2] */
    unsigned *count;             /* [n][n_heads], zero between launches */
} si_cu_attn;

/* Rotates and stores the new keys and values, rotates the queries, then
 * attends each (row, head) over its visible keys in `splits` ranges whose
 * partial softmax sums the last block to finish merges. head_dim 64 or 128. */
cudaError_t si_cu_attention(const si_cu_attn *a, cudaStream_t s);
/* How many ranges to split each (row, head) into, for a launch of
 * n_tokens x n_heads x splits blocks (n_heads: the blocks per row and split,
 * query heads / si_cu_attn_group): as many blocks as one wave of
 * blocks_per_sm on each multiprocessor holds, each range at least
 * keys_per_split keys, at most 64 ranges. */
int si_cu_attn_splits(int n_tokens, int n_heads, int max_visible, int n_sm, int blocks_per_sm, int keys_per_split);
/* Query heads one attend block serves (1, or the GQA group size for the
 * WARP kernel): a launch has n_heads / group blocks per (row, split). */
int si_cu_attn_group(int kernel, int n_heads, int n_kv_heads);
/* Rows of one session's chunk that one block of that kernel serves
 * together when given groups (si_gpu_attn_groups); 1: it takes no groups. */
int si_cu_attn_group_rows(int kernel, int n_heads, int n_kv_heads);
/* Blocks of that attend kernel (for that group size) a multiprocessor runs
 * at once (its register and shared memory use on this device); 0 when it
 * cannot be told. */
int si_cu_attn_blocks_per_sm(int kernel, int group, int head_dim, bool kv_f16);

#ifdef __cplusplus
}
#endif

#endif

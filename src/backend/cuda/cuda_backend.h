/* backend/cuda/cuda_backend.h: state shared by the CUDA backend's C files —
 * cuda_backend.c (device, memory, errors, scratch), cuda_weights.c (weights
 * uploaded once), cuda_pass.c (per-pass staging, CUDA graphs) and
 * cuda_ops.c (the operations, which launch kernels.h's kernels). */
#ifndef SI_BACKEND_CUDA_CUDA_BACKEND_H
#define SI_BACKEND_CUDA_CUDA_BACKEND_H

#include "../backend.h"
#include "../op_profile.h"
#include "kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdbool.h>

typedef struct si_cu_profiler si_cu_profiler; /* cuda_profile.c */

/* A weight's device copy, found by the si_tensor it came from. */
typedef struct {
    const si_tensor *t;
    si_cu_matrix mat; /* norms are stored as f32 vectors (rows = 1) */
    void *dev;        /* the allocation */
} si_cu_weight;

#define SI_CU_DEQ_BYTES ((size_t)64 << 20)

#define SI_CU_GRAPHS 8          /* recorded passes kept */
#define SI_CU_GRAPH_MAX_TOKENS 8 /* passes of more rows run eagerly */

typedef struct {
    int n_tokens, n_logits, max_visible;
    bool argmax, sample;
    cudaGraphExec_t exec; /* NULL: free entry */
    unsigned long long last_use;
} si_cu_graph;

typedef struct {
    si_backend base;
    int device, n_sm;
    int attn_blocks_per_sm, attn_keys_per_split; /* split-K sizing (si_cu_attn_splits) */
    int attn_bps_forced;                         /* SI_CUDA_ATTN_BLOCKS_PER_SM, or 0: from occupancy */
    int attn_kernel;                             /* SI_CU_ATTN_WARP or SI_CU_ATTN_TILED */
    int gemv_kernel;                             /* SI_CU_GEMV_*: F16/BF16 decode products */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    const si_hparams *hp; /* set by prepare_model */

    si_cu_weight *weights; /* open-addressing table, cap a power of two */
    size_t n_weights, weights_cap;
    /* f16 rows of a quantized matrix for cuBLAS (cuda_ops.c), SI_CU_DEQ_BYTES
     * at most; NULL when the model has no quantized matrix */
    void *deq;
    size_t deq_bytes;

    /* scratch, grown by reserve, for the dimensions in cap_hp */
    int cap_tokens, cap_visible;
    si_hparams cap_hp;
    size_t cap_part;       /* floats of attention partials */
    float *part;           /* attention split partials */
    unsigned *count;       /* [cap_tokens][n_heads] split counters */
    float *qrot;           /* [cap_tokens][2][q_dim] */
    float *tmp;            /* [cap_tokens][max(ffn, dim)]: cuBLAS intermediates */
    void *act16;           /* [cap_tokens][widest] halves: cuBLAS inputs */
    si_gpu_attn_row *rows_host, *rows_dev; /* [cap_tokens] */
    si_gpu_attn_group *groups_host, *groups_dev; /* [cap_tokens]: rows attended together */

    /* the pass in progress (pass_begin); pass_groups: row groups uploaded
     * for attention (0: a block per row) */
    int pass_rows, pass_max_visible, pass_groups;
    bool capturing;
    si_cu_graph capture_key;
    si_cu_graph graphs[SI_CU_GRAPHS];
    unsigned long long graph_clock;

    /* settings (environment, read at creation) */
    bool use_graphs;  /* SWIFTINFER_CUDA_GRAPH=0 turns graphs off */
    int cublas_min;   /* SWIFTINFER_CUDA_CUBLAS_MIN: rows from which F32/F16/BF16 go to cuBLAS */
    int cublas_qmin;  /* the larger of that and SWIFTINFER_CUDA_CUBLAS_QMIN: the same for quantized weights */
    bool fuse_norm;   /* SWIFTINFER_CUDA_FUSE_NORM=0 keeps RMSNorm a kernel of its own */
    bool pdl;         /* programmatic dependent launch: Hopper and SWIFTINFER_CUDA_PDL != 0 */
    si_cu_profiler *prof; /* SWIFTINFER_CUDA_PROFILE=1: operations timed; NULL otherwise */

    /* first failure of queued work, reported by pass_end or sync */
    bool failed;
    char error[512];
} si_cu_backend;

static inline si_cu_backend *si_cu(si_backend *be) { return (si_cu_backend *)be; }

/* Records the first failure (a no-op for cudaSuccess); returns e != cudaSuccess. */
bool si_cu_check(si_cu_backend *cb, cudaError_t e, const char *what);
bool si_cu_check_blas(si_cu_backend *cb, cublasStatus_t st, const char *what);
/* Moves the recorded failure into si_last_error; 0 if there was none. */
int si_cu_report(si_cu_backend *cb);

/* cuda_weights.c */
int si_cu_prepare_model(si_backend *be, const si_llama *m);
const si_cu_weight *si_cu_find(si_cu_backend *cb, const si_tensor *t); /* NULL and a failure if absent */
void si_cu_free_weights(si_cu_backend *cb);

/* cuda_pass.c */
int si_cu_pass_begin(si_backend *be, const si_pass *p);
int si_cu_pass_end(si_backend *be);
void si_cu_drop_graphs(si_cu_backend *cb);

/* cuda_profile.c: per-operation timing (SWIFTINFER_CUDA_PROFILE=1); each is
 * a no-op when cb->prof is NULL */
si_cu_profiler *si_cu_profiler_create(void);
void si_cu_profile_pass(si_cu_backend *cb, int rows);             /* pass_begin: a new pass opens */
void si_cu_profile_mark(si_cu_backend *cb, const char *what);     /* an operation is queued */
/* the weights of the next marked operation, for its label */
void si_cu_profile_detail(si_cu_backend *cb, const si_cu_matrix *const *mats, int count);
void si_cu_profiler_finish(si_cu_backend *cb); /* prints the table to stderr, frees */

/* cuda_ops.c */
void si_cu_set_ops(si_backend *b);

#endif

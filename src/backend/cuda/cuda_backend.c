/* backend/cuda/cuda_backend.c: the CUDA backend's device, stream, memory,
 * error channel and scratch. Everything runs on one stream; operations only
 * queue work, and the first failure is kept until pass_end or sync reports it.
 *
 * Settings, read from the environment once at creation:
 *   SWIFTINFER_CUDA_DEVICE      device index (default 0)
 *   SWIFTINFER_CUDA_KV          f16 (default) or f32: KV cache element type
 *   SWIFTINFER_CUDA_GRAPH       0 disables CUDA graphs for small passes
 *   SWIFTINFER_CUDA_PROFILE     1 times every operation (graphs off) and prints where
 *                               the time went when the backend closes (cuda_profile.c)
 *   SWIFTINFER_CUDA_FUSE_NORM   0 keeps RMSNorm a kernel of its own before decode products
 *   SWIFTINFER_CUDA_CUBLAS_MIN  rows from which float weights use cuBLAS (default 9)
 *   SWIFTINFER_CUDA_CUBLAS_QMIN rows from which quantized weights use cuBLAS through an f16
 *                               copy (default 32; never fewer than CUBLAS_MIN)
 *   SWIFTINFER_CUDA_ATTN        warp (default), tiled or perhead: the attend kernel (attention.cu;
 *                               perhead is warp without one block for a KV head's query heads)
 *   SWIFTINFER_CUDA_PDL         0 disables programmatic dependent launch (common.cuh; on by
 *                               default where the GPU has it: compute capability 9.0+)
 *   SWIFTINFER_CUDA_GEMV        reg (default), async or wide: F16/BF16 decode products with
 *                               weights in registers, streamed through cp.async, or in
 *                               registers with twice the loads in flight (gemv.cu) */
#include "cuda_backend.h"

#include "../../util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLAS_WORKSPACE (32u << 20)

bool si_cu_check(si_cu_backend *cb, cudaError_t e, const char *what) {
    if (e == cudaSuccess) {
        si_cu_profile_mark(cb, what);
        return false;
    }
    if (!cb->failed) {
        snprintf(cb->error, sizeof cb->error, "cuda: %s: %s", what, cudaGetErrorString(e));
        cb->failed = true;
    }
    return true;
}

bool si_cu_check_blas(si_cu_backend *cb, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) {
        si_cu_profile_mark(cb, what);
        return false;
    }
    if (!cb->failed) {
        snprintf(cb->error, sizeof cb->error, "cublas: %s: %s", what, cublasGetStatusString(st));
        cb->failed = true;
    }
    return true;
}

int si_cu_report(si_cu_backend *cb) {
    if (!cb->failed) return 0;
    cb->failed = false;
    return si_fail("%s", cb->error);
}

static void *cu_alloc(si_backend *be, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear it: an allocation failure is not sticky */
        si_set_error("cuda: cannot allocate %zu bytes of device memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    (void)be;
    return p;
}

static void cu_free(si_backend *be, void *p) {
    si_cu_check(si_cu(be), cudaFree(p), "cudaFree");
}

static void *cu_host_alloc(si_backend *be, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        cudaGetLastError();
        si_set_error("cuda: cannot allocate %zu bytes of page-locked host memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    (void)be;
    return p;
}

static void cu_host_free(si_backend *be, void *p) { si_cu_check(si_cu(be), cudaFreeHost(p), "cudaFreeHost"); }

static void cu_upload(si_backend *be, void *dst, const void *src, size_t bytes) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cb->stream), "upload");
}

static void cu_download(si_backend *be, void *dst, const void *src, size_t bytes) {
    si_cu_backend *cb = si_cu(be);
    if (!si_cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cb->stream), "download"))
        si_cu_check(cb, cudaStreamSynchronize(cb->stream), "download");
}

static void cu_copy(si_backend *be, void *dst, const void *src, size_t bytes) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cb->stream), "copy");
}

static int cu_sync(si_backend *be) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, cudaStreamSynchronize(cb->stream), "synchronize");
    return si_cu_report(cb);
}

/* Replaces *p with a fresh device buffer of bytes (contents lost). */
static int regrow(si_cu_backend *cb, void **p, size_t bytes) {
    if (*p) cudaFree(*p);
    *p = cu_alloc(&cb->base, bytes);
    return *p ? 0 : -1;
}

static bool same_dims(const si_hparams *a, const si_hparams *b) {
    return a->dim == b->dim && a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads &&
           a->head_dim == b->head_dim && a->ffn_dim == b->ffn_dim;
}

static int cu_reserve(si_backend *be, const si_hparams *hp, int max_tokens, int max_visible) {
    si_cu_backend *cb = si_cu(be);
    bool same = same_dims(hp, &cb->cap_hp);
    if (same && max_tokens <= cb->cap_tokens && max_visible <= cb->cap_visible) return 0;
    int tokens = same && cb->cap_tokens > max_tokens ? cb->cap_tokens : max_tokens;
    int visible = same && cb->cap_visible > max_visible ? cb->cap_visible : max_visible;
    /* Buffers move: recorded passes would use the old ones. */
    si_cu_drop_graphs(cb);
    if (si_cu_check(cb, cudaStreamSynchronize(cb->stream), "reserve")) return si_cu_report(cb);

    size_t n = (size_t)tokens, q_dim = (size_t)hp->n_heads * hp->head_dim;
    size_t wide = (size_t)hp->ffn_dim;
    if ((size_t)hp->dim > wide) wide = hp->dim;
    if (q_dim > wide) wide = q_dim;
    const int group = si_cu_attn_group(cb->attn_kernel, hp->n_heads, hp->n_kv_heads);
    if (!same && !cb->attn_bps_forced) {
        int bps = si_cu_attn_blocks_per_sm(cb->attn_kernel, group, hp->head_dim, be->kv_elem_bytes == 2);
        cb->attn_blocks_per_sm = bps > 0 ? bps : 6; /* 6: what the tiled kernel fits (80 registers a thread) */
    }
    /* attention partials: the most (row, query head, split) triples any
     * pass of up to `tokens` rows uses (splits as cu_attention sizes them:
     * for its blocks, one per row or, in row groups, at least one per
     * group_rows rows; fewer blocks get more splits) */
    const int group_rows = si_cu_attn_group_rows(cb->attn_kernel, hp->n_heads, hp->n_kv_heads);
    size_t part = 0;
    for (int t = 1; t <= tokens; t++) {
        int block_rows = t > SI_CU_GRAPH_MAX_TOKENS ? (t + group_rows - 1) / group_rows : t;
        int splits = si_cu_attn_splits(block_rows, hp->n_heads / group, visible, cb->n_sm, cb->attn_blocks_per_sm,
                                       cb->attn_keys_per_split);
        size_t blocks = (size_t)t * hp->n_heads * splits;
        if (blocks > part) part = blocks;
    }
    part *= (size_t)hp->head_dim + 2;
    cb->cap_tokens = cb->cap_visible = 0; /* until every buffer below exists */
    if (regrow(cb, (void **)&cb->part, part * sizeof(float)) ||
        regrow(cb, (void **)&cb->count, n * hp->n_heads * sizeof(unsigned)) ||
        regrow(cb, (void **)&cb->qrot, n * 2 * q_dim * sizeof(float)) ||
        regrow(cb, (void **)&cb->tmp, n * wide * sizeof(float)) || regrow(cb, &cb->act16, n * wide * 2) ||
        regrow(cb, (void **)&cb->rows_dev, n * sizeof(si_gpu_attn_row)) ||
        regrow(cb, (void **)&cb->groups_dev, n * sizeof(si_gpu_attn_group)))
        return -1;
    if (si_cu_check(cb, cudaMemsetAsync(cb->count, 0, n * hp->n_heads * sizeof(unsigned), cb->stream), "reserve"))
        return si_cu_report(cb);
    if (cb->rows_host) cudaFreeHost(cb->rows_host);
    if (cb->groups_host) cudaFreeHost(cb->groups_host);
    cb->rows_host = cu_host_alloc(be, n * sizeof(si_gpu_attn_row));
    cb->groups_host = cu_host_alloc(be, n * sizeof(si_gpu_attn_group));
    if (!cb->rows_host || !cb->groups_host) return -1;
    cb->cap_part = part;
    cb->cap_tokens = tokens;
    cb->cap_visible = visible;
    cb->cap_hp = *hp;
    return 0;
}

static void cu_destroy(si_backend *be) {
    si_cu_backend *cb = si_cu(be);
    if (cb->stream) cudaStreamSynchronize(cb->stream);
    si_cu_profiler_finish(cb);
    si_cu_drop_graphs(cb);
    si_cu_free_weights(cb);
    void *bufs[] = {cb->part, cb->count, cb->qrot, cb->tmp, cb->act16, cb->rows_dev, cb->groups_dev, cb->blas_ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    if (cb->rows_host) cudaFreeHost(cb->rows_host);
    if (cb->groups_host) cudaFreeHost(cb->groups_host);
    if (cb->blas) cublasDestroy(cb->blas);
    if (cb->stream) cudaStreamDestroy(cb->stream);
    free(cb);
}

static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

/* A setting with a few values (a NULL-terminated list, the first the
 * default): the index of the one set, -1 with an error for anything else. */
static int env_choice(const char *name, const char *const *values) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    for (int i = 0; values[i]; i++)
        if (strcmp(v, values[i]) == 0) return i;
    char expected[128] = "";
    for (int i = 0; values[i]; i++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s", i ? ", " : "", values[i]);
    si_set_error("%s=%s: expected one of %s", name, v, expected);
    return -1;
}

static int init_device(si_cu_backend *cb) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return si_fail("no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    }
    cb->device = env_int("SWIFTINFER_CUDA_DEVICE", 0);
    if (cb->device < 0 || cb->device >= count)
        return si_fail("no CUDA device: SWIFTINFER_CUDA_DEVICE=%d but there are %d", cb->device, count);
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(cb->device)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, cb->device)) != cudaSuccess)
        return si_fail("no CUDA device: device %d: %s", cb->device, cudaGetErrorString(e));
    cb->n_sm = prop.multiProcessorCount;
    /* Programmatic dependent launch needs Hopper (compute capability 9.0).
     * The launch switch is process-wide: set here, and again by each pass
     * (cuda_pass.c), so that backends opened with different settings each
     * run with their own. */
    cb->pdl = prop.major >= 9 && env_int("SWIFTINFER_CUDA_PDL", 1) != 0;
    si_cu_set_pdl(cb->pdl);
    /* Attention splits: one wave of blocks (as many as the kernel's register
     * use lets a multiprocessor hold, found in reserve once the head size is
     * known), ranges of at least 64 keys. The environment overrides both for
     * tuning sweeps (scripts/gpu-attn-sweep.sh; H200 figures in docs/cuda.md). */
    int bps = env_int("SI_CUDA_ATTN_BLOCKS_PER_SM", 0), kps = env_int("SI_CUDA_ATTN_KEYS_PER_SPLIT", 64);
    cb->attn_bps_forced = bps >= 1 && bps <= 64 ? bps : 0;
    cb->attn_blocks_per_sm = cb->attn_bps_forced ? cb->attn_bps_forced : 6;
    cb->attn_keys_per_split = kps >= 8 && kps <= 4096 ? kps : 64;
    if ((e = cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking)) != cudaSuccess)
        return si_fail("cuda: cannot create a stream: %s", cudaGetErrorString(e));
    cublasStatus_t st = cublasCreate(&cb->blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cb->blas = NULL;
        return si_fail("cublas: cannot create a handle: %s", cublasGetStatusString(st));
    }
    /* An explicit workspace keeps cuBLAS from allocating inside a recorded pass. */
    if (!(cb->blas_ws = cu_alloc(&cb->base, BLAS_WORKSPACE))) return -1;
    if ((st = cublasSetStream(cb->blas, cb->stream)) != CUBLAS_STATUS_SUCCESS ||
        (st = cublasSetWorkspace(cb->blas, cb->blas_ws, BLAS_WORKSPACE)) != CUBLAS_STATUS_SUCCESS)
        return si_fail("cublas: setup: %s", cublasGetStatusString(st));
    return 0;
}

si_backend *si_backend_cuda_create(void) {
    si_cu_backend *cb = si_calloc(1, sizeof *cb);
    if (!cb) return NULL;
    si_backend *b = &cb->base;
    b->name = "cuda";
    b->n_threads = 1;
    b->destroy = cu_destroy;
    if (init_device(cb)) {
        cu_destroy(b);
        return NULL;
    }
    int kv32 = env_choice("SWIFTINFER_CUDA_KV", (const char *const[]){"f16", "f32", NULL});
    /* the order of SI_CU_ATTN_* */
    int attn = env_choice("SWIFTINFER_CUDA_ATTN", (const char *const[]){"warp", "tiled", "perhead", NULL});
    /* the order of SI_CU_GEMV_* */
    int gemv = env_choice("SWIFTINFER_CUDA_GEMV", (const char *const[]){"reg", "async", "wide", NULL});
    if (kv32 < 0 || attn < 0 || gemv < 0) {
        cu_destroy(b);
        return NULL;
    }
    b->kv_elem_bytes = kv32 ? 4 : 2;
    cb->attn_kernel = attn;
    cb->gemv_kernel = gemv;
    cb->use_graphs = env_int("SWIFTINFER_CUDA_GRAPH", 1) != 0;
    if (env_int("SWIFTINFER_CUDA_PROFILE", 0)) {
        if (!(cb->prof = si_cu_profiler_create())) {
            cu_destroy(b);
            return NULL;
        }
        cb->use_graphs = false; /* a replayed graph is one operation to the host */
    }
    cb->fuse_norm = env_int("SWIFTINFER_CUDA_FUSE_NORM", 1) != 0;
    cb->cublas_min = env_int("SWIFTINFER_CUDA_CUBLAS_MIN", 9);
    /* Expanding a quantized matrix to f16 costs about as much as rereading
     * it for 30 rows through the GEMV kernels (8 rows per read). */
    int qmin = env_int("SWIFTINFER_CUDA_CUBLAS_QMIN", 32);
    cb->cublas_qmin = qmin > cb->cublas_min ? qmin : cb->cublas_min;
    b->prepare_model = si_cu_prepare_model;
    b->reserve = cu_reserve;
    b->alloc = cu_alloc;
    b->free = cu_free;
    b->host_alloc = cu_host_alloc;
    b->host_free = cu_host_free;
    b->upload = cu_upload;
    b->download = cu_download;
    b->copy = cu_copy;
    b->pass_begin = si_cu_pass_begin;
    b->pass_end = si_cu_pass_end;
    b->sync = cu_sync;
    si_cu_set_ops(b);
    return b;
}

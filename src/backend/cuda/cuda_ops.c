/* backend/cuda/cuda_ops.c: the backend operations — each looks up its
 * weights' device copies and queues kernels (kernels.h) or cuBLAS calls.
 *
 * Matrix products: decode and small batches use the bandwidth-bound GEMV
 * kernels for every weight type; from cublas_min rows on, F32, F16 and BF16
 * weights use cuBLAS (activations rounded to the weight's 16-bit type, f32
 * accumulation and output), and from cublas_qmin rows on, quantized weights
 * too, expanded to f16 a slice at a time (below that, a quantized matrix is
 * cheaper to reread once per 8 rows than to expand). */
#include "cuda_backend.h"

#include "../../util/error.h"

#include <string.h>

static void cu_embed(si_backend *be, float *x, const si_tensor *emb, const int32_t *tokens, int n) {
    si_cu_backend *cb = si_cu(be);
    const si_cu_weight *w = si_cu_find(cb, emb);
    if (w) si_cu_check(cb, si_cu_embed(x, &w->mat, tokens, n, cb->stream), "embed");
}

static void cu_rmsnorm(si_backend *be, float *out, const float *in, const si_tensor *w, int n, int dim, float eps) {
    si_cu_backend *cb = si_cu(be);
    const si_cu_weight *nw = si_cu_find(cb, w);
    if (nw) si_cu_check(cb, si_cu_rmsnorm(out, in, nw->mat.data, n, dim, eps, cb->stream), "rmsnorm");
}

static void cu_swiglu(si_backend *be, float *gate, const float *up, size_t count) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, si_cu_swiglu(gate, up, count, cb->stream), "swiglu");
}

static void cu_add(si_backend *be, float *x, const float *y, size_t count) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, si_cu_add(x, y, count, cb->stream), "add");
}

static void cu_argmax(si_backend *be, int32_t *ids, const float *logits, int n, int n_vocab) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, si_cu_argmax(ids, logits, n, n_vocab, cb->stream), "argmax");
}

static void cu_sample(si_backend *be, int32_t *ids, float *logits, int n, int n_vocab, const si_sample_spec *specs) {
    si_cu_backend *cb = si_cu(be);
    si_cu_check(cb, si_cu_sample(ids, logits, n, n_vocab, specs, cb->stream), "sampling");
}

static bool is_float(si_dtype t) { return t == SI_DTYPE_F32 || t == SI_DTYPE_F16 || t == SI_DTYPE_BF16; }

/* Rows of w that one f16 copy in cb->deq holds; 0 when w is not quantized or
 * the model has no such buffer. */
static int64_t deq_slice_rows(const si_cu_backend *cb, const si_cu_matrix *w) {
    if (is_float(w->dtype) || !cb->deq) return 0;
    int64_t rows = (int64_t)(cb->deq_bytes / ((size_t)w->cols * 2));
    return rows < w->rows ? rows : w->rows;
}

/* Whether a product of n rows with w goes to cuBLAS rather than the GEMV kernels. */
static bool use_blas(const si_cu_backend *cb, const si_cu_matrix *w, int n) {
    if (is_float(w->dtype)) return n >= cb->cublas_min;
    return n >= cb->cublas_qmin && deq_slice_rows(cb, w) > 0;
}

/* y[t][row] = A · x16[t] (+ y when accumulate) for n rows through cuBLAS, A
 * `rows` row-major rows of `cols` elements of `type`; y rows are ldy apart.
 * Row-major A is column-major [cols][rows], so y^T = op_T(A) x^T. */
static void blas_gemm(si_cu_backend *cb, const void *a, cudaDataType_t type, int rows, int cols, const void *x16,
                      float *y, int ldy, int n, bool accumulate) {
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    si_cu_check_blas(cb,
                     cublasGemmEx(cb->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &alpha, a, type, cols, x16, type,
                                  cols, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "matrix product");
}

/* y = W · x through cuBLAS. x16 holds x rounded to the 16-bit type W is
 * multiplied in (unused for F32). Quantized W is expanded to f16 a slice of
 * rows at a time into cb->deq, each slice multiplied before the next
 * overwrites it (one stream orders them). */
static void blas_product(si_cu_backend *cb, const si_cu_matrix *w, const float *x, const void *x16, float *y, int n,
                         bool accumulate) {
    int rows = (int)w->rows, cols = (int)w->cols;
    if (is_float(w->dtype)) {
        cudaDataType_t type =
            w->dtype == SI_DTYPE_F32 ? CUDA_R_32F : w->dtype == SI_DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
        si_cu_profile_detail(cb, &w, 1); /* the label of the next operation (when profiling) */
        blas_gemm(cb, w->data, type, rows, cols, w->dtype == SI_DTYPE_F32 ? (const void *)x : x16, y, rows, n,
                  accumulate);
        return;
    }
    int64_t slice = deq_slice_rows(cb, w);
    for (int64_t r0 = 0; r0 < rows && !cb->failed; r0 += slice) {
        int nr = (int)(rows - r0 < slice ? rows - r0 : slice);
        si_cu_profile_detail(cb, &w, 1);
        si_cu_check(cb, si_cu_dequant_f16(cb->deq, w, r0, nr, cb->stream), "expanding quantized weights");
        si_cu_profile_detail(cb, &w, 1);
        blas_gemm(cb, cb->deq, CUDA_R_16F, nr, cols, x16, y + r0, rows, n, accumulate);
    }
}

/* x rounded to the 16-bit type w is multiplied in (bf16 for BF16 weights,
 * else f16) in cb->act16, once per type per call. */
static const void *half_input(si_cu_backend *cb, const si_cu_matrix *w, const float *x, int n, si_dtype *done) {
    si_dtype t16 = w->dtype == SI_DTYPE_BF16 ? SI_DTYPE_BF16 : SI_DTYPE_F16;
    if (w->dtype != SI_DTYPE_F32 && *done != t16) {
        si_cu_check(cb, si_cu_to_half(cb->act16, x, (size_t)n * w->cols, t16 == SI_DTYPE_BF16, cb->stream),
                    "rounding activations");
        *done = t16;
    }
    return cb->act16;
}

/* Products of `count` weights with one input, with an epilogue (kernels.h):
 * store into outs[j], add into outs[j], or outs[0] = silu(W0 x) * (W1 x). */
static void products(si_cu_backend *cb, int count, float *const *outs, const si_tensor *const *ws, const float *in,
                     int n, int epilogue) {
    const si_cu_matrix *mats[SI_CU_GEMV_MAX_W];
    bool blas = true;
    for (int j = 0; j < count; j++) {
        const si_cu_weight *w = si_cu_find(cb, ws[j]);
        if (!w) return;
        mats[j] = &w->mat;
        blas &= use_blas(cb, mats[j], n);
    }
    if (blas) {
        if (n > cb->cap_tokens) { /* its scratch (tmp, act16) is sized by reserve */
            si_cu_check(cb, cudaErrorInvalidValue, "matrix product of more rows than reserved");
            return;
        }
        si_dtype rounded = SI_DTYPE_COUNT;
        for (int j = 0; j < count; j++) {
            const void *x16 = half_input(cb, mats[j], in, n, &rounded);
            float *y = epilogue == SI_CU_SWIGLU && j == 1 ? cb->tmp : outs[j];
            blas_product(cb, mats[j], in, x16, y, n, epilogue == SI_CU_ADD);
        }
        if (epilogue == SI_CU_SWIGLU)
            si_cu_check(cb, si_cu_swiglu(outs[0], cb->tmp, (size_t)n * mats[0]->rows, cb->stream), "swiglu");
        return;
    }
    /* GEMV: one launch for consecutive weights of one type and width */
    for (int j0 = 0; j0 < count;) {
        si_cu_gemv_job job = {.n_w = 0, .epilogue = epilogue, .kernel = cb->gemv_kernel};
        int j = j0;
        while (j < count && job.n_w < SI_CU_GEMV_MAX_W &&
               (job.n_w == 0 || (mats[j]->dtype == mats[j0]->dtype && mats[j]->cols == mats[j0]->cols))) {
            job.w[job.n_w] = mats[j];
            job.y[job.n_w] = outs[j];
            job.n_w++;
            j++;
        }
        if (epilogue == SI_CU_SWIGLU && job.n_w != 2) {
            si_cu_check(cb, cudaErrorInvalidValue, "gate and up projections of different types");
            return;
        }
        si_cu_profile_detail(cb, job.w, job.n_w);
        si_cu_check(cb, si_cu_gemv(&job, in, n, cb->stream), "matrix-vector product");
        j0 = j;
    }
}

static void cu_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in,
                      int n) {
    si_cu_backend *cb = si_cu(be);
    for (int j = 0; j < count; j += SI_CU_GEMV_MAX_W) {
        int c = count - j < SI_CU_GEMV_MAX_W ? count - j : SI_CU_GEMV_MAX_W;
        products(cb, c, outs + j, ws + j, in, n, SI_CU_STORE);
    }
}

static void cu_matmul_add(si_backend *be, float *x, const si_tensor *w, const float *in, int n) {
    products(si_cu(be), 1, &x, &w, in, n, SI_CU_ADD);
}

static void cu_matmul_swiglu(si_backend *be, float *gate, const si_tensor *wg, const si_tensor *wu, const float *in,
                             int n) {
    float *outs[2] = {gate, NULL};
    const si_tensor *ws[2] = {wg, wu};
    products(si_cu(be), 2, outs, ws, in, n, SI_CU_SWIGLU);
}

/* The norm folded into the GEMV (gemv.cu, NORM) for decode rows of F16/BF16
 * weights: one kernel fewer per norm, and the product's first weight loads
 * overlap the kernel before it (PDL) instead of the norm. Otherwise (false)
 * forward.c runs the norm kernel into h, then the products. */
static bool cu_norm_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *x,
                           const si_tensor *nw, int n, int dim, float eps, bool swiglu) {
    si_cu_backend *cb = si_cu(be);
    const si_cu_weight *norm = si_cu_find(cb, nw);
    if (!norm) return true; /* the failure is recorded */
    si_cu_gemv_job job = {.n_w = count, .epilogue = swiglu ? SI_CU_SWIGLU : SI_CU_STORE, .kernel = cb->gemv_kernel,
                          .norm = norm->mat.data, .eps = eps};
    bool fused = cb->fuse_norm && count <= SI_CU_GEMV_MAX_W && n < cb->cublas_min;
    for (int j = 0; fused && j < count; j++) {
        const si_cu_weight *w = si_cu_find(cb, ws[j]);
        if (!w) return true;
        job.w[j] = &w->mat;
        job.y[j] = outs[j];
        fused = si_cu_gemv_norm_fits(w->mat.dtype, n, cb->gemv_kernel) && w->mat.dtype == job.w[0]->dtype &&
                w->mat.cols == dim;
    }
    if (!fused) return false;
    si_cu_profile_detail(cb, job.w, count);
    si_cu_check(cb, si_cu_gemv(&job, x, n, cb->stream), "matrix-vector product of a norm");
    return true;
}

static void cu_attention(si_backend *be, const si_hparams *hp, const si_attn_args *a) {
    si_cu_backend *cb = si_cu(be);
    if (a->n_tokens != cb->pass_rows) {
        si_cu_check(cb, cudaErrorInvalidValue, "attention outside a pass (pass_begin stages its rows)");
        return;
    }
    /* one block per (row, split) serves `group` query heads */
    const int group = si_cu_attn_group(cb->attn_kernel, hp->n_heads, hp->n_kv_heads);
    si_cu_attn k = {
        .layer = a->layer,
        .n_tokens = a->n_tokens,
        .n_heads = hp->n_heads,
        .n_kv_heads = hp->n_kv_heads,
        .head_dim = hp->head_dim,
        .rope_style = hp->rope_style,
        .kv_f16 = be->kv_elem_bytes == 2,
        .rows = cb->rows_dev,
        .q = a->q,
        .k = a->k,
        .v = a->v,
        .rope = a->rope,
        .qrot = cb->qrot,
        .out = a->out,
        .splits = si_cu_attn_splits(cb->pass_groups ? cb->pass_groups : a->n_tokens, hp->n_heads / group,
                                    cb->pass_max_visible, cb->n_sm, cb->attn_blocks_per_sm, cb->attn_keys_per_split),
        .kernel = cb->attn_kernel,
        .part = cb->part,
        .count = cb->count,
        .groups = cb->pass_groups ? cb->groups_dev : NULL,
        .n_groups = cb->pass_groups,
    };
    si_cu_check(cb, si_cu_attention(&k, cb->stream), "attention");
}

void si_cu_set_ops(si_backend *b) {
    b->embed = cu_embed;
    b->rmsnorm = cu_rmsnorm;
    b->matmul = cu_matmul;
    b->matmul_add = cu_matmul_add;
    b->matmul_swiglu = cu_matmul_swiglu;
    b->norm_matmul = cu_norm_matmul;
    b->attention = cu_attention;
    b->swiglu = cu_swiglu;
    b->add = cu_add;
    b->argmax = cu_argmax;
    b->sample = cu_sample;
    b->sample_top_k_max = SI_CU_SAMPLE_TOP_K_MAX;
}

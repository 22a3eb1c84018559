/* backend/cpu/matmul.c: out = W · in for a batch of rows, split over threads
 * into tasks of (a block of weight rows) x (a block of input rows).
 *
 * Small batches (decode) split the weight rows only: a block of weight rows
 * stays in L1 while every input row passes over it, so the weights are read
 * from memory once per call. Large batches (prompts) give each task many
 * weight rows and a slice of the input rows: the kernels repack a task's
 * activations once for all its weight rows (about as much work as one
 * weight row's products), so short row blocks would redo that packing many
 * times; the weights of a block still fit in L2 while a slice passes. The
 * kernels give bit-identical results however the work is split. */
#include "cpu_backend.h"

/* From this many input rows on, tasks take slices of TOKENS_PER_TASK input
 * rows and blocks of up to ROWS_PER_BIG_TASK weight rows. */
#define SPLIT_TOKENS_FROM 64
#define TOKENS_PER_TASK 32
#define ROWS_PER_BIG_TASK 256

#define MAX_FUSED 4

typedef struct {
    si_cpu_backend *be;
    int count;
    float *const *outs;
    const si_tensor *const *ws;
    const float *in;
    int n;
    int cols;
    int rows_per_task, tokens_per_task, token_blocks;
    int task_start[MAX_FUSED + 1]; /* first task of each weight */
} matmul_ctx;

/* Input row i rounded once for all the weights of a call: to 8-bit blocks
 * (qx) and/or to bf16 (xbf), whichever is non-NULL. */
typedef struct {
    const si_cpu_kernels *k;
    const float *in;
    si_block_q8x *qx;
    uint16_t *xbf;
    int cols;
} pack_ctx;

static void pack_task(void *p, int i, int thread) {
    (void)thread;
    pack_ctx *c = p;
    const float *x = c->in + (size_t)i * c->cols;
    if (c->qx) c->k->quantize_q8x(x, c->qx + (size_t)i * (c->cols / SI_QBLOCK), c->cols);
    if (c->xbf) c->k->round_bf16x(x, c->xbf + (size_t)i * c->cols, c->cols);
}

/* Whether W meets 8-bit activations: quantized weights, except in the precise mode. */
static bool uses_q8_activations(const si_cpu_backend *c, const si_tensor *w) {
    return !c->precise && si_dtype_is_quantized(w->dtype);
}

/* Whether W meets activations rounded to bf16: BF16 weights where the
 * kernels have the bf16 products (AVX512_BF16), except in the precise mode. */
static bool uses_bf16_activations(const si_cpu_backend *c, const si_tensor *w) {
    return !c->precise && w->dtype == SI_DTYPE_BF16 && c->kern->gemm_bf16;
}

/* The output head's products are the logits themselves, where the 8-bit
 * rounding of the final hidden state (whose outlier dimensions coarsen whole
 * blocks) was measured to flip about one top-1 token in a hundred. Computing
 * the whole head with float activations is four times slower, so each row's
 * HEAD_REFINE largest logits are recomputed with float activations instead:
 * the top of the distribution, where sampling and the argmax look, is then as
 * accurate as the weights allow; the tail keeps the 8-bit error. The same
 * for a BF16 head multiplied with bf16 activations. */
#define HEAD_REFINE 32

typedef struct {
    si_cpu_backend *be;
    const si_tensor *w;
    float *out;
    const float *in;
    int rows, cols;
} refine_ctx;

static void refine_task(void *p, int i, int thread) {
    (void)thread;
    refine_ctx *c = p;
    float *logits = c->out + (size_t)i * c->rows;
    int top[HEAD_REFINE], n_top = 0;
    for (int r = 0; r < c->rows; r++) {
        /* sorted descending; most rows fail the first comparison */
        if (n_top == HEAD_REFINE && logits[r] <= logits[top[n_top - 1]]) continue;
        int at = n_top < HEAD_REFINE ? n_top++ : HEAD_REFINE - 1;
        while (at > 0 && logits[top[at - 1]] < logits[r]) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = r;
    }
    size_t row_bytes = si_dtype_row_bytes(c->w->dtype, c->cols);
    for (int k = 0; k < n_top; k++)
        c->be->kern->gemm_f(c->w->dtype, (const char *)c->w->data + (size_t)top[k] * row_bytes, row_bytes, 1,
                            c->in + (size_t)i * c->cols, c->cols, 1, logits + top[k], 1);
}

static void matmul_task(void *p, int task, int thread) {
    (void)thread;
    matmul_ctx *c = p;
    int j = 0;
    while (task >= c->task_start[j + 1]) j++;
    const si_tensor *w = c->ws[j];
    int rows = (int)w->ne[1];
    int local = task - c->task_start[j];
    int r0 = local / c->token_blocks * c->rows_per_task, t0 = local % c->token_blocks * c->tokens_per_task;
    int nr = rows - r0 < c->rows_per_task ? rows - r0 : c->rows_per_task;
    int nt = c->n - t0 < c->tokens_per_task ? c->n - t0 : c->tokens_per_task;
    size_t row_bytes = si_dtype_row_bytes(w->dtype, c->cols);
    const char *wr = (const char *)w->data + (size_t)r0 * row_bytes;
    const si_cpu_kernels *k = c->be->kern;
    float *out = c->outs[j] + (size_t)t0 * rows + r0;
    const float *in = c->in + (size_t)t0 * c->cols;
    if (c->be->precise) {
        si_gemm_f_ref(w->dtype, wr, row_bytes, nr, in, c->cols, nt, out, rows);
    } else if (uses_q8_activations(c->be, w)) {
        int nb = c->cols / SI_QBLOCK;
        k->gemm_q(w->dtype, wr, row_bytes, nr, c->be->qx + (size_t)t0 * nb, nb, nt, out, rows);
    } else if (uses_bf16_activations(c->be, w)) {
        k->gemm_bf16(wr, row_bytes, nr, c->be->xbf + (size_t)t0 * c->cols, c->cols, nt, out, rows);
    } else {
        k->gemm_f(w->dtype, wr, row_bytes, nr, in, c->cols, nt, out, rows);
    }
}

void si_cpu_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in, int n) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    if (count > MAX_FUSED) {
        si_cpu_matmul(be, MAX_FUSED, outs, ws, in, n);
        si_cpu_matmul(be, count - MAX_FUSED, outs + MAX_FUSED, ws + MAX_FUSED, in, n);
        return;
    }
    int cols = (int)ws[0]->ne[0];
    bool any_q8 = false, any_bf16 = false;
    long total_rows = 0;
    for (int j = 0; j < count; j++) {
        any_q8 |= uses_q8_activations(c, ws[j]);
        any_bf16 |= uses_bf16_activations(c, ws[j]);
        total_rows += ws[j]->ne[1];
    }
    if (any_q8 || any_bf16) {
        pack_ctx q = {c->kern, in, any_q8 ? c->qx : NULL, any_bf16 ? c->xbf : NULL, cols};
        si_pool_run(c->pool, pack_task, &q, n);
    }
    matmul_ctx m = {.be = c, .count = count, .outs = outs, .ws = ws, .in = in, .n = n, .cols = cols};
    int threads = si_pool_threads(c->pool);
    if (n < SPLIT_TOKENS_FROM) {
        /* Enough tasks for dynamic balancing (several per thread), rows a
         * multiple of 4, up to 64 (a block of rows stays in L1 while the
         * batch passes), for a single input row up to 256: each call's
         * fixed cost (packing the activations) is a few rows' worth. */
        int rpt = (int)(total_rows / (threads * 8)), max = n == 1 ? 256 : 64;
        m.rows_per_task = rpt < 4 ? 4 : (rpt > max ? max : rpt & ~3);
        m.tokens_per_task = n;
    } else {
        m.rows_per_task = ROWS_PER_BIG_TASK;
        m.tokens_per_task = TOKENS_PER_TASK;
    }
    m.token_blocks = (n + m.tokens_per_task - 1) / m.tokens_per_task;
    m.task_start[0] = 0;
    for (int j = 0; j < count; j++) {
        int rows = (int)ws[j]->ne[1], rpt = m.rows_per_task;
        m.task_start[j + 1] = m.task_start[j] + (rows + rpt - 1) / rpt * m.token_blocks;
    }
    si_pool_run(c->pool, matmul_task, &m, m.task_start[count]);
    if (count == 1 && ws[0] == c->head && (uses_q8_activations(c, ws[0]) || uses_bf16_activations(c, ws[0]))) {
        refine_ctx r = {c, ws[0], outs[0], in, (int)ws[0]->ne[1], cols};
        si_pool_run(c->pool, refine_task, &r, n);
    }
}

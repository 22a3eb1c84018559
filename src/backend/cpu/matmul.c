/* backend/cpu/matmul.c: out = W · in for a batch of rows, split over threads
 * by blocks of weight rows. A block of weight rows stays in L1 while every
 * input row passes over it, so the weights are read from memory once per
 * call, whatever the batch size. */
#include "cpu_backend.h"


#define MAX_FUSED 4

typedef struct {
    si_cpu_backend *be;
    int count;
    float *const *outs;
    const si_tensor *const *ws;
    const float *in;
    int n;
    int cols;
    int rows_per_task;
    int task_start[MAX_FUSED + 1]; /* first task of each weight */
} matmul_ctx;

typedef struct {
    const si_cpu_kernels *k;
    const float *in;
    si_block_q8x *qx;
    int cols;
} quantize_ctx;

static void quantize_task(void *p, int i, int thread) {
    (void)thread;
    quantize_ctx *c = p;
    c->k->quantize_q8x(c->in + (size_t)i * c->cols, c->qx + (size_t)i * (c->cols / SI_QBLOCK), c->cols);
}

static void matmul_task(void *p, int task, int thread) {
    (void)thread;
    matmul_ctx *c = p;
    int j = 0;
    while (task >= c->task_start[j + 1]) j++;
    const si_tensor *w = c->ws[j];
    int rows = (int)w->ne[1];
    int r0 = (task - c->task_start[j]) * c->rows_per_task;
    int nr = rows - r0 < c->rows_per_task ? rows - r0 : c->rows_per_task;
    size_t row_bytes = si_dtype_row_bytes(w->dtype, c->cols);
    const char *wr = (const char *)w->data + (size_t)r0 * row_bytes;
    const si_cpu_kernels *k = c->be->kern;
    float *out = c->outs[j] + r0;
    if (c->be->precise)
        si_gemm_f_ref(w->dtype, wr, row_bytes, nr, c->in, c->cols, c->n, out, rows);
    else if (si_dtype_is_quantized(w->dtype))
        k->gemm_q(w->dtype, wr, row_bytes, nr, c->be->qx, c->cols / SI_QBLOCK, c->n, out, rows);
    else
        k->gemm_f(w->dtype, wr, row_bytes, nr, c->in, c->cols, c->n, out, rows);
}

void si_cpu_matmul(si_backend *be, int count, float *const *outs, const si_tensor *const *ws, const float *in, int n) {
    si_cpu_backend *c = (si_cpu_backend *)be;
    if (count > MAX_FUSED) {
        si_cpu_matmul(be, MAX_FUSED, outs, ws, in, n);
        si_cpu_matmul(be, count - MAX_FUSED, outs + MAX_FUSED, ws + MAX_FUSED, in, n);
        return;
    }
    int cols = (int)ws[0]->ne[0];
    int any_quantized = 0;
    long total_rows = 0;
    for (int j = 0; j < count; j++) {
        any_quantized |= si_dtype_is_quantized(ws[j]->dtype) && !c->precise;
        total_rows += ws[j]->ne[1];
    }
    if (any_quantized) {
        quantize_ctx q = {c->kern, in, c->qx, cols};
        si_pool_run(c->pool, quantize_task, &q, n);
    }
    matmul_ctx m = {.be = c, .count = count, .outs = outs, .ws = ws, .in = in, .n = n, .cols = cols};
    /* Enough tasks for dynamic balancing (several per thread), rows a multiple of 4. */
    int threads = si_pool_threads(c->pool);
    int rpt = (int)(total_rows / (threads * 8));
    rpt = rpt < 4 ? 4 : (rpt > 64 ? 64 : rpt & ~3);
    m.rows_per_task = rpt;
    m.task_start[0] = 0;
    for (int j = 0; j < count; j++) m.task_start[j + 1] = m.task_start[j] + (int)((ws[j]->ne[1] + rpt - 1) / rpt);
    si_pool_run(c->pool, matmul_task, &m, m.task_start[count]);
}

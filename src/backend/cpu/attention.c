/* backend/cpu/attention.c: RoPE, cache writes and causal attention over the
 * StreamingLLM cache (sinks + ring window), one task per (row, head). The
 * cache policy itself (slots, visible keys, rotation positions) is in
 * kvcache/kvcache.h; this file only does the arithmetic. */
#include "cpu_backend.h"

#include <math.h>
#include <string.h>

void si_rope_rotate(float *dst, const float *src, const double *cs, int head_dim, int style) {
    int half = head_dim / 2;
    const double *cosv = cs, *sinv = cs + half;
    /* pair i is (i0, i1): adjacent elements, or i and i + half */
    int step = style == SI_ROPE_ADJACENT ? 2 : 1, gap = style == SI_ROPE_ADJACENT ? 1 : half;
    for (int i = 0; i < half; i++) {
        int i0 = i * step, i1 = i0 + gap;
        double x0 = src[i0], x1 = src[i1];
        dst[i0] = (float)(x0 * cosv[i] - x1 * sinv[i]);
        dst[i1] = (float)(x0 * sinv[i] + x1 * cosv[i]);
    }
}

typedef struct {
    si_cpu_backend *be;
    const si_hparams *hp;
    const si_attn_args *a;
} attn_ctx;

static const si_attn_run *run_of_row(const si_attn_args *a, int row) {
    for (int r = 0; r < a->n_runs; r++)
        if (row >= a->runs[r].first && row < a->runs[r].first + a->runs[r].n) return &a->runs[r];
    return NULL;
}

static float *cache_row(const si_kvcache *c, void *base, int layer, int slot) {
    return (float *)base + ((size_t)layer * c->slots + slot) * c->kv_dim;
}

/* Rotates row i's key heads in place and stores K and V in its cache slot. */
static void store_task(void *p, int i, int thread) {
    (void)thread;
    attn_ctx *c = p;
    const si_hparams *hp = c->hp;
    const si_attn_args *a = c->a;
    const si_attn_run *run = run_of_row(a, i);
    si_kvcache *kc = run->cache;
    int hd = hp->head_dim, kv_dim = hp->n_kv_heads * hd;
    float *k = a->k + (size_t)i * kv_dim;
    const double *rope_k = a->rope + (size_t)i * 3 * hd;
    for (int h = 0; h < hp->n_kv_heads; h++) si_rope_rotate(k + h * hd, k + h * hd, rope_k, hd, hp->rope_style);
    int slot = si_cache_slot(kc, run->t0 + (i - run->first));
    memcpy(cache_row(kc, kc->k, a->layer, slot), k, (size_t)kv_dim * sizeof(float));
    memcpy(cache_row(kc, kc->v, a->layer, slot), a->v + (size_t)i * kv_dim, (size_t)kv_dim * sizeof(float));
}

/* Raw q . k for the keys in slots s0 .. s0 + n - 1 of one layer and KV head,
 * by the kernel set's F32 GEMV (a scalar dot is one long chain of dependent
 * adds; the kernels keep 16 lanes of partial sums), or in precise mode by
 * the reference (double sums). */
static void key_dots(const si_cpu_backend *be, const si_kvcache *kc, int layer, int kvh, int hd, const float *q, int s0,
                     int n, float *dst) {
    if (n <= 0) return;
    const float *rows = cache_row(kc, kc->k, layer, s0) + kvh * hd;
    size_t row_bytes = (size_t)kc->kv_dim * sizeof(float);
    if (be->precise)
        si_gemm_f_ref(SI_DTYPE_F32, rows, row_bytes, n, q, hd, 1, dst, n);
    else
        be->kern->gemm_f(SI_DTYPE_F32, rows, row_bytes, n, q, hd, 1, dst, n);
}

static void attend_task(void *p, int task, int thread) {
    attn_ctx *c = p;
    const si_hparams *hp = c->hp;
    const si_attn_args *a = c->a;
    int hd = hp->head_dim, q_dim = hp->n_heads * hd;
    int i = task / hp->n_heads, h = task % hp->n_heads;
    int kvh = h / (hp->n_heads / hp->n_kv_heads);
    const si_attn_run *run = run_of_row(a, i);
    const si_kvcache *kc = run->cache;
    int64_t t = run->t0 + (i - run->first);
    const float *q = a->q + (size_t)i * q_dim + h * hd;
    const double *rope = a->rope + (size_t)i * 3 * hd;
    float *qw = c->be->qrot + (size_t)thread * 2 * hd, *qs = qw + hd;
    float *scores = c->be->scores + (size_t)thread * c->be->scores_cap;
    float scale = 1.0f / sqrtf((float)hd);

    si_rope_rotate(qw, q, rope + hd, hd, hp->rope_style);
    int n_sinks = si_cache_visible_sinks(kc, t);
    if (n_sinks) si_rope_rotate(qs, q, rope + 2 * hd, hd, hp->rope_style);
    int64_t wb = si_cache_window_begin(kc, t);
    int n_win = (int)(t - wb + 1 > 0 ? t - wb + 1 : 0);
    int n = n_sinks + n_win;

    key_dots(c->be, kc, a->layer, kvh, hd, qs, 0, n_sinks, scores);
    /* The window's slots run from its first to the ring's end, then wrap to just after the sinks. */
    int slot = n_win ? si_cache_slot(kc, wb) : 0;
    int first_run = n_win < kc->slots - slot ? n_win : kc->slots - slot;
    key_dots(c->be, kc, a->layer, kvh, hd, qw, slot, first_run, scores + n_sinks);
    key_dots(c->be, kc, a->layer, kvh, hd, qw, kc->cfg.sinks, n_win - first_run, scores + n_sinks + first_run);
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        scores[j] *= scale;
        if (scores[j] > mx) mx = scores[j]; /* fmaxf is a libm call here */
    }
    float sum = 0;
    for (int j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - mx);
        sum += scores[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) scores[j] *= inv;
    /* out = sum_j scores[j] * v_j, keys in the order of the scores: sinks,
     * then the window from its first slot, wrapping to just after the sinks. */
    float *out = a->out + (size_t)i * q_dim + h * hd;
    memset(out, 0, (size_t)hd * sizeof(float));
    void (*weighted)(const float *, const float *, size_t, int, int, float *) =
        c->be->precise ? si_weighted_rows_ref : c->be->kern->weighted_rows;
    const float *v0 = (const float *)kc->v + (size_t)a->layer * kc->slots * kc->kv_dim + kvh * hd;
    size_t stride = (size_t)kc->kv_dim;
    weighted(scores, v0, stride, n_sinks, hd, out);
    weighted(scores + n_sinks, v0 + (size_t)slot * stride, stride, first_run, hd, out);
    weighted(scores + n_sinks + first_run, v0 + (size_t)kc->cfg.sinks * stride, stride, n_win - first_run, hd, out);
}

void si_cpu_attention(si_backend *be, const si_hparams *hp, const si_attn_args *a) {
    attn_ctx c = {(si_cpu_backend *)be, hp, a};
    si_pool_run(c.be->pool, store_task, &c, a->n_tokens);
    si_pool_run(c.be->pool, attend_task, &c, a->n_tokens * hp->n_heads);
}

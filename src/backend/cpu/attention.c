/* backend/cpu/attention.c: RoPE, cache writes and causal attention over the
 * StreamingLLM cache (sinks + ring window), split over (row, KV head, key
 * slice) tasks and merged per (row, head). The
 * cache policy itself (slots, visible keys, rotation positions) is in
 * kvcache/kvcache.h; this file only does the arithmetic. */
#include "cpu_backend.h"

#include "../../util/half.h"

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
    int parts; /* key slices of the batch's row with the most keys */
} attn_ctx;

static const si_attn_run *run_of_row(const si_attn_args *a, int row) {
    for (int r = 0; r < a->n_runs; r++)
        if (row >= a->runs[r].first && row < a->runs[r].first + a->runs[r].n) return &a->runs[r];
    return NULL;
}

/* The cache holds float32 or, to halve the bytes attention reads, f16 (the
 * default; the precise mode keeps float32). */
static uint8_t *cache_row(const si_kvcache *c, void *base, int layer, int slot) {
    return (uint8_t *)base + ((size_t)layer * c->slots + slot) * c->kv_dim * c->elem_bytes;
}

static void put_row(const si_kvcache *c, uint8_t *dst, const float *src) {
    if (c->elem_bytes == 4) {
        memcpy(dst, src, (size_t)c->kv_dim * sizeof(float));
        return;
    }
    for (int d = 0; d < c->kv_dim; d++) {
        uint16_t h = si_f32_to_f16(src[d]);
        memcpy(dst + 2 * (size_t)d, &h, 2);
    }
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
    put_row(kc, cache_row(kc, kc->k, a->layer, slot), k);
    put_row(kc, cache_row(kc, kc->v, a->layer, slot), a->v + (size_t)i * kv_dim);
}

/* One row's visible keys, in score order: the sinks, then the window from
 * its first slot to the ring's end, then wrapped to just after the sinks. */
typedef struct {
    int first_slot[3], count[3];
    bool sink[3];
    int n;
} key_runs;

static key_runs keys_of(const si_kvcache *kc, int64_t t) {
    key_runs r = {.n = 0};
    int n_sinks = si_cache_visible_sinks(kc, t);
    int64_t wb = si_cache_window_begin(kc, t);
    int n_win = (int)(t - wb + 1 > 0 ? t - wb + 1 : 0);
    int slot = n_win ? si_cache_slot(kc, wb) : 0;
    int first = n_win < kc->slots - slot ? n_win : kc->slots - slot;
    r.first_slot[0] = 0, r.count[0] = n_sinks, r.sink[0] = true;
    r.first_slot[1] = slot, r.count[1] = first, r.sink[1] = false;
    r.first_slot[2] = kc->cfg.sinks, r.count[2] = n_win - first, r.sink[2] = false;
    r.n = n_sinks + n_win;
    return r;
}

/* Task (row, KV head, key slice): for the query heads sharing the KV head
 * (grouped-query attention reads each key and value row once for all of
 * them), the slice's scores, their max m, the sum l of exp(s - m) and the
 * unnormalized output sum_j exp(s_j - m) v_j, into the partial buffer.
 * Products go through the kernels (the reference in precise mode). */
static void attend_task(void *p, int task, int thread) {
    attn_ctx *c = p;
    const si_hparams *hp = c->hp;
    const si_attn_args *a = c->a;
    si_cpu_backend *be = c->be;
    int hd = hp->head_dim, q_dim = hp->n_heads * hd, group = hp->n_heads / hp->n_kv_heads;
    int parts = c->parts;
    int i = task / (hp->n_kv_heads * parts), kvh = task / parts % hp->n_kv_heads, part = task % parts;
    const si_attn_run *run = run_of_row(a, i);
    const si_kvcache *kc = run->cache;
    int64_t t = run->t0 + (i - run->first);
    key_runs keys = keys_of(kc, t);
    int row_parts = si_attn_parts(keys.n);
    if (part >= row_parts) return; /* a row with fewer keys than the batch's longest */
    int j0 = part * SI_ATTN_PART, j1 = j0 + SI_ATTN_PART < keys.n ? j0 + SI_ATTN_PART : keys.n;

    /* the group's queries, rotated for the window and for the sinks */
    const double *rope = a->rope + (size_t)i * 3 * hd;
    float *qw = be->qrot + (size_t)thread * be->qrot_cap, *qs = qw + (size_t)group * hd;
    for (int g = 0; g < group; g++) {
        const float *q = a->q + (size_t)i * q_dim + (size_t)(kvh * group + g) * hd;
        si_rope_rotate(qw + g * hd, q, rope + hd, hd, hp->rope_style);
        if (keys.count[0]) si_rope_rotate(qs + g * hd, q, rope + 2 * hd, hd, hp->rope_style);
    }
    void (*gemm)(si_dtype, const void *, size_t, int, const float *, int, int, float *, int) =
        be->precise ? si_gemm_f_ref : be->kern->gemm_f;
    void (*weighted)(si_dtype, const float *, size_t, int, const void *, size_t, int, int, float *, size_t) =
        be->precise ? si_weighted_rows_ref : be->kern->weighted_rows;
    si_dtype kv_type = kc->elem_bytes == 2 ? SI_DTYPE_F16 : SI_DTYPE_F32;
    size_t stride = (size_t)kc->kv_dim, es = (size_t)kc->elem_bytes;
    const uint8_t *k0 = cache_row(kc, kc->k, a->layer, 0) + (size_t)kvh * hd * es;
    const uint8_t *v0 = cache_row(kc, kc->v, a->layer, 0) + (size_t)kvh * hd * es;
    float *scores = be->scores + (size_t)thread * be->scores_cap; /* [group][SI_ATTN_PART] */

    /* scores of the slice: each key row against the group's queries */
    for (int r = 0, j = 0; r < 3; j += keys.count[r], r++) {
        int lo = j0 > j ? j0 : j, hi = j1 < j + keys.count[r] ? j1 : j + keys.count[r];
        if (lo >= hi) continue;
        const uint8_t *rows = k0 + (size_t)(keys.first_slot[r] + lo - j) * stride * es;
        gemm(kv_type, rows, stride * es, hi - lo, keys.sink[r] ? qs : qw, hd, group, scores + (lo - j0), SI_ATTN_PART);
    }
    /* softmax pieces per head: (head kvh * group + g)'s partial is g * out_stride past the group's first */
    float scale = 1.0f / sqrtf((float)hd);
    size_t out_stride = (size_t)parts * (hd + 2);
    float *out = be->partial + (((size_t)i * hp->n_heads + (size_t)kvh * group) * parts + part) * (hd + 2);
    for (int g = 0; g < group; g++) {
        float *s = scores + (size_t)g * SI_ATTN_PART, *o = out + g * out_stride;
        float mx = -INFINITY, sum = 0;
        for (int j = 0; j < j1 - j0; j++) {
            s[j] *= scale;
            if (s[j] > mx) mx = s[j]; /* fmaxf is a libm call here */
        }
        for (int j = 0; j < j1 - j0; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        o[hd] = mx;
        o[hd + 1] = sum;
        memset(o, 0, (size_t)hd * sizeof(float));
    }
    /* the value rows, each read once for the whole group */
    for (int r = 0, j = 0; r < 3; j += keys.count[r], r++) {
        int lo = j0 > j ? j0 : j, hi = j1 < j + keys.count[r] ? j1 : j + keys.count[r];
        if (lo < hi)
            weighted(kv_type, scores + (lo - j0), SI_ATTN_PART, group,
                     v0 + (size_t)(keys.first_slot[r] + lo - j) * stride * es, stride, hi - lo, hd, out, out_stride);
    }
}

/* Task (row, head): the slices' partial results merged into the output. */
static void merge_task(void *p, int task, int thread) {
    (void)thread;
    attn_ctx *c = p;
    const si_hparams *hp = c->hp;
    const si_attn_args *a = c->a;
    int hd = hp->head_dim, parts = c->parts;
    int i = task / hp->n_heads, h = task % hp->n_heads;
    const si_attn_run *run = run_of_row(a, i);
    int row_parts = si_attn_parts(keys_of(run->cache, run->t0 + (i - run->first)).n);
    const float *part = c->be->partial + ((size_t)i * hp->n_heads + h) * parts * (hd + 2);
    float mx = -INFINITY;
    for (int k = 0; k < row_parts; k++)
        if (part[k * (hd + 2) + hd] > mx) mx = part[k * (hd + 2) + hd];
    float *out = a->out + (size_t)i * hp->n_heads * hd + (size_t)h * hd;
    float total = 0;
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int k = 0; k < row_parts; k++) {
        const float *pk = part + (size_t)k * (hd + 2);
        float w = expf(pk[hd] - mx);
        total += w * pk[hd + 1];
        for (int d = 0; d < hd; d++) out[d] += w * pk[d];
    }
    float inv = 1.0f / total;
    for (int d = 0; d < hd; d++) out[d] *= inv;
}

void si_cpu_attention(si_backend *be, const si_hparams *hp, const si_attn_args *a) {
    attn_ctx c = {(si_cpu_backend *)be, hp, a, 1};
    for (int r = 0; r < a->n_runs; r++) { /* the batch's most slices: its last row of each run has the most keys */
        const si_attn_run *run = &a->runs[r];
        int parts = si_attn_parts(keys_of(run->cache, run->t0 + run->n - 1).n);
        if (parts > c.parts) c.parts = parts;
    }
    si_pool_run(c.be->pool, store_task, &c, a->n_tokens);
    si_pool_run(c.be->pool, attend_task, &c, a->n_tokens * hp->n_kv_heads * c.parts);
    si_pool_run(c.be->pool, merge_task, &c, a->n_tokens * hp->n_heads);
}
